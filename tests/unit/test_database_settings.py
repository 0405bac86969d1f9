"""The database worker settings (issue 16): how many workers, how long a request may queue."""

from __future__ import annotations

import pytest

from wattbook import settings as wattbook_settings
from wattbook.settings import InvalidSetting, Settings


class TestDatabaseWorkers:
    def test_default_to_eight_workers_and_ten_seconds(self) -> None:
        settings = Settings.from_environment({})

        assert settings.db_workers == 8
        assert settings.db_queue_timeout_s == 10.0

    def test_read_both_from_the_environment(self) -> None:
        settings = Settings.from_environment(
            {"WATTBOOK_DB_WORKERS": " 16 ", "WATTBOOK_DB_QUEUE_TIMEOUT_S": "2.5"}
        )

        assert settings.db_workers == 16
        assert settings.db_queue_timeout_s == 2.5

    @pytest.mark.parametrize("text", ["0", "65", "-1", "eight", "4.5", "٨"])
    def test_refuse_a_bad_worker_count_naming_the_variable(self, text: str) -> None:
        with pytest.raises(InvalidSetting, match="WATTBOOK_DB_WORKERS"):
            Settings.from_environment({"WATTBOOK_DB_WORKERS": text})

    @pytest.mark.parametrize("text", ["0", "-1", "301", "nan", "inf", "ten", "１"])
    def test_refuse_a_bad_queue_timeout_naming_the_variable(self, text: str) -> None:
        with pytest.raises(InvalidSetting, match="WATTBOOK_DB_QUEUE_TIMEOUT_S"):
            Settings.from_environment({"WATTBOOK_DB_QUEUE_TIMEOUT_S": text})

    def test_refuse_bad_values_given_directly(self) -> None:
        with pytest.raises(InvalidSetting, match="WATTBOOK_DB_WORKERS"):
            Settings(db_workers=0)


class TestTheAdaptersLimits:
    def test_are_the_settings_limits(self) -> None:
        # settings.py repeats them so that reading settings loads no database library.
        from wattbook.adapters.db import _workers

        assert (
            wattbook_settings.DEFAULT_DB_WORKERS,
            wattbook_settings.MAX_DB_WORKERS,
            wattbook_settings.DEFAULT_DB_QUEUE_TIMEOUT_S,
            wattbook_settings.MAX_DB_QUEUE_TIMEOUT_S,
        ) == (
            _workers.DEFAULT_WORKERS,
            _workers.MAX_WORKERS,
            _workers.DEFAULT_QUEUE_TIMEOUT_S,
            _workers.MAX_QUEUE_TIMEOUT_S,
        )
