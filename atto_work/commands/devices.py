"""``atto-work devices``: the OpenCL platforms and devices found, and what ``auto`` picks."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "devices",
        help="list OpenCL platforms/devices and what SOLVER_BACKEND=auto would use",
        description="List OpenCL platforms and devices as PLATFORM:DEVICE indices (the syntax of "
        "SOLVER_DEVICES), then open the devices SOLVER_BACKEND=auto would use and show them.",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from solver.backends import DeviceSelectionError, discover

    try:
        from solver.backends.opencl import device_kind, opencl_platforms
    except ImportError as exc:  # a NumPy-only installation
        print(f"OpenCL: unavailable ({exc})")
        device_kind, opencl_platforms = None, list

    platforms = opencl_platforms()
    if not platforms and device_kind is not None:
        print("OpenCL: no platform found (no ICD registered in /etc/OpenCL/vendors or OCL_ICD_VENDORS)")
    else:
        print("OpenCL platforms and devices (SOLVER_DEVICES uses PLATFORM:DEVICE):")
    for p, platform in enumerate(platforms):
        print(f"  platform {p}: {platform.name.strip()} ({platform.version.strip()})")
        for d, device in enumerate(platform.get_devices()):
            units = device.max_compute_units
            print(f"    {p}:{d}  {device_kind(device):3}  {device.name.strip()}  ({units} compute units)")
    try:
        chosen = discover("auto")
    except DeviceSelectionError as exc:
        print(f"auto: {exc}")
        return 1
    print("auto would use: " + ", ".join(device.name for device in chosen))
    for device in chosen:
        device.close()
    return 0
