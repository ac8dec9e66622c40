"""Sending one callback: ``POST <callbackUrl>`` with ``{"hash", "work"}`` (or, with
``CALLBACK_FORMAT=work``, the bare work as text, as the Kotlin reference coordinator sends it),
checked and signed.

``CallbackSender`` is the single place a client-chosen URL is judged and contacted. ``admit`` runs at
intake, before anything is queued (a refused URL is a 400 there). ``send`` runs at delivery: the URL
form (and an IP literal) is checked again, the addresses of a name inside the connection
(``coordinator.callbacks.transport``), and with a secret the body is signed. Redirects are never
followed (a 3xx is a failure), at most ``MAX_RESPONSE_BYTES`` of the answer are read, and the
whole exchange (waiting for a connection, connecting, sending, an answer's head dripping in) has
one timeout. Each origin gets its share: ``per_origin`` connections and four times as many
callbacks in progress (``coordinator.callbacks.origins``); past that a callback fails at once with
``CallbackBusy``. A small 2xx answer is read to its end, so its connection goes back to the
pool and the next callback to that host reuses it (no new TCP or TLS handshake).
"""

from __future__ import annotations

import json
import ssl
from typing import Literal

import aiohttp

from coordinator.callbacks.errors import CallbackFailed
from coordinator.callbacks.origins import OriginGate
from coordinator.callbacks.policy import CallbackPolicy
from coordinator.callbacks.signing import SigningSecrets
from coordinator.callbacks.transport import open_session

#: We only need the status; a few bytes of the body go into the failure message. A 2xx answer
#: longer than this is not read to its end, and its connection is closed rather than reused.
MAX_RESPONSE_BYTES = 1024
#: Callbacks in progress per origin for each of its connections: a burst to one fast receiver
#: waits briefly for a pooled connection instead of going back to the queue.
CALLBACKS_PER_CONNECTION = 4


class CallbackSender:
    def __init__(self, timeout: float, policy: CallbackPolicy | None = None,
                 secret: str | SigningSecrets | None = None, verify: ssl.SSLContext | bool = True,
                 per_origin: int = 8, format: Literal["json", "work"] = "json") -> None:
        """``per_origin``: connections at most to one origin (scheme, host, port)."""
        self.policy = policy if policy is not None else CallbackPolicy()
        self.format = format
        self._timeout = timeout
        self._per_origin = per_origin
        self._gate = OriginGate(CALLBACKS_PER_CONNECTION * per_origin)
        self._signing = secret if isinstance(secret, SigningSecrets) else SigningSecrets(secret)
        self._verify = verify
        self._session: aiohttp.ClientSession | None = None

    def body(self, hash: str, work: str) -> tuple[bytes, str]:
        """The body in ``CALLBACK_FORMAT`` and its Content-Type."""
        if self.format == "work":
            return work.encode(), "text/plain; charset=utf-8"
        return json.dumps({"hash": hash, "work": work}, separators=(",", ":")).encode(), "application/json"

    async def admit(self, url: str) -> None:
        """At intake: the form and every address the host resolves to (``CallbackError`` -> 400)."""
        await self.policy.check(url)

    async def send(self, url: str, hash: str, work: str, caller: str | None = None) -> None:
        """POST the work to ``url``, signed with ``caller``'s secret (``signing``); return on a 2xx,
        raise a ``CallbackError`` otherwise."""
        target = self.policy.check_url(url)
        self.policy.check_literal(target.raw_host or "")  # aiohttp does not resolve IP literals
        body, content_type = self.body(hash, work)
        headers = {"Content-Type": content_type, **self._signing.headers(caller, body)}
        if self._session is None:  # made here, inside the event loop that will use it
            self._session = open_session(self.policy, self._timeout, self._per_origin, self._verify)
        try:
            with self._gate.enter(target):
                async with self._session.post(target, data=body, headers=headers,
                                              allow_redirects=False) as response:
                    answer = await _read_some(response.content)
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise CallbackFailed(f"{type(exc).__name__}: {exc}".rstrip(": ")) from None
        if not 200 <= response.status < 300:
            raise CallbackFailed(f"answered {response.status} {answer.decode('utf-8', 'replace')!r}")

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
        await self.policy.close()


async def _read_some(content: aiohttp.StreamReader) -> bytes:
    """Up to ``MAX_RESPONSE_BYTES`` of a body: all of a small one, so its connection is reusable."""
    data = b""
    while len(data) < MAX_RESPONSE_BYTES:
        chunk = await content.read(MAX_RESPONSE_BYTES - len(data))
        if not chunk:
            break
        data += chunk
    return data
