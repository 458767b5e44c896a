"""Email destinations: a failure event as a plain-text message with an HTML alternative, sent over SMTP.

``compose`` builds the message from a handful of named event fields only (message, project, integration,
workflow, user id, error, execution link), never the whole event: ``user.metadata`` is the customer's
end-user data and has no business in an inbox. Every event string is untrusted: the subject is forced
onto one line (no header injection) and everything in the HTML part is escaped.

``send`` never raises for SMTP or network failures; it returns an ``EmailResult`` the delivery worker
files like an HTTP attempt: 4xx replies, refused or dropped connections and timeouts are retryable,
5xx replies are not. Nothing here logs: the caller knows the destination id worth logging, and SMTP
error texts can quote addresses.
"""

from __future__ import annotations

import asyncio
import html
import re
import ssl
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Any

import aiosmtplib

from router.settings import Settings

__all__ = ["SUBJECT_MAX_CHARS", "EmailResult", "SmtpConfig", "compose", "send", "subject"]

SUBJECT_MAX_CHARS = 200
# An error text can be a whole stack trace; an inbox needs the gist, the execution link has the rest.
ERROR_MAX_CHARS = 4000
IMPLICIT_TLS_PORT = 465  # SMTPS: TLS from the first byte, where STARTTLS does not apply

# One address, as RCPT TO takes it: no whitespace or control characters (those would let a stored
# address smuggle SMTP commands or headers), no display name, one @. Non-ASCII is left to SMTPUTF8.
_ADDRESS = re.compile(r"[^\s\x00-\x1f\x7f<>()\[\],;:\"@]{1,64}@[^\s\x00-\x1f\x7f<>()\[\],;:\"@]{1,253}")
# C0/C1 controls; str.split() below takes care of the Unicode line and paragraph separators.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
# The same, less newline and tab: an error text keeps its lines in the bodies (never in a header).
_CONTROL_IN_BODY = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


@dataclass(frozen=True, slots=True)
class SmtpConfig:
    """The SMTP server every email destination sends through (one per process, from the settings)."""

    host: str
    port: int
    username: str | None
    password: str | None = field(repr=False)  # repr() ends up in logs and tracebacks
    sender: str
    starttls: bool
    timeout_s: float

    @classmethod
    def from_settings(cls, settings: Settings) -> SmtpConfig | None:
        """None when no SMTP host is configured (email destinations then cannot deliver); ValueError for a
        sender that is not a plain address."""
        if not settings.smtp_host:
            return None
        _check_address(settings.smtp_from)  # a bad sender fails at startup, not on every send
        password = settings.smtp_password.get_secret_value() if settings.smtp_password is not None else None
        return cls(
            host=settings.smtp_host,
            port=settings.smtp_port,
            username=settings.smtp_username or None,
            password=password,
            sender=settings.smtp_from,
            starttls=settings.smtp_starttls,
            timeout_s=settings.smtp_timeout_s,
        )


@dataclass(frozen=True, slots=True)
class EmailResult:
    """The outcome of one send, shaped like an HTTP attempt so the worker can treat both alike."""

    ok: bool
    duration_ms: float
    error_class: str | None  # None when ok; a stable, low-cardinality code otherwise (see _classify)
    retryable: bool
    code: int | None  # the SMTP reply code that decided it (250 when ok); None when no reply arrived


def _one_line(text: str) -> str:
    return " ".join(_CONTROL.sub(" ", text).split())


def _text(event: dict[str, Any], *path: str) -> str:
    """A scalar at ``path`` as a string; "" for anything missing or structured (events are untrusted)."""
    value: Any = event
    for key in path:
        if not isinstance(value, dict):
            return ""
        value = value.get(key)
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return ""
    return str(value)


def _named(name: str, ident: str) -> str:
    return f"{name} ({ident})" if name and ident and name != ident else name or ident


def subject(event: dict[str, Any]) -> str:
    line = _one_line(f"[hookrouter] {_text(event, 'type') or 'event'}: {_text(event, 'message')}")
    return line if len(line) <= SUBJECT_MAX_CHARS else line[: SUBJECT_MAX_CHARS - 1] + "\u2026"


def _fields(event: dict[str, Any]) -> list[tuple[str, str]]:
    rows = [
        ("Event", _text(event, "type")),
        ("Time", _text(event, "timestampISO")),
        ("Project", _named(_text(event, "project", "name"), _text(event, "project", "id"))),
        ("Integration", _named(_text(event, "integration", "type"), _text(event, "integration", "id"))),
        ("Workflow", _named(_text(event, "workflow", "name"), _text(event, "workflow", "id"))),
        ("User", _text(event, "user", "id")),
        ("Execution", _text(event, "data", "workflowExecution", "id")),
    ]
    return [(label, _one_line(value)) for label, value in rows if value]


def _execution_url(event: dict[str, Any]) -> str:
    url = _one_line(_text(event, "data", "executionUrl"))
    # Only web links become an href: a javascript: or data: URL in an event must not be clickable.
    return url if url.startswith(("https://", "http://")) else ""


def _plain(message: str, rows: list[tuple[str, str]], error: str, url: str) -> str:
    lines = [message, ""] + [f"{label}: {value}" for label, value in rows]
    if error:
        lines += ["", "Error:", error]
    if url:
        lines += ["", f"Execution: {url}"]
    return "\n".join(lines) + "\n"


def _html(message: str, rows: list[tuple[str, str]], error: str, url: str) -> str:
    esc = html.escape  # quote=True by default: values also land inside attributes
    table = "".join(f"<tr><th align='left'>{esc(label)}</th><td>{esc(value)}</td></tr>" for label, value in rows)
    parts = [f"<p>{esc(message)}</p>", f"<table>{table}</table>"]
    if error:
        parts.append(f"<p><b>Error</b></p><pre>{esc(error)}</pre>")
    if url:
        parts.append(f'<p><a href="{esc(url)}">Open the execution</a></p>')
    return "<!doctype html><html><body>" + "".join(parts) + "</body></html>\n"


def _check_address(address: str) -> str:
    if len(address) > 254 or _ADDRESS.fullmatch(address) is None:
        raise ValueError("not a plain email address")  # no echo: the value came from a stored record
    return address


def compose(event: dict[str, Any], to: Sequence[str], sender: str) -> EmailMessage:
    """The notification for ``event``; ValueError when ``to`` is empty or an address is not a plain one."""
    if not to:
        raise ValueError("no recipients")
    recipients = [_check_address(a) for a in to]
    domain = _check_address(sender).rpartition("@")[2]
    message = _one_line(_text(event, "message")) or _text(event, "type") or "event"
    error = _text(event, "data", "error").replace("\r\n", "\n").replace("\r", "\n")
    error = _CONTROL_IN_BODY.sub(" ", error).strip()[:ERROR_MAX_CHARS]
    rows, url = _fields(event), _execution_url(event)
    msg = EmailMessage()
    msg["Subject"] = subject(event)
    msg["From"] = sender
    msg["To"] = ", ".join(recipients)
    msg["Date"] = formatdate(localtime=False)
    msg["Message-ID"] = make_msgid(domain=domain)  # without domain, make_msgid resolves our FQDN
    msg["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation replies to a robot
    msg.set_content(_plain(message, rows, error, url))
    msg.add_alternative(_html(message, rows, error, url), subtype="html")
    return msg


_REPLY_KINDS: tuple[tuple[type[aiosmtplib.SMTPResponseException], str], ...] = (
    (aiosmtplib.SMTPAuthenticationError, "auth_error"),
    (aiosmtplib.SMTPSenderRefused, "sender_refused"),
    (aiosmtplib.SMTPDataError, "data_error"),
)


def _classify(exc: BaseException) -> tuple[str, bool, int | None]:
    """error_class, retryable, reply code. Order matters: aiosmtplib's classes inherit across branches."""
    if isinstance(exc, TimeoutError):  # includes aiosmtplib's connect and read timeouts
        return "timeout", True, None
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        codes = [r.code for r in exc.recipients]
        return "recipients_refused", not codes or any(c < 500 for c in codes), codes[0] if codes else None
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        kind = next((name for cls, name in _REPLY_KINDS if isinstance(exc, cls)), "smtp_reply")
        # 5xx is a permanent verdict (RFC 5321 §4.2.1); 4xx and garbled replies (code -1) may pass.
        code = exc.code if exc.code > 0 else None
        return kind, code is None or code < 500, code
    if isinstance(exc, aiosmtplib.SMTPServerDisconnected):
        return "disconnected", True, None
    if isinstance(exc, aiosmtplib.SMTPNotSupported):
        return "not_supported", False, None  # e.g. SMTPUTF8 addresses on a server without it
    if isinstance(exc, ssl.SSLError) or isinstance(exc.__cause__, ssl.SSLError):  # STARTTLS raw, SMTPS wrapped
        return "tls_error", False, None  # an untrusted certificate or a protocol mismatch will not fix itself
    if isinstance(exc, aiosmtplib.SMTPConnectError | OSError):
        return "connect_error", True, None
    return "smtp_error", True, None


async def send(smtp: SmtpConfig, to: Sequence[str], event: dict[str, Any], *, now: Callable[[], float]) -> EmailResult:
    """Send ``event`` to ``to`` once, in at most ``smtp.timeout_s`` all told; ``now`` times it (seconds).

    aiosmtplib's timeout applies per command, so a server answering each one just in time could hold a
    send for several timeouts; ``asyncio.timeout`` caps the whole exchange.
    """
    started = now()

    def result(ok: bool, error_class: str | None, retryable: bool, code: int | None) -> EmailResult:
        return EmailResult(ok, round((now() - started) * 1000, 3), error_class, retryable, code)

    try:
        message = compose(event, to, smtp.sender)
    except ValueError:
        return result(False, "invalid_address", False, None)
    implicit_tls = smtp.port == IMPLICIT_TLS_PORT
    try:
        async with asyncio.timeout(smtp.timeout_s):
            refused, _ = await aiosmtplib.send(
                message,
                sender=smtp.sender,
                recipients=list(to),
                hostname=smtp.host,
                port=smtp.port,
                username=smtp.username,
                password=smtp.password,
                timeout=smtp.timeout_s,
                use_tls=implicit_tls,
                start_tls=smtp.starttls and not implicit_tls,
            )
    except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
        return result(False, *_classify(exc))
    if refused:
        # Delivered to the others: a retry would send them a duplicate, so this counts as delivered.
        return result(True, "recipients_refused", False, next(iter(refused.values())).code)
    return result(True, None, False, 250)  # aiosmtplib raises unless DATA was answered 250
