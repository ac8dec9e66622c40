"""Schemathesis against the coordinator's and the worker server's OpenAPI schemas, over loopback.

Each service runs in-process, served by uvicorn on a loopback port, inside a network namespace
holding only loopback: the coordinator resolves fuzzed callback hosts, and no lookup or connection
may leave the machine. For every operation, schema-valid
(positive) and schema-violating (negative) cases are generated; each answer must not be a 5xx, must
have a documented status and content type, and a documented body.

Solvable-but-hard requests are left out of the worker-server cases (over 2^18 hashes on average,
networks other than LOCAL): they are valid, and would only time out (a 504) on this CPU; speed is
not what this test is about.
"""

from __future__ import annotations

import os

import pytest

pytestmark = [pytest.mark.netns, pytest.mark.timeout(300)]
EXAMPLES = int(os.environ.get("ATTO_WORK_FUZZ_EXAMPLES", "200"))
EASIEST = 2**18  # hashes on average


def _too_hard(case) -> bool:  # noqa: ANN001 - a schemathesis Case
    """Whether the server would accept ``case`` as a search taking over 2^18 hashes on average:
    decided by the worker server's own request models, so the filter cannot drift from them."""
    from pydantic import TypeAdapter, ValidationError

    from solver.api import ThresholdRequest
    from solver.jobs import Rule
    from solver.rpc import RpcRequest, WorkGenerate

    body = case.body if isinstance(case.body, dict) else {}
    if case.operation.path == "/works":
        return body.get("network") in ("LIVE", "BETA", "DEV")
    try:
        if case.operation.path == "/works/{hash}":
            rule, limit = Rule.ATTO, ThresholdRequest.model_validate(body).threshold
        elif case.operation.path == "/":
            request = TypeAdapter(RpcRequest).validate_python(body)
            if not isinstance(request, WorkGenerate):
                return False
            rule, limit = request.rule, request.limit()
        else:
            return False
    except ValidationError:
        return False  # refused with a 400 before any search
    return rule.expected_hashes(limit) > EASIEST


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
