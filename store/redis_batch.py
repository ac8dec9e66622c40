"""Lua script calls sent in batches: what arrives while one batch is on the wire goes in the next.

Each Redis round trip costs this process two system calls and a wake-up of the event loop, the
larger part of a store call's CPU (``bench/store.py``). Under load, many intake requests wait at
once; sending their scripts as one pipeline (``EVALSHA`` each, no MULTI: every script is atomic on
its own) makes that cost per batch instead of per request. Alone, a call goes out at once.

A script Redis does not know (after a restart) is loaded and only the calls that failed with
NOSCRIPT are sent again: the others already ran.
"""

from __future__ import annotations

import asyncio
import hashlib
from typing import Any

from redis import asyncio as aioredis
from redis.exceptions import NoScriptError

_Call = tuple[str, list[Any], list[Any], asyncio.Future[Any]]


class ScriptBatcher:
    def __init__(self, redis: aioredis.Redis, scripts: dict[str, str]) -> None:
        self._redis = redis
        self._sources = scripts
        self._shas = {name: hashlib.sha1(source.encode()).hexdigest() for name, source in scripts.items()}
        self._waiting: list[_Call] = []
        self._sending: asyncio.Task[None] | None = None

    async def load(self) -> None:
        for source in self._sources.values():
            await self._redis.script_load(source)

    async def call(self, name: str, keys: list[Any], args: list[Any]) -> Any:
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._waiting.append((name, keys, args, future))
        if self._sending is None:
            self._sending = asyncio.create_task(self._send_while_waiting())
        return await future

    async def close(self) -> None:
        if self._sending is not None:
            await asyncio.gather(self._sending, return_exceptions=True)

    async def _send_while_waiting(self) -> None:
        try:
            while self._waiting:
                batch, self._waiting = self._waiting, []
                await self._send(batch)
        finally:
            self._sending = None

    async def _send(self, batch: list[_Call]) -> None:
        try:
            results = await self._execute(batch)
            missing = [i for i, result in enumerate(results) if isinstance(result, NoScriptError)]
            if missing:
                await self.load()
                for i, result in zip(missing, await self._execute([batch[i] for i in missing]), strict=True):
                    results[i] = result
        except Exception as exc:  # the connection failed: every call of the batch gets the error
            results = [exc] * len(batch)
        for (*_, future), result in zip(batch, results, strict=True):
            if future.done():  # its caller was cancelled
                continue
            if isinstance(result, Exception):
                future.set_exception(result)
            else:
                future.set_result(result)

    async def _execute(self, batch: list[_Call]) -> list[Any]:
        async with self._redis.pipeline(transaction=False) as pipe:
            for name, keys, args, _ in batch:
                pipe.evalsha(self._shas[name], len(keys), *keys, *args)
            return await pipe.execute(raise_on_error=False)
