"""The queue messages in the Kotlin reference's exact JSON (docs/spec.md, Queue messages)."""

from __future__ import annotations

import json

import pytest

from messaging import MessageError, WorkGenerated, WorkRequested

HASH = "0123456789ABCDEF" * 4
BIG = 2**64 - 1  # above 2^53: must stay a bare, exact JSON integer


def test_work_requested_reference_json() -> None:
    message = WorkRequested("http://cb.example/x", bytes.fromhex(HASH), BIG)
    assert message.to_json() == (
        b'{"callbackUrl":"http://cb.example/x","hash":"' + HASH.encode()
        + b'","threshold":18446744073709551615}'
    )
    assert WorkRequested.from_json(message.to_json()) == message


def test_work_generated_reference_json() -> None:
    request = WorkRequested("http://cb.example/x", bytes.fromhex(HASH), BIG)
    message = WorkGenerated.answering(request, bytes.fromhex("00000000000000AB"))
    assert json.loads(message.to_json()) == {
        "callbackUrl": "http://cb.example/x", "hash": HASH, "threshold": BIG, "work": "00000000000000AB",
    }
    assert message.to_json() == (
        b'{"callbackUrl":"http://cb.example/x","hash":"' + HASH.encode()
        + b'","threshold":18446744073709551615,"work":"00000000000000AB"}'
    )
    assert WorkGenerated.from_json(message.to_json()) == message
    assert message.request() == request


@pytest.mark.parametrize("threshold", [b"18446744073709551615", b'"18446744073709551615"'])
def test_threshold_read_from_number_or_decimal_string(threshold: bytes) -> None:
    data = b'{"callbackUrl":"http://a/b","hash":"' + HASH.lower().encode() + b'","threshold":'
    data += threshold + b"}"
    message = WorkRequested.from_json(data)
    assert message.threshold == BIG
    assert message.hash == HASH


@pytest.mark.parametrize("data", [
    b"not json",
    b"\xff\xfe",
    b"[1,2]",
    b'{"hash":"' + HASH.encode() + b'","threshold":1}',
    b'{"callbackUrl":"","hash":"' + HASH.encode() + b'","threshold":1}',
    b'{"callbackUrl":"http://a/b","hash":"XYZ","threshold":1}',
    b'{"callbackUrl":"http://a/b","hash":"' + HASH.encode() + b'"}',
    b'{"callbackUrl":"http://a/b","hash":"' + HASH.encode() + b'","threshold":"twelve"}',
    b'{"callbackUrl":"http://a/b","hash":"' + HASH.encode() + b'","threshold":-1}',
    b'{"callbackUrl":"http://a/b","hash":"' + HASH.encode() + b'","threshold":true}',
    b'{"callbackUrl":"http://a/b","hash":"' + HASH.encode() + b'","threshold":1.5}',
    b'{"callbackUrl":7,"hash":"' + HASH.encode() + b'","threshold":1}',
    b'{"callbackUrl":"http://a/b","hash":"' + HASH.encode() + b'","threshold":18446744073709551616}',
])
def test_malformed_work_requested_is_rejected(data: bytes) -> None:
    with pytest.raises(MessageError):
        WorkRequested.from_json(data)


@pytest.mark.parametrize("work", ['"00AB"', '"ZZZZZZZZZZZZZZZZ"', "123", None])
def test_malformed_work_generated_is_rejected(work: str | None) -> None:
    body = '{"callbackUrl":"http://a/b","hash":"' + HASH + '","threshold":1'
    body += "}" if work is None else f',"work":{work}}}'
    with pytest.raises(MessageError):
        WorkGenerated.from_json(body.encode())
