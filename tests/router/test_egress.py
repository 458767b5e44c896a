"""The egress policy and the guarded client: which addresses outbound requests may reach, checked after DNS,
connected to as checked, against real loopback servers."""

from __future__ import annotations

import datetime
import ipaddress
import socket
import ssl
from collections.abc import Callable, Iterable
from pathlib import Path

import httpcore
import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from pydantic import ValidationError

from router.egress.policy import AddressRefused, EgressPolicy
from router.egress.transport import GuardedTransport, guarded_client
from router.settings import Settings
from tests.router.loopback import Reply, http_sink, raw_server, read_request_head

pytestmark = pytest.mark.anyio

DEFAULT = EgressPolicy.parse("")
LOOPBACK = EgressPolicy.parse("127.0.0.0/8,::1")
PUBLIC = "93.184.216.34"


@pytest.mark.parametrize(
    "host",
    [
        "127.0.0.1",
        "127.255.0.9",
        "::1",
        "[::1]",
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "100.64.0.1",  # carrier-grade NAT
        "169.254.169.254",  # cloud metadata
        "fe80::1",
        "fe80::1%1",
        "fd00::1",  # unique-local
        "fc00::1",
        "224.0.0.1",
        "ff02::1",
        "0.0.0.0",  # noqa: S104 (an address to refuse, not one to bind)
        "::",
        "240.0.0.1",
        "255.255.255.255",
        "::ffff:127.0.0.1",  # IPv4-mapped
        "::ffff:7f00:1",
        "::ffff:169.254.169.254",
        "::127.0.0.1",  # IPv4-compatible
        "64:ff9b::a9fe:a9fe",  # NAT64 of 169.254.169.254
        "2002:7f00:1::",  # 6to4 of 127.0.0.1
        "2001:db8::1",
    ],
)
def test_non_public_addresses_are_refused(host: str) -> None:
    with pytest.raises(AddressRefused) as info:
        DEFAULT.check_host(host)
    assert info.value.reason == "address_refused" and info.value.retryable is False


@pytest.mark.parametrize(
    "host", ["0x7f000001", "2130706433", "0177.0.0.1", "127.1", "127.0.0.1.", "0x7f.1", "017700000001"]
)
def test_odd_spellings_are_refused_even_when_the_address_is_allowed(host: str) -> None:
    with pytest.raises(AddressRefused):
        LOOPBACK.check_host(host)


@pytest.mark.parametrize("host", [PUBLIC, "8.8.8.8", "2606:4700:4700::1111", "::ffff:8.8.8.8", "hooks.example.com"])
def test_public_addresses_and_names_pass(host: str) -> None:
    DEFAULT.check_host(host)


def test_the_allow_list_opens_only_what_it_names() -> None:
    policy = EgressPolicy.parse(" 10.0.0.0/8 , ::1,192.168.7.7")
    allowed = ["10.1.2.3", "::1", "192.168.7.7", "::ffff:10.1.2.3"]
    refused = ["127.0.0.1", "192.168.7.8", "169.254.169.254", "fd00::1"]
    assert all(policy.allowed(ipaddress.ip_address(a)) for a in allowed)
    assert not any(policy.allowed(ipaddress.ip_address(a)) for a in refused)


@pytest.mark.parametrize("allow", ["localhost", "10.0.0.0/33", "10.0.0.1,nope"])
def test_a_bad_allow_list_fails_at_startup(allow: str) -> None:
    with pytest.raises(ValidationError) as info:
        Settings(egress_allow=allow)
    assert "egress_allow" in str(info.value)


def test_settings_hold_the_allow_list_parsed_once() -> None:
    policy = Settings(egress_allow="10.0.0.0/8").egress_policy
    assert policy.allowed(ipaddress.ip_address("10.1.2.3")) and not DEFAULT.allowed(ipaddress.ip_address("10.1.2.3"))
    # The policy the validator checked is the one every client gets.
    assert policy is Settings(egress_allow="10.0.0.0/8").egress_policy


async def test_a_loopback_server_is_refused_without_the_allow_list_and_reached_with_it() -> None:
    with http_sink() as sink:
        async with guarded_client(DEFAULT) as http:
            with pytest.raises(AddressRefused):
                await http.post(sink.url(), content=b"{}")
            with pytest.raises(AddressRefused):
                await http.post(sink.url().replace("127.0.0.1", "localhost"), content=b"{}")
        assert sink.received == []
        async with guarded_client(LOOPBACK) as http:
            response = await http.post(sink.url(), content=b"{}")
        assert response.status_code == 200 and len(sink.received) == 1


@pytest.mark.parametrize("host", ["0x7f000001", "2130706433", "127.1", "[::ffff:127.0.0.1]"])
async def test_other_spellings_of_loopback_never_reach_the_server(host: str) -> None:
    with http_sink() as sink:
        port = sink.url().split(":")[2].split("/")[0]
        policy = DEFAULT if host.startswith("[") else LOOPBACK  # the odd spellings: even with loopback allowed
        async with guarded_client(policy) as http:
            with pytest.raises(AddressRefused):
                await http.post(f"http://{host}:{port}/hook", content=b"{}")
        assert sink.received == []


class Recorder(httpcore.AsyncNetworkBackend):
    """Records where the guarded backend connects; connects nowhere."""

    def __init__(self) -> None:
        self.hosts: list[str] = []

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        self.hosts.append(host)
        raise httpcore.ConnectError("recorded")


class Rebinding:
    """A DNS server that answers a public address first and loopback after that."""

    def __init__(self, first: list[str], then: list[str]) -> None:
        self.first, self.then, self.calls = first, then, 0

    async def __call__(self, host: str, port: int) -> list[str]:
        self.calls += 1
        return self.first if self.calls == 1 else self.then


async def test_the_connection_goes_to_the_address_that_was_checked() -> None:
    resolver, recorder = Rebinding([PUBLIC], ["127.0.0.1"]), Recorder()
    transport = GuardedTransport(DEFAULT, resolver=resolver, backend=recorder)
    async with httpx.AsyncClient(transport=transport) as http:
        with pytest.raises(httpx.ConnectError):
            await http.get("http://rebind.example/")
    assert recorder.hosts == [PUBLIC] and resolver.calls == 1


async def test_every_resolved_address_is_checked() -> None:
    recorder = Recorder()
    transport = GuardedTransport(DEFAULT, resolver=Rebinding([PUBLIC, "127.0.0.1"], []), backend=recorder)
    async with httpx.AsyncClient(transport=transport) as http:
        with pytest.raises(AddressRefused):
            await http.get("http://two-faced.example/")
    assert recorder.hosts == []


async def test_a_rebinding_name_reaches_the_checked_server_with_its_own_host_header() -> None:
    # Only 127.0.0.1 is allowed; the name answers it once, then the metadata address. A client that looked the
    # name up again to connect would not reach the sink at all (the system resolver does not know the name).
    with http_sink() as sink:
        port = int(sink.url().split(":")[2].split("/")[0])
        resolver = Rebinding(["127.0.0.1"], ["169.254.169.254"])
        async with guarded_client(EgressPolicy.parse("127.0.0.1"), resolver=resolver) as http:
            response = await http.post(f"http://rebind.test:{port}/hook", content=b"{}")
        assert response.status_code == 200 and resolver.calls == 1
        assert sink.received[0].headers["host"] == f"rebind.test:{port}"


async def test_redirects_are_not_followed() -> None:
    with http_sink(Reply(302, headers={"location": "http://169.254.169.254/latest/meta-data/"})) as sink:
        async with guarded_client(LOOPBACK) as http:
            response = await http.get(sink.url())
    assert response.status_code == 302 and len(sink.received) == 1


async def test_proxy_settings_in_the_environment_are_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    with http_sink() as target, http_sink() as proxy:
        for name in ("HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
            monkeypatch.setenv(name, proxy.url("/"))
        for name in ("NO_PROXY", "no_proxy"):
            monkeypatch.delenv(name, raising=False)
        async with guarded_client(LOOPBACK) as http:
            response = await http.post(target.url(), content=b"{}")
        assert response.status_code == 200 and len(target.received) == 1 and proxy.received == []


async def test_cookies_a_target_sets_are_never_kept_or_sent() -> None:
    with http_sink(Reply(200, headers={"set-cookie": "session=abc; Path=/"})) as sink:
        async with guarded_client(LOOPBACK) as http:
            first = await http.post(sink.url(), content=b"{}")
            await http.post(sink.url(), content=b"{}")
            assert first.headers["set-cookie"] == "session=abc; Path=/" and len(http.cookies) == 0
            with pytest.raises(AttributeError):
                http.cookies = {"session": "abc"}
    assert [r.headers.get("cookie") for r in sink.received] == [None, None]


def self_signed(tmp_path: Path, host: str) -> tuple[Path, Path]:
    """A certificate for ``host`` that no system trust store knows, and its key."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(host)]), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


def _pooled(policy: EgressPolicy, resolver: Rebinding) -> httpx.AsyncClient:
    return guarded_client(policy, resolver=resolver)


def _httpcore(policy: EgressPolicy, resolver: Rebinding) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=GuardedTransport(policy, resolver=resolver))


@pytest.mark.parametrize("client", [_pooled, _httpcore], ids=["pooled", "httpcore"])
async def test_tls_is_verified_and_names_the_url_host_not_the_checked_address(
    tmp_path: Path, client: Callable[[EgressPolicy, Rebinding], httpx.AsyncClient]
) -> None:
    # The connection goes to the checked address (127.0.0.1); the handshake still names the URL's host, and a
    # certificate nobody trusts ends it: no request is sent.
    cert, key = self_signed(tmp_path, "rebind.test")
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(cert, key)
    names: list[str | None] = []
    server.sni_callback = lambda _sock, name, _ctx: names.append(name)
    requests: list[bytes] = []

    def handler(conn: socket.socket) -> None:
        with server.wrap_socket(conn, server_side=True) as tls:
            requests.append(read_request_head(tls))
            tls.sendall(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")

    with raw_server(handler) as base:
        port = int(base.rsplit(":", 1)[1])
        async with client(EgressPolicy.parse("127.0.0.1"), Rebinding(["127.0.0.1"], ["169.254.169.254"])) as http:
            with pytest.raises(httpx.ConnectError):
                await http.get(f"https://rebind.test:{port}/")
    assert names == ["rebind.test"] and requests == []
