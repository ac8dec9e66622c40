"""A callback receiver for the compose demo: prints each callback it gets, answers 200.

Standard library only, so any Python image runs it. ``docker compose logs -f callback-log`` shows the
callbacks the coordinator delivers (body and, when signing is on, the ``X-Atto-Work-Signature``).

    python callback_log.py --host 0.0.0.0 --port 8000
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class CallbackHandler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:  # noqa: N802 (the stdlib's naming)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode(errors="replace")
        line = {"path": self.path, "body": body}
        signature = self.headers.get("X-Atto-Work-Signature")
        if signature:
            line["signature"] = signature
        print(json.dumps(line), flush=True)
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_GET(self) -> None:  # noqa: N802
        # Lets a health check see the receiver is up.
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass  # one line per callback from do_POST is all the demo needs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args()
    server = ThreadingHTTPServer((args.host, args.port), CallbackHandler)
    # In a container this is PID 1, which SIGTERM ends only through a handler: without one,
    # `compose down` waits its grace period and then kills it.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print(f"listening on {args.host}:{server.server_port}", flush=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
