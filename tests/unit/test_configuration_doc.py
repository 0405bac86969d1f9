"""docs/configuration.md is generated from settings.py: the two must never disagree."""

from __future__ import annotations

from pathlib import Path

import pytest

from wattbook import settings

DOC = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"


def test_the_reference_matches_the_settings_module() -> None:
    assert DOC.read_text(encoding="utf-8") == settings.reference() + "\n", (
        "regenerate: python -c 'import wattbook.settings as s; print(s.reference())'"
        " > docs/configuration.md"
    )


def test_every_variable_is_listed_with_the_default_the_code_uses() -> None:
    text = settings.reference()
    names = [v for k, v in vars(settings).items() if k.endswith("_VARIABLE")]

    assert len(names) >= 20
    for name in names:
        assert f"| `{name}` |" in text
    assert "| `WATTBOOK_DB_WORKERS` | `8` |" in text
    assert "| `WATTBOOK_WEB_PORT` | `8700` |" in text
    assert "| `WATTBOOK_MODEM_MODE` | `pdu` |" in text


def test_a_variable_that_drives_no_setting_is_a_bug() -> None:
    with pytest.raises(LookupError):
        settings._probe("WATTBOOK_NOTHING_READS_THIS")
