"""`wattbook modem-sim`, `wattbook sms worker` and `wattbook sms no-phone` as processes run them."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa
from tests.fakes import FakeClock
from tests.functional.household import local

from wattbook import bootstrap
from wattbook.application.accounts.open_account import open_account
from wattbook.application.notifications.ports import NotificationKind, SmsRequest
from wattbook.application.notifications.send_pending_sms import send_pending_sms
from wattbook.domain import accounts
from wattbook.domain.values import AccountNumber, Money, Price
from wattbook.interfaces.cli import main
from wattbook.settings import Settings


def _start(*argv: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "wattbook", *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )


def _stop(process: subprocess.Popen[str]) -> str:
    process.send_signal(signal.SIGINT)
    out, _ = process.communicate(timeout=10)
    return out


@pytest.fixture
def modem() -> Iterator[tuple[subprocess.Popen[str], str]]:
    process = _start("modem-sim", "--port", "0")
    assert process.stdout is not None
    line = process.stdout.readline()
    match = re.search(r"tcp://[\d.]+:\d+", line)
    assert match, line
    yield process, match.group(0)
    if process.poll() is None:
        process.kill()
        process.communicate(timeout=10)


async def _database(path: Path, *, phone: str | None) -> str:
    url = f"sqlite:///{path / 'wattbook.sqlite3'}"
    bootstrap.migrate(Settings(database_url=url))
    storage = bootstrap.build_storage(Settings(database_url=url))
    clock = FakeClock(local(2025, 6, 10, 9))
    number = AccountNumber(value="051600001234")
    try:
        await open_account(
            uow=storage.uow_factory(),
            clock=clock,
            number=number,
            holder=accounts.Holder(name="王五"),
            phone=None if phone is None else accounts.PhoneNumber(digits=phone),
            address=accounts.Address(text="丙6-1-803"),
            opening_balance=Money(fen=100_000),
            migration_energy=None,
        )
        async with storage.uow_factory() as uow:
            await uow.sms.enqueue(
                [
                    SmsRequest(
                        account_number=number,
                        kind=NotificationKind.POWER_RESTORED,
                        balance=Money(fen=1234),
                        price=Price(yuan_per_kwh=Decimal("0.5283")),
                    )
                ],
                at=clock.now(),
            )
            await uow.commit()
    finally:
        storage.close()
    return url


class TestSmsWorkerCommand:
    def test_sends_the_outbox_through_the_simulated_modem(
        self, tmp_path: Path, modem: tuple[subprocess.Popen[str], str]
    ) -> None:
        modem_process, modem_url = modem
        url = asyncio.run(_database(tmp_path, phone="13800138000"))
        env = {**os.environ, "WATTBOOK_SMS_SENDER": "modem", "WATTBOOK_MODEM": modem_url}

        worker = _start("sms", "worker", "--database-url", url, "--idle", "0.2", env=env)
        assert worker.stdout is not None
        lines = [worker.stdout.readline(), worker.stdout.readline()]
        worker_out = _stop(worker)
        modem_out = _stop(modem_process)

        assert lines == ["sending SMS through MODEM; Ctrl-C stops\n", "sent 1\n"]
        assert worker.returncode == 0, worker_out
        assert (
            "SMS 1 to +8613800138000: 【水电中心】户号051600001234已恢复供电，当前余额12.34元。"
            in modem_out
        )
        engine = sa.create_engine(url)
        with engine.connect() as connection:
            status = connection.execute(sa.text("SELECT status FROM sms_outbox")).scalar_one()
        engine.dispose()
        assert status == "SENT"

    def test_refuses_an_unknown_sender(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("WATTBOOK_SMS_SENDER", "pigeon")

        code = main(["sms", "worker", "--database-url", f"sqlite:///{tmp_path / 'x.db'}"])

        assert code == 2
        assert "WATTBOOK_SMS_SENDER" in capsys.readouterr().err


class TestSmsNoPhoneCommand:
    def test_lists_the_account_and_its_unsent_message(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        url = asyncio.run(_database(tmp_path, phone=None))
        storage = bootstrap.build_storage(Settings(database_url=url))
        asyncio.run(
            send_pending_sms(
                uow_factory=storage.uow_factory,
                clock=FakeClock(local(2025, 6, 10, 9)),
                sender=bootstrap.build_sms_sender(Settings(database_url=url)),
            )
        )  # fails the message: no number to send it to
        storage.close()

        code = main(["sms", "no-phone", "--database-url", url])
        out, err = capsys.readouterr()

        assert code == 0
        assert out == "051600001234\t王五\t丙6-1-803\t1000.00\t1\n"
        assert "1 account(s)" in err


class TestSmsFailedCommand:
    def test_lists_the_message_that_had_no_number(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        url = asyncio.run(_database(tmp_path, phone=None))
        storage = bootstrap.build_storage(Settings(database_url=url))
        asyncio.run(
            send_pending_sms(
                uow_factory=storage.uow_factory,
                clock=storage.clock,
                sender=bootstrap.build_sms_sender(Settings(database_url=url)),
            )
        )
        storage.close()

        code = main(["sms", "failed", "--database-url", url])
        out, _err = capsys.readouterr()

        assert code == 0
        fields = out.rstrip("\n").split("\t")
        assert fields[:4] == ["1", "051600001234", "POWER_RESTORED", "-"]
        assert fields[5:] == ["0", "NO_PHONE"]
