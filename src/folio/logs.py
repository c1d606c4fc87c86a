"""Log output for folio's processes: text or one JSON object per line, floods rate-limited.

``configure_logging`` installs one handler on the root logger; uvicorn's loggers propagate
to it (``serve`` passes ``log_config=None``), so every line has the same format. Warnings
and errors that repeat are let through ``BURST`` times per ``INTERVAL`` seconds; the rest
are counted, and one line says how many were suppressed when the interval ends.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
import time
import traceback
import weakref
from dataclasses import dataclass
from datetime import UTC, datetime
from types import TracebackType
from typing import Literal, TextIO

LogFormat = Literal["text", "json"]

# A flood of one warning (uvicorn's "Invalid HTTP request received." under a fuzzer) shows
# as at most BURST lines and one summary per INTERVAL.
BURST = 5
INTERVAL = 10.0
# Distinct warnings tracked at once; past it, the oldest windows are forgotten.
MAX_KEYS = 1000
TRACE = 5  # uvicorn's level below DEBUG
ACCESS_LOGGER = "folio.access"
# The attribute holding the structured fields of a record, which the JSON format adds.
FIELDS = "folio_fields"

# Where an error was raised: its type and the innermost frame's file and line.
_Failure = tuple[str, str, int]
# Records alike for the limit: logger, level, unformatted message and any failure.
_Key = tuple[str, int, str, _Failure | None]


def configure_logging(
    log_format: LogFormat = "text", level: str | int = logging.INFO, service: str | None = None
) -> None:
    """Send every logger's records to stderr in ``log_format``, repeated warnings limited.

    ``level`` (FOLIO_LOG_LEVEL) is that of uvicorn's lines and of the access log, as it was
    uvicorn's alone; folio's own loggers keep INFO, so a worker's restart is still said.
    """
    handler = RateLimitedHandler(sys.stderr)
    formatter = JsonFormatter(service) if log_format == "json" else TextFormatter(service)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    for old in root.handlers[:]:
        root.removeHandler(old)
        old.close()
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    logging.addLevelName(TRACE, "TRACE")  # uvicorn's level below debug
    for name in ("uvicorn", ACCESS_LOGGER):
        try:
            logging.getLogger(name).setLevel(level.upper() if isinstance(level, str) else level)
        except ValueError:  # uvicorn names the bad FOLIO_LOG_LEVEL as it starts
            logging.getLogger(name).setLevel(logging.INFO)
    logging.getLogger("alembic").setLevel(logging.WARNING)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # folio-web's calls are in metrics


class TextFormatter(logging.Formatter):
    """``[service] LEVEL: logger: message``, uvicorn's own lines without the logger's name."""

    def __init__(self, service: str | None = None) -> None:
        super().__init__()
        # `folio run` interleaves both services' lines in one terminal: say whose each is.
        self.service_prefix = f"{service} " if service else ""

    def format(self, record: logging.LogRecord) -> str:
        try:
            message = record.getMessage()
            prefix = "" if record.name.startswith("uvicorn") else f"{record.name}: "
            line = f"{self.service_prefix}{record.levelname}: {prefix}{message}"
            if record.exc_info:
                line += "\n" + "".join(traceback.format_exception(*record.exc_info)).rstrip()
            return line
        except Exception as error:  # a log line must never raise into the code that logs
            return _unformattable(record, error)


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, message, fields and any error."""

    def __init__(self, service: str | None = None) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        try:
            document: dict[str, object] = {
                "time": datetime.fromtimestamp(record.created, UTC).isoformat(
                    timespec="milliseconds"
                ),
                "level": record.levelname.lower(),
                "logger": record.name,
                "message": record.getMessage(),
                "pid": record.process,
            }
            if self.service is not None:
                document["service"] = self.service
            fields = getattr(record, FIELDS, None)
            if isinstance(fields, dict):
                document.update(fields)
            if record.exc_info and record.exc_info[1] is not None:
                kind, error, trace = record.exc_info
                document["error"] = {
                    "type": getattr(kind, "__qualname__", str(kind)),
                    "message": str(error),
                    "stack_trace": "".join(traceback.format_exception(kind, error, trace)),
                }
            # default=str: a field a caller filled with an odd object still gives a line.
            return json.dumps(document, default=str, ensure_ascii=False)
        except Exception as error:
            return json.dumps({"level": "error", "message": _unformattable(record, error)})


def _unformattable(record: logging.LogRecord, error: Exception) -> str:
    return f"unformattable log record from {record.name}: {type(error).__name__}: {error}"


@dataclass
class _Window:
    """One repeated message: when its interval ends, how many passed and were held back."""

    ends_at: float
    passed: int = 0
    suppressed: int = 0
    sample: logging.LogRecord | None = None
    timer: threading.Timer | None = None


class RateLimitedHandler(logging.StreamHandler[TextIO]):
    """A stream handler that lets each warning through ``burst`` times per ``interval``.

    Records are alike when their logger, level and unformatted message are: "worker %d
    exited" is one message whatever the pid. Records carrying an exception are alike only
    when it is also of one type raised at one line, so a new failure is not hidden among
    the lines of another. Info and debug lines are never limited.
    """

    def __init__(self, stream: TextIO, *, burst: int = BURST, interval: float = INTERVAL) -> None:
        super().__init__(stream)
        self.burst = burst
        self.interval = interval
        self._windows: dict[_Key, _Window] = {}
        self._guard = threading.Lock()
        _HANDLERS.add(self)

    def _after_fork_in_child(self) -> None:
        # The timers of the parent's windows have no thread here, so their keys would stay
        # suppressed for good, and the lock may have been held by another parent thread.
        self._guard = threading.Lock()
        self._windows = {}

    def handle(self, record: logging.LogRecord) -> bool:
        """Emit ``record`` unless it is a warning already seen ``burst`` times this interval."""
        if record.levelno >= logging.WARNING and not self._admit(record):
            return False
        return bool(super().handle(record))

    def _admit(self, record: logging.LogRecord) -> bool:
        key = (record.name, record.levelno, str(record.msg), _failure(record))
        now = time.monotonic()
        with self._guard:
            window = self._windows.get(key)
            if window is None or (now >= window.ends_at and window.suppressed == 0):
                if len(self._windows) >= MAX_KEYS:
                    self._forget_quiet(now)
                window = self._windows[key] = _Window(now + self.interval)
            if window.passed < self.burst:
                window.passed += 1
                return True
            window.suppressed += 1
            window.sample = record
            if window.timer is None:
                # Said when the interval ends, even if the flood stopped and nothing else is
                # logged; the timer thread exists only while something is being suppressed.
                delay = max(window.ends_at - now, 0.0)
                window.timer = threading.Timer(delay, self._summarize, (key,))
                window.timer.daemon = True
                window.timer.start()
            return False

    def _forget_quiet(self, now: float) -> None:
        for key, window in list(self._windows.items()):
            if now >= window.ends_at and window.suppressed == 0:
                del self._windows[key]
        while len(self._windows) >= MAX_KEYS:  # all busy: drop the oldest, unsummarized
            oldest = next(iter(self._windows))
            timer = self._windows.pop(oldest).timer
            if timer is not None:
                timer.cancel()

    def _summarize(self, key: _Key) -> None:
        with self._guard:
            window = self._windows.pop(key, None)
        if window is not None and window.sample is not None:
            super().handle(_summary(window.sample, window.suppressed, self.interval))

    def close(self) -> None:
        """Say what is still held back (at a clean exit), then close the stream handler."""
        with self._guard:
            pending = [(k, w) for k, w in self._windows.items() if w.suppressed]
            self._windows.clear()
        for _, window in pending:
            if window.timer is not None:
                window.timer.cancel()
            if window.sample is not None:
                super().handle(_summary(window.sample, window.suppressed, self.interval))
        super().close()


# Every limiting handler of this process, for the fork hook; weak, so a replaced one is freed.
_HANDLERS: weakref.WeakSet[RateLimitedHandler] = weakref.WeakSet()


def _reset_handlers_in_child() -> None:
    # `folio api --workers N` configures logging in the supervisor and then forks workers.
    for handler in list(_HANDLERS):
        handler._after_fork_in_child()


os.register_at_fork(after_in_child=_reset_handlers_in_child)


def _failure(record: logging.LogRecord) -> _Failure | None:
    """The type of ``record``'s exception and the file and line it was raised at, if any."""
    if not record.exc_info or record.exc_info[0] is None:
        return None
    kind, _, trace = record.exc_info
    innermost: TracebackType | None = trace
    while innermost is not None and innermost.tb_next is not None:
        innermost = innermost.tb_next
    if innermost is None:
        return (kind.__qualname__, "", 0)
    return (kind.__qualname__, innermost.tb_frame.f_code.co_filename, innermost.tb_lineno)


def _summary(sample: logging.LogRecord, suppressed: int, interval: float) -> logging.LogRecord:
    message = str(sample.msg)
    summary = logging.LogRecord(
        sample.name,
        sample.levelno,
        sample.pathname,
        sample.lineno,
        "… suppressed %d similar messages in %g s: %s",
        (suppressed, interval, message),
        None,
    )
    setattr(summary, FIELDS, {"suppressed": suppressed, "suppressed_message": message})
    return summary
