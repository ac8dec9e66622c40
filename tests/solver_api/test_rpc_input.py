"""Bad input to the RPC answers 400 ``{"error": ...}`` (never a 5xx or a wait), the token guards it,
and every work route refuses a threshold past ``SOLVER_MAX_EXPECTED_HASHES``; over a real socket."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest

from harness.server import ServerThread
from solver.api import create_app
from solver.settings import SolverSettings
from work import Network, expected_hashes, nano, threshold

ZERO = "0" * 64
GEN = {"action": "work_generate", "hash": ZERO}
VAL = {"action": "work_validate", "hash": ZERO, "work": "0" * 16}


@pytest.fixture(scope="module")
def server(open_devices) -> Iterator[ServerThread]:
    # A short timeout: a request wrongly let through to the device answers 504 soon, not never.
    with ServerThread(create_app(SolverSettings(timeout_seconds=10), open_devices("numpy"))) as running:
        yield running


# (what, raw body, what the error must mention)
BAD = [
    ("unknown action", {"action": "status"}, "action must be one of work_generate"),
    ("action not a string", {"action": 7, "hash": ZERO}, "action must be one of"),
    ("action missing, no threshold", {"hash": ZERO, "difficulty": "f" * 16}, "action must be one of"),
    ("body a list", [GEN], "action must be one of"),
    ("body a string", "work_generate", "action must be one of"),
    ("hash missing", {"action": "work_generate", "threshold": "5"}, "hash"),
    ("hash short", {**GEN, "hash": ZERO[:-1]}, "64 hex characters"),
    ("hash not hex", {**GEN, "hash": "g" * 64}, "hex"),
    ("threshold 0", {**GEN, "threshold": "0"}, "between 1 and"),
    ("threshold hex", {**GEN, "threshold": "0x10"}, "threshold"),
    ("threshold float", {**GEN, "threshold": 1.5}, "threshold"),
    ("difficulty short", {**GEN, "difficulty": "f" * 15}, "16 hex characters"),
    ("difficulty not hex", {**GEN, "difficulty": "z" * 16}, "hex"),
    ("difficulty a number", {**GEN, "difficulty": 12}, "string"),
    ("multiplier text", {**GEN, "multiplier": "fast"}, "multiplier"),
    ("multiplier zero", {**GEN, "multiplier": "0"}, "positive"),
    ("multiplier negative", {**GEN, "multiplier": -2}, "multiplier"),
    ("multiplier inf", {**GEN, "multiplier": "inf"}, "multiplier"),
    ("multiplier boolean", {**GEN, "multiplier": True}, "multiplier"),
    ("threshold and difficulty", {**GEN, "threshold": "5", "difficulty": "f" * 16}, "not both"),
    ("threshold and multiplier", {**GEN, "threshold": "5", "multiplier": "2"}, "not both"),
    ("cancel without hash", {"action": "work_cancel"}, "hash"),
    ("cancel bad hash", {"action": "work_cancel", "hash": "00"}, "64 hex characters"),
    ("validate without work", {k: v for k, v in VAL.items() if k != "work"}, "work"),
    ("validate work short", {**VAL, "work": "0" * 15}, "work"),
    ("validate work not hex", {**VAL, "work": "x" * 16}, "work"),
    ("validate bad difficulty", {**VAL, "difficulty": "1"}, "16 hex characters"),
    ("validate threshold and difficulty", {**VAL, "threshold": 9, "difficulty": "f" * 16}, "not both"),
]


@pytest.mark.parametrize(("what", "body", "mention"), BAD, ids=[b[0] for b in BAD])
def test_bad_rpc_input_answers_400_with_an_error(server, what, body, mention) -> None:
    r = httpx.post(server.url, content=json.dumps(body), headers={"content-type": "application/json"},
                   timeout=30)
    assert r.status_code == 400, (what, r.status_code, r.text)
    assert set(r.json()) == {"error"} and mention in r.json()["error"], (what, r.json())


@pytest.mark.parametrize("raw", [b"", b"{", b'{"action": "work_generate",}', b"\xff"])
def test_malformed_rpc_json_answers_400(server, raw: bytes) -> None:
    r = httpx.post(server.url, content=raw, headers={"content-type": "application/json"}, timeout=30)
    assert r.status_code == 400 and "error" in r.json(), r.text


def test_the_rpc_needs_the_token_when_one_is_set(open_devices) -> None:
    app = create_app(SolverSettings(token="t0ken-rpc"), open_devices("numpy"))
    with ServerThread(app) as server:
        body = {"action": "work_validate", "hash": ZERO, "work": "0" * 16}
        r = httpx.post(server.url, json=body, timeout=30)
        assert r.status_code == 401 and "error" in r.json(), r.text
        r = httpx.post(server.url, json=body, headers={"Authorization": "Bearer wrong"}, timeout=30)
        assert r.status_code == 401, r.text
        r = httpx.post(server.url, json=body, headers={"Authorization": "Bearer t0ken-rpc"}, timeout=30)
        assert r.status_code == 200 and set(r.json()) >= {"valid_all", "valid_receive"}, r.text


# (what, path, body): each needs more hashes than the default bound, 2^40, on average.
TOO_HARD = [
    ("threshold 1, worker-server route", f"/works/{ZERO}", {"threshold": "1"}),
    ("threshold 2^20, worker-server route", f"/works/{ZERO}", {"threshold": 2**20}),
    ("threshold 1, RPC", "/", {"hash": ZERO, "threshold": 1}),
    ("hardest difficulty, RPC", "/", {**GEN, "difficulty": "ffffffffffffffff"}),
    ("huge multiplier, RPC", "/", {**GEN, "multiplier": "1e9"}),
]


@pytest.mark.parametrize(("what", "path", "body"), TOO_HARD, ids=[b[0] for b in TOO_HARD])
def test_a_threshold_past_the_bound_is_refused_at_once(server, what, path, body) -> None:
    r = httpx.post(server.url + path, json=body, timeout=30)
    assert r.status_code == 400, (what, r.status_code, r.text)
    assert "SOLVER_MAX_EXPECTED_HASHES" in r.json()["error"], r.json()
    device = server.app.state.pool.devices[0].name
    assert server.app.state.metrics.value("solver_device_busy", device=device) == 0


def test_the_network_route_is_bounded_too(open_devices) -> None:
    app = create_app(SolverSettings(max_expected_hashes=2**20), open_devices("numpy"))
    with ServerThread(app) as server:
        r = httpx.post(f"{server.url}/works", json={"network": "DEV", "target": ZERO,
                                                    "timestamp": "2026-01-01T00:00:00Z"}, timeout=30)
        assert r.status_code == 400 and "SOLVER_MAX_EXPECTED_HASHES" in r.json()["error"], r.text


def test_the_default_bound_admits_every_atto_network_through_2036_and_nano_up_to_64x() -> None:
    bound = SolverSettings().max_expected_hashes
    hardest = threshold(Network.LIVE, datetime(2036, 12, 31, tzinfo=UTC))
    assert expected_hashes(hardest) * 4 <= bound
    assert nano.expected_hashes(nano.from_multiplier(64.0)) * 4 <= bound
