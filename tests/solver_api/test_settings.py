"""The worker server's settings as the environment gives them."""

from __future__ import annotations

import pytest

from solver.settings import SolverSettings


def test_settings_defaults_and_blank_values(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOLVER_TOKEN", "")
    monkeypatch.setenv("SOLVER_DEVICES", " ")
    monkeypatch.setenv("SOLVER_BACKEND", "numpy")
    settings = SolverSettings()
    assert settings.token is None and settings.devices is None and settings.backend == "numpy"
    assert settings.timeout_seconds == 300 and settings.max_clock_skew_seconds == 60
    assert settings.max_expected_hashes == 2**40
    monkeypatch.setenv("SOLVER_TOKEN", "s3cret")
    assert SolverSettings().token.get_secret_value() == "s3cret"
