"""What the job prints: log lines (text or JSON), terminal progress, summary tables, redaction.

Secrets are never formatted into output in the first place; :func:`install_redaction` is the
safety net behind that rule: every log record and every write to stdout/stderr has the
configured secret values replaced by ``***``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
import threading
import time
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any, TextIO

LOGGER_NAME = "bc2people"
MASK = "***"
MIN_SECRET_LEN = 4  # shorter values would mask ordinary words; no real token is that short

log = logging.getLogger(LOGGER_NAME)


# --------------------------------------------------------------------------- redaction


class Redactor:
    """Replaces known secret values in text with ``***``."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets: list[str] = []
        self.add(secrets)

    def add(self, secrets: Iterable[str]) -> None:
        """Add secret values (short or empty ones are ignored)."""
        merged = set(self._secrets) | {s for s in secrets if s and len(s) >= MIN_SECRET_LEN}
        self._secrets = sorted(merged, key=len, reverse=True)

    def __bool__(self) -> bool:
        return bool(self._secrets)

    def __repr__(self) -> str:  # never show the values
        return f"Redactor({len(self._secrets)} secrets)"

    def redact(self, text: str) -> str:
        """``text`` with every secret value masked."""
        for s in self._secrets:
            if s in text:
                text = text.replace(s, MASK)
        return text


class RedactingFilter(logging.Filter):
    """A logging filter that masks secrets in the formatted message and exception text."""

    def __init__(self, redactor: Redactor) -> None:
        super().__init__()
        self.redactor = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        if self.redactor:
            try:
                message = record.getMessage()
            except Exception:  # noqa: BLE001 - a broken format string must not hide the record
                message = str(record.msg)
            record.msg, record.args = self.redactor.redact(message), None
            if record.exc_info and not record.exc_text:
                record.exc_text = logging.Formatter().formatException(record.exc_info)
            if record.exc_text:
                record.exc_text = self.redactor.redact(record.exc_text)
        return True


class RedactingStream:
    """A text stream wrapper that masks secrets in everything written through it."""

    def __init__(self, stream: TextIO, redactor: Redactor) -> None:
        self._stream = stream
        self._redactor = redactor

    def write(self, text: str) -> int:
        self._stream.write(self._redactor.redact(text))
        return len(text)

    def writelines(self, lines: Iterable[str]) -> None:
        for line in lines:
            self.write(line)

    @property
    def unredacted(self) -> TextIO:
        """The wrapped stream, for output whose job is to show a value (``bc2people sandbox``'s exports)."""
        return self._stream

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


_REDACTOR = Redactor()
_FILTER = RedactingFilter(_REDACTOR)


def redactor() -> Redactor:
    """The process-wide redactor that :func:`install_redaction` feeds."""
    return _REDACTOR


def redact(text: str) -> str:
    """Mask every secret known to the process-wide redactor."""
    return _REDACTOR.redact(text)


def install_redaction(secrets: Iterable[str] = (), *, from_dlt: bool = True) -> Redactor:
    """Mask ``secrets`` (and the configured token and key) in all logging and in stdout/stderr.

    Idempotent; later calls add values. Covers the CLI's own error printing, dlt's log
    handlers and any stray ``print``. ``from_dlt=False`` reads only environment variables
    (no dlt import: cheap enough for ``--help``); the default also asks dlt's providers
    (``.dlt/secrets.toml``, vaults).
    """
    from bc2people.pipelines.config import SECRET_ENV_VARS, secret_values

    _REDACTOR.add(secrets)
    _REDACTOR.add(os.environ.get(name, "").strip() for name in SECRET_ENV_VARS)
    if from_dlt:
        _REDACTOR.add(secret_values())
    for name in ("", LOGGER_NAME, "dlt"):
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
        for handler in logger.handlers:
            if _FILTER not in handler.filters:
                handler.addFilter(_FILTER)
    if not isinstance(sys.stdout, RedactingStream):
        sys.stdout = RedactingStream(sys.stdout, _REDACTOR)  # type: ignore[assignment]
    if not isinstance(sys.stderr, RedactingStream):
        sys.stderr = RedactingStream(sys.stderr, _REDACTOR)  # type: ignore[assignment]
    return _REDACTOR


# --------------------------------------------------------------------------- logging


class TextFormatter(logging.Formatter):
    """``2026-11-28T01:02:03Z INFO  message  key=value ...``"""

    def format(self, record: logging.LogRecord) -> str:
        ts = datetime.fromtimestamp(record.created, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        fields = getattr(record, "fields", None) or {}
        extra = "".join(f" {k}={_fmt_field(v)}" for k, v in fields.items())
        line = f"{ts} {record.levelname:<7} {record.getMessage()}{extra}"
        if record.exc_info or record.exc_text:
            line += "\n" + (record.exc_text or self.formatException(record.exc_info))  # type: ignore[arg-type]
        return _REDACTOR.redact(line)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, message, and the record's fields."""

    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        doc.update(getattr(record, "fields", None) or {})
        if record.exc_info:
            doc["error"] = self.formatException(record.exc_info)
        return _REDACTOR.redact(json.dumps(doc, default=str, ensure_ascii=False))


def _fmt_field(value: Any) -> str:
    text = str(value)
    return json.dumps(text) if (" " in text or not text) else text


def setup_logging(log_format: str = "text", *, stream: TextIO | None = None, level: int = logging.INFO) -> None:
    """Send the job's log (and dlt's warnings) to ``stream`` (stderr) as text or JSON lines."""
    if log_format not in ("text", "json"):
        raise ValueError(f"unknown log format {log_format!r} (text or json)")
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    handler.addFilter(_FILTER)
    for name, lvl in ((LOGGER_NAME, level), ("dlt", logging.WARNING)):
        logger = logging.getLogger(name)
        for old in list(logger.handlers):
            if getattr(old, "_bc2people", False):
                logger.removeHandler(old)
        handler_copy: logging.Handler = handler if name == LOGGER_NAME else _clone(handler)
        setattr(handler_copy, "_bc2people", True)  # noqa: B010 - marks our own handlers for replacement
        logger.addHandler(handler_copy)
        logger.setLevel(lvl)
        logger.propagate = False


def _clone(handler: logging.StreamHandler) -> logging.StreamHandler:  # type: ignore[type-arg]
    twin = logging.StreamHandler(handler.stream)
    twin.setFormatter(handler.formatter)
    twin.addFilter(_FILTER)
    return twin


def event(message: str, level: int = logging.INFO, **fields: Any) -> None:
    """Log one line with structured fields (shown as key=value in text, keys in JSON).

    A live progress line is cleared first (and redrawn on its next update), so log lines
    never land in the middle of it.
    """
    live = _LIVE[0]
    if live is not None and log.isEnabledFor(level):
        live.clear_line()
    log.log(level, message, extra={"fields": fields})


_LIVE: list[Progress | None] = [None]  # the progress display currently drawing, if any


# --------------------------------------------------------------------------- progress


class Progress:
    """Live progress of a run: one updating line on a terminal, periodic log lines otherwise.

    Callers report with ``progress(phase, **counters)`` (or one dict with a ``phase`` key), e.g. ``progress("extract",
    records=500, pages=2)`` or ``progress("push", records=1000, batches=1, total=5000,
    total_batches=5)``. Counters are cumulative for the phase. ``done(phase)`` closes it.
    """

    LOG_EVERY_S = 10.0
    UNITS = {"extract": "customers", "sweep": "ids", "map": "customers", "push": "persons"}
    DRAW_EVERY_S = 0.1

    def __init__(self, *, live: bool, stream: TextIO | None = None, run_id: str | None = None) -> None:
        self.live = live
        self.stream = stream or sys.stderr
        self.run_id = run_id
        self._lock = threading.Lock()
        self._phase: str | None = None
        self._started = 0.0
        self._counters: dict[str, Any] = {}
        self._last_draw = 0.0
        self._last_log = 0.0
        self._line_len = 0
        if live:
            _LIVE[0] = self

    def __call__(self, phase: str | dict[str, Any], **counters: Any) -> None:
        """Report counters for a phase; also accepts one dict holding ``phase`` and the counters."""
        if isinstance(phase, dict):
            counters = {**phase, **counters}
            phase = str(counters.pop("phase", "progress"))
        with contextlib.suppress(Exception):  # a display problem must never fail a run
            self._report(str(phase), counters)

    def clear_line(self) -> None:
        """Erase the live line (a log line is about to be written)."""
        with self._lock:
            self._close_locked()
            self._last_draw = 0.0

    def _report(self, phase: str, counters: dict[str, Any]) -> None:
        with self._lock:
            if phase != self._phase:
                self._close_locked()
                self._phase, self._started, self._counters = phase, time.monotonic(), {}
                self._last_log = self._started
            for key, value in counters.items():
                if value is not None:
                    self._counters[key] = value
            now = time.monotonic()
            if self.live:
                if now - self._last_draw >= self.DRAW_EVERY_S:
                    self._draw_locked(now)
            elif now - self._last_log >= self.LOG_EVERY_S:
                self._last_log = now
                event(f"{phase} progress", run_id=self.run_id, **self._rates(now))

    def done(self, phase: str | None = None) -> None:
        """End the current phase (clears the live line)."""
        with self._lock:
            if phase is None or phase == self._phase:
                self._close_locked()
                self._phase = None

    def _rates(self, now: float) -> dict[str, Any]:
        c = dict(self._counters)
        elapsed = max(now - self._started, 1e-6)
        records = c.get("records")
        if isinstance(records, int | float) and elapsed > 0.5:
            rate = records / elapsed
            c["per_s"] = round(rate)
            total = c.get("total")
            if isinstance(total, int | float) and rate > 0 and total >= records:
                c["eta_s"] = round((total - records) / rate)
        return c

    def _draw_locked(self, now: float) -> None:
        self._last_draw = now
        c = self._rates(now)
        parts = [f"{self._phase:<8}"]
        records, total = c.get("records"), c.get("total")
        if records is not None:
            unit = c.get("unit") or self.UNITS.get(str(self._phase), "records")
            parts.append(f"{records:>9,}" + (f" / {total:,}" if total else "") + f" {unit}")
        if c.get("pages") is not None:
            parts.append(f"{c['pages']:,} page{'' if c['pages'] == 1 else 's'}")
        if c.get("batches") is not None:
            tb = c.get("total_batches")
            parts.append(f"{c['batches']:,}{f'/{tb:,}' if tb else ''} batch{'' if c['batches'] == 1 else 'es'}")
        if c.get("per_s") is not None:
            parts.append(f"{c['per_s']:,}/s")
        if c.get("eta_s") is not None:
            parts.append(f"ETA {_duration(c['eta_s'])}")
        line = "  " + " · ".join(parts)
        pad = max(self._line_len - len(line), 0)
        self.stream.write("\r" + line + " " * pad)
        self.stream.flush()
        self._line_len = len(line)

    def _close_locked(self) -> None:
        if self.live and self._line_len:
            self.stream.write("\r" + " " * self._line_len + "\r")
            self.stream.flush()
            self._line_len = 0


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{(seconds % 3600) // 60:02d}m"


# --------------------------------------------------------------------------- tables


def format_table(headers: Sequence[str], rows: Sequence[Sequence[Any]], *, title: str | None = None) -> str:
    """A plain aligned table: numbers right-aligned (with thousands separators), text left."""
    cells = [[_cell(v) for v in row] for row in rows]
    numeric = [
        all(isinstance(row[i], int | float) or row[i] is None for row in rows) if rows else False
        for i in range(len(headers))
    ]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(headers)]

    def line(values: Sequence[str]) -> str:
        out = [v.rjust(w) if num else v.ljust(w) for v, w, num in zip(values, widths, numeric, strict=True)]
        return "  ".join(out).rstrip()

    parts = []
    if title:
        parts.append(title)
    parts.append(line(list(headers)))
    parts.append("  ".join("─" * w for w in widths))
    parts.extend(line(r) for r in cells)
    return "\n".join(parts)


def format_pairs(pairs: Sequence[tuple[str, Any]], *, title: str | None = None, indent: int = 2) -> str:
    """A two-column ``label  value`` block, values right-aligned."""
    shown = [(k, _cell(v)) for k, v in pairs]
    kw = max((len(k) for k, _ in shown), default=0)
    vw = max((len(v) for _, v in shown), default=0)
    body = [" " * indent + f"{k:<{kw}}  {v:>{vw}}" for k, v in shown]
    return "\n".join(([title] if title else []) + body)


def _cell(value: Any) -> str:
    if isinstance(value, _Secs):
        return f"{value:,.1f}"
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.2f}"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    return str(value)


# --------------------------------------------------------------------------- run summaries

SUMMARY_GROUPS: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = (
    ("BigCommerce", (("extracted", "extracted this run"), ("deleted_in_store", "deleted in store"),
                     ("staged", "staged in total"), ("orders_extracted", "orders extracted this run"),
                     ("orders_staged", "orders staged in total"), ("orders_odd", "orders with oddities"),
                     ("guest_orders_unattributed", "guest orders unattributed"))),
    ("Mapping", (("mapped", "mapped"), ("rejected_by_mapping", "rejected by mapping"),
                 ("dropped_values", "values dropped (invalid)"))),
    ("People", (("unchanged", "unchanged (not sent)"), ("sent", "sent"), ("created", "created"),
                ("updated", "updated"), ("not_modified", "not modified"),
                ("rejected_by_people", "rejected by People"), ("failed", "failed to deliver"),
                ("delete_actions", "deletion actions"))),
)


# Counts a dry run cannot have (nothing is sent): left out of its summary.
DRY_RUN_HIDDEN = frozenset({"created", "updated", "not_modified", "rejected_by_people", "failed"})


def format_run_summary(summary: dict[str, Any], *, title: str | None = None) -> str:
    """The final table of a run (``SyncResult.as_dict()``): counts grouped by stage, status line."""
    counts = summary.get("counts") or {}
    status = str(summary.get("status", "?"))
    head = title or "Run"
    lines = [f"{head} {summary.get('run_id', '')}  ·  {status}  ·  {float(summary.get('duration_s') or 0):.1f} s"]
    if status == "failed":  # the error is the news; counts only when the run got somewhere
        lines.append(f"  error: {summary.get('error') or 'unknown'}")
        done = [(k, label) for _, items in SUMMARY_GROUPS for k, label in items if counts.get(k)]
        if done:
            lines.append("  before it stopped: " + ", ".join(f"{label} {_cell(counts[k])}" for k, label in done))
        return _REDACTOR.redact("\n".join(lines))
    window = window_line(summary)
    if window:
        lines.append(window)
    values = {k: _cell(counts.get(k, 0)) for _, items in SUMMARY_GROUPS for k, _ in items}
    lw = max(len(label) for _, items in SUMMARY_GROUPS for _, label in items)  # "would be sent" fits
    vw = max(len(v) for v in values.values())
    gw = max(len(g) for g, _ in SUMMARY_GROUPS)
    dry = status == "dry_run"
    for group, items in SUMMARY_GROUPS:
        for i, (key, label) in enumerate(items):
            if dry and key == "sent":
                label = "would be sent"
            note = ""
            plan = [f"{v:,} {k.removeprefix('would_')}" for k, v in sorted((summary.get("plan") or {}).items()) if v]
            if dry and key == "sent" and plan:
                note = "   (" + ", ".join(plan) + ")"
            if dry and key in DRY_RUN_HIDDEN:
                continue
            if key == "extracted" and summary.get("pages") is not None:
                pages = int(summary["pages"])
                note = f"   {pages:,} page{'' if pages == 1 else 's'}"
            lines.append(f"  {(group if i == 0 else ''):<{gw}}  {label:<{lw}}  {values[key]:>{vw}}{note}")
    dropped = summary.get("dropped") or {}
    if dropped:
        lines.append("  dropped values (on_invalid: drop): "
                     + ", ".join(f"{f} {_cell(n)}" for f, n in sorted(dropped.items(), key=lambda kv: -kv[1])))
    pct = summary.get("rejected_pct")
    if pct is not None:
        over = " → over the limit: exit code 3" if status == "rejected_threshold" else ""
        lines.append(
            f"  rejected {pct:.2f}% of records mapped this run "
            f"(limit {float(summary.get('max_rejected_pct') or 0):g}%){over}"
        )
    if summary.get("error") and status != "rejected_threshold":
        lines.append(f"  {'error' if status == 'failed' else 'note'}: {summary['error']}")
    return _REDACTOR.redact("\n".join(lines))


def window_line(summary: dict[str, Any]) -> str | None:
    """``  window read: FROM → TO (lag 60 s: ...)`` for a run summary, or None when none was read."""
    window = summary.get("window")
    if not window or window[1] is None:
        return None
    start = window[0] or "the beginning"
    lag = summary.get("window_lag_s")
    note = f" (ends {lag} s before the store's clock: later edits come with the next run)" if lag else ""
    return f"  window read: {start} → {window[1]}{note}"


RUNS_COLUMNS: tuple[tuple[str, str], ...] = (
    ("run_id", "run"), ("status", "status"), ("started_at", "started (UTC)"), ("seconds", "secs"),
    ("extracted", "extracted"), ("mapped", "mapped"), ("sent", "sent"), ("created", "created"),
    ("updated", "updated"), ("rejected", "rejected"), ("dropped_values", "dropped"), ("failed", "failed"),
    ("deleted_in_store", "deleted"),
)


COMPACT_RUNS_COLUMNS = ("run_id", "status", "seconds", "extracted", "sent", "created", "updated", "rejected", "deleted_in_store")


def format_runs(runs: Sequence[dict[str, Any]], columns: Sequence[str] | None = None) -> str:
    """The run history table (newest first); ``columns`` picks keys of ``RUNS_COLUMNS``."""
    chosen = [(k, h) for k, h in RUNS_COLUMNS if columns is None or k in columns]
    rows = []
    for r in runs:
        started, finished = r.get("started_at"), r.get("finished_at")
        seconds = (finished - started).total_seconds() if isinstance(started, datetime) and isinstance(finished, datetime) else None
        rejected = None
        if r.get("rejected_by_mapping") is not None or r.get("rejected_by_people") is not None:
            rejected = int(r.get("rejected_by_mapping") or 0) + int(r.get("rejected_by_people") or 0)
        view = dict(r, seconds=None if seconds is None else _Secs(seconds), rejected=rejected)
        if isinstance(started, datetime):
            view["started_at"] = started.replace(tzinfo=None) if started.tzinfo is None else started.astimezone(UTC)
        rows.append([view.get(k) for k, _ in chosen])
    return format_table([h for _, h in chosen], rows)


class _Secs(float):
    """Seconds shown with one decimal, right-aligned like other numbers."""


def format_diffs(diffs: Sequence[Any], *, limit: int = 5, max_fields: int = 8, width: int = 100) -> str:
    """Field-level diffs of a dry run: per person its id and kind, then ``field  before → after``."""
    lines = [f"  sample of changes that would be sent ({min(len(diffs), limit)} of {len(diffs)}):"]
    for d in list(diffs)[:limit]:
        if isinstance(d, dict) and isinstance(d.get("changes"), list):
            lines.append(f"    {d.get('external_id', '?')} ({d.get('kind', 'change')})")
            changes = [c for c in d["changes"] if isinstance(c, dict)]
            fw = max((len(str(c.get("field"))) for c in changes[:max_fields]), default=0)
            for c in changes[:max_fields]:
                lines.append(
                    f"      {str(c.get('field')):<{fw}}  {_short_value(c.get('before'))} → {_short_value(c.get('after'))}"
                )
            if len(changes) > max_fields:
                lines.append(f"      … and {len(changes) - max_fields} more")
        else:
            text = json.dumps(d, default=str, ensure_ascii=False)
            lines.append("    " + (text if len(text) <= width else text[: width - 1] + "…"))
    return _REDACTOR.redact("\n".join(lines))


def _short_value(value: Any, width: int = 30) -> str:
    if value is None:
        return "∅"
    text = json.dumps(value, default=str, ensure_ascii=False) if not isinstance(value, str) else repr(value)
    return text if len(text) <= width else text[: width - 1] + "…"
