"""Schemathesis against the coordinator's and the worker server's OpenAPI schemas, over loopback.

Each service runs in-process, served by uvicorn on a loopback port, inside a network namespace
holding only loopback: the coordinator resolves fuzzed callback hosts, and no lookup or connection
may leave the machine. For every operation, schema-valid
(positive) and schema-violating (negative) cases are generated; each answer must not be a 5xx, must
have a documented status and content type, and a documented body.

Solvable-but-hard requests are left out of the worker-server cases (thresholds below 2^46, Nano
difficulties above 2^64 - 2^46, networks other than LOCAL): they are valid, and would only time out
(a 504) on this CPU; speed is not what this test is about.
"""

from __future__ import annotations

import os

import pytest

pytestmark = [pytest.mark.netns, pytest.mark.timeout(300)]
EXAMPLES = int(os.environ.get("ATTO_WORK_FUZZ_EXAMPLES", "200"))
EASIEST = 2**46


def _too_hard(case) -> bool:  # noqa: ANN001 - a schemathesis Case
    from work import nano

    body = case.body if isinstance(case.body, dict) else {}
    # A null field is an absent one to the server (the RPC then falls back to Nano's default).
    if case.operation.path in ("/works/{hash}", "/") and body.get("threshold") is not None:
        try:
            value = int(str(body["threshold"]))
        except ValueError:
            return False
        return 0 < value < EASIEST
    if case.operation.path == "/" and body.get("action", "work_generate") == "work_generate":
        # The RPC's Nano rule: a difficulty (send difficulty by default) or a multiplier of it.
        try:
            if body.get("multiplier") is not None:
                difficulty = nano.from_multiplier(float(body["multiplier"]))
            else:
                difficulty = nano.parse_difficulty(body.get("difficulty") or "fffffff800000000")
        except (ValueError, TypeError):
            return False
        return difficulty > 2**64 - EASIEST
    if case.operation.path == "/works":
        return body.get("network") in ("LIVE", "BETA", "DEV")
    return False


def run_schema(url: str, base_url: str, counts: dict[str, int]) -> None:
    import schemathesis
    from hypothesis import HealthCheck, given, settings
    from schemathesis.checks import not_a_server_error
    from schemathesis.generation import GenerationMode
    from schemathesis.specs.openapi.checks import (
        content_type_conformance,
        response_schema_conformance,
        status_code_conformance,
    )

    schema = schemathesis.openapi.from_url(url)
    checks = [not_a_server_error, status_code_conformance, content_type_conformance,
              response_schema_conformance]
    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
        strategy = schema.as_strategy(generation_mode=mode).filter(lambda case: not _too_hard(case))

        @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=False,
                  suppress_health_check=list(HealthCheck))
        @given(case=strategy)
        def fuzz(case) -> None:  # noqa: ANN001
            response = case.call_and_validate(base_url=base_url, checks=checks, timeout=30)
            counts["cases"] += 1
            counts["5xx"] += response.status_code >= 500

        fuzz()


def test_schemathesis_coordinator_and_worker_server() -> None:
    from coordinator import CoordinatorSettings
    from coordinator import create_app as create_coordinator
    from harness.server import ServerThread
    from solver.api import create_app as create_solver
    from solver.settings import SolverSettings

    coordinator = create_coordinator(CoordinatorSettings(messaging="memory"))
    solver = create_solver(SolverSettings(backend="numpy", timeout_seconds=20))
    results = {}
    with ServerThread(coordinator) as coordinator_server, ServerThread(solver) as solver_server:
        for name, base in [("coordinator", coordinator_server.url), ("worker server", solver_server.url)]:
            counts = {"cases": 0, "5xx": 0}
            run_schema(f"{base}/openapi.json", base, counts)
            results[name] = counts
    for name, counts in results.items():
        print(f"schemathesis {name}: {counts['cases']} cases, {counts['5xx']} 5xx")
    assert all(c["5xx"] == 0 and c["cases"] > 0 for c in results.values()), results
