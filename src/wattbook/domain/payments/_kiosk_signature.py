"""Signed kiosk requests: the one home of the kiosk HMAC.

A kiosk's acceptor agent signs every request to the server with its kiosk's secret:
HMAC-SHA256 over the kiosk id, the method, the path with its query as sent on the wire,
the Unix time in seconds and the SHA-256 of the body, one per line. The server recomputes it
with the secret it keeps (the database is the trust root: HMAC needs the raw secret on both
sides) and refuses a request dated outside a few minutes of its own time, so that a captured
request cannot be replayed later. Pure functions of ``hmac`` and ``hashlib``; the caller
passes the time.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from wattbook.domain.payments._errors import (
    KioskSignatureInvalid,
    KioskSignatureMissing,
    KioskTimestampOutsideWindow,
)
from wattbook.domain.payments._kiosk import KIOSK_ID_SHAPE
from wattbook.domain.values import require_aware

KIOSK_HEADER = "X-Wattbook-Kiosk"
TIMESTAMP_HEADER = "X-Wattbook-Timestamp"
SIGNATURE_HEADER = "X-Wattbook-Signature"
# How far a request's timestamp may be from the server's time, either way.
KIOSK_SIGNATURE_WINDOW = timedelta(minutes=5)
_SIGNATURE = re.compile(r"[0-9a-f]{64}")
_TIMESTAMP = re.compile(r"[0-9]{1,12}")


@dataclass(frozen=True, slots=True, kw_only=True)
class SignedRequest:
    """What the server received: the kiosk's claim, and what the signature must cover."""

    kiosk_id: str
    timestamp: int
    signature: str
    method: str
    target: str  # the path and query as sent, e.g. "/kiosk/api/sessions?lang=en"
    body: bytes


def _message(*, kiosk_id: str, method: str, target: str, timestamp: int, body: bytes) -> bytes:
    digest = hashlib.sha256(body).hexdigest()
    return f"{kiosk_id}\n{method.upper()}\n{target}\n{timestamp}\n{digest}".encode()


def sign_kiosk_request(
    *, kiosk_id: str, secret: str, method: str, target: str, timestamp: int, body: bytes
) -> str:
    """Return the hex HMAC-SHA256 signature of a kiosk request."""
    message = _message(
        kiosk_id=kiosk_id, method=method, target=target, timestamp=timestamp, body=body
    )
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def kiosk_headers(
    *, kiosk_id: str, secret: str, method: str, target: str, at: datetime, body: bytes
) -> dict[str, str]:
    """Return the headers that sign a request of kiosk ``kiosk_id`` made at ``at``."""
    require_aware(at)
    timestamp = int(at.timestamp())
    return {
        KIOSK_HEADER: kiosk_id,
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: sign_kiosk_request(
            kiosk_id=kiosk_id,
            secret=secret,
            method=method,
            target=target,
            timestamp=timestamp,
            body=body,
        ),
    }


def read_signed_request(
    *,
    kiosk_id: str | None,
    timestamp: str | None,
    signature: str | None,
    method: str,
    target: str,
    body: bytes,
) -> SignedRequest:
    """Return the request's signing headers, checked for shape only.

    :raises KioskSignatureMissing: if a header is missing or malformed.
    """
    if kiosk_id is None or timestamp is None or signature is None:
        raise KioskSignatureMissing(
            f"kiosk requests carry {KIOSK_HEADER}, {TIMESTAMP_HEADER} and {SIGNATURE_HEADER}"
        )
    if not (
        KIOSK_ID_SHAPE.fullmatch(kiosk_id)
        and _TIMESTAMP.fullmatch(timestamp)
        and _SIGNATURE.fullmatch(signature)
    ):
        raise KioskSignatureMissing("malformed kiosk signing headers")
    return SignedRequest(
        kiosk_id=kiosk_id,
        timestamp=int(timestamp),
        signature=signature,
        method=method,
        target=target,
        body=body,
    )


def verify_kiosk_request(
    request: SignedRequest,
    *,
    secret: str,
    now: datetime,
    window: timedelta = KIOSK_SIGNATURE_WINDOW,
) -> None:
    """Check a request's signature against the kiosk's secret and its time against ``now``.

    :raises KioskTimestampOutsideWindow: if it is dated more than ``window`` from ``now``.
    :raises KioskSignatureInvalid: if the signature does not match.
    """
    require_aware(now)
    if abs(now.timestamp() - request.timestamp) > window.total_seconds():
        raise KioskTimestampOutsideWindow(
            f"kiosk {request.kiosk_id} request dated {request.timestamp}, server time"
            f" {int(now.timestamp())}"
        )
    expected = sign_kiosk_request(
        kiosk_id=request.kiosk_id,
        secret=secret,
        method=request.method,
        target=request.target,
        timestamp=request.timestamp,
        body=request.body,
    )
    if not hmac.compare_digest(expected, request.signature):
        raise KioskSignatureInvalid(f"kiosk {request.kiosk_id}: signature does not match")
