"""The event loop `wattbook serve` and `wattbook demo` run on: uvloop, or asyncio's own."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

UVLOOP = "uvloop"
ASYNCIO = "asyncio"
LOOPS = (UVLOOP, ASYNCIO)


def run(main: Coroutine[Any, Any, T], *, loop: str = UVLOOP) -> T:
    """Run ``main`` to its end on a new event loop of the kind ``loop`` names; return its result.

    uvloop (libuv) is the default for the long-running servers: measured by
    bench/payments.py (ADR 18). ``asyncio`` is the standard library's loop, kept for
    comparison and as a way out should uvloop misbehave on some platform.

    :raises ValueError: if ``loop`` is neither ``uvloop`` nor ``asyncio``.
    """
    if loop == UVLOOP:
        import uvloop  # only the servers need it: the CLI starts light

        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            return runner.run(main)
    if loop == ASYNCIO:
        return asyncio.run(main)
    main.close()
    raise ValueError(f"the event loop is {' or '.join(LOOPS)}, not {loop!r}")
