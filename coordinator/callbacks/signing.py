"""Signed callbacks: ``X-Atto-Work-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256>``.

With ``CALLBACK_SIGNING_SECRET`` set, the coordinator signs each callback's exact body bytes,
prefixed with the signing time: ``HMAC-SHA256(secret, f"{t}.".encode() + body)``. The time is
inside the MAC so a receiver can refuse replays older than a tolerance window; the raw body (not a
re-serialised JSON) is signed so the receiver verifies the bytes it got.

``verify`` is what a receiver runs; docs/api.md shows the same code for clients without this package.
Several ``v1=`` entries are accepted, so a secret can be rotated by signing with both for a while.
"""

from __future__ import annotations

import hashlib
import hmac
import time

HEADER = "X-Atto-Work-Signature"
SCHEME = "v1"
#: How far a signature's time may be from the receiver's clock by default (seconds).
DEFAULT_TOLERANCE = 300


def _mac(secret: str | bytes, timestamp: int, body: bytes) -> str:
    key = secret.encode() if isinstance(secret, str) else secret
    return hmac.new(key, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def sign(secret: str | bytes, body: bytes, timestamp: int | None = None) -> str:
    """The header value for ``body`` signed now (or at ``timestamp``)."""
    t = int(time.time()) if timestamp is None else int(timestamp)
    return f"t={t},{SCHEME}={_mac(secret, t, body)}"


def signature_headers(secret: str | bytes | None, body: bytes) -> dict[str, str]:
    """``{HEADER: sign(...)}`` when a secret is configured, else no header at all."""
    return {HEADER: sign(secret, body)} if secret else {}


def verify(secret: str | bytes, body: bytes, header: str | None,
           tolerance: float = DEFAULT_TOLERANCE, now: float | None = None) -> bool:
    """Whether ``header`` is a valid signature of ``body`` made within ``tolerance`` seconds."""
    if not header:
        return False
    timestamp: int | None = None
    candidates: list[str] = []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t" and value.isdigit():
            timestamp = int(value)
        elif key == SCHEME:
            candidates.append(value)
    if timestamp is None or not candidates:
        return False
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance:
        return False
    expected = _mac(secret, timestamp, body).encode()
    # Compare against every candidate without stopping early; compare_digest is constant-time.
    matched = False
    for candidate in candidates:
        matched |= hmac.compare_digest(expected, candidate.lower().encode("utf-8", "replace"))
    return matched
