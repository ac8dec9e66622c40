"""Real search devices for the server's tests, opened once per session (the kernel builds once)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from solver.backends import discover
from solver.backends.base import SearchDevice

_opened: dict[str, list[SearchDevice]] = {}


@pytest.fixture(scope="session")
def backend_devices() -> Iterator[dict[str, list[SearchDevice]]]:
    yield _opened
    for devices in _opened.values():
        for device in devices:
            device.close()


@pytest.fixture(params=["numpy", pytest.param("opencl", marks=pytest.mark.opencl)])
def devices(request: pytest.FixtureRequest, backend_devices) -> list[SearchDevice]:
    """The NumPy device, then the OpenCL device (PoCL's CPU here): never skipped when missing."""
    if request.param not in backend_devices:
        found = discover(request.param)
        assert found, f"no {request.param} device"
        backend_devices[request.param] = found
    return backend_devices[request.param]
