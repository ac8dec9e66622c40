"""Small launches of both kernels through the host's own code, for ``test_oclgrind.py`` to run
under Oclgrind (``python -m tests.kernel.oclgrind_launches``): exits non-zero when an answer
differs from hashlib's or when the device is not Oclgrind's simulator."""

from __future__ import annotations

import random
import sys

import numpy as np
import pyopencl as cl

from solver.backends.opencl import OpenCLDevice
from tests.solver.test_backend_search import MASK64, first_hit
from work import difficulty


def main() -> int:
    (platform,) = cl.get_platforms()  # Oclgrind's library replaces every other ICD
    if "oclgrind" not in platform.name.lower():
        print(f"not running under Oclgrind: platform {platform.name!r}", file=sys.stderr)
        return 2
    device = OpenCLDevice(platform.get_devices()[0], 0, 0, calibrate=False)
    rnd = random.Random(14)
    target = rnd.randbytes(32)
    # Two work-groups of the host's size (256) and a partial third: every group hits at 1 in 3,
    # so later groups read the word an earlier one wrote; at 1 in 400 only some groups hit; at 0
    # none does; 300 nonces leave work-items past ``count``.
    cases = [(MASK64 // 3, 512), (MASK64 // 400, 640), (0, 512), (MASK64 // 3, 300)]
    failures = 0
    for limit, count in cases:
        start = rnd.getrandbits(64)
        got, want = device.search(target, limit, start, count), first_hit(target, limit, start, count)
        if got != want:
            print(f"search(limit={limit:#x}, count={count}): {got} != hashlib's {want}", file=sys.stderr)
            failures += 1
    nonces = np.array([rnd.getrandbits(64) for _ in range(8)], dtype=np.uint64)
    targets = np.frombuffer(rnd.randbytes(8 * 32), dtype=np.uint8).reshape(8, 32)
    got = [int(x) for x in device.difficulties(nonces, targets)]
    want = [difficulty(int(n).to_bytes(8, "little"), bytes(t)) for n, t in zip(nonces, targets, strict=True)]
    if got != want:
        print(f"difficulties: {got} != hashlib's {want}", file=sys.stderr)
        failures += 1
    device.close()
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
