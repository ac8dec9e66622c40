"""The queue messages. The two of the Kotlin reference keep its exact JSON (docs/spec.md, Queue
messages): WorkRequested ``{"callbackUrl", "hash", "threshold"}``; WorkGenerated adds ``"work"``. The
threshold is written as a bare JSON integer (values above 2^53 occur) and read from a number or a
decimal string, so our coordinator and adapter can be mixed with the reference ones. What the
reference lacks travels beside its JSON: a request's deadline as the message attribute ``deadline``
(epoch seconds), which a reference adapter ignores. WorkCancelled ``{"hash"}`` is ours alone, on a
topic of its own.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

from messaging.broker import Message
from messaging.errors import MessageError
from work import WorkError, format_target, format_work, parse_target, parse_threshold, parse_work


def _load(data: bytes, kind: str) -> dict[str, Any]:
    try:
        body = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MessageError(f"{kind}: not UTF-8 JSON ({exc})") from None
    if not isinstance(body, dict):
        raise MessageError(f"{kind}: expected a JSON object")
    return body


def _field(body: dict[str, Any], name: str, kind: str) -> Any:
    if name not in body:
        raise MessageError(f"{kind}: missing field {name!r}")
    return body[name]


def _callback(body: dict[str, Any], kind: str) -> str:
    url = _field(body, "callbackUrl", kind)
    if not isinstance(url, str) or not url:
        raise MessageError(f"{kind}: callbackUrl must be a non-empty string")
    return url


@contextmanager
def _rules(kind: str) -> Iterator[None]:
    """Report a field the work rules refuse as a ``MessageError`` naming the message kind."""
    try:
        yield
    except WorkError as exc:
        raise MessageError(f"{kind}: {exc}") from None


def _request_fields(body: dict[str, Any], kind: str) -> tuple[str, bytes, int]:
    """callbackUrl, hash and threshold: the fields both messages carry."""
    return (
        _callback(body, kind),
        parse_target(_field(body, "hash", kind)),
        parse_threshold(_field(body, "threshold", kind)),
    )


def _dump(body: dict[str, Any]) -> bytes:
    return json.dumps(body, separators=(",", ":")).encode()


@dataclass(frozen=True)
class WorkRequested:
    callback_url: str
    target: bytes
    threshold: int

    @property
    def hash(self) -> str:
        return format_target(self.target)

    def to_dict(self) -> dict[str, Any]:
        return {"callbackUrl": self.callback_url, "hash": self.hash, "threshold": self.threshold}

    def to_json(self) -> bytes:
        return _dump(self.to_dict())

    @classmethod
    def from_json(cls, data: bytes) -> WorkRequested:
        kind = "WorkRequested"
        body = _load(data, kind)
        with _rules(kind):
            return cls(*_request_fields(body, kind))


@dataclass(frozen=True)
class WorkGenerated:
    callback_url: str
    target: bytes
    threshold: int
    work: bytes

    @property
    def hash(self) -> str:
        return format_target(self.target)

    @classmethod
    def answering(cls, request: WorkRequested, work: bytes) -> WorkGenerated:
        return cls(request.callback_url, request.target, request.threshold, work)

    def request(self) -> WorkRequested:
        """The request this answers (to queue it again when the work turns out invalid)."""
        return WorkRequested(self.callback_url, self.target, self.threshold)

    def to_json(self) -> bytes:
        return _dump({**self.request().to_dict(), "work": format_work(self.work)})

    @classmethod
    def from_json(cls, data: bytes) -> WorkGenerated:
        kind = "WorkGenerated"
        body = _load(data, kind)
        with _rules(kind):
            return cls(*_request_fields(body, kind), parse_work(_field(body, "work", kind)))


#: Message attribute of a WorkRequested: its deadline, epoch seconds (a decimal string).
DEADLINE_ATTRIBUTE = "deadline"


def deadline_attributes(deadline: float) -> dict[str, str]:
    return {DEADLINE_ATTRIBUTE: f"{deadline:.3f}"}


def deadline_of(message: Message) -> float | None:
    """The deadline a message carries, or None (a reference coordinator's, or an unreadable one)."""
    value = message.attributes.get(DEADLINE_ATTRIBUTE)
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


@dataclass(frozen=True)
class WorkCancelled:
    """Nobody waits for ``target`` any more: adapters drop its queued requests and stop its search."""

    target: bytes

    @property
    def hash(self) -> str:
        return format_target(self.target)

    def to_json(self) -> bytes:
        return _dump({"hash": self.hash})

    @classmethod
    def from_json(cls, data: bytes) -> WorkCancelled:
        kind = "WorkCancelled"
        body = _load(data, kind)
        with _rules(kind):
            return cls(parse_target(_field(body, "hash", kind)))


M = TypeVar("M", WorkRequested, WorkGenerated, WorkCancelled)
log = logging.getLogger(__name__)


def decode(kind: type[M], message: Message) -> M | None:
    """``message`` read as ``kind``, or ``None`` after logging it when it is malformed.

    A malformed message is to be acked and dropped by the caller: redelivering it cannot help.
    """
    try:
        return kind.from_json(message.data)
    except MessageError as exc:
        log.error("malformed message dropped: %s", exc, extra={"message_id": message.message_id})
        return None

