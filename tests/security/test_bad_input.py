"""Every endpoint of every service, refused input by refused input: each answer is the 4xx it
should be, with a JSON ``{"error"}`` body, and nothing is published.

The services run as configured for production-like use: coordinator with API keys and the callback
policy, worker server with ``SOLVER_TOKEN``, adapter probes; each in-process through its ASGI app
(with its lifespan). Domain rules (hash, network, timestamp, threshold forms) have their own tables
beside each service (``tests/pipeline/test_intake.py``, ``tests/solver_api/test_server_input.py``);
this table covers what cuts across them: authentication, callback addresses (SSRF), size limits,
methods, content types and malformed bodies. Host names go through a stubbed resolver: nothing is
looked up off the machine.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass, field

import httpx
import pytest

from atto_work.embedded import InProcessWorker
from coordinator import CoordinatorSettings
from coordinator import create_app as create_coordinator
from messaging.memory import MemoryBroker
from solver.api import create_app as create_solver
from solver.settings import SolverSettings
from worker_adapter import AdapterSettings
from worker_adapter import create_app as create_adapter

KEY = "test-key-0123456789abcdef"
TOKEN = "solver-token-0123456789"
HASH = "AB" * 32
GOOD = {"network": "LOCAL", "timestamp": "2026-06-01T00:00:00Z", "callback": "https://public.test/cb"}
DNS = {"public.test": ["93.184.216.34"], "metadata.test": ["169.254.169.254"],
       "mixed.test": ["93.184.216.34", "10.0.0.7"], "v6.test": ["2606:4700::1", "fd00:ec2::254"],
       "localhost.test": ["127.0.0.1"]}


async def stub_resolver(host: str, port: int) -> list[str]:
    if host not in DNS:
        raise OSError(-2, "Name or service not known")
    return DNS[host]


@dataclass
class Case:
    what: str
    service: str
    method: str
    path: str
    status: int
    mentions: str = ""
    json_body: object = None
    content: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def cb(url: str) -> dict[str, str]:
    return {**GOOD, "callback": url}


AUTH = bearer(KEY)
WORKS = f"/works/{HASH}"
CASES = [
    # who may ask
    Case("no key", "coordinator", "POST", WORKS, 401, "missing", GOOD),
    Case("wrong key", "coordinator", "POST", WORKS, 401, "invalid", GOOD, headers=bearer(KEY + "x")),
    Case("key prefix", "coordinator", "POST", WORKS, 401, "invalid", GOOD, headers=bearer(KEY[:-1])),
    Case("basic scheme", "coordinator", "POST", WORKS, 401, "missing", GOOD,
         headers={"Authorization": f"Basic {KEY}"}),
    Case("empty bearer", "coordinator", "POST", WORKS, 401, "missing", GOOD,
         headers={"Authorization": "Bearer "}),
    # where callbacks may go (SSRF)
    *[Case(f"callback {url}", "coordinator", "POST", WORKS, 400, why, cb(url), headers=AUTH)
      for url, why in [
          ("http://127.0.0.1:8080/cb", "loopback"), ("http://[::1]/cb", "loopback"),
          ("http://169.254.169.254/latest/meta-data/", "link-local"),
          ("http://[fd00:ec2::254]/latest/meta-data/", "private"),
          ("http://10.1.2.3/cb", "private"), ("http://192.168.0.1/cb", "private"),
          ("http://100.64.0.1/cb", "not globally routable"), ("http://0.0.0.0/cb", "unspecified"),
          ("http://224.0.0.1/cb", "multicast"), ("http://[ff02::1]/cb", "multicast"),
          ("http://[::ffff:127.0.0.1]/cb", "127.0.0.1"), ("http://[::ffff:169.254.169.254]/", "169.254"),
          ("http://[64:ff9b::a9fe:a9fe]/", "169.254.169.254"), ("http://[2002:7f00:1::]/", "127.0.0.1"),
          ("http://metadata.test/", "169.254.169.254"), ("http://mixed.test/cb", "10.0.0.7"),
          ("http://v6.test/cb", "fd00:ec2::254"), ("http://localhost.test:9/cb", "loopback"),
          ("http://nowhere.test/cb", "does not resolve"),
          ("ftp://public.test/cb", "http"), ("file:///etc/passwd", "http"), ("gopher://public.test/", "http"),
          ("http://public.test\r\nX-Injected: 1/cb", "callback"), ("http://public.test/\x00", "callback"),
      ]],
    # sizes, methods, content
    Case("body over 4 KiB", "coordinator", "POST", WORKS, 400, "larger",
         cb("https://public.test/" + "a" * 5000), headers=AUTH),
    Case("URL over 2048", "coordinator", "POST", f"/works/{HASH}?" + "q" * 2100, 414, "URL", GOOD,
         headers=AUTH),
    Case("PUT works", "coordinator", "PUT", WORKS, 405, "", headers=AUTH),
    Case("GET works of an unknown hash", "coordinator", "GET", WORKS, 404, "no request", headers=AUTH),
    Case("GET works without key", "coordinator", "GET", WORKS, 401, "missing"),
    Case("DELETE works bad hash", "coordinator", "DELETE", "/works/XYZ", 400, "hex", headers=AUTH),
    Case("timeout not a number", "coordinator", "POST", WORKS, 400, "timeout",
         {**GOOD, "timeout": "60"}, headers=AUTH),
    Case("not JSON", "coordinator", "POST", WORKS, 400, "", content=b"{network: LOCAL", headers=AUTH),
    Case("not UTF-8", "coordinator", "POST", WORKS, 400, "", content=b'{"network": "\xff\xfe"}',
         headers={**AUTH, "Content-Type": "application/json"}),
    Case("deeply nested", "coordinator", "POST", WORKS, 400, "", content=b"[" * 1500 + b"]" * 1500,
         headers={**AUTH, "Content-Type": "application/json"}),
    Case("text/plain body", "coordinator", "POST", WORKS, 400, "", content=json.dumps(GOOD).encode(),
         headers={**AUTH, "Content-Type": "text/plain"}),
    Case("huge number", "coordinator", "POST", WORKS, 400, "timestamp", {**GOOD, "timestamp": 10**400},
         headers=AUTH),
    Case("probe body over 4 KiB", "coordinator", "POST", "/health", 400, "larger", content=b"x" * 5000),
    Case("probe URL over 2048", "coordinator", "GET", "/health?" + "q" * 2100, 414, "URL"),
    Case("probe wrong method", "coordinator", "DELETE", "/ready", 405),
    Case("unknown path", "coordinator", "GET", "/admin", 404),
    # the worker server
    Case("no token", "solver", "POST", WORKS, 401, "missing", {"threshold": "1000"}),
    Case("wrong token", "solver", "POST", WORKS, 401, "invalid", {"threshold": "1000"},
         headers=bearer("solver-token-01234567890")),
    Case("no token (Atto)", "solver", "POST", "/works", 401, "missing",
         {"network": "LOCAL", "timestamp": 1778630400000, "target": HASH}),
    Case("bad threshold", "solver", "POST", WORKS, 400, "threshold", {"threshold": "-1"},
         headers=bearer(TOKEN)),
    Case("solver body over 4 KiB", "solver", "POST", WORKS, 400, "larger", content=b"{" + b" " * 5000 + b"}",
         headers={**bearer(TOKEN), "Content-Type": "application/json"}),
    Case("solver URL over 2048", "solver", "POST", f"/works/{HASH}?" + "q" * 2100, 414, "URL",
         {"threshold": "1000"}, headers=bearer(TOKEN)),
    Case("solver GET works", "solver", "GET", WORKS, 405, headers=bearer(TOKEN)),
    Case("solver not JSON", "solver", "POST", WORKS, 400, "", content=b"threshold=5",
         headers={**bearer(TOKEN), "Content-Type": "application/json"}),
    # the adapter's probes
    Case("adapter probe wrong method", "adapter", "POST", "/health", 405),
    Case("adapter body over 4 KiB", "adapter", "POST", "/ready", 400, "larger", content=b"x" * 5000),
    Case("adapter URL over 2048", "adapter", "GET", "/health?" + "q" * 2100, 414, "URL"),
    Case("adapter unknown path", "adapter", "POST", "/works/" + HASH, 404),
]


@pytest.fixture
async def clients(numpy_devices) -> AsyncIterator[dict[str, object]]:  # noqa: ANN001
    broker = MemoryBroker()
    await broker.start()
    await broker.declare("work-requested", "probe")
    solver = create_solver(SolverSettings(token=TOKEN), numpy_devices)
    coordinator = create_coordinator(
        CoordinatorSettings(messaging="memory", coordinator_api_keys=KEY), broker=broker)
    coordinator.state.sender.policy.resolver = stub_resolver
    adapter = create_adapter(AdapterSettings(messaging="memory", solver_token=TOKEN,
                                             pubsub_subscriber_max_outstanding_element_count=1),
                             broker=broker, worker=InProcessWorker(solver))
    apps = {"solver": solver, "coordinator": coordinator, "adapter": adapter}
    opened: dict[str, object] = {"broker": broker}
    async with AsyncExitStack() as stack:
        for name, app in apps.items():  # in this order: the adapter asks the solver its capacity
            await stack.enter_async_context(app.router.lifespan_context(app))
            opened[name] = await stack.enter_async_context(
                httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=f"http://{name}"))
        yield opened
    await broker.close()


@pytest.mark.parametrize("case", CASES, ids=[c.what for c in CASES])
async def test_refused_with_a_json_error(case: Case, clients: dict[str, object]) -> None:
    client: httpx.AsyncClient = clients[case.service]
    response = await client.request(case.method, case.path, json=case.json_body, content=case.content,
                                    headers=case.headers)
    assert response.status_code == case.status, response.text
    body = response.json()
    assert isinstance(body.get("error"), str) and body["error"], body
    assert case.mentions.lower() in body["error"].lower(), body
    if case.status == 401:
        assert response.headers["www-authenticate"].startswith("Bearer")
    broker: MemoryBroker = clients["broker"]
    assert broker.backlog("probe") == 0  # nothing published


async def test_the_good_request_passes_every_gate(clients: dict[str, object]) -> None:
    """The control: the same request with the key and a public callback is accepted."""
    response = await clients["coordinator"].post(WORKS, json=GOOD, headers=AUTH)
    assert response.status_code == 202, response.text
    assert clients["broker"].backlog("probe") == 1
    solved = await clients["solver"].post(WORKS, json={"threshold": "429496729550000"}, headers=bearer(TOKEN))
    assert solved.status_code == 200, solved.text
