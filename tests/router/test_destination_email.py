"""Email destinations against a real SMTP server (aiosmtpd) on 127.0.0.1, port chosen by the OS.

The aiosmtpd protocol runs on the test's own event loop through ``loop.create_server(..., port=0)``
rather than in a ``Controller`` thread: the Controller needs a fixed port to probe its own server.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any, cast

import pytest
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from pydantic import SecretStr

from router.notifications.destinations.email import SUBJECT_MAX_CHARS, EmailResult, SmtpConfig, compose, send, subject
from router.notifications.events import workflow_failure
from router.settings import Settings
from subscriptions.models import ConnectedUser, Integration, Project, Workflow
from subscriptions.snapshot import Snapshot

pytestmark = pytest.mark.anyio

SENDER = "alerts@hookrouter.test"
TO = ["ops@example.test", "oncall@example.test"]
USER_SECRET = "sk_live_user_metadata_value"
EXEC_URL = "https://dashboard.example.test/projects/p1/history/workflows/wf-1/executions/ex-1"


def snapshot() -> Snapshot:
    return Snapshot.build(
        1,
        {
            "project": [Project(id="p1", name="Acme")],
            "integration": [Integration(id="slack-app", project="p1", type="slack")],
            "user": [ConnectedUser(id="u1", project="p1", metadata={"apiKey": USER_SECRET})],
            "workflow": [Workflow(id="wf-1", project="p1", name="On message", integration="slack-app")],
        },
    )


def failure(error: str = "Slack said channel_not_found", url: str = EXEC_URL) -> dict[str, Any]:
    return workflow_failure(
        snapshot(),
        project="p1",
        workflow="wf-1",
        user="u1",
        execution_id="ex-1",
        error=error,
        execution_url=url,
        now=1_729_629_642.607,
    )


@dataclass
class Mailbox:
    """An aiosmtpd handler: keeps every accepted envelope; ``data_reply``/``refuse`` script failures."""

    received: list[Envelope] = field(default_factory=list)
    data_reply: str = "250 OK"
    refuse: dict[str, str] = field(default_factory=dict)  # recipient → RCPT reply

    async def handle_RCPT(  # aiosmtpd's hook names
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.data_reply.startswith("250"):
            self.received.append(envelope)
        return self.data_reply

    def messages(self) -> list[EmailMessage]:
        return [message_from_bytes(cast(bytes, e.original_content), policy=policy.default) for e in self.received]


def authenticator(server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any) -> AuthResult:
    ok = isinstance(data, LoginPassword) and data == LoginPassword(b"hook", b"s3cret")
    return AuthResult(success=ok, handled=False)  # handled=False: aiosmtpd answers 535 itself


@contextlib.asynccontextmanager
async def smtp_server(mailbox: Mailbox, **smtp_kwargs: Any) -> AsyncIterator[int]:
    loop = asyncio.get_running_loop()

    def protocol() -> SMTP:
        return SMTP(mailbox, hostname="mx.test", loop=loop, **smtp_kwargs)

    server = await loop.create_server(protocol, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        await server.wait_closed()


def config(port: int, **overrides: Any) -> SmtpConfig:
    values: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": port,
        "username": None,
        "password": None,
        "sender": SENDER,
        "starttls": False,
        "timeout_s": 5.0,
    }
    values.update(overrides)
    return SmtpConfig(**values)


async def deliver(port: int, event: dict[str, Any], to: list[str] = TO, **overrides: Any) -> EmailResult:
    return await send(config(port, **overrides), to, event, now=time.monotonic)


def bodies(msg: EmailMessage) -> tuple[str, str]:
    plain, rich = msg.get_body(("plain",)), msg.get_body(("html",))
    assert plain is not None and rich is not None
    # On the wire every line ends in CRLF; compare with the text as composed.
    return tuple(cast(EmailMessage, part).get_content().replace("\r\n", "\n") for part in (plain, rich))


async def test_a_workflow_failure_reaches_every_recipient_with_subject_and_both_bodies() -> None:
    mailbox = Mailbox()
    async with smtp_server(mailbox) as port:
        result = await deliver(port, failure(error="Slack said channel_not_found\r\n  at step 3\x00"))
    assert result.ok and result.code == 250 and result.error_class is None and not result.retryable
    assert result.duration_ms >= 0
    [envelope] = mailbox.received
    assert envelope.mail_from == SENDER and envelope.rcpt_tos == TO
    [msg] = mailbox.messages()
    assert msg["Subject"] == "[hookrouter] workflow_failure: Workflow \u201cOn message\u201c failed for User u1"
    assert msg["From"] == SENDER and msg["To"] == ", ".join(TO)
    assert msg["Auto-Submitted"] == "auto-generated" and msg["Message-ID"].endswith("@hookrouter.test>")
    plain, rich = bodies(msg)
    for body in (plain, rich):
        for expected in ("On message", "Acme (p1)", "slack (slack-app)", "wf-1", "u1", "ex-1"):
            assert expected in body
        assert "Slack said channel_not_found\n  at step 3" in body  # an error keeps its lines
        assert USER_SECRET not in body  # user metadata is the customer's data, not ours to mail
    assert f"Execution: {EXEC_URL}" in plain
    assert f'<a href="{EXEC_URL}">' in rich


async def test_html_is_escaped_and_only_web_links_are_clickable() -> None:
    event = failure(error="<script>alert(1)</script> & more", url="javascript:alert(document.cookie)")
    event["message"] = 'Workflow "<script>steal()</script>" failed'
    mailbox = Mailbox()
    async with smtp_server(mailbox) as port:
        assert (await deliver(port, event)).ok
    plain, rich = bodies(mailbox.messages()[0])
    assert "<script>" not in rich and "javascript:" not in rich
    assert "&lt;script&gt;steal()&lt;/script&gt;" in rich and "&lt;script&gt;alert(1)&lt;/script&gt; &amp; more" in rich
    assert "<script>alert(1)</script> & more" in plain  # plain text shows it as written


async def test_a_header_injection_in_the_message_stays_in_the_subject() -> None:
    event = failure()
    event["message"] = "boom\r\nBcc: attacker@evil.test\r\n\r\nforged body\u2028X-Extra: 1"
    mailbox = Mailbox()
    async with smtp_server(mailbox) as port:
        assert (await deliver(port, event)).ok
    [envelope] = mailbox.received
    assert envelope.rcpt_tos == TO
    [msg] = mailbox.messages()
    assert msg["Bcc"] is None and msg["X-Extra"] is None
    assert msg["Subject"] == "[hookrouter] workflow_failure: boom Bcc: attacker@evil.test forged body X-Extra: 1"


def test_the_subject_is_one_line_of_at_most_200_characters() -> None:
    event = failure()
    event["message"] = "x\n" * 500
    line = subject(event)
    assert len(line) == SUBJECT_MAX_CHARS and line.endswith("\u2026") and "\n" not in line
    assert subject({"type": None, "message": ["not", "text"]}) == "[hookrouter] event:"  # untrusted shapes


@pytest.mark.parametrize(
    "to",
    [[], ["ops@example.test\r\nRCPT TO:<x@evil.test>"], ["Ops <ops@example.test>"], ["a@b@c"], ["no-at-sign"]],
)
def test_compose_refuses_anything_but_plain_addresses(to: list[str]) -> None:
    with pytest.raises(ValueError):
        compose(failure(), to, SENDER)


async def test_an_invalid_address_fails_without_connecting() -> None:
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        result = await deliver(unused.getsockname()[1], failure(), to=["ops@example.test\nX: y"])
    assert (result.ok, result.error_class, result.retryable) == (False, "invalid_address", False)


async def test_auth_with_username_and_password() -> None:
    mailbox = Mailbox()
    async with smtp_server(mailbox, authenticator=authenticator, auth_require_tls=False) as port:
        good = await deliver(port, failure(), username="hook", password="s3cret")
        bad = await deliver(port, failure(), username="hook", password="wrong")
    assert good.ok and len(mailbox.received) == 1
    assert (bad.ok, bad.error_class, bad.retryable, bad.code) == (False, "auth_error", False, 535)


async def test_starttls_required_but_not_offered_sends_nothing() -> None:
    mailbox = Mailbox()
    async with smtp_server(mailbox, authenticator=authenticator, auth_require_tls=False) as port:
        result = await deliver(port, failure(), username="hook", password="s3cret", starttls=True)
    # Neither the password nor the message went over the plain connection.
    assert (result.ok, result.error_class) == (False, "smtp_error") and mailbox.received == []


def self_signed_context(tmp_path: Path) -> ssl.SSLContext:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=1))
        .not_valid_after(now + timedelta(hours=1))
        .sign(key, hashes.SHA256())
    )
    (tmp_path / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "key.pem").write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    return context


async def test_an_untrusted_certificate_on_starttls_is_a_permanent_tls_error(tmp_path: Path) -> None:
    mailbox = Mailbox()
    tls = self_signed_context(tmp_path)
    async with smtp_server(mailbox, tls_context=tls, require_starttls=True, authenticator=authenticator) as port:
        result = await deliver(port, failure(), username="hook", password="s3cret", starttls=True)
    assert (result.ok, result.error_class, result.retryable) == (False, "tls_error", False)
    assert mailbox.received == []


@pytest.mark.parametrize(
    ("data_reply", "refuse", "error_class", "retryable", "code"),
    [
        ("451 4.3.0 Try again later", {}, "data_error", True, 451),
        ("554 5.6.0 Rejected", {}, "data_error", False, 554),
        ("250 OK", {a: "450 4.2.0 Mailbox busy" for a in TO}, "recipients_refused", True, 450),
        ("250 OK", {a: "550 5.1.1 No such user" for a in TO}, "recipients_refused", False, 550),
    ],
)
async def test_smtp_replies_decide_whether_to_retry(
    data_reply: str, refuse: dict[str, str], error_class: str, retryable: bool, code: int
) -> None:
    async with smtp_server(Mailbox(data_reply=data_reply, refuse=refuse)) as port:
        result = await deliver(port, failure())
    assert (result.ok, result.error_class, result.retryable, result.code) == (False, error_class, retryable, code)


async def test_one_refused_recipient_does_not_fail_the_others() -> None:
    mailbox = Mailbox(refuse={TO[1]: "550 5.1.1 No such user"})
    async with smtp_server(mailbox) as port:
        result = await deliver(port, failure())
    # Retrying would send the accepted recipient a duplicate: delivered, with the refusal noted.
    assert (result.ok, result.error_class, result.retryable, result.code) == (True, "recipients_refused", False, 550)
    assert mailbox.received[0].rcpt_tos == [TO[0]]


async def test_connection_refused_is_retryable() -> None:
    with socket.socket() as bound:
        bound.bind(("127.0.0.1", 0))  # bound, never listening: Linux answers a connect with RST
        result = await deliver(bound.getsockname()[1], failure())
    assert (result.ok, result.error_class, result.retryable, result.code) == (False, "connect_error", True, None)


Behaviour = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@contextlib.asynccontextmanager
async def scripted_server(on_connect: Behaviour) -> AsyncIterator[int]:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await on_connect(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        # wait_closed waits for open handlers on 3.12+; ours end when the client hangs up.
        await asyncio.wait_for(server.wait_closed(), 5)


async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.read()  # never greets; returns when the client gives up and closes


async def slow_but_alive(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.write(b"220 slow.test ESMTP\r\n")
    while line := await reader.readline():
        await asyncio.sleep(0.15)  # each reply well within the per-command timeout
        writer.write(b"354 go on\r\n" if line.upper().startswith(b"DATA") else b"250 ok\r\n")
        await writer.drain()


@pytest.mark.parametrize("behaviour", [silent, slow_but_alive], ids=["no-greeting", "slow-replies"])
async def test_a_stalled_server_times_out_within_the_budget(
    behaviour: Behaviour,
) -> None:
    async with scripted_server(behaviour) as port:
        started = time.monotonic()
        result = await deliver(port, failure(), timeout_s=0.4)
        elapsed = time.monotonic() - started
    assert (result.ok, result.error_class, result.retryable, result.code) == (False, "timeout", True, None)
    assert 0.35 <= elapsed < 0.4 + 0.5


def test_config_from_settings_keeps_the_password_out_of_repr() -> None:
    assert SmtpConfig.from_settings(Settings()) is None
    settings = Settings(smtp_host="mail.example.test", smtp_username="hook", smtp_password=SecretStr("s3cret"))
    smtp = SmtpConfig.from_settings(settings)
    assert smtp == SmtpConfig(
        host="mail.example.test",
        port=587,
        username="hook",
        password="s3cret",
        sender="hookrouter@localhost",
        starttls=True,
        timeout_s=15,
    )
    assert "s3cret" not in repr(smtp)
    with pytest.raises(ValueError):
        SmtpConfig.from_settings(Settings(smtp_host="mail.example.test", smtp_from="Ops <ops@example.test>"))
