"""The web settings from the environment: the port, the callback window, hosts, body limit."""

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


class TestWebSettings:
    def test_trust_local_names_the_listening_host_and_the_public_url_by_default(self) -> None:
        web = WebSettings.from_environment(
            {"WATTBOOK_WEB_HOST": "10.0.0.5", "WATTBOOK_PUBLIC_URL": "https://Power.Example:8443/"}
        )

        assert web.trusted_hosts == {"localhost", "127.0.0.1", "::1", "10.0.0.5", "power.example"}
        assert web.max_body_bytes == 64 * 1024

    def test_read_extra_hosts_and_the_body_limit(self) -> None:
        web = WebSettings.from_environment(
            {"WATTBOOK_ALLOWED_HOSTS": "kiosk.lan, [fe80::1]", "WATTBOOK_MAX_BODY_BYTES": "1024"}
        )

        assert {"kiosk.lan", "fe80::1"} <= web.trusted_hosts
        assert web.max_body_bytes == 1024

    @pytest.mark.parametrize(
        ("name", "value"),
        [
            ("WATTBOOK_MAX_BODY_BYTES", "0"),
            ("WATTBOOK_MAX_BODY_BYTES", "64k"),
            ("WATTBOOK_MAX_BODY_BYTES", "-1"),
            ("WATTBOOK_ALLOWED_HOSTS", "evil.example/path"),
            ("WATTBOOK_ALLOWED_HOSTS", "a b"),
        ],
    )
    def test_refuse_values_they_cannot_use(self, name: str, value: str) -> None:
        with pytest.raises(InvalidSetting, match=name):
            WebSettings.from_environment({name: value})
