"""Session fixtures of the deployment tests: the helm binary and the chart rendered once per value set."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from deploy_support import CI_VALUES, helm_binary, render


@pytest.fixture(scope="session")
def helm_bin() -> Path:
    return helm_binary()  # raises (the tests fail) when helm cannot be had


@pytest.fixture(scope="session")
def renderings(helm_bin: Path) -> dict[str, list[dict[str, Any]]]:
    """One entry per file under helm/atto-work/ci/, by file stem (the chart's defaults alone do not
    render: image.repository and pubsub.projectId are required; ``minimal-values`` adds just those)."""
    assert CI_VALUES, "no value sets under helm/atto-work/ci/"
    out = {}
    for values in CI_VALUES:
        out[values.stem] = render(helm_bin, values)
    return out
