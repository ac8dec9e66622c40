"""``POST /works/{hash}`` is served ahead of FastAPI's stack (``CoordinatorApp``), yet documented by
FastAPI as before, and the other methods and paths still go through FastAPI."""

from __future__ import annotations

import httpx

from coordinator import CoordinatorSettings, create_app
from messaging.memory import MemoryBroker

HASH = "AB" * 32


def test_the_openapi_schema_still_documents_the_hot_route() -> None:
    app = create_app(CoordinatorSettings(messaging="memory", coordinator_api_keys="k" * 16),
                     broker=MemoryBroker())
    operation = app.openapi()["paths"]["/works/{hash}"]["post"]
    body = operation["requestBody"]["content"]["application/json"]["schema"]
    assert body == {"$ref": "#/components/schemas/WorkRequest"}
    assert {"202", "400", "401", "429", "503"} <= set(operation["responses"])
    assert operation["security"] == [{"HTTPBearer": []}]
    assert [p["name"] for p in operation["parameters"]] == ["hash"]


async def test_only_post_on_one_hash_takes_the_shortcut() -> None:
    settings = CoordinatorSettings(messaging="memory", callback_allowed_networks="127.0.0.0/8")
    app = create_app(settings, broker=MemoryBroker())
    served: list[str] = []
    handler = app.hot_handler

    async def spy(request):  # noqa: ANN001, ANN202
        served.append(f"{request.method} {request.url.path}")
        return await handler(request)

    app.hot_handler = spy
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://c") as client:
            body = {"network": "LOCAL", "timestamp": "2026-01-01T00:00:00Z", "callback": "http://127.0.0.1:9/cb"}
            assert (await client.post(f"/works/{HASH}", json=body)).status_code == 202
            assert (await client.get(f"/works/{HASH}")).status_code == 200  # queued
            assert (await client.post(f"/works/{HASH}/x", json=body)).status_code == 404
            assert (await client.put(f"/works/{HASH}", json=body)).status_code == 405
    assert served == [f"POST /works/{HASH}"]
