"""``atto-work request``: ask a coordinator for a work and wait for its callback.

Opens a temporary callback receiver on a loopback port, posts the request with that callback URL,
waits for the callback, checks the work with ``work`` and prints it with the time taken.
Exit status: 0 a valid work arrived, 1 no (valid) work in time or coordinator unreachable, 2 the
coordinator refused the request.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import UTC, datetime

from atto_work.commands import options


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "request", help="request a work from a coordinator and wait for the callback",
        description=__doc__.split("\n\n", 1)[1] if __doc__ else None,
    )
    parser.add_argument("hash", type=options.target, help="the target: 64 hex characters")
    parser.add_argument("--network", type=options.network, required=True,
                        help="LIVE, BETA, DEV or LOCAL")
    parser.add_argument("--timestamp", type=options.timestamp,
                        help="block timestamp, ISO-8601 or epoch ms (default: now)")
    parser.add_argument("--coordinator", default="http://127.0.0.1:8080",
                        help="coordinator base URL (default http://127.0.0.1:8080)")
    parser.add_argument("--callback-host", default="127.0.0.1",
                        help="address the callback receiver listens on and advertises "
                        "(default 127.0.0.1: the coordinator must run on this machine)")
    parser.add_argument("--timeout", type=float, default=600.0,
                        help="seconds to wait for the callback (default 600)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import httpx

    from atto_work.receiver import CallbackReceiver
    from work import difficulty, format_target, parse_work

    hash_hex = format_target(args.hash)
    timestamp = (args.timestamp or datetime.now(UTC)).astimezone(UTC)
    body = {"network": args.network.name,
            "timestamp": timestamp.isoformat().replace("+00:00", "Z"),
            "callback": ""}
    with CallbackReceiver(host=args.callback_host) as receiver:
        body["callback"] = receiver.url
        started = time.perf_counter()
        try:
            response = httpx.post(f"{args.coordinator.rstrip('/')}/works/{hash_hex}", json=body,
                                  timeout=30, trust_env=False)
        except httpx.HTTPError as exc:
            print(f"atto-work request: cannot reach {args.coordinator}: {exc}", file=sys.stderr)
            return 1
        if response.status_code != 202:
            print(f"atto-work request: coordinator answered {response.status_code}: {response.text}",
                  file=sys.stderr)
            return 2 if 400 <= response.status_code < 500 else 1
        accepted = response.json()
        threshold = int(accepted["threshold"])
        # state: queued (a new search), joined (a search under way), cached (answered at once)
        print(f"accepted ({accepted.get('state', 'queued')}): hash {hash_hex}, threshold "
              f"{threshold}; waiting for the callback on {receiver.url}", file=sys.stderr)
        callbacks = receiver.wait_for(1, args.timeout)
    if not callbacks:
        print(f"atto-work request: no callback within {args.timeout:g} s", file=sys.stderr)
        return 1
    callback = callbacks[0]
    elapsed = callback.received_at - started
    try:
        work = parse_work(callback.body.get("work"))
        if callback.body.get("hash") != hash_hex:
            raise ValueError(f"callback for another hash {callback.body.get('hash')!r}")
    except ValueError as exc:
        print(f"atto-work request: bad callback {callback.body}: {exc}", file=sys.stderr)
        return 1
    value = difficulty(work, args.hash)
    verdict = "valid" if value <= threshold else "INVALID"
    print(f"work {work.hex().upper()} for {hash_hex}: {verdict} (difficulty {value} "
          f"<= threshold {threshold}) in {elapsed:.3f} s" if value <= threshold else
          f"work {work.hex().upper()} for {hash_hex}: {verdict} (difficulty {value} "
          f"> threshold {threshold}) after {elapsed:.3f} s")
    return 0 if value <= threshold else 1
