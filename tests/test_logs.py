"""One structured line per event: context fields kept, uvicorn's coloured copy dropped."""

from __future__ import annotations

import json
import logging

from common.logs import JsonFormatter, TextFormatter


def record(**extra: object) -> logging.LogRecord:
    rec = logging.LogRecord("coordinator", logging.INFO, __file__, 1, "callback %s", ("sent",), None)
    for key, value in extra.items():
        setattr(rec, key, value)
    return rec


def test_json_line_carries_context_and_drops_color_message() -> None:
    line = json.loads(JsonFormatter().format(record(hash="AB" * 32, color_message="\x1b[36mx")))
    assert line["message"] == "callback sent"
    assert line["level"] == "info" and line["logger"] == "coordinator"
    assert line["hash"] == "AB" * 32
    assert "color_message" not in line


def test_text_line_appends_context() -> None:
    text = TextFormatter("%(levelname)s %(message)s").format(record(hash="CD", color_message="x"))
    assert text == "INFO callback sent hash=CD"
