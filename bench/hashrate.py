#!/usr/bin/env python3
"""Hash rate of each backend on this machine, beside hashcat ``-m 600`` on the same OpenCL device.

For every OpenCL ICD found (``/etc/OpenCL/vendors/*.icd`` and the PoCL bundled with PyOpenCL's
wheel), the ICD loader is pointed at that one library (``OCL_ICD_VENDORS`` = a temporary folder
holding a single ``.icd``), then in turn: our kernel's raw rate (``atto-work bench``), our rate on
whole jobs (about 2^22 expected hashes, and LOCAL 2026 works of 4.3e4: each from a random start
until the first hit, as the solver's pool drives a device), hashcat's BLAKE2b-512 benchmark
(``hashcat -b -m 600``), and our raw rate again (averaged with the first, as load drifts). The
runs are sequential, so they do not compete for the cores. Then NumPy's rate.

    python bench/hashrate.py            # about a minute (hashcat's first run also builds kernels)
    python bench/hashrate.py --quick    # shorter measurements
    python bench/hashrate.py --json
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LOCAL_2026 = 429496729550000  # docs/spec.md, Networks: 4.3e4 expected hashes
sys.path.insert(0, str(ROOT))


def icd_libraries() -> list[str]:
    """The OpenCL implementations installed: system ICDs, then PyOpenCL's bundled PoCL."""
    found = []
    for icd in sorted(glob.glob("/etc/OpenCL/vendors/*.icd")):
        found.append(Path(icd).read_text().strip())
    import pyopencl

    libs = Path(pyopencl.__file__).parent / ".libs"
    found += [str(libs / p.read_text().strip()) for p in sorted(libs.glob("*.icd"))]
    return list(dict.fromkeys(found))


def run_env(vendors: str | None) -> dict[str, str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    if vendors:
        env["OCL_ICD_VENDORS"] = vendors
    return env


def our_rate(vendors: str | None, backend: str, seconds: float) -> dict:
    cmd = [
        sys.executable,
        "-m",
        "atto_work",
        "bench",
        "--backend",
        backend,
        "--seconds",
        str(seconds),
        "--json",
    ]
    out = subprocess.run(cmd, env=run_env(vendors), capture_output=True, text=True, timeout=600)
    if out.returncode not in (0, 1):
        return {"error": out.stderr.strip().splitlines()[-1] if out.stderr.strip() else "failed"}
    report = json.loads(out.stdout)
    if report["rates"]:
        return report["rates"][0]
    return {"error": report["unusable"][0]["error"] if report["unusable"] else "no device"}


JOB_CODE = """
import json, random, sys, time
from solver.backends import discover
jobs, limit = int(sys.argv[1]), int(sys.argv[2])
(device,) = discover("opencl")[:1]
rnd = random.Random(1)
hashes, started = 0, time.perf_counter()
for _ in range(jobs):
    target, nonce = rnd.randbytes(32), rnd.getrandbits(64)
    while True:
        count = device.batch_size(limit)
        found = device.search(target, limit, nonce, count)
        if found is not None:
            hashes += ((found - nonce) % 2 ** 64) + 1
            break
        hashes += count
        nonce = (nonce + count) % 2 ** 64
elapsed = time.perf_counter() - started
print(json.dumps({"jobs": jobs, "hashes": hashes, "seconds": elapsed, "rate": hashes / elapsed,
                  "jobs_per_second": jobs / elapsed}))
"""


def job_rate(vendors: str | None, jobs: int, limit: int) -> dict:
    """Whole jobs at ``limit``, each from a random start until its first hit."""
    out = subprocess.run([sys.executable, "-c", JOB_CODE, str(jobs), str(limit)], env=run_env(vendors),
                         capture_output=True, text=True, timeout=600)  # fmt: skip
    if out.returncode:
        return {"error": out.stderr.strip().splitlines()[-1] if out.stderr.strip() else "failed"}
    return json.loads(out.stdout)


def hashcat_rate(vendors: str) -> dict:
    """hashcat's benchmark of mode 600 (BLAKE2b-512) on the OpenCL CPU/GPU devices of ``vendors``."""
    cmd = ["hashcat", "-b", "-m", "600", "-D", "1,2", "--machine-readable", "--quiet"]
    out = subprocess.run(cmd, env=run_env(vendors), capture_output=True, text=True, timeout=600)
    # --machine-readable: device:mode:core_clock:memory_clock:exec_ms:hashes_per_second
    speeds = [line.split(":") for line in out.stdout.splitlines() if line.count(":") == 5]
    if not speeds:
        tail = (out.stdout + out.stderr).strip().splitlines()
        return {"error": tail[-1] if tail else f"hashcat exited {out.returncode}"}
    return {"rate": float(sum(float(s[5]) for s in speeds)), "devices": len(speeds)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="short measurements (1 s, 10 + 500 jobs)")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args()
    if shutil.which("hashcat") is None:
        raise SystemExit("bench/hashrate.py: hashcat is not installed; on Debian: apt-get install -y hashcat")
    seconds, jobs = (1.0, 10) if args.quick else (5.0, 50)
    results = {"machine": os.uname().nodename, "cpus": os.cpu_count(), "opencl": [], "numpy": None}
    with tempfile.TemporaryDirectory(prefix="atto-icd-") as tmp:
        for i, library in enumerate(icd_libraries()):
            vendors = Path(tmp) / str(i)
            vendors.mkdir()
            (vendors / "only.icd").write_text(library + "\n")
            entry = {"icd": library, "ours": our_rate(str(vendors), "opencl", seconds)}
            if "rate" in entry["ours"]:
                entry["jobs_2_22"] = job_rate(str(vendors), jobs, 2**64 // 2**22 - 1)
                entry["jobs_local"] = job_rate(str(vendors), jobs * 50, LOCAL_2026)
            entry["hashcat"] = hashcat_rate(str(vendors))
            if "rate" in entry["ours"]:
                # Ours again after hashcat, averaged: on a shared machine the load drifts.
                again = our_rate(str(vendors), "opencl", seconds)
                if "rate" in again:
                    runs = [entry["ours"]["rate"], again["rate"]]
                    entry["ours"].update(rate=sum(runs) / 2, rate_runs=runs)
            if "rate" in entry["ours"] and "rate" in entry["hashcat"]:
                entry["ratio"] = entry["ours"]["rate"] / entry["hashcat"]["rate"]
            results["opencl"].append(entry)
    results["numpy"] = our_rate(None, "numpy", seconds)
    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    mhs = lambda r: f"{r['rate'] / 1e6:9.2f}" if "rate" in r else f"  error: {r['error']}"  # noqa: E731
    for e in results["opencl"]:
        print(f"OpenCL ICD {e['icd']}")
        print(f"  ours (raw, {e['ours'].get('device', '-')}) MH/s: {mhs(e['ours'])}")
        for key, what in (("jobs_2_22", "jobs of ~2^22 hashes"), ("jobs_local", "LOCAL 2026 jobs")):
            if key in e:
                r = e[key]
                share = f" = {r['rate'] / e['ours']['rate']:.0%} of raw" if "rate" in r else ""
                print(f"  ours ({what}, {r.get('jobs')} jobs) MH/s: {mhs(r)}{share}")
        print(f"  hashcat -m 600 MH/s:{mhs(e['hashcat'])}")
        if "ratio" in e:
            print(f"  ratio ours/hashcat: {e['ratio']:.2f}x")
    print(f"NumPy ({results['numpy'].get('device', '-')}) MH/s: {mhs(results['numpy'])}")
    return 0


if __name__ == "__main__":
    started = time.monotonic()
    code = main()
    print(f"(bench took {time.monotonic() - started:.0f} s)", file=sys.stderr)
    sys.exit(code)
