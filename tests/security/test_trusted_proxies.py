"""``FORWARDED_ALLOW_IPS``: the coordinator's per-address rate limit behind a reverse proxy.

The coordinator runs under real uvicorn on loopback; the test client plays the proxy (its connection
comes from 127.0.0.1) and says with ``X-Forwarded-For`` which client it forwards.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

import atto_work.serving
from common.proxies import ProxySettings
from coordinator import CoordinatorSettings, create_app
from tests.pipeline.fakes import serve

TARGET = "89EB0D6A8A691DAE2CD15ED0369931CE0A949ECAFA5C3F93F8121833646E15C3"


@asynccontextmanager
async def coordinator(proxies: ProxySettings) -> AsyncIterator[str]:
    """A coordinator with a rate limit of one request per ~17 minutes per client (burst of one)."""
    settings = CoordinatorSettings(messaging="memory", coordinator_rate_limit=0.001)
    async with serve(create_app(settings), **proxies.uvicorn_options()) as base:
        yield base


async def post_as(client: httpx.AsyncClient, base: str, forwarded_for: str) -> int:
    body = {"network": "LOCAL", "timestamp": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "callback": "http://93.184.215.14/callback"}  # never called: nothing consumes the queue
    response = await client.post(f"{base}/works/{TARGET}", json=body,
                                 headers={"X-Forwarded-For": forwarded_for})
    return response.status_code


async def test_a_trusted_proxy_gets_each_forwarded_client_its_own_limit() -> None:
    async with coordinator(ProxySettings(forwarded_allow_ips="127.0.0.1")) as base, \
            httpx.AsyncClient(timeout=30) as client:
        assert await post_as(client, base, "203.0.113.7") == 202
        assert await post_as(client, base, "203.0.113.7") == 429  # that client's own bucket
        assert await post_as(client, base, "198.51.100.9") == 202  # another client, another bucket
        # The client is the rightmost untrusted address: a client cannot pick its own by prepending.
        assert await post_as(client, base, "198.51.100.10, 203.0.113.7") == 429


async def test_without_trusted_proxies_x_forwarded_for_is_ignored() -> None:
    async with coordinator(ProxySettings()) as base, httpx.AsyncClient(timeout=30) as client:
        assert await post_as(client, base, "203.0.113.7") == 202
        # Every request is keyed to the connecting address, whatever the header claims.
        assert await post_as(client, base, "198.51.100.9") == 429


def test_unset_trusts_no_one_and_ranges_are_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FORWARDED_ALLOW_IPS", raising=False)
    assert ProxySettings().uvicorn_options() == {"proxy_headers": False}
    monkeypatch.setenv("FORWARDED_ALLOW_IPS", "130.211.0.0/22, 35.191.0.0/16,2001:db8::1")
    assert ProxySettings().uvicorn_options() == {
        "proxy_headers": True, "forwarded_allow_ips": ["130.211.0.0/22", "35.191.0.0/16", "2001:db8::1"]}


def test_serve_passes_the_setting_to_uvicorn(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[str, Any] = {}
    monkeypatch.setattr(atto_work.serving.uvicorn, "run", lambda app, **kwargs: seen.update(kwargs))
    monkeypatch.setenv("FORWARDED_ALLOW_IPS", "10.0.0.0/8")
    atto_work.serving.serve(object(), "127.0.0.1", 1)
    assert (seen["proxy_headers"], seen["forwarded_allow_ips"]) == (True, ["10.0.0.0/8"])


def test_a_bad_entry_stops_the_start_naming_the_variable(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("FORWARDED_ALLOW_IPS", "10.0.0.0/8, ingress.local")
    with pytest.raises(SystemExit) as exited:
        atto_work.serving.serve(object(), "127.0.0.1", 1)
    assert exited.value.code == 2
    assert "FORWARDED_ALLOW_IPS" in capsys.readouterr().err


async def test_a_peer_outside_the_trusted_proxies_cannot_pick_its_address() -> None:
    # Proxies are configured, but the test client (127.0.0.1) is not one of them: its header is
    # ignored and every request counts against its own connection address.
    async with coordinator(ProxySettings(forwarded_allow_ips="10.0.0.0/8")) as base, \
            httpx.AsyncClient(timeout=30) as client:
        assert await post_as(client, base, "203.0.113.7") == 202
        assert await post_as(client, base, "198.51.100.9") == 429


async def test_ipv6_clients_are_limited_per_64() -> None:
    # One IPv6 subscriber gets a whole /64: every address in it shares one bucket.
    async with coordinator(ProxySettings(forwarded_allow_ips="127.0.0.1")) as base, \
            httpx.AsyncClient(timeout=30) as client:
        assert await post_as(client, base, "2001:db8:1:2::1") == 202
        assert await post_as(client, base, "2001:db8:1:2:ffff::9") == 429  # same /64
        assert await post_as(client, base, "2001:db8:1:3::1") == 202  # the next /64
        # An IPv4 client written as an IPv4-mapped IPv6 address is that IPv4 client.
        assert await post_as(client, base, "198.51.100.20") == 202
        assert await post_as(client, base, "::ffff:198.51.100.20") == 429
