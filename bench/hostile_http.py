"""Hostile HTTP clients against ``atto-work up`` (issue 10.3): what an endless header and requests
never finished cost a service.

    python -m bench.hostile_http                       # this checkout's atto-work
    python -m bench.hostile_http --atto-work /work/main/.venv/bin/atto-work   # another checkout's

- three connections each send one header of up to 100 MB that never ends: the service's peak RSS
  (``/proc/<pid>/status``, polled every 50 ms) and how many bytes each connection got in before the
  service closed it;
- 50 connections send half a request head and wait: how many the service closes within 40 s, and
  when the last one was closed.
Starts ``atto-work up`` (NumPy device) on a free 127.0.0.1 port and stops it; nothing leaves loopback.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import threading
import time

from harness.emulator import free_port
from harness.polling import wait_until

HEADER_BYTES = 100 * 2**20
HALF_SENT = 50
WAIT_SECONDS = 40


def rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS"):
                return int(line.split()[1]) / 1024
    return 0.0


def endless_header(port: int, accepted: list[int], index: int) -> None:
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: bench\r\nX-Big: ")
        chunk = b"a" * 65536
        try:
            while accepted[index] < HEADER_BYTES:
                sock.sendall(chunk)
                accepted[index] += len(chunk)
        except OSError:  # the service closed the connection
            pass


def big_headers(port: int, pid: int) -> str:
    before = peak = rss_mib(pid)
    accepted = [0, 0, 0]
    threads = [threading.Thread(target=endless_header, args=(port, accepted, i)) for i in range(3)]
    for thread in threads:
        thread.start()
    while any(thread.is_alive() for thread in threads):
        peak = max(peak, rss_mib(pid))
        time.sleep(0.05)
    return (f"3 x {HEADER_BYTES >> 20} MB unfinished headers: RSS {before:.0f} MiB before, peak "
            f"{peak:.0f} MiB; MiB sent per connection before it was closed: "
            f"{[round(a / 2**20) for a in accepted]}")


def half_sent(port: int) -> str:
    socks = [socket.create_connection(("127.0.0.1", port)) for _ in range(HALF_SENT)]
    for sock in socks:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: bench\r\n")
        sock.settimeout(0.05)
    started, closed = time.monotonic(), {}
    while len(closed) < len(socks) and time.monotonic() - started < WAIT_SECONDS:
        for index, sock in enumerate(socks):
            if index in closed:
                continue
            try:
                sock.recv(4096)  # an answer (408) or the end of the stream: closed by the service
                closed[index] = time.monotonic() - started
            except TimeoutError:
                pass
            except OSError:
                closed[index] = time.monotonic() - started
    for sock in socks:
        sock.close()
    last = f"the last after {max(closed.values()):.1f} s" if closed else "none"
    return f"{HALF_SENT} half-sent requests: {len(closed)} closed within {WAIT_SECONDS} s ({last})"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--atto-work", default=shutil.which("atto-work") or "atto-work",
                        help="the atto-work executable to run (default: the one on PATH)")
    args = parser.parse_args()
    port = free_port()
    env = {**os.environ, "SOLVER_BACKEND": "numpy", "LOG_LEVEL": "WARNING"}
    service = subprocess.Popen([args.atto_work, "up", "--port", str(port)], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        def listening() -> bool:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                return True
            except OSError:
                return False

        wait_until(listening, within=60, what="atto-work up to listen")
        print(big_headers(port, service.pid))
        print(half_sent(port))
    finally:
        service.terminate()
        service.wait(30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
