"""The audit record (A4): who did what to what, when, and the values before and after."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class AuditRecord:
    """One staff action. ``action`` is a dotted lowercase name (``accounts.phone.changed``);
    ``target`` what it acted on (an account number, a receipt, a setting); ``before`` and
    ``after`` the values it changed, as ``name=value`` text."""

    at: datetime
    actor: str
    action: str
    target: str
    before: str = ""
    after: str = ""
    detail: str = ""
    channel: str = "CONSOLE"

    def __post_init__(self) -> None:
        if self.at.tzinfo is None:
            raise ValueError("an audit time is aware")
        if not self.actor.strip():
            raise ValueError("an audit record names who acted")
        if not self.action or self.action != self.action.lower() or "." not in self.action:
            raise ValueError(f"an audit action is dotted and lowercase, not {self.action!r}")


def _text(values: Mapping[str, object]) -> str:
    return "; ".join(f"{name}={value}" for name, value in values.items())


def audit_change(before: Mapping[str, object], after: Mapping[str, object]) -> tuple[str, str]:
    """Return the ``before`` and ``after`` texts of the values that differ."""
    names = [name for name in after if before.get(name) != after[name]]
    names += [name for name in before if name not in after]
    return (
        _text({name: before.get(name, "") for name in names}),
        _text({name: after.get(name, "") for name in names}),
    )
