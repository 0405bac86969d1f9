"""The web settings of issue 16: allowed hosts and the request body limit."""

from __future__ import annotations

import pytest

from wattbook.settings import InvalidSetting, WebSettings


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
