"""``atto-work bench``: hash rate of each backend and device on this machine."""

from __future__ import annotations

import argparse
import json


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "bench",
        help="measure the hash rate of each backend and device",
        description="Measure hashes per second of every usable OpenCL device and of the NumPy "
        "backend (hit-free scans at the device's LIVE-work launch size).",
    )
    parser.add_argument("--backend", choices=("all", "opencl", "numpy"), default="all",
                        help="which backends to measure (default: all)")  # fmt: skip
    parser.add_argument("--seconds", type=float, default=5.0,
                        help="measuring time per device (default: 5)")  # fmt: skip
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.set_defaults(func=run)


def open_devices(backend: str) -> tuple[list, list[dict[str, str]]]:
    """Every device to measure, and the OpenCL devices that could not be opened (with why)."""
    from solver.backends import DeviceSelectionError, discover
    from solver.backends.opencl import opencl_platforms

    devices, failed = [], []
    if backend in ("all", "opencl"):
        for p, platform in enumerate(opencl_platforms()):
            for d, device in enumerate(platform.get_devices()):
                try:
                    devices += discover("opencl", f"{p}:{d}")
                except DeviceSelectionError as exc:
                    failed.append({"device": f"opencl:{p}:{d} {device.name.strip()}", "error": str(exc)})
    if backend in ("all", "numpy"):
        devices += discover("numpy")
    return devices, failed


def run(args: argparse.Namespace) -> int:
    from solver.backends.measure import measure

    if args.seconds <= 0:
        raise SystemExit("atto-work bench: --seconds must be positive")
    devices, failed = open_devices(args.backend)
    rates = []
    for device in devices:
        rates.append(measure(device, args.seconds))
        device.close()
    if args.json:
        print(json.dumps({"rates": [r.as_dict() for r in rates], "unusable": failed}, indent=2))
    else:
        print(f"{'device':60} {'kind':4} {'MH/s':>10}")
        for r in rates:
            print(f"{r.device:60} {r.kind:4} {r.rate / 1e6:10.2f}")
        for f in failed:
            print(f"{f['device']:60} unusable: {f['error']}")
    return 0 if rates else 1
