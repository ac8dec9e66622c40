"""``discover``: what each backend choice opens, and the one-line errors for impossible choices."""

from __future__ import annotations

import pytest

from solver.backends import DeviceSelectionError, discover, parse_devices


def test_numpy_forced():
    (device,) = discover("numpy")
    try:
        assert device.name.startswith("numpy:") and device.kind == "cpu"
    finally:
        device.close()


def test_opencl_forced_opens_the_pocl_cpu_device():
    devices = discover("opencl")
    try:
        assert devices and all(d.name.startswith("opencl:") for d in devices)
        # No GPU here: auto keeps one CPU device, as two CPU platforms would share the cores.
        assert [d.kind for d in devices] == ["cpu"]
    finally:
        for d in devices:
            d.close()


def test_auto_picks_opencl_here():
    devices = discover("auto")
    try:
        assert [d.name.split(" ")[0].split(":")[0] for d in devices] == ["opencl"]
    finally:
        for d in devices:
            d.close()


def test_devices_syntax():
    assert parse_devices("0:1, 1:0,2") == [(0, 1), (1, 0), (2, None)]


@pytest.mark.parametrize(
    ("backend", "devices", "message"),
    [
        ("gpu", None, "unknown backend"),
        ("opencl", "x", "bad entry 'x'"),
        ("opencl", "0:1:2", "bad entry"),
        ("opencl", "99", "no OpenCL platform 99"),
        ("auto", "0:99", "platform 0 has no device 99"),
        ("numpy", "0:0", "cannot be used with numpy"),
    ],
)
def test_impossible_selection_is_a_clear_error(backend, devices, message):
    with pytest.raises(DeviceSelectionError, match=message) as info:
        discover(backend, devices)
    assert "\n" not in str(info.value)


def test_without_opencl_auto_falls_back_to_numpy_and_opencl_refuses(monkeypatch):
    # Unit test of the choice alone: no OpenCL platform at all (no ICD registered).
    import solver.backends.opencl as opencl

    monkeypatch.setattr(opencl, "opencl_platforms", lambda: [])
    (device,) = discover("auto")
    try:
        assert device.name.startswith("numpy:")
    finally:
        device.close()
    with pytest.raises(DeviceSelectionError, match="no usable OpenCL device"):
        discover("opencl")
