"""Real search devices for the server's tests (opened once per session by ``open_devices``)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from solver.backends.base import SearchDevice


@pytest.fixture(params=["numpy", pytest.param("opencl", marks=pytest.mark.opencl)])
def devices(request: pytest.FixtureRequest,
            open_devices: Callable[[str], list[SearchDevice]]) -> list[SearchDevice]:
    """The NumPy device, then the OpenCL device (PoCL's CPU here): never skipped when missing."""
    return open_devices(request.param)
