"""The callback client connects only to checked addresses (no DNS-rebinding window), keeps the
original name for ``Host``, TLS and its pool of connections, follows no redirect, uses no
environment proxy, and bounds what it reads of an answer.

These tests open real sockets, so they run in a network namespace holding only loopback (``netns``):
even a wrong connection to a public address cannot leave the machine.
"""

from __future__ import annotations

import asyncio
import ssl
import subprocess
from pathlib import Path

import pytest

from coordinator.callbacks import (
    MAX_RESPONSE_BYTES,
    CallbackFailed,
    CallbackPolicy,
    CallbackRefused,
    CallbackSender,
    parse_networks,
)
from coordinator.callbacks.signing import HEADER, verify
from coordinator.callbacks.transport import MAX_HEADER_BYTES

pytestmark = pytest.mark.netns
LOOPBACK = parse_networks("127.0.0.0/8")
HASH, WORK = "AB" * 32, "2D7E000000000000"


class Receiver:
    """A minimal HTTP/1.1 server on 127.0.0.1 recording each request's head and TLS server name;
    it closes each connection after one answer unless ``keep_alive``."""

    def __init__(self, status: int = 200, extra_headers: str = "", body: bytes = b"ok",
                 keep_alive: bool = False) -> None:
        self.heads: list[str] = []
        self.bodies: list[bytes] = []
        self.server_names: list[str | None] = []
        self.connections = 0
        self.status = status
        self.extra_headers = extra_headers
        self.body = body
        self.keep_alive = keep_alive

    async def start(self, tls: ssl.SSLContext | None = None) -> int:
        if tls is not None:
            tls.sni_callback = lambda sock, name, ctx: self.server_names.append(name)
        self.server = await asyncio.start_server(self.handle, "127.0.0.1", 0, ssl=tls)
        return self.server.sockets[0].getsockname()[1]

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                head = (await reader.readuntil(b"\r\n\r\n")).decode()
                length = next((int(line.split(":")[1]) for line in head.split("\r\n")
                               if line.lower().startswith("content-length:")), 0)
                self.bodies.append(await reader.readexactly(length))
                self.heads.append(head)
                close = "" if self.keep_alive else "connection: close\r\n"
                writer.write(f"HTTP/1.1 {self.status} X\r\ncontent-length: {len(self.body)}\r\n"
                             f"{self.extra_headers}{close}\r\n".encode() + self.body)
                await writer.drain()
                if not self.keep_alive:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass  # the client closed its connection
        finally:
            writer.close()

    async def stop(self) -> None:
        self.server.close()
        await self.server.wait_closed()


def resolver_of(answers: list[list[str]], calls: list[str]):
    """Answers in turn: the first lookup gets answers[0], the next answers[1], and so on."""
    async def resolve(host: str, port: int) -> list[str]:
        calls.append(host)
        return answers[min(len(calls), len(answers)) - 1]
    return resolve


async def test_connects_to_the_checked_address_with_the_original_host_header() -> None:
    receiver = Receiver()
    port = await receiver.start()
    calls: list[str] = []
    policy = CallbackPolicy(LOOPBACK, resolver=resolver_of([["127.0.0.1"]], calls))
    sender = CallbackSender(5, policy, secret="s3cret")
    await sender.send(f"http://callback.test:{port}/cb", HASH, WORK)
    await sender.close()
    await receiver.stop()
    assert calls == ["callback.test"]
    head = receiver.heads[0]
    assert f"host: callback.test:{port}" in head.lower()
    signature = next(line.split(":", 1)[1].strip() for line in head.split("\r\n")
                     if line.lower().startswith(HEADER.lower() + ":"))
    assert verify("s3cret", receiver.bodies[0], signature)


async def test_a_rebinding_answer_is_refused_at_connect_time() -> None:
    """Intake sees a public address; by delivery the name points at loopback: nothing connects."""
    receiver = Receiver()
    port = await receiver.start()
    calls: list[str] = []
    policy = CallbackPolicy(resolver=resolver_of([["8.8.8.8"], ["127.0.0.1"]], calls))
    await policy.check(f"http://rebind.test:{port}/cb")  # intake: public, accepted
    sender = CallbackSender(5, policy)
    with pytest.raises(CallbackRefused, match="127.0.0.1"):
        await sender.send(f"http://rebind.test:{port}/cb", HASH, WORK)
    await sender.close()
    await receiver.stop()
    assert calls == ["rebind.test", "rebind.test"]
    assert receiver.heads == []


async def test_the_socket_goes_to_the_checked_public_address_not_a_fresh_lookup() -> None:
    """A public answer is accepted and dialled as is (here: unreachable, the namespace has no route)."""
    calls: list[str] = []
    policy = CallbackPolicy(resolver=resolver_of([["8.8.8.8"]], calls))
    sender = CallbackSender(2, policy)
    with pytest.raises(CallbackFailed, match="ClientConnectorError") as failure:
        await sender.send("http://public.test:9/cb", HASH, WORK)
    await sender.close()
    assert not isinstance(failure.value, CallbackRefused)
    assert calls == ["public.test"]


@pytest.mark.parametrize(("answer", "match"), [
    ({"status": 307, "extra_headers": "location: http://169.254.169.254/latest\r\n"}, "307"),
    ({"extra_headers": f"x-long: {'a' * (MAX_HEADER_BYTES + 10)}\r\n"}, f"more than {MAX_HEADER_BYTES}"),
], ids=["a redirect, not followed", "an over-long header"])
async def test_answers_that_fail_the_callback(answer: dict, match: str) -> None:
    receiver = Receiver(**answer)
    port = await receiver.start()
    sender = CallbackSender(5, CallbackPolicy(LOOPBACK))
    with pytest.raises(CallbackFailed, match=match):
        await sender.send(f"http://127.0.0.1:{port}/cb", HASH, WORK)
    await sender.close()
    await receiver.stop()
    assert len(receiver.heads) == 1


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[Path, Path]:
    """A self-signed certificate for the name ``callback.test`` only."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                    "-nodes", "-days", "1", "-subj", "/CN=callback.test",
                    "-addext", "subjectAltName=DNS:callback.test",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    return cert, key


async def serve_tls(receiver: Receiver, certificate: tuple[Path, Path]) -> tuple[int, CallbackSender]:
    """``receiver`` on TLS with the certificate, and a sender trusting it whose every name resolves
    to 127.0.0.1."""
    cert, key = certificate
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(cert, key)
    port = await receiver.start(server_tls)
    client_tls = ssl.create_default_context(cafile=str(cert))
    policy = CallbackPolicy(LOOPBACK, resolver=resolver_of([["127.0.0.1"]], []))
    return port, CallbackSender(5, policy, verify=client_tls)


async def test_tls_uses_the_original_name_for_sni_and_verification(certificate: tuple[Path, Path]) -> None:
    receiver = Receiver()
    port, sender = await serve_tls(receiver, certificate)
    await sender.send(f"https://callback.test:{port}/cb", HASH, WORK)
    # The certificate names callback.test, not the address: a URL naming the address fails.
    with pytest.raises(CallbackFailed, match="(?i)certificate|mismatch|IP address"):
        await sender.send(f"https://127.0.0.1:{port}/cb", HASH, WORK)
    await sender.close()
    await receiver.stop()
    assert len(receiver.heads) == 1
    assert receiver.server_names[0] == "callback.test"


async def test_refused_urls_raise_rejected_before_any_connection() -> None:
    sender = CallbackSender(5, CallbackPolicy())
    for url in ["http://169.254.169.254/latest/meta-data/", "ftp://example.test/", "http://[::1]:8/"]:
        with pytest.raises(CallbackRefused):
            await sender.send(url, HASH, WORK)
    await sender.close()


async def test_tls_connections_are_pooled_per_host_name(certificate: tuple[Path, Path]) -> None:
    """Two names on one address: a kept-alive connection verified for one name is not reused for the
    other, whose certificate check then fails; the first name keeps reusing its connection."""
    receiver = Receiver(keep_alive=True)
    port, sender = await serve_tls(receiver, certificate)
    await sender.send(f"https://callback.test:{port}/cb", HASH, WORK)
    with pytest.raises(CallbackFailed, match="(?i)certificate|mismatch"):
        await sender.send(f"https://other.test:{port}/cb", HASH, WORK)
    await sender.send(f"https://callback.test:{port}/cb", HASH, WORK)
    await sender.close()
    await receiver.stop()
    assert len(receiver.heads) == 2
    assert receiver.server_names == ["callback.test", "other.test"]  # two handshakes, two names
    assert receiver.connections == 1  # both callback.test requests on one connection (other.test's failed)


async def test_an_ip_literal_is_checked_before_any_connection() -> None:
    """aiohttp does not pass IP literals to a resolver: the sender checks them itself."""
    receiver = Receiver()
    port = await receiver.start()
    sender = CallbackSender(5, CallbackPolicy())
    for host in ["127.0.0.1", "[::ffff:127.0.0.1]"]:
        with pytest.raises(CallbackRefused, match="127.0.0.1"):
            await sender.send(f"http://{host}:{port}/cb", HASH, WORK)
    await sender.close()
    await receiver.stop()
    assert receiver.connections == 0


async def test_environment_proxies_are_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    proxy, receiver = Receiver(), Receiver()
    proxy_port, port = await proxy.start(), await receiver.start()
    for name in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.setenv(name, f"http://127.0.0.1:{proxy_port}")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    sender = CallbackSender(5, CallbackPolicy(LOOPBACK))
    await sender.send(f"http://127.0.0.1:{port}/cb", HASH, WORK)
    await sender.close()
    await proxy.stop()
    await receiver.stop()
    assert proxy.connections == 0
    assert len(receiver.heads) == 1


async def test_the_answer_read_is_bounded() -> None:
    receiver = Receiver(status=500, body=b"x" * 100_000)
    port = await receiver.start()
    sender = CallbackSender(5, CallbackPolicy(LOOPBACK))
    with pytest.raises(CallbackFailed, match="500") as failure:
        await sender.send(f"http://127.0.0.1:{port}/cb", HASH, WORK)
    assert str(failure.value).count("x") == MAX_RESPONSE_BYTES
    await sender.close()
    await receiver.stop()


async def test_a_silent_receiver_times_out() -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # reads the request, never answers, until the client gives up
        writer.close()

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    sender = CallbackSender(0.3, CallbackPolicy(LOOPBACK))
    started = asyncio.get_running_loop().time()
    with pytest.raises(CallbackFailed, match="Timeout"):
        await sender.send(f"http://127.0.0.1:{port}/cb", HASH, WORK)
    assert asyncio.get_running_loop().time() - started < 5
    await sender.close()
    server.close()
    await server.wait_closed()


@pytest.mark.parametrize("host", ["localhost", "2130706433", "0x7f.1", "127.1", "017700000001"])
async def test_the_system_resolver_numeric_and_hosts_forms_of_loopback(host: str) -> None:
    """getaddrinfo reads decimal/hex/octal IPv4 forms and /etc/hosts; all of them are checked."""
    with pytest.raises(CallbackRefused):
        await CallbackPolicy().check(f"http://{host}:8080/cb")


def test_the_namespace_holds_only_loopback() -> None:
    import socket
    assert [name for _, name in socket.if_nameindex()] == ["lo"]
