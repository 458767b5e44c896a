"""uvicorn's httptools protocol with bounds on what one connection may cost before the app sees it.

- the request head (request line and headers) is at most ``max_header_bytes`` with at most ``max_headers``
  headers, else 431 ``headers_too_large`` / ``too_many_headers``; bytes are counted as they arrive, before
  httptools buffers them (it joins a header's pieces by copying, so a 48 MiB header stalled the loop);
- the head must arrive within ``header_timeout_s`` of the connection or of the request's first byte, and the
  body within ``body_timeout_s`` of the head, else 408 ``request_timeout``: slow senders are cut off;
- beyond ``max_connections`` open connections a new one is answered 503 ``overloaded`` before it is read.

Every such answer is a short JSON body and closes the connection. uvicorn's h11 implementation is never
used: ``server_options`` in ``router.cli.main`` always passes this class.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import httptools
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from router.errors import RouterError

logger = logging.getLogger(__name__)

LINGER_S = 1.0  # an answered peer may still send this long: closing with unread data would reset it

Phase = Literal["idle", "head", "body", "closing"]


@dataclass(frozen=True, slots=True)
class Limits:
    max_header_bytes: int = 65_536
    max_headers: int = 100
    header_timeout_s: float = 10.0
    body_timeout_s: float = 30.0
    max_connections: int = 2048


class _HeadRejected(RouterError):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def bounded_protocol(limits: Limits) -> type[HttpToolsProtocol]:
    """A protocol class for one server (uvicorn's ``http=``): it carries the limits and the closing count."""
    return type("BoundedHttpToolsProtocol", (BoundedHttpToolsProtocol,), {"limits": limits, "lingering": 0})


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    limits: ClassVar[Limits] = Limits()
    lingering: ClassVar[int] = 0  # answered connections still open (closing); per class, so per server

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._phase: Phase = "idle"
        self._head_bytes = 0  # counted as received, before httptools sees them
        self._header_bytes = 0  # counted per complete header, exactly
        self._header_count = 0
        self._head_timer: asyncio.TimerHandle | None = None
        self._body_timer: asyncio.TimerHandle | None = None
        self._done = False  # answered by this class or refused: ignore anything else the peer sends

    # -- connection --------------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        cls = type(self)
        if len(self.connections) - cls.lingering > cls.limits.max_connections:
            self._refuse()
            return
        self._head_timer = self.loop.call_later(self.limits.header_timeout_s, self._head_timed_out)

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_timers()
        if self._phase == "closing":
            type(self).lingering -= 1
            self._phase = "idle"
        super().connection_lost(exc)

    def shutdown(self) -> None:
        if self._done:
            self.transport.close()
        else:
            super().shutdown()

    # -- bytes -------------------------------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        if self._done:
            return
        self._unset_keepalive_if_required()
        if self._phase == "body":
            self._feed(data)
            return
        if self._head_timer is None and (self.cycle is None or self.cycle.response_complete):
            # Bytes between requests (stray CRLFs) start the next request's clock too.
            self._head_timer = self.loop.call_later(self.limits.header_timeout_s, self._head_timed_out)
        room = self.limits.max_header_bytes - self._head_bytes
        head = data[:room]
        self._head_bytes += len(head)
        if not self._feed(head):
            return
        if self._head_bytes >= self.limits.max_header_bytes and not self._in_body():
            self._answer(431, "headers_too_large")
            return
        if len(data) > room:
            self._feed(data[room:])

    def _in_body(self) -> bool:
        # A method, not an inline comparison: feeding the parser moves the phase, which mypy cannot see.
        return self._phase == "body"

    def _feed(self, data: bytes) -> bool:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserCallbackError as exc:
            if isinstance(exc.__context__, _HeadRejected):
                self._answer(431, exc.__context__.reason)
            else:
                self.logger.warning("Invalid HTTP request received.")
                self.send_400_response("Invalid HTTP request received.")
            return False
        except httptools.HttpParserError:
            self.logger.warning("Invalid HTTP request received.")
            self.send_400_response("Invalid HTTP request received.")
            return False
        except httptools.HttpParserUpgrade:
            self._unsupported_upgrade_warning()  # server_options turns WebSockets off: never upgraded
        return True

    # -- parser callbacks --------------------------------------------------------------------------

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._phase = "head"
        self._header_bytes = self._header_count = 0
        if self._head_timer is None:
            self._head_timer = self.loop.call_later(self.limits.header_timeout_s, self._head_timed_out)

    def on_url(self, url: bytes) -> None:
        super().on_url(url)
        self._header_bytes += len(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._header_count += 1
        self._header_bytes += len(name) + len(value) + 4  # ": " and CRLF
        if self._header_count > self.limits.max_headers:
            raise _HeadRejected("too_many_headers")
        if self._header_bytes > self.limits.max_header_bytes:
            raise _HeadRejected("headers_too_large")
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._cancel(self._head_timer)
        self._head_timer = None
        self._phase = "body"
        self._head_bytes = 0
        self._body_timer = self.loop.call_later(self.limits.body_timeout_s, self._body_timed_out)
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._cancel(self._body_timer)
        self._body_timer = None
        self._phase = "idle"
        super().on_message_complete()

    # -- timeouts and answers ----------------------------------------------------------------------

    def _head_timed_out(self) -> None:
        self._head_timer = None
        self._answer(408, "request_timeout")

    def _body_timed_out(self) -> None:
        self._body_timer = None
        if self._phase != "body":
            return
        cycle = self.cycle
        if cycle is not None and cycle.response_started:
            self.transport.close()  # answered already (413, 503): only the rest of the body was late
            return
        if cycle is not None:
            cycle.disconnected = True  # the app's receive() now says http.disconnect; its answer is dropped
            cycle.message_event.set()
        self._answer(408, "request_timeout")

    def _answer(self, status: int, reason: str) -> None:
        logger.info("request refused by the HTTP layer", extra={"status": status, "reason": reason})
        cycle = self.cycle
        if self._phase != "body" and cycle is not None and not cycle.response_complete:
            # A pipelined head went wrong while the previous request's response is still being produced:
            # writing now would corrupt that response, so let it finish and close after it.
            self._done = True
            self._cancel_timers()
            cycle.keep_alive = False
            return
        self._close_with(_response(status, reason, self.server_state.default_headers))

    def _refuse(self) -> None:
        logger.info("connection refused: too many open connections", extra={"reason": "overloaded"})
        self._close_with(_response(503, "overloaded", self.server_state.default_headers, retry_after_s=1))

    def _close_with(self, response: bytes) -> None:
        self._done = True
        self._cancel_timers()
        if self._phase != "closing":
            self._phase = "closing"  # no longer counted against max_connections while it lingers
            type(self).lingering += 1
        self.transport.write(response)
        # Close for writing, then read and drop what the peer is still sending for a moment before closing:
        # closing a socket with unread data resets it, and the peer could lose the answer before reading it.
        if self.transport.can_write_eof():
            self.transport.write_eof()
            self._head_timer = self.loop.call_later(LINGER_S, self.transport.close)
        else:
            self.transport.close()

    def _cancel_timers(self) -> None:
        self._cancel(self._head_timer)
        self._cancel(self._body_timer)
        self._head_timer = self._body_timer = None

    @staticmethod
    def _cancel(timer: asyncio.TimerHandle | None) -> None:
        if timer is not None:
            timer.cancel()


def _response(
    status: int, reason: str, default_headers: list[tuple[bytes, bytes]], *, retry_after_s: int | None = None
) -> bytes:
    body = json.dumps({"error": reason}).encode()
    lines = [STATUS_LINE[status]]
    lines += [name + b": " + value + b"\r\n" for name, value in default_headers]
    if retry_after_s is not None:
        lines.append(b"retry-after: %d\r\n" % retry_after_s)
    lines += [
        b"content-type: application/json\r\n",
        b"content-length: %d\r\n" % len(body),
        b"connection: close\r\n\r\n",
        body,
    ]
    return b"".join(lines)
