"""Callback host names that never resolve must not hold up those that do (issue 10, item 4).

The coordinator asks a DNS server of the test's own on loopback (``CALLBACK_DNS_SERVERS``) that
answers ``good.test`` and never answers the black-holed names. These tests run in a network
namespace holding only loopback (``netns``): a lookup sent anywhere else cannot leave the machine.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import httpx
import pytest

from coordinator import CoordinatorSettings, create_app
from coordinator.callbacks.dns import QUERY_TRIES
from harness.polling import until
from tests.faults.slow_peers import StubDns

pytestmark = [pytest.mark.netns, pytest.mark.timeout(60)]
BODY = {"network": "LOCAL", "timestamp": "2026-01-01T00:00:00Z"}
HOLES = [f"hole-{n}.test" for n in range(8)]


async def with_coordinator(dns: StubDns, body: Callable[[httpx.AsyncClient], object]) -> None:
    settings = CoordinatorSettings(messaging="memory", callback_allowed_networks="127.0.0.0/8",
                                   callback_dns_servers=f"127.0.0.1:{dns.port}")
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        await app.state.broker.declare("work-requested", "dns-probe")
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://coordinator") as client:
            await body(client)  # type: ignore[misc]


def post(client: httpx.AsyncClient, host: str, n: int = 1) -> asyncio.Task[httpx.Response]:
    body = {**BODY, "callback": f"http://{host}:8080/cb"}
    return asyncio.ensure_future(client.post(f"/works/{n:064X}", json=body))


async def test_black_holed_names_do_not_hold_up_a_resolvable_one() -> None:
    with StubDns({"good.test": "127.0.0.1"}, set(HOLES)) as dns:
        async def scenario(client: httpx.AsyncClient) -> None:
            stuck = [post(client, host, n) for n, host in enumerate(HOLES)]
            await until(lambda: all(dns.queries.get(host) for host in HOLES),
                        what="every black-holed name to be asked")
            good = await asyncio.wait_for(post(client, "good.test", 99), 3)
            assert good.status_code == 202, good.text
            assert not any(task.done() for task in stuck)  # the slow ones still wait: not in our way
            answers = await asyncio.gather(*stuck)
            assert {a.status_code for a in answers} == {400}
            assert all("does not resolve" in a.json()["error"] for a in answers)

        await with_coordinator(dns, scenario)


async def test_one_slow_name_is_asked_once_and_its_failure_is_kept_briefly() -> None:
    with StubDns({}, {"slow.test"}) as dns:
        async def scenario(client: httpx.AsyncClient) -> None:
            answers = await asyncio.gather(*(post(client, "slow.test", n) for n in range(20)))
            assert {a.status_code for a in answers} == {400}
            asked = dns.queries["slow.test"]
            assert asked <= 2 * QUERY_TRIES  # one shared lookup (A and AAAA), not twenty
            again = await asyncio.wait_for(post(client, "slow.test", 21), 1)  # the kept failure
            assert again.status_code == 400
            assert dns.queries["slow.test"] == asked

        await with_coordinator(dns, scenario)
