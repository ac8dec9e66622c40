"""``atto-work up`` on loopback opens loopback to callbacks by default, says so at start-up, and can
be closed; listening elsewhere it opens nothing unless configured."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from atto_work.commands.up import LOOPBACK_NETWORKS, default_allowed_networks
from harness.emulator import free_port
from harness.stack import Component, child_env

REQUEST = {"network": "LOCAL", "timestamp": "2026-06-01T00:00:00Z", "callback": "http://127.0.0.1:9/cb"}


def up(tmp_path: Path, **env: str) -> Component:
    return Component("up", ["up"], free_port(), child_env({"SOLVER_BACKEND": "numpy", **env}), tmp_path)


def test_up_allows_loopback_callbacks_and_says_so(tmp_path: Path) -> None:
    service = up(tmp_path).start()
    try:
        answer = httpx.post(f"{service.url}/works/{'AB' * 32}", json=REQUEST, trust_env=False)
        metadata = httpx.post(f"{service.url}/works/{'AB' * 32}", trust_env=False,
                              json={**REQUEST, "callback": "http://169.254.169.254/latest/meta-data/"})
    finally:
        service.terminate()
    assert answer.status_code == 202, answer.text
    assert metadata.status_code == 400 and "link-local" in metadata.json()["error"]
    assert "non-public networks: 127.0.0.0/8,::1/128 (CALLBACK_ALLOWED_NETWORKS" in service.log()


def test_up_with_an_empty_allow_list_refuses_loopback(tmp_path: Path) -> None:
    service = up(tmp_path, CALLBACK_ALLOWED_NETWORKS="").start()
    try:
        answer = httpx.post(f"{service.url}/works/{'AB' * 32}", json=REQUEST, trust_env=False)
    finally:
        service.terminate()
    assert answer.status_code == 400 and "loopback" in answer.json()["error"], answer.text
    assert "non-public networks: none" in service.log()


@pytest.mark.parametrize(("host", "opened"), [
    ("127.0.0.1", LOOPBACK_NETWORKS), ("localhost", LOOPBACK_NETWORKS), ("::1", LOOPBACK_NETWORKS),
    ("0.0.0.0", ""), ("::", ""), ("10.1.2.3", ""), ("atto.example", ""),
])
def test_up_opens_loopback_only_while_it_listens_on_loopback(host: str, opened: str) -> None:
    # A dev machine's `atto-work up` (127.0.0.1) calls back to a local receiver; `up --host 0.0.0.0`
    # (the image, a server) would let a callback POST to this machine's own endpoints.
    assert default_allowed_networks(host) == opened
