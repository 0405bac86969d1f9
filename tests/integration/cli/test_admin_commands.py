"""`wattbook admin create-operator`: the first administrator, and bad input refused."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.integration.web.server import seed

from wattbook.interfaces.cli import main


@pytest.fixture
def url(tmp_path: Path) -> str:
    database = f"sqlite:///{tmp_path / 'admin.sqlite3'}"
    seed(database, [])
    return database


def _password(tmp_path: Path, text: str) -> str:
    path = tmp_path / "password.txt"
    path.write_text(text + "\n", encoding="utf-8")
    return str(path)


def _create(url: str, password_file: str, *extra: str) -> int:
    return main(
        [
            "admin",
            "create-operator",
            "wang.li",
            "--name",
            "王丽",
            "--password-file",
            password_file,
            "--database-url",
            url,
            *extra,
        ]
    )


def test_creates_the_first_administrator_once(
    url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    password = _password(tmp_path, "a long campus secret")

    first = _create(url, password, "--by", "setup")
    again = _create(url, password)

    out, err = capsys.readouterr()
    assert first == 0
    assert "operator wang.li (王丽, administrator) created" in out
    assert again == 2
    assert "exists already" in err


def test_refuses_a_weak_password(
    url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = _create(url, _password(tmp_path, "short"))

    assert code == 2
    assert "at least 10 characters" in capsys.readouterr().err
