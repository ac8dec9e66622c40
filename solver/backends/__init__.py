"""Search backends and the choice of devices: ``discover(backend, devices)``.

``backend`` (``SOLVER_BACKEND``): ``auto`` takes every OpenCL GPU; without one, the first OpenCL
CPU device (PoCL) that builds the kernel (one only: two CPU platforms share the same cores);
without that, NumPy. ``opencl`` is the same without the NumPy fallback; ``numpy`` forces NumPy.

``devices`` (``SOLVER_DEVICES``) selects OpenCL devices by index, as ``atto-work devices`` lists
them: a comma-separated list of ``PLATFORM:DEVICE`` pairs (``0:1,1:0``), or ``PLATFORM`` alone for
every device of that platform (``1``). Blank means automatic.
"""

from __future__ import annotations

import logging

from solver.backends.base import SearchDevice

log = logging.getLogger(__name__)

BACKENDS = ("auto", "opencl", "numpy")


class DeviceSelectionError(ValueError):
    """A backend or device selection that cannot be satisfied; the message is one line for users."""


def parse_devices(spec: str) -> list[tuple[int, int | None]]:
    """``"0:1,1"`` -> ``[(0, 1), (1, None)]`` (None: every device of the platform)."""
    selection: list[tuple[int, int | None]] = []
    for item in spec.split(","):
        parts = item.strip().split(":")
        if len(parts) > 2 or not all(p.strip().isdigit() for p in parts):
            raise DeviceSelectionError(
                f"SOLVER_DEVICES: bad entry {item.strip()!r}; expected PLATFORM:DEVICE or PLATFORM "
                "indices as listed by `atto-work devices`, e.g. 0:1,1:0"
            )
        platform = int(parts[0])
        selection.append((platform, int(parts[1]) if len(parts) == 2 else None))
    return selection


def _selected(devices: str) -> list[tuple[int, int, object]]:
    from solver.backends.opencl import opencl_platforms

    platforms = opencl_platforms()
    chosen = []
    for p, d in parse_devices(devices):
        if p >= len(platforms):
            raise DeviceSelectionError(
                f"SOLVER_DEVICES: no OpenCL platform {p} (found {len(platforms)}; see `atto-work devices`)"
            )
        found = platforms[p].get_devices()
        if d is not None and d >= len(found):
            raise DeviceSelectionError(
                f"SOLVER_DEVICES: platform {p} has no device {d} (it has {len(found)})"
            )
        for i in range(len(found)) if d is None else [d]:
            if (p, i) not in [(q, j) for q, j, _ in chosen]:
                chosen.append((p, i, found[i]))
    return chosen


def candidates() -> list[tuple[int, int, object]]:
    """What ``auto`` would try, in order: every GPU; else every CPU device (only one is kept)."""
    try:
        from solver.backends.opencl import device_kind, opencl_platforms
    except ImportError as exc:  # pyopencl itself missing: a NumPy-only installation
        log.warning("OpenCL unavailable: %s", exc)
        return []
    every = [(p, d, dev) for p, plat in enumerate(opencl_platforms())
             for d, dev in enumerate(plat.get_devices())]  # fmt: skip
    gpus = [c for c in every if device_kind(c[2]) == "gpu"]
    return gpus or [c for c in every if device_kind(c[2]) == "cpu"]


def _why(exc: Exception) -> str:
    """The telling line of an OpenCL build failure (its log's ``error:`` line), else the first."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()] or [type(exc).__name__]
    return next((line for line in lines if line.startswith("error:")), lines[0])


def _open(chosen: list[tuple[int, int, object]], keep_one_cpu: bool) -> list[SearchDevice]:
    from solver.backends.opencl import OpenCLDevice

    opened: list[SearchDevice] = []
    for p, d, dev in chosen:
        try:
            device = OpenCLDevice(dev, p, d)
        except Exception as exc:  # e.g. a PoCL whose LLVM does not know this CPU: try the next one
            log.warning("OpenCL device %s:%s (%s) is unusable: %s", p, d, dev.name.strip(), _why(exc))
            if not keep_one_cpu:
                for device in opened:
                    device.close()
                raise DeviceSelectionError(
                    f"OpenCL device {p}:{d} ({dev.name.strip()}) cannot build the kernel: {_why(exc)}"
                ) from exc
            continue
        opened.append(device)
        if keep_one_cpu and device.kind == "cpu":
            break
    return opened


def discover(backend: str = "auto", devices: str | None = None) -> list[SearchDevice]:
    """Open the devices to search with; raises ``DeviceSelectionError`` when none fits."""
    backend = (backend or "auto").strip().lower()
    if backend not in BACKENDS:
        raise DeviceSelectionError(
            f"SOLVER_BACKEND: unknown backend {backend!r}; expected auto, opencl or numpy"
        )
    devices = (devices or "").strip() or None
    if backend == "numpy":
        if devices:
            raise DeviceSelectionError("SOLVER_DEVICES selects OpenCL devices; it cannot be used with numpy")
        return _numpy("forced by SOLVER_BACKEND=numpy")
    if devices:
        opened = _open(_selected(devices), keep_one_cpu=False)
        log.info("backend opencl: %s (SOLVER_DEVICES=%s)", ", ".join(d.name for d in opened), devices)
        return opened
    opened = _open(candidates(), keep_one_cpu=True)
    if opened:
        log.info("backend opencl: %s", ", ".join(d.name for d in opened))
        return opened
    if backend == "opencl":
        raise DeviceSelectionError("SOLVER_BACKEND=opencl: no usable OpenCL device (see `atto-work devices`)")
    return _numpy("no usable OpenCL device")


def _numpy(why: str) -> list[SearchDevice]:
    from solver.backends.numpy_backend import NumPyDevice

    device = NumPyDevice()
    log.info("backend numpy: %s (%s)", device.name, why)
    return [device]
