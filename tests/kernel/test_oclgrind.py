"""The kernels under Oclgrind, a simulated OpenCL device that checks every memory access: small
launches of ``search`` and ``difficulties`` through the host's own code (``oclgrind_launches``)
must give hashlib's answers with no data race and no read of uninitialised memory reported.

Oclgrind's LLVM lacks funnel shifts, which the optimiser makes of the kernel's rotations, and the
noalias-scope declarations that inlining a function with restrict parameters leaves, so the
kernel is built there with ``-cl-opt-disable -DINLINE_HASH=`` (see work.cl). A missing
``oclgrind`` fails the test: it is a ``scripts/system-deps.sh test`` package.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.timeout(900)  # a simulated device: about a minute and a half on 2 busy cores
def test_kernels_have_no_race_or_uninitialised_read(tmp_path):
    oclgrind = shutil.which("oclgrind")
    assert oclgrind, "oclgrind is not installed: apt-get install oclgrind (scripts/system-deps.sh test)"
    log = tmp_path / "oclgrind.log"
    cmd = [oclgrind, "--data-races", "--uninitialized", "--build-options", "-cl-opt-disable -DINLINE_HASH=",
           "--log", str(log), sys.executable, "-m", "tests.kernel.oclgrind_launches"]  # fmt: skip
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, f"the launches failed:\n{out.stdout}{out.stderr}"
    report = log.read_text() if log.exists() else ""
    assert not report.strip(), f"Oclgrind reported:\n{report[:4000]}"
