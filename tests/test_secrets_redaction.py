"""The redaction safety net: log records, JSON/text log lines and raw stream writes are masked."""

from __future__ import annotations

import io
import json
import logging

from bc2people.pipelines.output import (
    JsonFormatter,
    RedactingFilter,
    RedactingStream,
    Redactor,
    TextFormatter,
    format_run_summary,
)

TOKEN = "tok-redact-AbCdEf123456"
KEY = "key-redact-ZyXwVu987654"


def test_redactor_masks_every_secret_and_ignores_tiny_values() -> None:
    r = Redactor([TOKEN, KEY, "", "ab"])
    text = f"Authorization: App {KEY}; X-Auth-Token={TOKEN}; about"
    assert r.redact(text) == "Authorization: App ***; X-Auth-Token=***; about"
    assert TOKEN not in repr(r) and "2 secrets" in repr(r)


def test_logging_filter_masks_message_args_and_exception_text() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(message)s"))
    handler.addFilter(RedactingFilter(Redactor([TOKEN])))
    logger = logging.getLogger("bc2people.test_redaction")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("calling with %s", TOKEN)
        try:
            raise RuntimeError(f"request failed with token {TOKEN}")
        except RuntimeError:
            logger.exception("boom")
    finally:
        logger.removeHandler(handler)
    out = stream.getvalue()
    assert TOKEN not in out
    assert out.count("***") == 2 and "RuntimeError" in out


def test_stream_wrapper_masks_writes() -> None:
    raw = io.StringIO()
    s = RedactingStream(raw, Redactor([KEY]))
    s.write(f"error: key {KEY} refused\n")
    s.writelines([f"{KEY}\n"])
    assert raw.getvalue() == "error: key *** refused\n***\n"


def test_formatters_emit_one_line_each_with_fields() -> None:
    record = logging.LogRecord("bc2people", logging.INFO, __file__, 1, "run finished", None, None)
    record.fields = {"run_id": "r1", "sent": 3, "note": "two words"}
    text = TextFormatter().format(record)
    assert text.endswith('INFO    run finished run_id=r1 sent=3 note="two words"')
    doc = json.loads(JsonFormatter().format(record))
    assert doc["message"] == "run finished" and doc["sent"] == 3 and doc["level"] == "info"


def test_run_summary_lists_every_count_and_the_threshold() -> None:
    counts = {"extracted": 1200, "staged": 5000, "mapped": 1200, "sent": 40, "created": 30, "updated": 8,
              "rejected_by_people": 2}
    text = format_run_summary({"run_id": "r1", "status": "rejected_threshold", "duration_s": 2.5, "counts": counts,
                               "rejected_pct": 0.1667, "max_rejected_pct": 0.1, "pages": 5,
                               "error": "0.17% rejected"})
    assert "r1" in text and "rejected_threshold" in text and "1,200" in text and "5 pages" in text
    assert "rejected by People" in text and "limit 0.1%) → over the limit: exit code 3" in text
    assert "note:" not in text  # the threshold line already says it
    failed = format_run_summary({"run_id": "r2", "status": "failed", "counts": {}, "error": "HTTP 500"})
    assert "error: HTTP 500" in failed
