"""Container health check for every ``atto-work`` role, standard library only.

One image serves every role, so the check finds the running ``atto-work`` command line in ``/proc``
and asks that role's HTTP server for ``/health`` (or the path given as the first argument). A role
without a server (``pubsub-init``, ``solve``...) is healthy while it runs.

    python healthcheck.py            # GET /health on the role's port
    python healthcheck.py /ready     # GET /ready instead (compose orders start-up on readiness)
"""

from __future__ import annotations

import sys
import urllib.request
from pathlib import Path

#: The fixed ports of the HTTP roles, used when the command line has no ``--port``.
DEFAULT_PORTS = {"up": 8080, "coordinator": 8080, "solver": 8090, "adapter": 8091}


def target(argv: list[str]) -> int | None:
    """The port an ``atto-work`` command line serves on, or None for a role without a server."""
    for i, word in enumerate(argv):
        if word.endswith("atto-work") or word == "atto_work":
            rest = argv[i + 1:]
            break
    else:
        return None
    role = rest[0] if rest else None
    if role not in DEFAULT_PORTS:
        return None
    for i, word in enumerate(rest):
        if word == "--port" and i + 1 < len(rest):
            return int(rest[i + 1])
        if word.startswith("--port="):
            return int(word.split("=", 1)[1])
    return DEFAULT_PORTS[role]


def running_commands() -> list[list[str]]:
    commands = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            words = cmdline.read_bytes().split(b"\0")
        except OSError:  # the process ended while we looked
            continue
        commands.append([w.decode(errors="replace") for w in words if w])
    return commands


def main(argv: list[str]) -> int:
    path = argv[1] if len(argv) > 1 else "/health"
    ports = {port for cmd in running_commands() if (port := target(cmd)) is not None}
    if not ports:
        return 0
    for port in sorted(ports):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=4) as response:
                if response.status != 200:
                    return 1
        except OSError as exc:
            print(f"127.0.0.1:{port}{path}: {exc}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
