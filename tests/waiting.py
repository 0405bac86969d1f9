"""Wait for a condition in an asynchronous test: a deadline generous enough for a loaded machine.

The deadline only stops a hang; a test never asserts how fast a condition came true (figures
live in ``bench/``). CI runs the suite on both cores at once, so a condition that takes 50 ms
on a quiet machine can take seconds.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable

DEADLINE_S = 30.0


async def until(
    condition: Callable[[], bool | Awaitable[bool]],
    what: str,
    *,
    step_s: float = 0.01,
    deadline_s: float = DEADLINE_S,
) -> None:
    """Return once ``condition()`` is true; fail naming ``what`` if it is not by the deadline."""
    ends = time.monotonic() + deadline_s
    while True:
        met = condition()
        if inspect.isawaitable(met):
            met = await met
        if met:
            return
        if time.monotonic() > ends:
            raise AssertionError(f"timed out waiting until {what}")
        await asyncio.sleep(step_s)
