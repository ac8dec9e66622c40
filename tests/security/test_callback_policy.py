"""The SSRF policy alone: address classes, URL forms, and refusals at resolution.

No test here opens a connection: addresses are judged as values, and host names go through a
stubbed resolver (a real lookup of an unknown name would send a DNS query off the machine).
"""

from __future__ import annotations

import asyncio
import ipaddress

import pytest

from coordinator.callbacks import CallbackFailed, CallbackPolicy, CallbackRefused, CallbackUnresolved
from coordinator.callbacks.policy import parse_networks, why_not_global
from messaging import Redeliver

REFUSED = [
    "127.0.0.1", "127.255.255.254", "10.1.2.3", "172.16.0.1", "192.168.1.1",
    "169.254.169.254",  # cloud metadata (AWS, GCP, Azure)
    "100.64.0.1", "100.127.255.254",  # shared address space (carrier-grade NAT)
    "0.0.0.0", "0.1.2.3", "224.0.0.1", "239.255.255.250", "240.0.0.1", "255.255.255.255",
    "192.0.2.1", "198.51.100.1", "203.0.113.1", "198.18.0.1",
    "::1", "::", "fe80::1", "fd00:ec2::254",  # AWS IPv6 metadata
    "fc00::1", "fdff::1", "ff02::1", "ff0e::1", "fec0::1", "2001:db8::1", "3fff::1",
    "::ffff:127.0.0.1", "::ffff:10.0.0.1", "::ffff:169.254.169.254", "::ffff:100.64.0.1",
    "::127.0.0.1",  # IPv4-compatible (deprecated)
    "::ffff:0:7f00:1",  # IPv4-translated
    "2002:7f00:1::1", "2002:a9fe:a9fe::1",  # 6to4 of 127.0.0.1 and 169.254.169.254
    "64:ff9b::7f00:1", "64:ff9b::a9fe:a9fe",  # NAT64 of loopback and metadata
    "64:ff9b:1::1",  # local-use NAT64
    "2001::1", "100::1",  # Teredo, discard-only
]
ALLOWED = ["8.8.8.8", "1.1.1.1", "93.184.216.34", "2606:4700:4700::1111", "2001:4860:4860::8888",
           "::ffff:8.8.8.8", "64:ff9b::808:808", "2002:808:808::1"]


@pytest.mark.parametrize("address", REFUSED)
def test_not_global_addresses_are_refused(address: str) -> None:
    ip = ipaddress.ip_address(address)
    assert why_not_global(ip), address
    with pytest.raises(CallbackRefused, match=str(ip)):
        CallbackPolicy().check_address(ip)


@pytest.mark.parametrize("address", ALLOWED)
def test_public_addresses_are_allowed(address: str) -> None:
    assert why_not_global(ipaddress.ip_address(address)) is None
    CallbackPolicy().check_address(ipaddress.ip_address(address))


def test_allowed_networks_open_only_their_range() -> None:
    policy = CallbackPolicy(allowed_networks=parse_networks("127.0.0.0/8, ::1/128 10.0.0.0/8"))
    for address in ["127.0.0.1", "::1", "10.9.9.9", "::ffff:127.0.0.1"]:
        policy.check_address(ipaddress.ip_address(address))
    for address in ["169.254.169.254", "192.168.0.1", "fd00:ec2::254", "2002:7f00:1::1"]:
        with pytest.raises(CallbackRefused):
            policy.check_address(ipaddress.ip_address(address))


def test_parse_networks_rejects_garbage() -> None:
    assert parse_networks("") == ()
    with pytest.raises(ValueError, match="not a CIDR"):
        parse_networks("127.0.0.0/8, localhost")


@pytest.mark.parametrize("url", [
    "ftp://example.com/", "file:///etc/passwd", "gopher://x/", "javascript:alert(1)", "//example.com/x",
    "/relative", "example.com/callback", "http://", "http:///path", "", "unix:/var/run/x.sock",
])
def test_urls_of_other_forms_are_refused(url: str) -> None:
    with pytest.raises(CallbackRefused):
        CallbackPolicy().check_url(url)


def stub(answers: dict[str, list[str]], calls: list[str] | None = None):
    async def resolver(host: str, port: int) -> list[str]:
        if calls is not None:
            calls.append(host)
        if host not in answers:
            raise OSError(-2, "Name or service not known")
        return answers[host]
    return resolver


async def test_any_bad_address_refuses_the_host() -> None:
    policy = CallbackPolicy(resolver=stub({
        "public.test": ["8.8.8.8", "2606:4700:4700::1111"],
        "mixed.test": ["8.8.8.8", "10.0.0.5"],
        "metadata.test": ["169.254.169.254"],
        "v6meta.test": ["fd00:ec2::254"],
        "scoped.test": ["fe80::1%eth0"],
    }))
    await policy.check("https://public.test/cb")
    for host, bad in [("mixed.test", "10.0.0.5"), ("metadata.test", "169.254.169.254"),
                      ("v6meta.test", "fd00:ec2::254"), ("scoped.test", "fe80::1")]:
        with pytest.raises(CallbackRefused, match=bad):
            await policy.check(f"http://{host}:8000/cb")


async def test_ip_literals_are_judged_without_a_lookup() -> None:
    calls: list[str] = []
    policy = CallbackPolicy(resolver=stub({}, calls))
    for url in ["http://127.0.0.1/", "http://[::1]:80/", "http://[::ffff:169.254.169.254]/",
                "http://169.254.169.254/latest/meta-data/"]:
        with pytest.raises(CallbackRefused):
            await policy.check(url)
    await policy.check("http://8.8.8.8/")
    # Numeric forms the socket layer reads as addresses (here 8.8.8.8, 127.0.0.1) are not looked up:
    # the HTTP client would dial them without its resolver, so they are refused by form.
    for url in ["http://134744072/", "http://127.1:8080/", "http://017700000001/",
                "http://0x7f.1/", "http://0X7F000001:80/"]:
        with pytest.raises(CallbackRefused, match="not a plain IP address"):
            await policy.check(url)
    assert calls == []


async def test_names_are_resolved_in_their_idna_form() -> None:
    calls: list[str] = []
    policy = CallbackPolicy(resolver=stub({"xn--bcher-kva.test": ["8.8.8.8"]}, calls))
    await policy.check("http://bücher.test/cb")
    assert calls == ["xn--bcher-kva.test"]


async def test_unresolvable_and_slow_hosts() -> None:
    policy = CallbackPolicy(resolver=stub({"empty.test": []}))
    with pytest.raises(CallbackUnresolved, match="does not resolve"):
        await policy.check("http://nowhere.test/")
    with pytest.raises(CallbackUnresolved, match="no address"):
        await policy.check("http://empty.test/")

    async def hang(host: str, port: int) -> list[str]:
        await asyncio.sleep(10)
        return ["8.8.8.8"]

    with pytest.raises(CallbackUnresolved):
        await CallbackPolicy(resolver=hang, resolve_timeout=0.05).check("http://slow.test/")


async def test_intake_reuses_an_answer_briefly_and_checks_it_every_time() -> None:
    calls: list[str] = []
    policy = CallbackPolicy(resolver=stub({"public.test": ["8.8.8.8"], "private.test": ["10.0.0.1"]},
                                          calls), cache_seconds=60)
    for _ in range(3):
        await policy.check("http://public.test/cb")
    for _ in range(2):
        with pytest.raises(CallbackRefused, match="10.0.0.1"):
            await policy.check("http://private.test/cb")
    assert calls == ["public.test", "private.test"]
    await policy.check("http://public.test:8080/cb")  # another port: another entry
    assert calls[-1] == "public.test" and len(calls) == 3
    # Delivery (the resolver of every new connection) never uses the kept answer.
    assert await policy.resolve("public.test", 80) == [ipaddress.ip_address("8.8.8.8")]
    assert len(calls) == 4


async def test_intake_answers_and_failures_are_kept_briefly() -> None:
    """A failure is kept as long as an answer: requests naming a name that does not resolve (or
    whose servers never answer) fail at once instead of each waiting for the lookup."""
    calls: list[str] = []
    policy = CallbackPolicy(resolver=stub({"public.test": ["8.8.8.8"]}, calls), cache_seconds=0.05)
    await policy.check("http://public.test/cb")
    await asyncio.sleep(0.1)  # longer than cache_seconds: the answer has expired
    await policy.check("http://public.test/cb")
    for _ in range(2):
        with pytest.raises(CallbackUnresolved, match="does not resolve"):
            await policy.check("http://nowhere.test/cb")
    assert calls == ["public.test", "public.test", "nowhere.test"]
    await asyncio.sleep(0.1)  # the failure has expired too
    with pytest.raises(CallbackUnresolved):
        await policy.check("http://nowhere.test/cb")
    assert calls[-1] == "nowhere.test" and len(calls) == 4
    uncached: list[str] = []
    policy = CallbackPolicy(resolver=stub({"public.test": ["8.8.8.8"]}, uncached), cache_seconds=0)
    for _ in range(2):
        await policy.check("http://public.test/cb")
    assert uncached == ["public.test", "public.test"]


def test_a_refusal_is_not_retryable_and_a_failure_is() -> None:
    """Delivery acks (drops) a refused callback and nacks (retries) a failed one: the tree must keep
    a refusal out of the retryable branch."""
    assert not issubclass(CallbackRefused, Redeliver)
    assert not issubclass(CallbackRefused, CallbackFailed)
    assert issubclass(CallbackFailed, Redeliver)
    assert issubclass(CallbackUnresolved, CallbackFailed)
