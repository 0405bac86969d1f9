"""Deployment settings: where the database lives (and, later, serial ports and the modem).

Business policy (prices, thresholds, holidays) is not here: it is effective-dated data in the
database (CONVENTIONS §1).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

DATABASE_URL_VARIABLE = "WATTBOOK_DATABASE_URL"
DEFAULT_DATABASE_URL = "sqlite:///var/wattbook.sqlite3"

# The SMS modem: which sender, and where the modem is plugged in.
SMS_SENDER_VARIABLE = "WATTBOOK_SMS_SENDER"  # "modem" or "log"
MODEM_VARIABLE = "WATTBOOK_MODEM"  # serial device, or tcp://host:port for a serial server
MODEM_BAUD_VARIABLE = "WATTBOOK_MODEM_BAUD"
MODEM_MODE_VARIABLE = "WATTBOOK_MODEM_MODE"  # "pdu" (any text) or "text" (plain GSM text)
# "on" (default): send through the modem's storage (AT+CMGW/CMSS), exactly once across crashes;
# "off" for a modem without usable storage (ADR 8).
MODEM_STORAGE_VARIABLE = "WATTBOOK_MODEM_STORAGE"
SMS_SENDERS = ("log", "modem")

# The database's own worker threads: how many units of work run at once, and how
# long others wait for a turn before giving up (the web answers 503 then).
DB_WORKERS_VARIABLE = "WATTBOOK_DB_WORKERS"
DB_QUEUE_TIMEOUT_VARIABLE = "WATTBOOK_DB_QUEUE_TIMEOUT_S"
# The limits themselves have one home, the database adapter that enforces them.
# The database adapter's own limits (adapters/db/_workers.py), repeated here so that reading
# the settings loads no database library (the command line starts fast); a test holds the two
# equal.
DEFAULT_DB_WORKERS = 8
MAX_DB_WORKERS = 64
DEFAULT_DB_QUEUE_TIMEOUT_S = 10.0
MAX_DB_QUEUE_TIMEOUT_S = 300.0


class InvalidSetting(ValueError):
    """An environment variable holds a value wattbook cannot use."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Settings:
    """Hold what differs between one deployment and another."""

    # The database: `sqlite:///path` (the embedded default) or `postgresql://...` at scale.
    database_url: str = DEFAULT_DATABASE_URL
    # Who sends texts: `log` (written to the log, for trials) or `modem` (a GSM modem).
    sms_sender: str = "log"
    # The modem's serial device, or tcp://host:port for a serial-to-TCP server.
    modem_device: str = "/dev/ttyUSB0"
    # The modem's serial speed.
    modem_baud: int = 115200
    # `pdu` sends any text (Chinese included); `text` only plain GSM text.
    modem_pdu_mode: bool = True
    # Send through the modem's storage (AT+CMGW/CMSS), exactly once across crashes; `off` for
    # a modem without usable storage (ADR 8).
    modem_storage: bool = True
    # Worker threads (and at least as many pooled connections) per database engine.
    db_workers: int = DEFAULT_DB_WORKERS
    # Seconds a unit of work waits for a worker before DatabaseBusy.
    db_queue_timeout_s: float = DEFAULT_DB_QUEUE_TIMEOUT_S

    def __post_init__(self) -> None:
        if not 1 <= self.db_workers <= MAX_DB_WORKERS:
            raise InvalidSetting(
                f"{DB_WORKERS_VARIABLE}: database workers must be 1 to {MAX_DB_WORKERS},"
                f" not {self.db_workers}"
            )
        if not 0 < self.db_queue_timeout_s <= MAX_DB_QUEUE_TIMEOUT_S:
            raise InvalidSetting(
                f"{DB_QUEUE_TIMEOUT_VARIABLE}: the database queue timeout must be above 0 and at"
                f" most {MAX_DB_QUEUE_TIMEOUT_S:g} s, not {self.db_queue_timeout_s:g}"
            )

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Return the settings read from the environment (``os.environ`` by default).

        :raises InvalidSetting: if a value cannot be used.
        """
        env = os.environ if environ is None else environ
        url = env.get(DATABASE_URL_VARIABLE, "").strip() or DEFAULT_DATABASE_URL
        sender, device, baud, pdu_mode = _modem_settings(env, defaults=cls())
        return cls(
            database_url=url,
            sms_sender=sender,
            modem_device=device,
            modem_baud=baud,
            modem_pdu_mode=pdu_mode,
            modem_storage=_modem_storage(env, default=cls().modem_storage),
            db_workers=_db_workers(env.get(DB_WORKERS_VARIABLE, "").strip()),
            db_queue_timeout_s=_db_queue_timeout(env.get(DB_QUEUE_TIMEOUT_VARIABLE, "").strip()),
        )


def _db_workers(text: str) -> int:
    """Return the number of database workers ``text`` gives, or the default if empty.

    :raises InvalidSetting: if it is not a whole number from 1 to MAX_DB_WORKERS.
    """
    if not text:
        return DEFAULT_DB_WORKERS
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= MAX_DB_WORKERS:
        raise InvalidSetting(
            f"{DB_WORKERS_VARIABLE} must be a whole number from 1 to {MAX_DB_WORKERS}: {text!r}"
        )
    return int(text)


def _db_queue_timeout(text: str) -> float:
    """Return the queue timeout in seconds ``text`` gives, or the default if empty.

    :raises InvalidSetting: if it is not a number above 0 and at most MAX_DB_QUEUE_TIMEOUT_S.
    """
    if not text:
        return DEFAULT_DB_QUEUE_TIMEOUT_S
    try:
        seconds = float(text) if text.isascii() else -1.0
    except ValueError:
        seconds = -1.0
    if not 0 < seconds <= MAX_DB_QUEUE_TIMEOUT_S:  # also refuses nan and inf
        raise InvalidSetting(
            f"{DB_QUEUE_TIMEOUT_VARIABLE} must be a number of seconds above 0 and at most"
            f" {MAX_DB_QUEUE_TIMEOUT_S:g}: {text!r}"
        )
    return seconds


def _modem_storage(env: Mapping[str, str], *, default: bool) -> bool:
    """Return whether the modem sends through its storage, as ``env`` says.

    :raises InvalidSetting: if the value is not ``on`` or ``off``.
    """
    value = env.get(MODEM_STORAGE_VARIABLE, "").strip().lower()
    if value not in ("", "on", "off"):
        raise InvalidSetting(f"{MODEM_STORAGE_VARIABLE} must be 'on' or 'off': {value!r}")
    return default if not value else value == "on"


def _modem_settings(env: Mapping[str, str], *, defaults: Settings) -> tuple[str, str, int, bool]:
    """Return the SMS sender, modem device, baud rate and PDU mode found in ``env``.

    :raises InvalidSetting: if the sender, baud rate or mode is not one wattbook knows.
    """
    sender = env.get(SMS_SENDER_VARIABLE, "").strip().lower() or defaults.sms_sender
    if sender not in SMS_SENDERS:
        raise InvalidSetting(f"{SMS_SENDER_VARIABLE} must be one of {SMS_SENDERS}: {sender!r}")
    device = env.get(MODEM_VARIABLE, "").strip() or defaults.modem_device
    baud_text = env.get(MODEM_BAUD_VARIABLE, "").strip() or str(defaults.modem_baud)
    if not baud_text.isdigit() or int(baud_text) <= 0:
        raise InvalidSetting(f"{MODEM_BAUD_VARIABLE} must be a positive integer: {baud_text!r}")
    mode = env.get(MODEM_MODE_VARIABLE, "").strip().lower()
    if mode not in ("", "pdu", "text"):
        raise InvalidSetting(f"{MODEM_MODE_VARIABLE} must be 'pdu' or 'text': {mode!r}")
    pdu_mode = defaults.modem_pdu_mode if not mode else mode == "pdu"
    return sender, device, int(baud_text), pdu_mode


# ---------------------------------------------------------------- web and bank

WEB_HOST_VARIABLE = "WATTBOOK_WEB_HOST"
WEB_PORT_VARIABLE = "WATTBOOK_WEB_PORT"
PUBLIC_URL_VARIABLE = "WATTBOOK_PUBLIC_URL"
BANK_URL_VARIABLE = "WATTBOOK_BANK_URL"
BANK_SECRET_VARIABLE = "WATTBOOK_BANK_SECRET"  # noqa: S105 - the variable's name, not a secret
RECEIPT_FONT_VARIABLE = "WATTBOOK_RECEIPT_FONT"
BANK_CALLBACK_WINDOW_VARIABLE = "WATTBOOK_BANK_CALLBACK_WINDOW_HOURS"
# Comma-separated Host names the web app answers besides the local ones (against DNS rebinding).
ALLOWED_HOSTS_VARIABLE = "WATTBOOK_ALLOWED_HOSTS"
# The largest request body the web app reads, in bytes; larger ones are refused unread.
MAX_BODY_BYTES_VARIABLE = "WATTBOOK_MAX_BODY_BYTES"
DEFAULT_MAX_BODY_BYTES = 64 * 1024
# Kiosk caps and look-up rate: the most one kiosk session takes, and how many
# account look-ups one kiosk may make a minute.
KIOSK_SESSION_MAX_YUAN_VARIABLE = "WATTBOOK_KIOSK_SESSION_MAX_YUAN"
KIOSK_SESSION_MAX_NOTES_VARIABLE = "WATTBOOK_KIOSK_SESSION_MAX_NOTES"
KIOSK_LOOKUPS_PER_MINUTE_VARIABLE = "WATTBOOK_KIOSK_LOOKUPS_PER_MINUTE"
# Browser sessions (portal, console): Secure cookies even over plain HTTP behind a proxy
# (they are Secure anyway on HTTPS), and how long an idle resident stays logged in.
SECURE_COOKIES_VARIABLE = "WATTBOOK_SECURE_COOKIES"
PORTAL_IDLE_MINUTES_VARIABLE = "WATTBOOK_PORTAL_IDLE_MINUTES"
# The portal's second step, a one-time code by SMS, for residents with a phone on file.
PORTAL_SMS_CODE_VARIABLE = "WATTBOOK_PORTAL_SMS_CODE"
LOCAL_HOSTS = ("localhost", "127.0.0.1", "::1")
# A Host name: letters, digits, dots and dashes, or an IPv6 address in brackets.
_HOST_NAME = re.compile(r"[A-Za-z0-9.-]{1,253}|\[[0-9A-Fa-f:.]{2,45}\]|[0-9A-Fa-f:.]{2,45}")


@dataclass(frozen=True, slots=True, kw_only=True)
class WebSettings:
    """Where `wattbook serve` listens, and its link to the bank."""

    # The address `wattbook serve` listens on.
    host: str = "127.0.0.1"
    # The port `wattbook serve` listens on.
    port: int = 8700
    # The URL the bank posts callbacks to (default: http://host:port).
    public_url: str | None = None
    # The bank's base URL for debit requests (the simulated bank's in trials); no auto top-up
    # without it and the secret.
    bank_url: str | None = None
    # The HMAC key agreed with the bank; without it the bank endpoints refuse everything.
    bank_secret: str | None = None
    # A TrueType font with Chinese glyphs for PDF receipts; found among the usual places if unset.
    receipt_font: str | None = None
    # How long after the bank dated a callback wattbook still accepts it, so an old signed
    # callback cannot be replayed later. A deployment setting, agreed with the bank like the
    # secret, not tariff policy.
    bank_callback_window_hours: int = 48
    # Host names answered besides the local ones, the listening host and the public URL's host.
    allowed_hosts: tuple[str, ...] = ()
    # Bodies above this many bytes are refused with a 413 before they are read.
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    # The most one kiosk session takes, in whole yuan.
    kiosk_session_max_yuan: int = 2000
    # The most notes one kiosk session takes.
    kiosk_session_max_notes: int = 50
    # Account look-ups one kiosk may make a minute (429 beyond).
    kiosk_lookups_per_minute: int = 10
    # Secure cookies even over plain HTTP behind a TLS proxy (they are Secure on HTTPS anyway).
    secure_cookies: bool = False
    # Minutes an idle resident stays logged in to the portal.
    portal_idle_minutes: int = 15
    # The portal's second step: a one-time code by SMS for residents with a phone on file.
    portal_sms_code: bool = True

    def __post_init__(self) -> None:
        if not 1 <= self.bank_callback_window_hours <= 24 * 31:
            raise InvalidSetting(
                f"{BANK_CALLBACK_WINDOW_VARIABLE} must be 1 to 744 hours,"
                f" not {self.bank_callback_window_hours}"
            )
        if not 100 <= self.kiosk_session_max_yuan <= 1_000_000:
            raise InvalidSetting(
                f"{KIOSK_SESSION_MAX_YUAN_VARIABLE} must be 100 to 1000000 yuan,"
                f" not {self.kiosk_session_max_yuan}"
            )
        if not 1 <= self.kiosk_session_max_notes <= 1000:
            raise InvalidSetting(
                f"{KIOSK_SESSION_MAX_NOTES_VARIABLE} must be 1 to 1000 notes,"
                f" not {self.kiosk_session_max_notes}"
            )
        if not 1 <= self.portal_idle_minutes <= 24 * 60:
            raise InvalidSetting(
                f"{PORTAL_IDLE_MINUTES_VARIABLE} must be 1 to 1440 minutes,"
                f" not {self.portal_idle_minutes}"
            )
        if not 1 <= self.kiosk_lookups_per_minute <= 6000:
            raise InvalidSetting(
                f"{KIOSK_LOOKUPS_PER_MINUTE_VARIABLE} must be 1 to 6000,"
                f" not {self.kiosk_lookups_per_minute}"
            )

    @property
    def trusted_hosts(self) -> frozenset[str]:
        """Return the Host names (lower case, no port, no brackets) the web app answers.

        Any other Host header is refused, so that a hostile page's DNS name cannot be
        rebound to this server (DNS rebinding).
        """
        names = [*LOCAL_HOSTS, self.host, *self.allowed_hosts]
        if self.public_url:
            public_host = urlsplit(self.public_url).hostname
            if public_host:
                names.append(public_host)
        return frozenset(name.strip().strip("[]").lower() for name in names if name.strip())

    @property
    def callback_url(self) -> str:
        """Return the URL the bank posts its callbacks to."""
        base = self.public_url or f"http://{self.host}:{self.port}"
        return base.rstrip("/") + "/bank/callbacks"

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> WebSettings:
        """Return the web settings read from the environment.

        :raises InvalidSetting: if the port is not a whole number from 0 to 65535, the
            callback window not a whole number of hours from 1 to 744, or the allowed hosts,
            the body limit, a kiosk cap or rate, or a portal setting cannot be used.
        """
        env = os.environ if environ is None else environ

        def get(name: str) -> str | None:
            return env.get(name, "").strip() or None

        return cls(
            host=get(WEB_HOST_VARIABLE) or "127.0.0.1",
            port=_port(get(WEB_PORT_VARIABLE), default=cls().port),
            public_url=get(PUBLIC_URL_VARIABLE),
            bank_url=get(BANK_URL_VARIABLE),
            bank_secret=get(BANK_SECRET_VARIABLE),
            receipt_font=get(RECEIPT_FONT_VARIABLE),
            bank_callback_window_hours=_hours(get(BANK_CALLBACK_WINDOW_VARIABLE), default=48),
            allowed_hosts=_allowed_hosts(get(ALLOWED_HOSTS_VARIABLE)),
            max_body_bytes=_max_body_bytes(get(MAX_BODY_BYTES_VARIABLE)),
            kiosk_session_max_yuan=_whole(
                KIOSK_SESSION_MAX_YUAN_VARIABLE, get(KIOSK_SESSION_MAX_YUAN_VARIABLE), 2000
            ),
            kiosk_session_max_notes=_whole(
                KIOSK_SESSION_MAX_NOTES_VARIABLE, get(KIOSK_SESSION_MAX_NOTES_VARIABLE), 50
            ),
            kiosk_lookups_per_minute=_whole(
                KIOSK_LOOKUPS_PER_MINUTE_VARIABLE, get(KIOSK_LOOKUPS_PER_MINUTE_VARIABLE), 10
            ),
            secure_cookies=_switch(SECURE_COOKIES_VARIABLE, get(SECURE_COOKIES_VARIABLE), False),
            portal_idle_minutes=_whole(
                PORTAL_IDLE_MINUTES_VARIABLE, get(PORTAL_IDLE_MINUTES_VARIABLE), 15
            ),
            portal_sms_code=_switch(PORTAL_SMS_CODE_VARIABLE, get(PORTAL_SMS_CODE_VARIABLE), True),
        )


def _hours(text: str | None, *, default: int) -> int:
    """Return the whole hours ``text`` names, or ``default`` if unset.

    :raises InvalidSetting: if ``text`` is not a whole number.
    """
    if text is None:
        return default
    if not (text.isascii() and text.isdigit()):
        raise InvalidSetting(
            f"{BANK_CALLBACK_WINDOW_VARIABLE} must be a whole number of hours, not {text!r}"
        )
    return int(text)


def _whole(name: str, text: str | None, default: int) -> int:
    """Return the whole number ``text`` gives, or ``default`` if unset.

    :raises InvalidSetting: if it is not a whole number.
    """
    if text is None:
        return default
    if not (text.isascii() and text.isdigit()) or len(text) > 9:
        raise InvalidSetting(f"{name} must be a whole number, not {text!r}")
    return int(text)


def _switch(name: str, text: str | None, default: bool) -> bool:
    """Return the on/off ``text`` gives (1/0, true/false, on/off, yes/no), or ``default``.

    :raises InvalidSetting: for anything else.
    """
    if text is None:
        return default
    value = text.strip().lower()
    if value in ("1", "true", "on", "yes"):
        return True
    if value in ("0", "false", "off", "no"):
        return False
    raise InvalidSetting(f"{name} must be 1 or 0, not {text!r}")


def _port(text: str | None, *, default: int) -> int:
    """Return the TCP port ``text`` names (0: any free port), or ``default`` if unset.

    :raises InvalidSetting: if ``text`` is not a whole number from 0 to 65535.
    """
    if text is None:
        return default
    if not (text.isascii() and text.isdigit()) or int(text) > 65535:
        raise InvalidSetting(
            f"{WEB_PORT_VARIABLE} must be a port number from 0 to 65535, not {text!r}"
        )
    return int(text)


def _allowed_hosts(text: str | None) -> tuple[str, ...]:
    """Return the host names listed in ``text`` (comma-separated).

    :raises InvalidSetting: if one is not a host name.
    """
    names = tuple(name.strip() for name in (text or "").split(",") if name.strip())
    for name in names:
        if not _HOST_NAME.fullmatch(name):
            raise InvalidSetting(f"{ALLOWED_HOSTS_VARIABLE} lists a bad host name: {name!r}")
    return names


def _max_body_bytes(text: str | None) -> int:
    """Return the body limit ``text`` gives, or the default.

    :raises InvalidSetting: if it is not a positive whole number of bytes.
    """
    if text is None:
        return DEFAULT_MAX_BODY_BYTES
    if not text.isascii() or not text.isdigit() or int(text) <= 0:
        raise InvalidSetting(f"{MAX_BODY_BYTES_VARIABLE} must be a positive integer: {text!r}")
    return int(text)


# ---------------------------------------------------------------- the reference

# Values tried on each variable to find the setting it drives (the first one a setting accepts).
_PROBES = (
    "2",
    "9600",
    "1000",
    "on",
    "off",
    "pdu",
    "text",
    "modem",
    "example.org",
    "http://example.org:1",
)


def _probe(name: str) -> tuple[type[Settings] | type[WebSettings], str]:
    """Return the settings class and field ``name`` drives, found by setting it."""
    cls: type[Settings] | type[WebSettings]
    for cls in (Settings, WebSettings):
        base = cls.from_environment({})
        for value in _PROBES:
            try:
                changed = cls.from_environment({name: value})
            except InvalidSetting:
                continue
            fields = [
                f for f in cls.__dataclass_fields__ if getattr(changed, f) != getattr(base, f)
            ]
            if fields:
                return cls, fields[0]
    raise LookupError(f"{name} drives no setting")  # a variable without a reader is a bug


def _shown(name: str, cls: type[Settings] | type[WebSettings], field: str) -> str:
    value = getattr(cls(), field)
    if value is None or value == ():
        return "(unset)"
    if isinstance(value, bool):  # the word that sets it: on/off, or pdu for the modem mode
        for word in _PROBES:
            try:
                if getattr(cls.from_environment({name: word}), field) == value:
                    return f"`{word}`"
            except InvalidSetting:
                continue
    return f"`{value}`"


def _comments_above(lines: list[str], lineno: int) -> list[str]:
    """Return the comment lines just above line ``lineno`` (1-based), top first."""
    notes: list[str] = []
    above = lineno - 2
    while above >= 0 and lines[above].lstrip().startswith("#"):
        notes.insert(0, lines[above].strip().lstrip("#").strip())
        above -= 1
    return notes


def reference() -> str:
    """Return the configuration reference (``docs/configuration.md``) built from this module.

    Every ``*_VARIABLE`` constant is listed with the comments written beside it and the
    default of the setting it drives, which is found by setting the variable, so the
    reference cannot disagree with the code (``tests/unit/test_configuration_doc.py``).
    """
    import ast
    import inspect
    import sys

    source = inspect.getsource(sys.modules[__name__])
    lines = source.splitlines()
    tree = ast.parse(source)
    # A setting's own comment (above its field in Settings or WebSettings) says what it is.
    field_notes: dict[tuple[str, str], list[str]] = {}
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name in ("Settings", "WebSettings"):
            for item in node.body:
                if isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name):
                    notes = _comments_above(lines, item.lineno)
                    field_notes[(node.name, item.target.id)] = notes
    rows = []
    for node in tree.body:
        if not (
            isinstance(node, ast.Assign)
            and isinstance(node.targets[0], ast.Name)
            and node.targets[0].id.endswith("_VARIABLE")
            and isinstance(node.value, ast.Constant)
        ):
            continue
        name = str(node.value.value)
        cls, field = _probe(name)
        _, _, trailing = lines[node.lineno - 1].partition("#")
        notes = field_notes.get((cls.__name__, field)) or []
        if not notes and trailing and "noqa" not in trailing:
            notes = [trailing.strip()]
        if not notes:
            notes = _comments_above(lines, node.lineno)
        text = " ".join(notes) or field.replace("_", " ")
        rows.append(f"| `{name}` | {_shown(name, cls, field)} | {text} |")
    return "\n".join(
        [
            "# Configuration reference",
            "",
            "Deployment settings are environment variables, read by `wattbook/settings.py`;",
            "business policy (prices, thresholds, holidays, counter hours) is effective-dated",
            "data in the database, changed on the staff console. This file is generated:",
            "`python -c 'import wattbook.settings as s; print(s.reference())' >"
            " docs/configuration.md`,",
            "and a test fails when it and the code disagree.",
            "",
            "| variable | default | what it sets |",
            "|---|---|---|",
            *rows,
            "",
        ]
    )
