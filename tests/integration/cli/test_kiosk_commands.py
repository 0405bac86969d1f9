"""`wattbook kiosk add|list|rotate|revoke|agent` (issue 16), in-process on a SQLite file."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from wattbook import bootstrap
from wattbook.interfaces.cli import main
from wattbook.interfaces.cli._exits import Exit
from wattbook.settings import Settings


@pytest.fixture
def database(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'kiosks.sqlite3'}"
    bootstrap.migrate(Settings(database_url=url))
    return url


def secrets_of(url: str) -> list[tuple[str, str | None, object]]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                sa.text("SELECT kiosk_id, secret, revoked_at FROM kiosks ORDER BY kiosk_id")
            )
            return [tuple(row) for row in rows]  # type: ignore[misc]
    finally:
        engine.dispose()


class TestKioskCommands:
    def test_add_prints_the_secret_once_or_writes_it_for_the_owner_only(
        self, database: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        printed = main(["kiosk", "add", "K01", "--by", "张工", "--database-url", database])
        shown = capsys.readouterr().out
        written = tmp_path / "K02.secret"
        filed = main(
            ["kiosk", "add", "K02", "--secret-file", str(written), "--database-url", database]
        )
        listed = main(["kiosk", "list", "--database-url", database])
        listing = capsys.readouterr().out

        (_, k01_secret, _), (_, k02_secret, _) = secrets_of(database)
        assert (printed, filed, listed) == (0, 0, 0)
        assert k01_secret is not None
        assert k02_secret is not None
        assert k01_secret in shown
        assert written.read_text().strip() == k02_secret
        assert written.stat().st_mode & 0o777 == 0o600
        assert k01_secret not in listing
        assert k02_secret not in listing
        assert "K01\t" in listing
        assert "张工\tactive" in listing

    def test_rotate_replaces_and_revoke_refuses_the_secret(
        self, database: str, capsys: pytest.CaptureFixture[str]
    ) -> None:
        main(["kiosk", "add", "K01", "--database-url", database])
        ((_, first, _),) = secrets_of(database)

        rotated = main(["kiosk", "rotate", "K01", "--database-url", database])
        ((_, second, _),) = secrets_of(database)
        revoked = main(["kiosk", "revoke", "K01", "--database-url", database])
        ((_, _, revoked_at),) = secrets_of(database)
        main(["kiosk", "list", "--database-url", database])

        assert (rotated, revoked) == (0, 0)
        assert second != first
        assert revoked_at is not None
        assert "revoked" in capsys.readouterr().out

    @pytest.mark.parametrize(
        "argv",
        [
            ["kiosk", "add", "K" * 33],
            ["kiosk", "add", "K01\n"],
            ["kiosk", "rotate", "K99"],
            ["kiosk", "revoke", "K99"],
        ],
    )
    def test_bad_input_is_one_line_and_changes_nothing(
        self, database: str, argv: list[str], capsys: pytest.CaptureFixture[str]
    ) -> None:
        code = main([*argv, "--database-url", database])

        error = capsys.readouterr().err
        assert code == 2
        assert error.startswith("wattbook kiosk")
        assert error.count("\n") == 1
        assert secrets_of(database) == []

    def test_add_refuses_a_taken_id_and_an_existing_secret_file(
        self, database: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        main(["kiosk", "add", "K01", "--database-url", database])
        taken = main(["kiosk", "add", "K01", "--database-url", database])
        existing = tmp_path / "old.secret"
        existing.write_text("keep me")
        refused = main(
            ["kiosk", "add", "K02", "--secret-file", str(existing), "--database-url", database]
        )

        assert (taken, refused) == (2, 2)
        assert existing.read_text() == "keep me"
        assert [row[0] for row in secrets_of(database)] == ["K01"]

    def test_the_agent_refuses_an_unknown_acceptor_or_a_missing_secret(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        secret = tmp_path / "K01.secret"
        secret.write_text("x" * 43)
        common = ["kiosk", "agent", "--kiosk", "K01", "--server", "http://127.0.0.1:9"]

        unknown = main([*common, "--secret-file", str(secret), "--acceptor", "id003:/dev/x"])
        missing = main([*common, "--secret-file", str(tmp_path / "none")])
        bad_address = main(
            [*common, "--secret-file", str(secret), "--acceptor", "cctalk:/dev/x?address=1"]
        )
        absent = main([*common, "--secret-file", str(secret), "--acceptor", "cctalk:/dev/none"])

        assert (unknown, missing, bad_address, absent) == (2, 2, 2, Exit.DEVICE)
        err = capsys.readouterr().err
        assert "unknown acceptor" in err
        assert "address=1: give 2-255" in err
        assert "/dev/none" in err

    @pytest.mark.parametrize("listen", ["8400", "127.0.0.1:", "127.0.0.1:99999", ":8400", "[]:1"])
    def test_the_agent_refuses_a_listen_address_that_is_not_host_and_port(
        self, tmp_path: Path, listen: str
    ) -> None:
        secret = tmp_path / "K01.secret"
        secret.write_text("x" * 43)

        with pytest.raises(SystemExit) as refused:
            main(
                [
                    "kiosk",
                    "agent",
                    "--kiosk",
                    "K01",
                    "--server",
                    "http://127.0.0.1:9",
                    "--secret-file",
                    str(secret),
                    "--listen",
                    listen,
                ]
            )

        assert refused.value.code == Exit.BAD_INPUT
