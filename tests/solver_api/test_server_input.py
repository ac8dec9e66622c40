"""Every kind of bad input answers 4xx ``{"error": ...}`` (400 unless the body or URL is too large),
never a 5xx; and the probes, metrics and OpenAPI document, over a real socket."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest

from harness.server import ServerThread
from solver.api import create_app
from solver.settings import SolverSettings
from tests.clock import Ahead, resolve

ZERO = "0" * 64
GOOD = {"network": "LOCAL", "timestamp": 1778630400000, "target": ZERO}


@pytest.fixture(scope="module")
def server(open_devices) -> Iterator[ServerThread]:
    with ServerThread(create_app(SolverSettings(), open_devices("numpy"))) as running:
        yield running


# (what, path, raw body, what the error must mention)
BAD = [
    ("hash too short", f"/works/{ZERO[:-1]}", {"threshold": "5"}, "64 hex characters"),
    ("hash too long", f"/works/{ZERO}0", {"threshold": "5"}, "64 hex characters"),
    ("hash not hex", f"/works/{'G' * 64}", {"threshold": "5"}, "hex"),
    ("threshold 0", f"/works/{ZERO}", {"threshold": 0}, "between 1 and"),
    ("threshold '0'", f"/works/{ZERO}", {"threshold": "0"}, "between 1 and"),
    ("threshold 2^64", f"/works/{ZERO}", {"threshold": 2**64}, "between 1 and"),
    ("threshold '2^64'", f"/works/{ZERO}", {"threshold": str(2**64)}, "between 1 and"),
    ("threshold 21 digits", f"/works/{ZERO}", {"threshold": "1" * 21}, "threshold"),
    ("threshold negative", f"/works/{ZERO}", {"threshold": "-1"}, "threshold"),
    ("threshold hex", f"/works/{ZERO}", {"threshold": "0x10"}, "threshold"),
    ("threshold float", f"/works/{ZERO}", {"threshold": 1.5}, "threshold"),
    ("threshold exponent", f"/works/{ZERO}", {"threshold": "1e5"}, "threshold"),
    ("threshold boolean", f"/works/{ZERO}", {"threshold": True}, "boolean"),
    ("threshold list", f"/works/{ZERO}", {"threshold": [5]}, "threshold"),
    ("threshold null", f"/works/{ZERO}", {"threshold": None}, "threshold"),
    ("threshold missing", f"/works/{ZERO}", {}, "threshold"),
    ("body a list", f"/works/{ZERO}", [], "body"),
    ("body a string", f"/works/{ZERO}", "5", "body"),
    ("unknown network", "/works", {**GOOD, "network": "UNKNOWN"}, "unknown network"),
    ("network lower case", "/works", {**GOOD, "network": "live"}, "unknown network"),
    ("network a number", "/works", {**GOOD, "network": 1}, "unknown network"),
    ("pre-2024 timestamp", "/works", {**GOOD, "timestamp": "2023-12-31T23:59:59Z"}, "before 2024"),
    ("pre-2024 epoch ms", "/works", {**GOOD, "timestamp": 1704067199999}, "before 2024"),
    ("future timestamp", "/works", {**GOOD, "timestamp": Ahead(600, epoch_ms=True)}, "in the future"),
    ("timestamp without zone", "/works", {**GOOD, "timestamp": "2026-01-01T00:00:00"}, "time zone"),
    ("timestamp not a date", "/works", {**GOOD, "timestamp": "yesterday"}, "ISO-8601"),
    ("timestamp negative", "/works", {**GOOD, "timestamp": -1}, "out of range"),
    ("timestamp boolean", "/works", {**GOOD, "timestamp": False}, "timestamp"),
    ("target short", "/works", {**GOOD, "target": ZERO[:-2]}, "64 hex characters"),
    ("target not hex", "/works", {**GOOD, "target": "z" * 64}, "hex"),
    ("target a number", "/works", {**GOOD, "target": 0}, "string"),
    ("target missing", "/works", {k: v for k, v in GOOD.items() if k != "target"}, "target"),
    ("network missing", "/works", {k: v for k, v in GOOD.items() if k != "network"}, "network"),
    ("timestamp missing", "/works", {k: v for k, v in GOOD.items() if k != "timestamp"}, "timestamp"),
]


@pytest.mark.parametrize(("what", "path", "body", "mention"), BAD, ids=[b[0] for b in BAD])
def test_bad_input_answers_400_with_an_error(server, what, path, body, mention) -> None:
    r = httpx.post(server.url + path, content=json.dumps(resolve(body)),
                   headers={"content-type": "application/json"}, timeout=30)
    assert r.status_code == 400, (what, r.status_code, r.text)
    assert mention.lower() in r.json()["error"].lower(), r.json()


@pytest.mark.parametrize("raw", [b"{bad", b'{"threshold": 5', b"", b"\xff\xfe", b"null", b"[1,2"],
                         ids=["not json", "truncated", "empty", "not utf-8", "null", "truncated list"])
def test_malformed_json_answers_400(server, raw: bytes) -> None:
    r = httpx.post(f"{server.url}/works/{ZERO}", content=raw,
                   headers={"content-type": "application/json"}, timeout=30)
    assert r.status_code == 400, r.text
    assert r.json()["error"]


def test_oversized_body_and_url_are_refused_before_parsing(server) -> None:
    big = json.dumps({"threshold": "5", "padding": "x" * 5000})
    r = httpx.post(f"{server.url}/works/{ZERO}", content=big,
                   headers={"content-type": "application/json"}, timeout=30)
    assert r.status_code == 400 and "body larger" in r.json()["error"]
    r = httpx.post(f"{server.url}/works/{'0' * 3000}", json={"threshold": 5}, timeout=30)
    assert r.status_code == 414 and "URL longer" in r.json()["error"]


def test_probes_metrics_and_openapi(server) -> None:
    with httpx.Client(base_url=server.url, timeout=30) as client:
        assert client.get("/health").json() == {"status": "ok"}
        ready = client.get("/ready")
        assert ready.status_code == 200 and ready.json()["ready"] is True
        client.post(f"/works/{ZERO}", json={"threshold": str(2**64 - 1)}).raise_for_status()
        metrics = client.get("/metrics").text
        for name in ("solver_hashes_total", "solver_hash_rate", "solver_solve_seconds_bucket",
                     "solver_queue_depth", "solver_searches_total", "solver_device_busy"):
            assert name in metrics, name
        schema = client.get("/openapi.json").json()
        for path in ("/works/{hash}", "/works"):
            responses = schema["paths"][path]["post"]["responses"]
            assert {"200", "400", "504"} <= set(responses) and "422" not in responses
        assert "WorkResponse" in schema["components"]["schemas"]


def test_the_documented_threshold_pattern_matches_the_rules() -> None:
    import random
    import re

    from solver.schemas import decimal_u64_pattern
    from work import WorkError, parse_threshold

    def accepted(text: str) -> bool:
        try:
            parse_threshold(text)
            return True
        except WorkError:
            return False

    pattern = re.compile(decimal_u64_pattern())
    edge = [2**64 - 1, 2**64, 2**64 - 10, 2**64 + 99, 10**19, 10**19 - 1, 0, 1, 9, 10]
    values = edge + [random.randrange(2**66) for _ in range(2000)]
    for value in values:
        for text in (str(value), "0" + str(value), "00" + str(value)):
            assert bool(pattern.match(text)) == accepted(text), text


@pytest.mark.parametrize("path", [f"/works/{ZERO[:-1]}", f"/works/{ZERO}0", f"/works/{'G' * 64}"],
                         ids=["too short", "too long", "not hex"])
def test_delete_with_a_bad_hash_answers_400(server, path: str) -> None:
    r = httpx.delete(server.url + path, timeout=30)
    assert r.status_code == 400, r.text
    assert "hex" in r.json()["error"]


def test_delete_without_a_search_for_the_hash_answers_404(server) -> None:
    r = httpx.delete(f"{server.url}/works/{'AB' * 32}", timeout=30)
    assert r.status_code == 404, r.text
    assert "no search for " + "AB" * 32 in r.json()["error"]
