"""JSON-lines logging for containers; configured only from the CLI."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import json
import logging
import logging.config
import time
from typing import Any

import orjson

# The id of the HTTP request being handled (router.ingress.observe sets it): on every line logged meanwhile.
REQUEST_ID: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="")

_STANDARD = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {
    "message",
    "asctime",
    "taskName",
    "color_message",
}


# orjson writes a line in about a fifth of the stdlib's time (the access line is a tenth of a webhook's CPU). What
# it refuses (a lone surrogate in a string, an integer past 64 bits) the stdlib still writes, escaped.
_FALLBACK = json.JSONEncoder(default=str)


def _encode(line: dict[str, Any]) -> str:
    try:
        return orjson.dumps(line, default=str).decode()
    except orjson.JSONEncodeError:
        return _FALLBACK.encode(line)


class JsonFormatter(logging.Formatter):
    # The formatted second a line was logged in, reused while it lasts: strftime is most of a line's own cost.
    _stamp: tuple[int, str] = (-1, "")

    def format(self, record: logging.LogRecord) -> str:
        second = int(record.created)
        stamp = self._stamp
        if stamp[0] != second:
            stamp = self._stamp = (second, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second)))
        out: dict[str, Any] = {
            "ts": f"{stamp[1]}.{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        out.update({k: v for k, v in record.__dict__.items() if k not in _STANDARD})
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return _encode(out)


class RequestIdFilter(logging.Filter):
    """Stamps each record with the id of the request being handled when it was logged (none outside requests)."""

    def filter(self, record: logging.LogRecord) -> bool:
        request_id = REQUEST_ID.get()
        if request_id and not hasattr(record, "request_id"):
            record.request_id = request_id
        return True


class TurnFlushedHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """A stream handler that flushes once per event-loop turn, not once per line.

    A busy receiver logs two lines per request; flushing each was one write(2) each. Lines written during one
    turn of the loop now go out together when it ends (a callback queued behind that turn's work). A line at
    WARNING or above, and every line logged outside a running loop (a thread, start-up, shutdown), is flushed
    at once, so what explains a crash is never left in the buffer.
    """

    def __init__(self, stream: Any = None) -> None:
        super().__init__(stream)
        self._urgent = False
        self._queued_on: asyncio.AbstractEventLoop | None = None  # the loop a flush is queued on, if one is

    def emit(self, record: logging.LogRecord) -> None:
        self._urgent = record.levelno >= logging.WARNING
        super().emit(record)  # writes, then calls flush()

    def flush(self) -> None:
        if self._urgent:
            super().flush()
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            super().flush()
            return
        if self._queued_on is not loop:  # (a loop closed with a flush queued does not hold up the next one)
            self._queued_on = loop
            loop.call_soon(self._flush_queued)

    def _flush_queued(self) -> None:
        self._queued_on = None
        # What logging does with a failed write inside emit (handleError): a log line never takes the application
        # down. Here no caller is left to tell, and the loop would report it as the task's crash.
        with contextlib.suppress(OSError, ValueError):
            super().flush()


def config(level: str) -> dict[str, Any]:
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": JsonFormatter}},
        "filters": {"request_id": {"()": RequestIdFilter}},
        "handlers": {
            "stdout": {
                "class": "router.logs.TurnFlushedHandler",
                "formatter": "json",
                "filters": ["request_id"],
                "stream": "ext://sys.stdout",
            }
        },
        "root": {"handlers": ["stdout"], "level": level.upper()},
        # httpx logs full URLs at INFO, and a Slack incoming-webhook URL is a credential.
        "loggers": {
            "httpx": {"level": "WARNING"},
            "httpcore": {"level": "WARNING"},
            "uvicorn.access": {"level": "WARNING"},
        },
    }


def setup(level: str) -> None:
    logging.config.dictConfig(config(level))
    # What the JSON lines never show is not gathered for every record either (the logging HOWTO's
    # "Optimization" list): the calling frame's file and line, the thread, the process and its name.
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
