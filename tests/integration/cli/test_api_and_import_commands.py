"""`wattbook api token create | list | revoke` and `wattbook import households` against a
migrated SQLite file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from wattbook import bootstrap
from wattbook.interfaces.cli import main
from wattbook.settings import Settings

SAMPLES = Path(__file__).parents[3] / "samples"


@pytest.fixture
def url(tmp_path: Path) -> str:
    database = f"sqlite:///{tmp_path / 'wattbook.sqlite3'}"
    bootstrap.migrate(Settings(database_url=database))
    return database


class TestApiTokenCommands:
    def test_creates_lists_and_revokes_a_token(
        self, url: str, capsys: pytest.CaptureFixture[str]
    ) -> None:
        created = main(
            [
                "api",
                "token",
                "create",
                "erp",
                "--scope",
                "accounts,balances",
                "--by",
                "admin",
                "--json",
                "--database-url",
                url,
            ]
        )
        made = json.loads(capsys.readouterr().out)
        revoked = main(
            ["api", "token", "revoke", str(made["id"]), "--by", "admin", "--database-url", url]
        )
        capsys.readouterr()
        listed = main(["api", "token", "list", "--json", "--database-url", url])
        (token,) = json.loads(capsys.readouterr().out)

        assert (created, revoked, listed) == (0, 0, 0)
        assert made["token"].startswith("wbk_")
        assert made["scopes"] == ["accounts", "balances"]
        assert "token" not in token
        assert token["revoked_by"] == "admin"

    def test_refuses_an_unknown_scope(self, url: str, capsys: pytest.CaptureFixture[str]) -> None:
        code = main(
            [
                "api",
                "token",
                "create",
                "erp",
                "--scope",
                "money",
                "--by",
                "admin",
                "--database-url",
                url,
            ]
        )

        assert code == 2
        assert "unknown scope 'money'" in capsys.readouterr().err

    def test_refuses_to_revoke_an_unknown_token(
        self, url: str, capsys: pytest.CaptureFixture[str]
    ) -> None:
        assert main(["api", "token", "revoke", "7", "--by", "admin", "--database-url", url]) == 2


class TestImportHouseholds:
    @pytest.mark.parametrize("sample", ["households.csv", "households.xlsx"])
    def test_loads_the_sample_file(
        self, url: str, sample: str, capsys: pytest.CaptureFixture[str]
    ) -> None:
        code = main(
            ["import", "households", str(SAMPLES / sample), "--by", "clerk", "--database-url", url]
        )

        assert code == 0
        assert capsys.readouterr().out.startswith("imported 5 household(s), 4 meter(s)")

    def test_a_bad_row_is_named_and_nothing_is_written(
        self, url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        bad = tmp_path / "bad.csv"
        bad.write_text(
            "户号,户名,地址,期初余额\n051600009001,赵六,1栋101,1.00\n051600009002,钱七,,2.00\n",
            encoding="utf-8",
        )

        code = main(["import", "households", str(bad), "--by", "clerk", "--database-url", url])
        again = main(
            [
                "import",
                "households",
                str(SAMPLES / "households.csv"),
                "--by",
                "clerk",
                "--database-url",
                url,
            ]
        )

        err = capsys.readouterr().err
        assert code == 2
        assert f"{bad}:3: the address must not be blank" in err
        assert "nothing imported" in err
        assert again == 0  # nothing of the bad file was written: the sample loads after it

    def test_refuses_a_file_that_is_neither_csv_nor_xlsx(
        self, url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        other = tmp_path / "households.txt"
        other.write_text("x", encoding="utf-8")

        code = main(["import", "households", str(other), "--by", "clerk", "--database-url", url])

        assert code == 2
        assert "give a .csv or .xlsx file" in capsys.readouterr().err
