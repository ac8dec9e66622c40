"""Tests marked ``netns`` run in a fresh network namespace that holds only loopback.

Such a test could open a connection if the code under test were wrong (that is what it checks), so
it must not be able to reach anything but this machine's loopback: pytest re-runs the test in a
child process under ``unshare --net`` after ``ip link set lo up`` (util-linux and iproute2; as root,
or unprivileged through a user namespace; missing tools fail the test loudly rather than skip it).
Inside, no route leads off the machine, so even a wrong connect to a public address fails with
"network unreachable".

The netns tests of one module run together in one child (one interpreter start, not one per test);
each test's outcome in the child becomes its outcome here. Fixtures run in both processes: keep
them free of network side effects (start servers inside the test body).
"""

from __future__ import annotations

import inspect
import os
import shutil
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path

import pytest

from solver.backends.base import SearchDevice

INSIDE = "ATTO_WORK_IN_NETNS"
_outcomes: dict[str, str | None] = {}  # node id -> None (passed) or the failure text
_printed: list[str] = []  # what the tests printed in the namespace, shown in the summary


@pytest.fixture(scope="session")
def numpy_devices(open_devices: Callable[[str], list[SearchDevice]]) -> list[SearchDevice]:
    """The NumPy search device (the in-process worker servers of these tests)."""
    return open_devices("numpy")


def in_netns() -> bool:
    return os.environ.get(INSIDE) == "1"


def _unshare() -> list[str]:
    """``unshare --net`` as root; unprivileged, in a user namespace where we are root."""
    missing = [tool for tool in ("unshare", "ip") if shutil.which(tool) is None]
    if missing:
        pytest.fail(f"netns tests need {missing} (Debian: util-linux, iproute2)", pytrace=False)
    for command in (["unshare", "--net"], ["unshare", "--map-root-user", "--net"]):
        probe = subprocess.run([*command, "--", "ip", "link", "set", "lo", "up"], capture_output=True)
        if probe.returncode == 0:
            return command
    pytest.fail("cannot create a network namespace (unshare --net needs root, or unprivileged user "
                f"namespaces): {probe.stderr.decode(errors='replace').strip()}", pytrace=False)


def _run_module_in_netns(items: list[pytest.Item], rootpath: Path) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.xml"
        script = ('ip link set lo up && report="$1" && shift && '
                  'exec "$0" -m pytest -q -p no:cacheprovider -o junit_logging=system-out '
                  '--junitxml="$report" "$@"')
        result = subprocess.run(
            [*_unshare(), "--", "sh", "-c", script, sys.executable, str(report),
             *[item.nodeid for item in items]],
            capture_output=True, text=True, timeout=300, env={**os.environ, INSIDE: "1"}, cwd=rootpath,
        )
        cases = ET.parse(report).getroot().iter("testcase") if report.exists() else []
        by_name = {}
        for case in cases:
            problems = case.findall("failure") + case.findall("error") + case.findall("skipped")
            problem = problems[0] if problems else None
            text = None if problem is None else (problem.get("message", "") + "\n" + (problem.text or ""))
            by_name[case.get("name")] = text
            _printed.extend(line for out in case.findall("system-out")
                            for line in (out.text or "").splitlines()
                            if line.strip() and not line.startswith("-----"))
    for item in items:
        if item.name in by_name:
            _outcomes[item.nodeid] = by_name[item.name]
        else:
            output = f"{result.stdout[-3000:]}\n{result.stderr[-2000:]}"
            _outcomes[item.nodeid] = f"no result from the namespace run:\n{output}"


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_call(item: pytest.Item) -> None:
    if not item.get_closest_marker("netns") or in_netns():
        return
    if item.nodeid not in _outcomes:
        module = [i for i in item.session.items
                  if i.get_closest_marker("netns") and i.path == item.path and i.nodeid not in _outcomes]
        _run_module_in_netns(module, item.config.rootpath)
    problem = _outcomes[item.nodeid]
    if problem is not None:
        pytest.fail(f"in the network namespace: {problem}", pytrace=False)
    # It passed in the namespace; do not run it again out here.
    if inspect.iscoroutinefunction(item.obj):
        async def passed(*args: object, **kwargs: object) -> None:
            return None
    else:
        def passed(*args: object, **kwargs: object) -> None:
            return None
    item.obj = passed


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if _printed:
        terminalreporter.section("printed in the network namespace")
        for line in _printed:
            terminalreporter.write_line(line)
