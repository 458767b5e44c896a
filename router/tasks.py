"""Small asyncio helpers every part of the router shares."""

from __future__ import annotations

import asyncio
import contextlib


async def cancel(task: asyncio.Task[None]) -> None:
    """Cancel ``task`` and wait for it to end."""
    # On Python 3.11 a cancellation that lands inside redis-py's wait_for can be lost (CPython gh-86296,
    # fixed in 3.12): the loop then carries on as if nothing happened. Keep cancelling until it is done.
    while not task.done():
        task.cancel()
        await asyncio.wait({task}, timeout=0.1)
    with contextlib.suppress(asyncio.CancelledError):
        task.result()
