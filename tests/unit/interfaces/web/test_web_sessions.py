"""Server-side sessions: expiry by idleness and by age, rotation, logout, capacity."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from wattbook.interfaces.web._sessions import SessionStore

NOON = datetime(2025, 6, 10, 4, 0, tzinfo=UTC)


def store(**overrides: object) -> SessionStore:
    settings: dict[str, object] = {
        "idle": timedelta(minutes=15),
        "absolute": timedelta(hours=8),
        "capacity": 100,
    }
    settings.update(overrides)
    return SessionStore(**settings)  # type: ignore[arg-type]


class TestSessionStore:
    def test_finds_a_live_session_by_its_id(self) -> None:
        sessions = store()
        session = sessions.open(now=NOON)

        found = sessions.get(session.id, now=NOON + timedelta(minutes=14))

        assert found is session

    def test_ends_a_session_idle_for_the_limit(self) -> None:
        sessions = store()
        session = sessions.open(now=NOON)

        found = sessions.get(session.id, now=NOON + timedelta(minutes=15))

        assert found is None
        assert len(sessions) == 0

    def test_ends_a_busy_session_at_its_absolute_age(self) -> None:
        sessions = store(absolute=timedelta(hours=1))
        session = sessions.open(now=NOON)
        for minutes in range(10, 60, 10):
            assert sessions.get(session.id, now=NOON + timedelta(minutes=minutes)) is session

        found = sessions.get(session.id, now=NOON + timedelta(minutes=60))

        assert found is None

    def test_rotation_kills_the_old_id_and_keeps_the_data(self) -> None:
        sessions = store()
        session = sessions.open(now=NOON)
        session.data["account"] = "051600001234"

        fresh = sessions.rotate(session, now=NOON)

        assert sessions.get(session.id, now=NOON) is None
        assert fresh.id != session.id
        assert fresh.csrf_token != session.csrf_token
        assert fresh.data == {"account": "051600001234"}

    def test_close_ends_the_session(self) -> None:
        sessions = store()
        session = sessions.open(now=NOON)

        sessions.close(session.id)

        assert sessions.get(session.id, now=NOON) is None

    def test_drops_the_least_recently_used_beyond_capacity(self) -> None:
        sessions = store(capacity=2)
        first = sessions.open(now=NOON)
        second = sessions.open(now=NOON)
        sessions.get(first.id, now=NOON)

        sessions.open(now=NOON)

        assert sessions.get(second.id, now=NOON) is None
        assert sessions.get(first.id, now=NOON) is first

    def test_ignores_malformed_ids(self) -> None:
        sessions = store()
        sessions.open(now=NOON)

        assert sessions.get("", now=NOON) is None
        assert sessions.get("x" * 1000, now=NOON) is None
        assert sessions.get(None, now=NOON) is None
