"""Signed callbacks: ``X-Atto-Work-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256>``.

With ``CALLBACK_SIGNING_SECRET`` set, the coordinator signs each callback's exact body bytes,
prefixed with the signing time: ``HMAC-SHA256(secret, f"{t}.".encode() + body)``. The time is
inside the MAC so a receiver can refuse replays older than a tolerance window; the raw body (not a
re-serialised JSON) is signed so the receiver verifies the bytes it got.

``verify`` is what a receiver runs; docs/api.md shows the same code for clients without this package.
Several ``v1=`` entries are accepted, so a secret can be rotated by signing with both for a while.

Per-client secrets (``CALLBACK_SIGNING_KEYS``): a client holding an API key may get a secret of its
own, so no client can forge another's callbacks. The setting is a list of ``<api key> <secret>``
entries separated by commas or newlines, or ``@`` and a file holding them (blank lines and ``#``
lines ignored); API keys hold no spaces or commas, and neither do secrets. A request's callbacks are
signed with the secret of the key it was made with (the work-state store keeps which key that was,
as the caller who may cancel it), the others' with ``CALLBACK_SIGNING_SECRET``.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Mapping

from common.settings import setting_entries

HEADER = "X-Atto-Work-Signature"
SCHEME = "v1"
#: How far a signature's time may be from the receiver's clock by default (seconds).
DEFAULT_TOLERANCE = 300
#: The shortest per-client secret accepted (an HMAC key should not be guessable).
MIN_SECRET_LENGTH = 16


def parse_signing_keys(value: str | None) -> dict[str, str]:
    """``CALLBACK_SIGNING_KEYS`` (entries, or ``@file``) as {API key: secret}; raises ValueError."""
    secrets: dict[str, str] = {}
    for entry in setting_entries(value, "signing key"):
        parts = entry.split()
        if len(parts) != 2:
            raise ValueError("each signing key entry is '<api key> <secret>'")
        key, secret = parts
        if len(secret) < MIN_SECRET_LENGTH or not (secret.isascii() and secret.isprintable()):
            raise ValueError(f"signing secrets are at least {MIN_SECRET_LENGTH} printable ASCII "
                             "characters")
        if key in secrets:
            raise ValueError("an API key is given two signing secrets")
        secrets[key] = secret
    return secrets


class SigningSecrets:
    """Which secret signs a callback: its caller's own (by caller id), else the global one."""

    def __init__(self, default: str | None = None, per_caller: Mapping[str, str] | None = None) -> None:
        self.default = default
        self.per_caller = dict(per_caller or {})

    def for_caller(self, caller: str | None) -> str | None:
        if caller is not None and caller in self.per_caller:
            return self.per_caller[caller]
        return self.default

    def headers(self, caller: str | None, body: bytes) -> dict[str, str]:
        """The signature header of ``body`` for ``caller``'s callback; none without a secret."""
        return signature_headers(self.for_caller(caller), body)


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
