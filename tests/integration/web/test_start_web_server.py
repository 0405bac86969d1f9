"""The web app started in-process, as `wattbook demo` does."""

from __future__ import annotations

import socket
from pathlib import Path

import httpx
import pytest

from wattbook import bootstrap
from wattbook.interfaces import web
from wattbook.settings import Settings


class TestStartWebServer:
    async def test_serves_the_kiosk_on_a_free_port_until_stopped(self, tmp_path: Path) -> None:
        settings = Settings(database_url=f"sqlite:///{tmp_path / 'demo.sqlite3'}")
        bootstrap.migrate(settings)

        running = await web.start_web_server(settings=settings, port=0, background=False)
        async with httpx.AsyncClient() as client:
            page = await client.get(f"{running.url}/kiosk")
        await running.stop()

        assert page.status_code == 200
        assert "自助缴费" in page.text

    async def test_refuses_a_taken_port(self, tmp_path: Path) -> None:
        with socket.create_server(("127.0.0.1", 0)) as taken:
            port = taken.getsockname()[1]

            with pytest.raises(web.CannotListen):
                await web.start_web_server(
                    settings=Settings(database_url=f"sqlite:///{tmp_path / 'x.sqlite3'}"),
                    port=port,
                )
