"""The Kotlin reference's setting names (``ATTO_*``) map onto ours, and ours win when both are set.

Read from the environment, as the services read them at start-up.
"""

from __future__ import annotations

import pytest

from common.settings import load_settings
from coordinator import CoordinatorSettings
from solver.settings import SolverSettings
from worker_adapter import AdapterSettings

REFERENCE_NAMES = ("ATTO_ADAPTER_URL", "ATTO_ADAPTER_CONNECTTIMEOUT", "ATTO_ADAPTER_READTIMEOUT",
                   "ATTO_CALLBACK_CONNECTTIMEOUT", "ATTO_CALLBACK_READTIMEOUT", "ATTO_WORK_DEVICE")
OURS = ("WORKER_URL", "WORKER_PROTOCOL", "WORKER_CONNECT_TIMEOUT_SECONDS", "WORKER_TIMEOUT_SECONDS",
        "CALLBACK_TIMEOUT_SECONDS", "SOLVER_DEVICES")


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in REFERENCE_NAMES + OURS:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


REFERENCE_ADAPTER = {"ATTO_ADAPTER_URL": "http://reference:8000", "ATTO_ADAPTER_CONNECTTIMEOUT": "1500",
                     "ATTO_ADAPTER_READTIMEOUT": "60000"}


@pytest.mark.parametrize(("env", "expected"), [
    # (WORKER_URL, WORKER_PROTOCOL, WORKER_CONNECT_TIMEOUT_SECONDS, WORKER_TIMEOUT_SECONDS)
    ({}, ("http://127.0.0.1:8090", "works", 5, 300)),
    ({"ATTO_ADAPTER_URL": " "}, ("http://127.0.0.1:8090", "works", 5, 300)),  # blank, as compose passes
    (REFERENCE_ADAPTER, ("http://reference:8000", "rpc", 1.5, 60)),  # no /works path: the RPC, as given
    ({"ATTO_ADAPTER_URL": "http://w:8090/works"}, ("http://w:8090", "works", 5, 300)),
    ({"ATTO_ADAPTER_URL": "http://w:8090/solver/works/"}, ("http://w:8090/solver", "works", 5, 300)),
    ({"ATTO_ADAPTER_URL": "http://w:8090/rpc/?x=works"}, ("http://w:8090/rpc/?x=works", "rpc", 5, 300)),
    # ours win when both are set
    ({**REFERENCE_ADAPTER, "WORKER_URL": "http://ours:8090", "WORKER_CONNECT_TIMEOUT_SECONDS": "2",
      "WORKER_TIMEOUT_SECONDS": "7"}, ("http://ours:8090", "works", 2, 7)),
    ({"ATTO_ADAPTER_URL": "http://reference:8000/works", "WORKER_PROTOCOL": "rpc"},
     ("http://reference:8000", "rpc", 5, 300)),
])
def test_adapter_reads_the_reference_names_and_ours_win(
        clean_env, env: dict[str, str], expected: tuple[object, ...]) -> None:  # noqa: ANN001
    for name, value in env.items():
        clean_env.setenv(name, value)
    s = AdapterSettings()
    assert (s.worker_url, s.worker_protocol, s.worker_connect_timeout_seconds, s.worker_timeout_seconds) \
        == expected


@pytest.mark.parametrize(("connect", "read", "seconds"), [
    ("3000", "4000", 7.0),
    ("3000", None, 4.0),  # the other one counts as the reference's default, 1000 ms
    (None, "250", 1.25),
])
def test_coordinator_reference_callback_timeouts_become_one_whole_timeout(
        clean_env, connect: str | None, read: str | None, seconds: float) -> None:  # noqa: ANN001
    for name, value in (("ATTO_CALLBACK_CONNECTTIMEOUT", connect), ("ATTO_CALLBACK_READTIMEOUT", read)):
        if value is not None:
            clean_env.setenv(name, value)
    assert CoordinatorSettings().callback_timeout_seconds == seconds


def test_coordinator_callback_timeout_wins_over_the_reference_names(clean_env) -> None:  # noqa: ANN001
    clean_env.setenv("ATTO_CALLBACK_CONNECTTIMEOUT", "3000")
    clean_env.setenv("ATTO_CALLBACK_READTIMEOUT", "4000")
    clean_env.setenv("CALLBACK_TIMEOUT_SECONDS", "12")
    assert CoordinatorSettings().callback_timeout_seconds == 12
    clean_env.delenv("CALLBACK_TIMEOUT_SECONDS")
    clean_env.delenv("ATTO_CALLBACK_CONNECTTIMEOUT")
    clean_env.delenv("ATTO_CALLBACK_READTIMEOUT")
    assert CoordinatorSettings().callback_timeout_seconds == 10  # ours, by default


def test_solver_reference_device_is_that_device_of_the_first_platform(clean_env) -> None:  # noqa: ANN001
    clean_env.setenv("ATTO_WORK_DEVICE", "2")
    assert SolverSettings().devices == "0:2"
    clean_env.setenv("SOLVER_DEVICES", " ")  # blank, as compose passes an unset variable: unset
    assert SolverSettings().devices == "0:2"
    clean_env.setenv("SOLVER_DEVICES", "1:0")
    assert SolverSettings().devices == "1:0"
    clean_env.setenv("ATTO_WORK_DEVICE", "")
    clean_env.delenv("SOLVER_DEVICES")
    assert SolverSettings().devices is None


@pytest.mark.parametrize(("model", "name", "value"), [
    (SolverSettings, "ATTO_WORK_DEVICE", "256"),
    (AdapterSettings, "ATTO_ADAPTER_READTIMEOUT", "0"),
    (AdapterSettings, "ATTO_ADAPTER_URL", "worker:8000"),
    (CoordinatorSettings, "ATTO_CALLBACK_CONNECTTIMEOUT", "soon"),
])
def test_a_bad_reference_value_stops_start_up_naming_the_variable(
        clean_env, capsys, model, name: str, value: str) -> None:  # noqa: ANN001
    clean_env.setenv(name, value)
    with pytest.raises(SystemExit) as stopped:
        load_settings(model)
    assert stopped.value.code == 2
    line = capsys.readouterr().err
    assert line.startswith(f"atto-work: bad setting: {name}:"), line
