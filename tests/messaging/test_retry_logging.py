"""A nacked message is logged once: briefly for an expected ``Redeliver``, with a traceback otherwise."""

from __future__ import annotations

import logging

from messaging import Redeliver
from messaging.retry import log_handler_failure

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
