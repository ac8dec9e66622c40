"""A nacked message is logged once: briefly for an expected ``Redeliver``, with a traceback otherwise;
and it comes back after a delay that grows with its age, unless it was handed back without failing."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from messaging import Redeliver
from messaging.retry import log_handler_failure, redelivery_delay

log = logging.getLogger("test.retry")


def test_expected_failure_is_one_short_line(caplog) -> None:
    with caplog.at_level(logging.INFO, logger="test.retry"):
        log_handler_failure(log, "7", Redeliver("callback answered 503"), 4.0)
    [record] = caplog.records
    assert record.levelno == logging.INFO and record.exc_info is None
    assert record.getMessage() == "message 7 will be redelivered in 4 s: callback answered 503"


def test_surprise_keeps_its_traceback(caplog) -> None:
    try:
        raise KeyError("boom")
    except KeyError as exc:
        with caplog.at_level(logging.INFO, logger="test.retry"):
            log_handler_failure(log, "8", exc, 1.0)
    [record] = caplog.records
    assert record.levelno == logging.WARNING and record.exc_info is not None


class _HandedBack(Redeliver):
    prompt = True


def test_a_failure_waits_as_long_as_its_message_has_existed_within_the_bounds() -> None:
    now = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
    aged = now - timedelta(seconds=40)
    assert redelivery_delay(aged, 1.0, 300.0, now=now, exc=Redeliver("503")) == 40.0
    assert redelivery_delay(aged, 1.0, 30.0, now=now, exc=KeyError("boom")) == 30.0
    assert redelivery_delay(now, 1.0, 300.0, now=now) == 1.0


def test_a_message_handed_back_without_failing_comes_back_after_the_shortest_delay() -> None:
    now = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
    aged = now - timedelta(seconds=40)
    assert redelivery_delay(aged, 1.0, 300.0, now=now, exc=_HandedBack("no free device")) == 1.0
