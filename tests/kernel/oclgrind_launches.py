"""Small launches of both kernels through the host's own code, for ``test_oclgrind.py`` to run
under Oclgrind (``python -m tests.kernel.oclgrind_launches``): exits non-zero when an answer
differs from hashlib's (Atto rule) or work.nano's (Nano rule), or when the device is not Oclgrind's
simulator."""

from __future__ import annotations

import random
import sys

import numpy as np
import pyopencl as cl

from solver.backends.opencl import OpenCLDevice
from solver.jobs import Rule
from tests.solver.test_backend_search import MASK64, first_hit, first_nano_hit
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
    # none does; 300 nonces leave work-items past ``count``. The last case is Nano's rule (at
    # least the threshold, through the kernel's mask) at 1 in 3.
    cases = [(Rule.ATTO, MASK64 // 3, 512), (Rule.ATTO, MASK64 // 400, 640), (Rule.ATTO, 0, 512),
             (Rule.ATTO, MASK64 // 3, 300), (Rule.NANO, MASK64 - MASK64 // 3, 512)]
    failures = 0
    for rule, limit, count in cases:
        start = rnd.getrandbits(64)
        mask, bound = rule.search_bound(limit)
        oracle = first_hit if rule is Rule.ATTO else first_nano_hit
        got, want = device.search(target, bound, start, count, mask), oracle(target, limit, start, count)
        if got != want:
            print(f"search({rule.name}, limit={limit:#x}, count={count}): {got} != {want}",
                  file=sys.stderr)
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
