"""The log handler flushes once per event-loop turn, and at once for warnings and outside a loop."""

from __future__ import annotations

import asyncio
import io
import json
import logging

import pytest

from router.logs import JsonFormatter, TurnFlushedHandler

pytestmark = pytest.mark.anyio


class Recording(io.StringIO):
    """A stream that remembers how many lines had been written at each flush."""

    def __init__(self) -> None:
        super().__init__()
        self.flushed_at: list[int] = []

    def flush(self) -> None:
        self.flushed_at.append(self.getvalue().count("\n"))


def handler_and_logger() -> tuple[Recording, logging.Logger]:
    stream = Recording()
    handler = TurnFlushedHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger(f"test.flushing.{id(stream)}")
    logger.propagate = False
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    return stream, logger


async def test_lines_of_one_turn_are_flushed_together_when_it_ends() -> None:
    stream, logger = handler_and_logger()
    logger.info("one")
    logger.info("two")
    assert stream.flushed_at == []  # written, not yet flushed: the turn is still running
    await asyncio.sleep(0)
    assert stream.flushed_at == [2]
    logger.info("three")
    await asyncio.sleep(0)
    assert stream.flushed_at == [2, 3]
    assert [json.loads(line)["msg"] for line in stream.getvalue().splitlines()] == ["one", "two", "three"]


async def test_a_warning_is_flushed_at_once() -> None:
    stream, logger = handler_and_logger()
    logger.info("before")
    logger.warning("trouble")
    assert stream.flushed_at == [2]


def test_outside_a_loop_every_line_is_flushed_at_once() -> None:
    stream, logger = handler_and_logger()
    logger.info("one")
    logger.info("two")
    assert stream.flushed_at == [1, 2]


def test_a_flush_queued_on_a_closed_loop_does_not_hold_up_the_next_loop() -> None:
    stream, logger = handler_and_logger()

    async def log(message: str) -> None:
        logger.info(message)

    loop = asyncio.new_event_loop()
    loop.run_until_complete(log("first"))  # queues a flush, which may never run on this loop
    loop.close()
    asyncio.run(log("second"))
    assert stream.flushed_at[-1] == 2


async def test_a_queued_flush_on_a_stream_closed_since_fails_quietly() -> None:
    # A stream closed between the line and the end of the turn (a CLI run that captured stdout, a closed pipe):
    # logging drops a failed write rather than raise it to the application, and so does the queued flush.
    stream, logger = handler_and_logger()
    errors: list[dict[str, object]] = []
    asyncio.get_running_loop().set_exception_handler(lambda _loop, context: errors.append(context))
    logger.info("written")
    stream.close()
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert errors == []
