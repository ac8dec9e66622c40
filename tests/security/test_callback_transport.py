"""The callback client connects only to checked addresses (no DNS-rebinding window), keeps the
original name for ``Host`` and TLS, and follows no redirect.

These tests open real sockets, so they run in a network namespace holding only loopback (``netns``):
even a wrong connection to a public address cannot leave the machine.
"""

from __future__ import annotations

import asyncio
import ssl
import subprocess
from pathlib import Path

import pytest

from coordinator.callback_policy import CallbackPolicy, CallbackRefused, parse_networks
from coordinator.callback_transport import CallbackRejected, GuardedCallbackSender
from coordinator.callbacks import CallbackFailed
from coordinator.signing import HEADER, verify

pytestmark = pytest.mark.netns
LOOPBACK = parse_networks("127.0.0.0/8")
HASH, WORK = "AB" * 32, "2D7E000000000000"


class Receiver:
    """A minimal HTTP/1.1 server on 127.0.0.1 recording each request's head and TLS server name."""

    def __init__(self, status: int = 200, extra_headers: str = "") -> None:
        self.heads: list[str] = []
        self.bodies: list[bytes] = []
        self.server_names: list[str | None] = []
        self.status = status
        self.extra_headers = extra_headers

    async def start(self, tls: ssl.SSLContext | None = None) -> int:
        if tls is not None:
            tls.sni_callback = lambda sock, name, ctx: self.server_names.append(name)
        self.server = await asyncio.start_server(self.handle, "127.0.0.1", 0, ssl=tls)
        return self.server.sockets[0].getsockname()[1]

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = (await reader.readuntil(b"\r\n\r\n")).decode()
        length = next((int(line.split(":")[1]) for line in head.split("\r\n")
                       if line.lower().startswith("content-length:")), 0)
        self.bodies.append(await reader.readexactly(length))
        self.heads.append(head)
        writer.write(f"HTTP/1.1 {self.status} X\r\ncontent-length: 2\r\n{self.extra_headers}"
                     "connection: close\r\n\r\nok".encode())
        await writer.drain()
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
    sender = GuardedCallbackSender(5, policy, secret="s3cret")
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
    sender = GuardedCallbackSender(5, policy)
    with pytest.raises(CallbackRejected, match="127.0.0.1"):
        await sender.send(f"http://rebind.test:{port}/cb", HASH, WORK)
    await sender.close()
    await receiver.stop()
    assert calls == ["rebind.test", "rebind.test"]
    assert receiver.heads == []


async def test_the_socket_goes_to_the_checked_public_address_not_a_fresh_lookup() -> None:
    """A public answer is accepted and dialled as is (here: unreachable, the namespace has no route)."""
    calls: list[str] = []
    policy = CallbackPolicy(resolver=resolver_of([["8.8.8.8"]], calls))
    sender = GuardedCallbackSender(2, policy)
    with pytest.raises(CallbackFailed, match="ConnectError") as failure:
        await sender.send("http://public.test:9/cb", HASH, WORK)
    await sender.close()
    assert not isinstance(failure.value, CallbackRejected)
    assert calls == ["public.test"]


async def test_redirects_are_not_followed() -> None:
    receiver = Receiver(status=307, extra_headers="location: http://169.254.169.254/latest\r\n")
    port = await receiver.start()
    sender = GuardedCallbackSender(5, CallbackPolicy(LOOPBACK))
    with pytest.raises(CallbackFailed, match="307"):
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


async def test_tls_uses_the_original_name_for_sni_and_verification(certificate: tuple[Path, Path]) -> None:
    cert, key = certificate
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(cert, key)
    receiver = Receiver()
    port = await receiver.start(server_tls)
    client_tls = ssl.create_default_context(cafile=str(cert))
    policy = CallbackPolicy(LOOPBACK, resolver=resolver_of([["127.0.0.1"]], []))
    sender = GuardedCallbackSender(5, policy, verify=client_tls)
    await sender.send(f"https://callback.test:{port}/cb", HASH, WORK)
    # The certificate names callback.test, not the address: a URL naming the address fails.
    with pytest.raises(CallbackFailed, match="(?i)certificate|mismatch|IP address"):
        await sender.send(f"https://127.0.0.1:{port}/cb", HASH, WORK)
    await sender.close()
    await receiver.stop()
    assert len(receiver.heads) == 1
    assert receiver.server_names[0] == "callback.test"


async def test_refused_urls_raise_rejected_before_any_connection() -> None:
    sender = GuardedCallbackSender(5, CallbackPolicy())
    for url in ["http://169.254.169.254/latest/meta-data/", "ftp://example.test/", "http://[::1]:8/"]:
        with pytest.raises(CallbackRejected):
            await sender.send(url, HASH, WORK)
    await sender.close()


@pytest.mark.parametrize("host", ["localhost", "2130706433", "0x7f.1", "127.1", "017700000001"])
async def test_the_system_resolver_numeric_and_hosts_forms_of_loopback(host: str) -> None:
    """getaddrinfo reads decimal/hex/octal IPv4 forms and /etc/hosts; all of them are checked."""
    with pytest.raises(CallbackRefused):
        await CallbackPolicy().check(f"http://{host}:8080/cb")


def test_the_namespace_holds_only_loopback() -> None:
    import socket
    assert [name for _, name in socket.if_nameindex()] == ["lo"]
