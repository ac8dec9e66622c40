"""Sending one callback: ``POST <callbackUrl>`` with ``{"hash", "work"}``.

``CallbackSender`` is the single place a client-chosen URL is judged and contacted, kept small so
that policy can be layered on it by subclassing: ``admit`` runs at intake, before anything is
queued (refuse a URL there and the client gets a 400); ``prepare`` runs before each delivery and
decides where the request goes and with which headers (the hook for an address policy checked
again at delivery, or a signature); ``send`` does the POST. Redirects are never
followed (a 3xx is a failure), the response body is read only up to ``MAX_RESPONSE_BYTES`` and every
phase has a timeout.
"""

from __future__ import annotations

import json

import httpx

from messaging import Retry

#: We only need the status; a few bytes of the body go into the failure message.
MAX_RESPONSE_BYTES = 1024


class CallbackFailed(Retry):
    """The callback could not be delivered (connection error, timeout, non-2xx answer, refused URL)."""


class CallbackSender:
    def __init__(self, timeout: float, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self._client = httpx.AsyncClient(
            timeout=httpx.Timeout(timeout),
            follow_redirects=False,
            transport=transport,
            trust_env=False,  # a client-chosen URL must not be routed through an ambient proxy
            limits=httpx.Limits(max_connections=256, max_keepalive_connections=64),
            headers={"User-Agent": "atto-work-coordinator"},
        )

    @staticmethod
    def body(hash: str, work: str) -> bytes:
        return json.dumps({"hash": hash, "work": work}, separators=(",", ":")).encode()

    async def admit(self, url: str) -> None:
        """Called at intake with an absolute http(s) URL; raise ``ValueError`` to refuse it (400)."""

    async def prepare(self, url: str, body: bytes) -> tuple[str, dict[str, str]]:
        """The URL to POST to and the headers to send; raise ``CallbackFailed`` to refuse."""
        return url, {"Content-Type": "application/json"}

    async def send(self, url: str, hash: str, work: str) -> None:
        """POST the work to ``url``; return on a 2xx, raise ``CallbackFailed`` otherwise."""
        body = self.body(hash, work)
        target, headers = await self.prepare(url, body)
        try:
            async with self._client.stream("POST", target, content=body, headers=headers) as response:
                if 200 <= response.status_code < 300:
                    return
                snippet = await _read_some(response)
        except httpx.HTTPError as exc:
            raise CallbackFailed(f"{type(exc).__name__}: {exc}".rstrip(": ")) from None
        raise CallbackFailed(f"answered {response.status_code} {snippet!r}")

    async def close(self) -> None:
        await self._client.aclose()


async def _read_some(response: httpx.Response) -> str:
    data = b""
    try:
        async for chunk in response.aiter_raw():  # raw: a compressed body is not inflated
            data += chunk
            if len(data) >= MAX_RESPONSE_BYTES:
                break
    except httpx.StreamConsumed:  # a transport that answered with a body already in memory
        data = response.content
    return data[:MAX_RESPONSE_BYTES].decode("utf-8", "replace")
