"""Waiting on a condition, with a deadline, where a test would otherwise sleep and hope."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable

import httpx

from tests.router.conftest import ADMIN_TOKEN, Seed

AUTH = {"authorization": f"Bearer {ADMIN_TOKEN}"}


async def eventually(check: Callable[[], Awaitable[bool]], *, timeout_s: float = 10.0, what: str = "") -> None:
    """Until `check()` is true; fails the test after `timeout_s` (generous: the machine may be loaded)."""
    deadline = time.monotonic() + timeout_s
    while not await check():
        assert time.monotonic() < deadline, f"not within {timeout_s} s: {what}"
        await asyncio.sleep(0.01)


async def receiver_caught_up(http: httpx.AsyncClient, seed: Seed) -> None:
    """Until the app's registry snapshot holds every registry change made before this call.

    A marker integration is written now and looked for through /api/integrations, which lists the snapshot's
    integrations: a snapshot that has the marker was loaded after every earlier write.
    """
    marker = f"sync-{uuid.uuid4().hex[:12]}"
    await seed(integration=[{"id": marker, "type": "slack"}])

    async def seen() -> bool:
        listed = await http.get("/api/integrations", headers=AUTH)
        return marker in {i["id"] for i in listed.json()["data"]}

    await eventually(seen, what="the app's registry snapshot to load a new change")
