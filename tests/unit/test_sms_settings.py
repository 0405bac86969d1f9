"""The modem's deployment settings come from the environment (issue 6)."""

from __future__ import annotations

import pytest

from wattbook.settings import InvalidSetting, Settings


class TestModemSettings:
    def test_defaults_to_the_log_sender(self) -> None:
        settings = Settings.from_environment({})

        assert (settings.sms_sender, settings.modem_device, settings.modem_baud) == (
            "log",
            "/dev/ttyUSB0",
            115200,
        )
        assert settings.modem_pdu_mode is True
        assert settings.modem_storage is True

    def test_reads_the_modem_from_the_environment(self) -> None:
        settings = Settings.from_environment(
            {
                "WATTBOOK_SMS_SENDER": "modem",
                "WATTBOOK_MODEM": "tcp://10.0.0.5:4001",
                "WATTBOOK_MODEM_BAUD": "9600",
                "WATTBOOK_MODEM_MODE": "text",
            }
        )

        assert (settings.sms_sender, settings.modem_device, settings.modem_baud) == (
            "modem",
            "tcp://10.0.0.5:4001",
            9600,
        )
        assert settings.modem_pdu_mode is False

    @pytest.mark.parametrize(
        ("variable", "value"),
        [
            ("WATTBOOK_SMS_SENDER", "pigeon"),
            ("WATTBOOK_MODEM_BAUD", "fast"),
            ("WATTBOOK_MODEM_BAUD", "0"),
            ("WATTBOOK_MODEM_MODE", "binary"),
            ("WATTBOOK_MODEM_STORAGE", "maybe"),
        ],
    )
    def test_refuses_values_it_cannot_use(self, variable: str, value: str) -> None:
        with pytest.raises(InvalidSetting, match=variable):
            Settings.from_environment({variable: value})

    @pytest.mark.parametrize(("value", "storage"), [("off", False), ("ON", True), ("", True)])
    def test_reads_whether_the_modem_sends_through_its_storage(
        self, value: str, storage: bool
    ) -> None:
        settings = Settings.from_environment({"WATTBOOK_MODEM_STORAGE": value})

        assert settings.modem_storage is storage
