"""Callback signatures: the header format, verification, tolerance and tampering."""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from pathlib import Path

from coordinator.callbacks.signing import HEADER, sign, signature_headers, verify

SECRET = "s3cret-for-tests"
BODY = b'{"hash":"' + b"A" * 64 + b'","work":"2D7E000000000000"}'


def test_header_is_t_and_hex_hmac_of_t_dot_body() -> None:
    value = sign(SECRET, BODY, timestamp=1_790_000_000)
    match = re.fullmatch(r"t=(\d+),v1=([0-9a-f]{64})", value)
    assert match and match.group(1) == "1790000000"
    expected = hmac.new(SECRET.encode(), b"1790000000." + BODY, hashlib.sha256).hexdigest()
    assert match.group(2) == expected


def test_verify_accepts_a_fresh_signature_and_refuses_tampering() -> None:
    value = sign(SECRET, BODY, timestamp=1000)
    assert verify(SECRET, BODY, value, now=1000)
    t, mac = value.split(",")
    assert verify(SECRET, BODY, f"{t},{mac.upper().replace('V1=', 'v1=')}", now=1000)  # hex case
    assert not verify(SECRET, BODY + b" ", value, now=1000)
    assert not verify("other-secret", BODY, value, now=1000)
    assert not verify(SECRET, BODY, value.replace("t=1000", "t=1001"), now=1000)
    for broken in [None, "", "t=1000", "v1=abc", "t=x,v1=" + "0" * 64, "t=1000,v1=é"]:
        assert not verify(SECRET, BODY, broken, now=1000)


def test_verify_enforces_the_tolerance_window() -> None:
    value = sign(SECRET, BODY, timestamp=1000)
    assert verify(SECRET, BODY, value, tolerance=300, now=1300)
    assert not verify(SECRET, BODY, value, tolerance=300, now=1301)
    assert not verify(SECRET, BODY, value, tolerance=300, now=699)


def test_several_v1_entries_allow_rotation() -> None:
    old = sign("old-secret", BODY, timestamp=1000).split(",")[1]
    new = sign(SECRET, BODY, timestamp=1000)
    assert verify(SECRET, BODY, f"{new},{old}", now=1000)
    assert verify("old-secret", BODY, f"{new},{old}", now=1000)


def test_headers_only_when_a_secret_is_set() -> None:
    assert signature_headers(None, BODY) == {}
    assert signature_headers("", BODY) == {}
    assert verify(SECRET, BODY, signature_headers(SECRET, BODY)[HEADER])


def test_the_docs_verification_snippet_accepts_ours_and_refuses_tampering() -> None:
    """The client code in docs/api.md's "Verifying a signed callback", run as a client would paste it."""
    from pathlib import Path

    text = (Path(__file__).resolve().parents[2] / "docs" / "api.md").read_text()
    section = text.split("### Verifying a signed callback", 1)[1]
    snippet = section.split("```python\n", 1)[1].split("```", 1)[0]
    namespace: dict[str, object] = {}
    exec(compile(snippet, "docs/api.md", "exec"), namespace)  # noqa: S102 - our own docs
    client_verify = namespace["verify"]
    header = sign(SECRET, BODY)
    assert client_verify(SECRET, BODY, header)
    assert not client_verify(SECRET, BODY.replace(b"2D7E", b"2D7F"), header)
    assert not client_verify("wrong", BODY, header)
    assert not client_verify(SECRET, BODY, sign(SECRET, BODY, timestamp=1_000))


def test_the_receiver_code_in_the_api_docs_verifies_and_refuses_stale_signatures() -> None:
    # The docs' verify() is what clients copy: it must accept ours and refuse replays and forgeries.
    text = (Path(__file__).resolve().parents[2] / "docs" / "api.md").read_text()
    section = text[text.index("### Verifying a signed callback"):]
    start = section.index("```python") + len("```python")
    code = section[start:section.index("```", start)]
    namespace: dict[str, object] = {}
    exec(compile(code, "docs/api.md", "exec"), namespace)  # noqa: S102 - our own documentation
    docs_verify = namespace["verify"]
    now = int(time.time())
    assert docs_verify(SECRET, BODY, sign(SECRET, BODY, timestamp=now))  # type: ignore[operator]
    assert docs_verify(SECRET, BODY, sign(SECRET, BODY, timestamp=now - 60))  # type: ignore[operator]
    assert not docs_verify(SECRET, BODY, sign(SECRET, BODY, timestamp=now - 600))  # type: ignore[operator]
    assert not docs_verify(SECRET, BODY, sign(SECRET, BODY, timestamp=now + 600))  # type: ignore[operator]
    assert not docs_verify(SECRET, BODY + b" ", sign(SECRET, BODY, timestamp=now))  # type: ignore[operator]
    assert not docs_verify("other-secret", BODY, sign(SECRET, BODY, timestamp=now))  # type: ignore[operator]
