#!/usr/bin/env python3
"""Hash rate of each backend on this machine, beside hashcat ``-m 600`` on the same OpenCL device.

For every OpenCL ICD found (``/etc/OpenCL/vendors/*.icd`` and the PoCL bundled with PyOpenCL's
wheel), the ICD loader is pointed at that one library (``OCL_ICD_VENDORS`` = a temporary folder
holding a single ``.icd``). Ratios come from interleaved rounds (``bench/rounds.py``: the machine
drifts more than the margins measured), reported as the median with its spread:

- ours (``atto-work bench``, the raw rate) against hashcat's BLAKE2b-512 benchmark
  (``hashcat -b -m 600``, found on PATH; Debian's ``hashcat``), when hashcat is installed;
- with ``--baseline REF``: ours against ours at git revision REF (its tree from ``git archive``),
  the raw rate and whole LOCAL jobs, to show a change to the kernel or its host costs no speed;
- our rate on whole jobs (about 2^22 expected hashes, and LOCAL 2026 works of 4.3e4: each from a
  random start until the first hit, as the solver's pool drives a device), one run each;
- the kernel under Nano's rule against Atto's (``rules``): one process, one device, interleaved
  rounds of the raw rate (the same hit-free batches, mask 2^64 - 1 against 0) and of whole jobs of
  about 2^22 expected hashes under each rule. The ratio is Nano/Atto; the target is at least 0.97.
  On a CPU device the rates are per CPU-second of the process (``per``: the wall-clock rate of a
  shared machine swings more than the margin sought); on a GPU, per second.

Then NumPy's rate, over the same number of runs. The runs are sequential, so they do not compete
for the cores.

    python bench/hashrate.py                  # 5 rounds of 5 s (hashcat's first run builds kernels)
    python bench/hashrate.py --quick          # 3 rounds of 1 s measurements
    python bench/hashrate.py --baseline main  # also ours against main's tree
    python bench/hashrate.py --rules --quick  # only Nano's rule against Atto's, on each ICD
    python bench/hashrate.py --json
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LOCAL_2026 = 429496729550000  # docs/spec.md, Networks: 4.3e4 expected hashes
sys.path.insert(0, str(ROOT))

from bench.rounds import describe, interleave  # noqa: E402


class MeasureError(Exception):
    """A measurement that produced no rate; the message says why."""


def icd_libraries() -> list[str]:
    """The OpenCL implementations installed: system ICDs, then PyOpenCL's bundled PoCL."""
    found = []
    for icd in sorted(glob.glob("/etc/OpenCL/vendors/*.icd")):
        found.append(Path(icd).read_text().strip())
    import pyopencl

    libs = Path(pyopencl.__file__).parent / ".libs"
    found += [str(libs / p.read_text().strip()) for p in sorted(libs.glob("*.icd"))]
    return list(dict.fromkeys(found))


def run_env(vendors: str | None, root: Path) -> dict[str, str]:
    env = {**os.environ, "PYTHONPATH": str(root)}
    if vendors:
        env["OCL_ICD_VENDORS"] = vendors
    return env


def our_rate(vendors: str | None, backend: str, seconds: float, root: Path = ROOT) -> dict:
    """``atto-work bench`` of the tree at ``root``: the first device's raw rate."""
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
    out = subprocess.run(cmd, env=run_env(vendors, root), cwd=root, capture_output=True, text=True,
                         timeout=600)
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


# Nano's rule against Atto's in one process on one device (so both share its build and its state):
# interleaved rounds (bench/rounds.py), Nano first in the odd rounds. Prints one JSON object.
RULES_CODE = """
import json, random, sys, time
from bench.rounds import interleave
from solver.backends import discover
from solver.backends.measure import measure
from solver.jobs import Rule
seconds, rounds, jobs = float(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
(device,) = discover("opencl")[:1]
clock = time.process_time if device.kind == "cpu" else time.perf_counter
# Whole jobs of about 2^22 expected hashes: the same bound under either rule.
limits = {Rule.ATTO: 2 ** 42 - 1, Rule.NANO: 2 ** 64 - 2 ** 42}
rnd = random.Random(1)

def raw(rule):
    rate = measure(device, seconds, rule.search_bound(limits[rule])[0])
    return rate.cpu_rate if device.kind == "cpu" else rate.rate

def whole_jobs(rule):
    mask, bound = rule.search_bound(limits[rule])
    hashes, started = 0, clock()
    for _ in range(jobs):
        target, nonce = rnd.randbytes(32), rnd.getrandbits(64)
        while True:
            count = device.batch_size(bound)
            found = device.search(target, bound, nonce, count, mask)
            if found is not None:
                assert rule.is_valid(found.to_bytes(8, "little"), target, limits[rule])
                hashes += ((found - nonce) % 2 ** 64) + 1
                break
            hashes += count
            nonce = (nonce + count) % 2 ** 64
    return hashes / (clock() - started)

print(json.dumps({
    "device": device.name,
    "per": "cpu-second" if device.kind == "cpu" else "second",
    "raw": interleave(lambda: raw(Rule.NANO), lambda: raw(Rule.ATTO), rounds).summary(),
    "jobs_2_22": interleave(lambda: whole_jobs(Rule.NANO), lambda: whole_jobs(Rule.ATTO),
                            rounds).summary(),
}))
"""


def rules_ratio(vendors: str | None, seconds: float, rounds: int, jobs: int) -> dict:
    """Nano's rule against Atto's on the first OpenCL device of ``vendors`` (``RULES_CODE``)."""
    out = subprocess.run([sys.executable, "-c", RULES_CODE, str(seconds), str(rounds), str(jobs)],
                         cwd=ROOT, env=run_env(vendors, ROOT), capture_output=True, text=True,
                         timeout=1800)  # fmt: skip
    if out.returncode:
        return {"error": out.stderr.strip().splitlines()[-1] if out.stderr.strip() else "failed"}
    return json.loads(out.stdout)


def job_rate(vendors: str | None, jobs: int, limit: int, root: Path = ROOT) -> dict:
    """Whole jobs at ``limit`` on the tree at ``root``, each from a random start until its first hit."""
    out = subprocess.run([sys.executable, "-c", JOB_CODE, str(jobs), str(limit)], cwd=root,
                         env=run_env(vendors, root), capture_output=True, text=True, timeout=600)  # fmt: skip
    if out.returncode:
        return {"error": out.stderr.strip().splitlines()[-1] if out.stderr.strip() else "failed"}
    return json.loads(out.stdout)


def hashcat_rate(vendors: str) -> dict:
    """hashcat's benchmark of mode 600 (BLAKE2b-512) on the OpenCL CPU/GPU devices of ``vendors``."""
    cmd = ["hashcat", "-b", "-m", "600", "-D", "1,2", "--machine-readable", "--quiet"]
    out = subprocess.run(cmd, env=run_env(vendors, ROOT), capture_output=True, text=True, timeout=600)
    # --machine-readable: device:mode:core_clock:memory_clock:exec_ms:hashes_per_second
    speeds = [line.split(":") for line in out.stdout.splitlines() if line.count(":") == 5]
    if not speeds:
        tail = (out.stdout + out.stderr).strip().splitlines()
        return {"error": tail[-1] if tail else f"hashcat exited {out.returncode}"}
    return {"rate": float(sum(float(s[5]) for s in speeds)), "devices": len(speeds)}


def rate(result: dict) -> float:
    """The rate of a measurement's result, or MeasureError with its error."""
    if "rate" not in result:
        raise MeasureError(result.get("error", "no rate"))
    return result["rate"]


def compare(ours: Callable[[], dict], peer: Callable[[], dict], rounds: int) -> dict:
    """Interleaved rounds of two measurements: the median ratio and its spread, or the error."""
    try:
        return interleave(lambda: rate(ours()), lambda: rate(peer()), rounds).summary()
    except MeasureError as exc:
        return {"error": str(exc)}


def repeated(measure: Callable[[], dict], runs: int) -> dict:
    """One measurement ``runs`` times: the median rate and its range, or the error."""
    try:
        rates = [rate(measure()) for _ in range(runs)]
    except MeasureError as exc:
        return {"error": str(exc)}
    return {"rate": statistics.median(rates), "min": min(rates), "max": max(rates), "runs": rates}


def baseline_tree(ref: str, into: Path) -> Path:
    """The repository's tree at git revision ``ref``, extracted under ``into``."""
    tree = into / "baseline"
    tree.mkdir()
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", ref], capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", str(tree)], input=archive.stdout, check=True)
    return tree


def measure_icd(vendors: str, args: argparse.Namespace, seconds: float, jobs: int,
                baseline: Path | None) -> dict:
    entry: dict = {"ours": our_rate(vendors, "opencl", seconds)}
    if "rate" not in entry["ours"]:
        return entry  # this ICD cannot run our kernel (e.g. a PoCL too old for the CPU)
    entry["rules"] = rules_ratio(vendors, seconds, args.rounds, jobs)
    if args.rules:
        return entry
    raw = lambda root=ROOT: our_rate(vendors, "opencl", seconds, root)  # noqa: E731
    local_jobs = lambda root=ROOT: job_rate(vendors, jobs * 50, LOCAL_2026, root)  # noqa: E731
    if shutil.which("hashcat"):
        entry["vs_hashcat"] = compare(raw, lambda: hashcat_rate(vendors), args.rounds)
    else:
        entry["vs_hashcat"] = {"error": "hashcat is not installed (Debian: apt-get install hashcat)"}
    if baseline is not None:
        entry["vs_baseline"] = {"ref": args.baseline,
                                "raw": compare(raw, lambda: raw(baseline), args.rounds),
                                "jobs_local": compare(local_jobs, lambda: local_jobs(baseline), args.rounds)}
    # Our raw rate: the median of every raw run above (its first run alone drifts with the load).
    runs = [entry["ours"]["rate"], *entry["vs_hashcat"].get("ours", []),
            *entry.get("vs_baseline", {}).get("raw", {}).get("ours", [])]
    entry["ours"].update(rate=statistics.median(runs), rate_runs=runs)
    entry["jobs_2_22"] = job_rate(vendors, jobs, 2**64 // 2**22 - 1)
    entry["jobs_local"] = local_jobs()
    return entry


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="short measurements (3 rounds of 1 s, 10 + 500 jobs)")
    parser.add_argument("--rounds", type=int, help="interleaved rounds per ratio (default 5, 3 with --quick)")
    parser.add_argument("--baseline", metavar="REF", help="also compare ours with ours at this git revision")
    parser.add_argument("--rules", action="store_true",
                        help="only Nano's rule against Atto's on each OpenCL ICD (no hashcat, NumPy)")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args()
    seconds, jobs = (1.0, 10) if args.quick else (5.0, 50)
    args.rounds = args.rounds or (3 if args.quick else 5)
    if args.rounds < 1:
        raise SystemExit("bench/hashrate.py: --rounds must be at least 1")
    results = {"machine": os.uname().nodename, "cpus": os.cpu_count(), "rounds": args.rounds,
               "opencl": [], "numpy": None}
    with tempfile.TemporaryDirectory(prefix="atto-icd-") as tmp:
        baseline = baseline_tree(args.baseline, Path(tmp)) if args.baseline else None
        for i, library in enumerate(icd_libraries()):
            vendors = Path(tmp) / str(i)
            vendors.mkdir()
            (vendors / "only.icd").write_text(library + "\n")
            entry = measure_icd(str(vendors), args, seconds, jobs, baseline)
            results["opencl"].append({"icd": library, **entry})
    if not args.rules:
        results["numpy"] = repeated(lambda: our_rate(None, "numpy", seconds), args.rounds)
    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    mhs = lambda r: f"{r['rate'] / 1e6:9.2f}" if "rate" in r else f"  error: {r['error']}"  # noqa: E731
    ratio = lambda r: describe(r) if "ratio_median" in r else f"error: {r['error']}"  # noqa: E731
    for e in results["opencl"]:
        print(f"OpenCL ICD {e['icd']}")
        runs = len(e["ours"].get("rate_runs", [])) or 1
        print(f"  ours (raw, {e['ours'].get('device', '-')}) MH/s: {mhs(e['ours'])} (median of {runs})")
        if "rules" in e:
            for key, what in (("raw", "raw rate"), ("jobs_2_22", "jobs of ~2^22 hashes")):
                r = e["rules"].get(key, e["rules"])
                medians = (f"; medians {r['ours_median'] / 1e6:.2f} vs {r['peer_median'] / 1e6:.2f} "
                           f"MH per {e['rules']['per']}" if "ratio_median" in r else "")
                print(f"  Nano rule / Atto rule ({what}): {ratio(r)}{medians}")
        if "vs_hashcat" in e:
            r = e["vs_hashcat"]
            if "ratio_median" in r:
                print(f"  medians MH/s: ours {r['ours_median'] / 1e6:.2f}, "
                      f"hashcat -m 600 {r['peer_median'] / 1e6:.2f}")
            print(f"  ratio ours/hashcat: {ratio(r)}")
        if "vs_baseline" in e:
            for key, what in (("raw", "raw rate"), ("jobs_local", "LOCAL jobs")):
                print(f"  ours/{e['vs_baseline']['ref']} ({what}): {ratio(e['vs_baseline'][key])}")
        for key, what in (("jobs_2_22", "jobs of ~2^22 hashes"), ("jobs_local", "LOCAL 2026 jobs")):
            if key in e:
                r = e[key]
                share = f" = {r['rate'] / e['ours']['rate']:.0%} of raw" if "rate" in r else ""
                print(f"  ours ({what}, {r.get('jobs')} jobs) MH/s: {mhs(r)}{share}")
    n = results["numpy"]
    if n is None:
        return 0
    if "rate" in n:
        print(f"NumPy MH/s: {mhs(n)} (median; min-max {n['min'] / 1e6:.2f}-{n['max'] / 1e6:.2f}, "
              f"{len(n['runs'])} runs)")
    else:
        print(f"NumPy MH/s: {mhs(n)}")
    return 0


if __name__ == "__main__":
    started = time.monotonic()
    code = main()
    print(f"(bench took {time.monotonic() - started:.0f} s)", file=sys.stderr)
    sys.exit(code)
