"""CPU time of processes (and their children), read from ``/proc``, to say where a bench's time goes.

    groups = {"emulator": descendants(pid), "adapter": [pid]}
    before = cpu_seconds(groups)                 # thread_seconds({"loop": pid}): one main thread
    ...                                          # the measured run
    used = cpu_used(before, cpu_seconds(groups))  # seconds of CPU each group used during it

Linux only; elsewhere every figure is NaN. A process's own threads are included (utime + stime of
the thread group), its children are not: ``descendants`` walks ``/proc/*/stat`` parent ids, so the
emulator's Java process can count with the gcloud wrapper that started it.
"""

from __future__ import annotations

import os

_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _stat(pid: int | str) -> list[str] | None:
    """The fields of ``/proc/PID/stat`` (or of a thread's, ``PID/task/TID``) after the command name."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            # the command name (field 2) may hold spaces: split after its closing parenthesis
            return f.read().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError, IndexError, PermissionError):
        return None


def descendants(pid: int) -> list[int]:
    """``pid`` and every process below it."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc") if os.path.isdir("/proc") else []:
        if entry.isdigit() and (fields := _stat(int(entry))):
            children.setdefault(int(fields[1]), []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(children.get(current, []))
    return found


def cpu_seconds(groups: dict[str, list[int | str]]) -> dict[str, float]:
    """User + system CPU seconds of each named group of processes."""
    totals = {}
    for name, pids in groups.items():
        total = float("nan") if not os.path.isdir("/proc") else 0.0
        for pid in set(pids):
            if fields := _stat(pid):
                total += (int(fields[11]) + int(fields[12])) / _TICK
        totals[name] = total
    return totals


def thread_seconds(threads: dict[str, int]) -> dict[str, float]:
    """User + system CPU seconds of each named process's main thread alone (``/proc/PID/task/PID``):
    in ``atto-work up`` the event loop, where everything but the device searches runs."""
    return cpu_seconds({name: [f"{pid}/task/{pid}"] for name, pid in threads.items()})  # type: ignore[misc]


def cpu_used(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    return {name: after[name] - before.get(name, 0.0) for name in after}
