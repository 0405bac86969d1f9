"""Where `wattbook serve` listens comes from the environment (issues 5 and 16)."""

from __future__ import annotations

import pytest

from wattbook.settings import InvalidSetting, WebSettings


class TestWebPort:
    def test_defaults_to_8700(self) -> None:
        assert WebSettings.from_environment({}).port == 8700

    @pytest.mark.parametrize(("text", "port"), [("0", 0), ("8080", 8080), (" 65535 ", 65535)])
    def test_reads_a_port_from_0_to_65535(self, text: str, port: int) -> None:
        assert WebSettings.from_environment({"WATTBOOK_WEB_PORT": text}).port == port

    @pytest.mark.parametrize("text", ["abc", "-1", "65536", "99999", "80.5", "٨٠"])
    def test_refuses_anything_else_naming_the_variable(self, text: str) -> None:
        with pytest.raises(InvalidSetting, match="WATTBOOK_WEB_PORT"):
            WebSettings.from_environment({"WATTBOOK_WEB_PORT": text})


@pytest.mark.parametrize("hours", ["abc", "0", "745", "-1"])
def test_a_bad_callback_window_is_refused_with_its_name(hours: str) -> None:
    with pytest.raises(InvalidSetting, match="WATTBOOK_BANK_CALLBACK_WINDOW"):
        WebSettings.from_environment({"WATTBOOK_BANK_CALLBACK_WINDOW_HOURS": hours})
