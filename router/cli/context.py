"""What every command starts from: the settings, then the store, found the same way by all of them.

``REDIS_URL`` when set, else the embedded Redis of the data directory (``router.runtime.bootstrap.prepare``).
Commands that only read (``join=True``) use an embedded Redis another process runs and never start one; the
others start it when none runs, and stop what they started.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from router import logs
from router.runtime.bootstrap import prepare
from router.runtime.embedded import EmbeddedRedis
from router.settings import Settings

T = TypeVar("T")


def load_settings() -> Settings:
    """The settings from the environment; an invalid one raises ValidationError (the boundary prints it)."""
    settings = Settings()
    logs.setup(settings.log_level)
    return settings


@contextmanager
def prepared(*, join: bool) -> Iterator[tuple[Settings, EmbeddedRedis | None]]:
    """Settings with the store filled in; the embedded Redis this process started (stopped on the way out)."""
    settings, embedded = prepare(load_settings(), join=join)
    try:
        yield settings, embedded
    finally:
        if embedded:
            embedded.stop()


def in_process(run: Callable[[Settings], Coroutine[Any, Any, T]], *, join: bool) -> T:
    """Run ``run(settings)`` on the store, in this process."""
    with prepared(join=join) as (settings, _):
        return asyncio.run(run(settings))
