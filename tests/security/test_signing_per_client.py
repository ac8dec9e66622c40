"""Per-client signing secrets (``CALLBACK_SIGNING_KEYS``): each API key's callbacks are signed with
its own secret, the others' with ``CALLBACK_SIGNING_SECRET``.

End to end in one process as ``atto-work up`` wires it (memory broker, the real worker server on the
NumPy device), requests and callbacks over real loopback HTTP; each callback is verified as a
receiver would, with ``verify``.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from pydantic import ValidationError

from atto_work.embedded import create_stack_app
from atto_work.receiver import Callback, CallbackReceiver
from coordinator import CoordinatorSettings
from coordinator.callbacks.signing import HEADER, SigningSecrets, parse_signing_keys, verify
from messaging.memory import MemoryBroker
from solver.api import create_app as create_worker_app
from solver.settings import SolverSettings
from tests.pipeline.fakes import serve
from worker_adapter import AdapterSettings

KEY_A, KEY_B = "client-a-key-0123456789", "client-b-key-0123456789"
SECRET_A = "secret-of-client-a-0123456789"
GLOBAL = "the-global-secret-0123456789"


async def test_each_key_s_callbacks_are_signed_with_its_secret(numpy_devices) -> None:  # noqa: ANN001
    settings = CoordinatorSettings(
        messaging="memory", callback_allowed_networks="127.0.0.0/8",
        coordinator_api_keys=f"{KEY_A},{KEY_B}", callback_signing_secret=GLOBAL,
        callback_signing_keys=f"{KEY_A} {SECRET_A}")
    app = create_stack_app(settings, AdapterSettings(messaging="memory"),
                           create_worker_app(SolverSettings(), numpy_devices), MemoryBroker())
    now = datetime.now(UTC).isoformat()
    own, shared = "A1" * 32, "B2" * 32  # one hash per client, and one both ask for (joined)
    with CallbackReceiver() as receiver:
        async with serve(app) as base, httpx.AsyncClient(base_url=base, timeout=30) as client:
            async def ask(hash: str, key: str, path: str) -> None:
                answer = await client.post(f"/works/{hash}", headers={"Authorization": f"Bearer {key}"},
                                           json={"network": "LOCAL", "timestamp": now,
                                                 "callback": f"{receiver.url.rstrip('/')}/{path}"})
                assert answer.status_code == 202, answer.text

            await ask(own, KEY_A, "a")
            await ask(shared, KEY_A, "a")
            await ask(shared, KEY_B, "b")
            callbacks = await asyncio.to_thread(receiver.wait_for, 3, 60)
    for callback in callbacks:
        raw = signed_bytes(callback)
        header = callback.headers[HEADER]
        if callback.path.endswith("/a"):
            assert verify(SECRET_A, raw, header) and not verify(GLOBAL, raw, header), callback
        else:
            assert verify(GLOBAL, raw, header) and not verify(SECRET_A, raw, header), callback
    assert sorted(c.path.rsplit("/", 1)[-1] for c in callbacks) == ["a", "a", "b"]


def signed_bytes(callback: Callback) -> bytes:
    """The body bytes as the coordinator sent and signed them (compact JSON, in this order)."""
    return json.dumps(callback.body, separators=(",", ":")).encode()


def test_signing_keys_inline_and_from_a_file(tmp_path: Path) -> None:
    assert parse_signing_keys(f"{KEY_A} {SECRET_A}, {KEY_B}  other-secret-0123456789") == {
        KEY_A: SECRET_A, KEY_B: "other-secret-0123456789"}
    keys = tmp_path / "signing-keys"
    keys.write_text(f"# key secret\n{KEY_A} {SECRET_A}\n\n{KEY_B} other-secret-0123456789\n")
    assert parse_signing_keys(f"@{keys}") == {KEY_A: SECRET_A, KEY_B: "other-secret-0123456789"}
    assert parse_signing_keys("") == {}


@pytest.mark.parametrize("bad", [KEY_A, f"{KEY_A} short", f"{KEY_A} {SECRET_A} extra",
                                 f"{KEY_A} {SECRET_A},{KEY_A} other-secret-0123456789", "@/nonexistent/keys"])
def test_bad_signing_keys_are_refused(bad: str) -> None:
    with pytest.raises(ValueError):
        parse_signing_keys(bad)


def test_a_signing_key_for_an_unknown_api_key_stops_the_start() -> None:
    with pytest.raises(ValidationError, match="callback_signing_keys"):
        CoordinatorSettings(messaging="memory", coordinator_api_keys=KEY_A,
                            callback_signing_keys=f"{KEY_B} {SECRET_A}")


def test_secret_choice_falls_back_to_the_global_one() -> None:
    secrets = SigningSecrets(GLOBAL, {"caller-a": SECRET_A})
    assert secrets.for_caller("caller-a") == SECRET_A
    assert secrets.for_caller("caller-b") == GLOBAL
    assert secrets.for_caller(None) == GLOBAL
    assert SigningSecrets(None, {"caller-a": SECRET_A}).for_caller("caller-b") is None
