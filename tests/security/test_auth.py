"""API keys, bearer tokens and the rate limiter, on a one-route app (in-process ASGI)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from fastapi import Depends, FastAPI

from common.bearer import BearerTokens, token_dependency, token_from_header
from common.http import install_error_handlers
from coordinator.auth import ApiKeyGuard, parse_api_keys
from coordinator.rate_limit import RateLimiter

KEY_A = "key-a-0123456789abcdef"
KEY_B = "key-b-0123456789abcdef"


def test_parse_api_keys_list_and_file(tmp_path: Path) -> None:
    assert parse_api_keys(None) == ()
    assert parse_api_keys(" ") == ()
    assert parse_api_keys(f"{KEY_A}, {KEY_B},,{KEY_A}") == (KEY_A, KEY_B)
    keys = tmp_path / "keys"
    keys.write_text(f"# clients\n{KEY_A}\n\n  {KEY_B}  \n")
    assert parse_api_keys(f"@{keys}") == (KEY_A, KEY_B)


@pytest.mark.parametrize("value, message", [
    ("short", "at least 16"), ("has space 0123456789", "without spaces"), ("@/no/such/file", "cannot read"),
    ("naïve-key-0123456789", "ASCII"),
])
def test_parse_api_keys_refuses_bad_values(value: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_api_keys(value)


def test_parse_api_keys_refuses_an_empty_file(tmp_path: Path) -> None:
    empty = tmp_path / "keys"
    empty.write_text("# nothing yet\n")
    with pytest.raises(ValueError, match="holds no key"):
        parse_api_keys(f"@{empty}")


def test_bearer_tokens_match_any_and_only_exact() -> None:
    tokens = BearerTokens([KEY_A, KEY_B])
    assert tokens.match(KEY_A) == 0 and tokens.match(KEY_B) == 1
    for wrong in [None, "", KEY_A[:-1], KEY_A + "x", KEY_A.upper(), "\udcff"]:
        assert tokens.match(wrong) is None
    assert token_from_header(f"Bearer {KEY_A}") == KEY_A
    assert token_from_header(f"bearer  {KEY_A} ") == KEY_A
    assert token_from_header(f"Basic {KEY_A}") is None
    assert token_from_header("Bearer ") is None


def test_rate_limiter_token_bucket() -> None:
    now = [0.0]
    limiter = RateLimiter(rate=2.0, clock=lambda: now[0])
    assert [limiter.acquire("a") for _ in range(2)] == [0.0, 0.0]  # burst of one second
    assert limiter.acquire("a") == pytest.approx(0.5)
    assert limiter.acquire("b") == 0.0  # buckets are per client
    now[0] = 0.5
    assert limiter.acquire("a") == 0.0
    assert limiter.acquire("a") > 0
    assert RateLimiter.retry_after(0.01) == "1" and RateLimiter.retry_after(2.2) == "3"


def test_rate_limiter_forgets_the_least_recent_clients() -> None:
    limiter = RateLimiter(rate=1.0, max_clients=3, clock=lambda: 0.0)
    for client in "abcd":
        limiter.acquire(client)
    assert list(limiter._buckets) == ["b", "c", "d"]


def app_with(guard) -> FastAPI:  # noqa: ANN001
    app = FastAPI()
    install_error_handlers(app)

    @app.post("/works/{hash}", dependencies=[Depends(guard)])
    async def intake(hash: str) -> dict[str, str]:
        return {"hash": hash}

    return app


async def call(app: FastAPI, headers: dict[str, str] | None = None) -> httpx.Response:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://t") as client:
        return await client.post("/works/x", headers=headers)


async def test_api_keys_required_when_set() -> None:
    app = app_with(ApiKeyGuard((KEY_A, KEY_B)))
    missing = await call(app)
    assert missing.status_code == 401
    assert missing.headers["www-authenticate"].startswith("Bearer")
    assert "error" in missing.json()
    wrong = await call(app, {"Authorization": f"Bearer {KEY_A}x"})
    assert wrong.status_code == 401 and wrong.headers["www-authenticate"]
    assert (await call(app, {"Authorization": f"Bearer {KEY_B}"})).status_code == 200


async def test_no_keys_means_open() -> None:
    assert (await call(app_with(ApiKeyGuard()))).status_code == 200


async def test_rate_limit_per_key_answers_429_with_retry_after() -> None:
    app = app_with(ApiKeyGuard((KEY_A, KEY_B), rate_limit=1.0))
    a = {"Authorization": f"Bearer {KEY_A}"}
    assert (await call(app, a)).status_code == 200
    limited = await call(app, a)
    assert limited.status_code == 429
    assert limited.headers["retry-after"] == "1"
    assert limited.json() == {"error": "rate limit exceeded"}
    assert (await call(app, {"Authorization": f"Bearer {KEY_B}"})).status_code == 200
    # an unauthenticated flood is refused before it can use anyone's tokens
    assert (await call(app, {"Authorization": "Bearer nope"})).status_code == 401


async def test_rate_limit_without_keys_is_per_client_address() -> None:
    app = app_with(ApiKeyGuard(rate_limit=1.0))
    assert (await call(app)).status_code == 200
    assert (await call(app)).status_code == 429


async def test_solver_token_dependency() -> None:
    app = app_with(token_dependency(BearerTokens(["solver-token-0123456789"])))
    assert (await call(app)).status_code == 401
    assert (await call(app, {"Authorization": "Bearer solver-token-0123456789"})).status_code == 200
    assert (await call(app_with(token_dependency(BearerTokens([]))))).status_code == 200
