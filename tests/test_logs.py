"""folio's log output: JSON lines joinable to exemplars, and floods of one warning limited."""

from __future__ import annotations

import io
import json
import logging
import os
import select
import socket
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from folio.logs import BURST, INTERVAL, JsonFormatter, RateLimitedHandler, TextFormatter
from tests.ports import free_port
from tests.processes import running, wait_until

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
TRACEPARENT = f"00-{TRACE_ID}-00f067aa0ba902b7-01"
MALFORMED = 200


def _lines(log: Path) -> list[dict[str, Any]]:
    """Every line of ``log`` as JSON; fails on the first line that is not an object."""
    documents = []
    for line in log.read_text().splitlines():
        document = json.loads(line)
        assert isinstance(document, dict), line
        documents.append(document)
    return documents


def _send_malformed(port: int) -> None:
    for _ in range(MALFORMED):
        with socket.create_connection(("127.0.0.1", port), timeout=5) as connection:
            connection.sendall(b"NOT HTTP AT ALL\r\n\r\n")
            while connection.recv(4096):  # the server answers 400 and closes
                pass


def test_json_lines_carry_the_route_and_trace_and_a_flood_is_summarized(tmp_path: Path) -> None:
    """A real `folio api` with FOLIO_LOG_FORMAT=json: each line an object; 200 bad requests
    give BURST warnings and one line counting the rest."""
    settings = {
        "FOLIO_DATABASE_URL": f"sqlite:///{tmp_path}/folio.db",
        "FOLIO_LOG_FORMAT": "json",
        "FOLIO_LOG_LEVEL": "info",
    }
    log = tmp_path / "api.log"
    port = free_port()
    with running("api", port, settings, log) as api:
        wait_until(api, "/api/health")
        answer = httpx.get(
            f"{api.url}/api/projects/no-such-project", headers={"traceparent": TRACEPARENT}
        )
        assert answer.status_code == 404
        _send_malformed(port)
        deadline = time.monotonic() + INTERVAL + 10
        while "suppressed" not in log.read_text() and time.monotonic() < deadline:
            time.sleep(0.2)
    documents = _lines(log)
    access = [d for d in documents if d.get("path") == "/api/projects/no-such-project"]
    assert len(access) == 1, documents
    assert access[0]["logger"] == "folio.access"
    assert access[0]["method"] == "GET"
    assert access[0]["route"] == "/api/projects/{slug}"
    assert access[0]["status"] == 404
    assert access[0]["trace_id"] == TRACE_ID
    assert 0 < access[0]["duration_seconds"] < 5
    assert access[0]["service"] == "folio-api"
    warnings = Counter(d["message"] for d in documents if d["level"] == "warning")
    flood, shown = warnings.most_common(1)[0]
    assert shown == BURST, warnings
    summaries = [d for d in documents if d.get("suppressed_message") == flood]
    assert [s["suppressed"] for s in summaries] == [MALFORMED - BURST], warnings


def test_an_exception_is_a_field_of_its_json_line() -> None:
    formatter = JsonFormatter("folio-api")
    try:
        raise ValueError("broken on purpose")
    except ValueError:
        record = logging.LogRecord(
            "folio", logging.ERROR, __file__, 1, "failed", (), sys.exc_info()
        )
    document = json.loads(formatter.format(record))
    assert document["message"] == "failed"
    assert document["error"]["type"] == "ValueError"
    assert document["error"]["message"] == "broken on purpose"
    assert 'raise ValueError("broken on purpose")' in document["error"]["stack_trace"]


def test_a_record_that_cannot_be_formatted_still_gives_a_line() -> None:
    """Arguments that do not fit the message: a line saying so, never an exception."""
    record = logging.LogRecord("folio", logging.INFO, __file__, 1, "%d items", ("many",), None)
    assert "unformattable log record from folio" in TextFormatter().format(record)
    assert "unformattable" in json.loads(JsonFormatter().format(record))["message"]


def test_text_lines_name_their_service() -> None:
    """`folio run` mixes both services' lines in one terminal: each says whose it is."""
    record = logging.LogRecord(
        "uvicorn.error", logging.WARNING, __file__, 1, "Invalid HTTP request received.", (), None
    )
    line = TextFormatter("folio-web").format(record)
    assert line == "folio-web WARNING: Invalid HTTP request received."
    assert TextFormatter().format(record) == "WARNING: Invalid HTTP request received."


@contextmanager
def _limited_logger(
    name: str, formatter: logging.Formatter, burst: int, interval: float
) -> Iterator[tuple[logging.Logger, RateLimitedHandler, io.StringIO]]:
    """A logger of its own that writes through a limiter into a string; closed on leaving."""
    stream = io.StringIO()
    handler = RateLimitedHandler(stream, burst=burst, interval=interval)
    handler.setFormatter(formatter)
    logger = logging.getLogger(name)
    logger.setLevel(logging.INFO)  # whatever level pytest gives the root
    logger.propagate = False
    logger.addHandler(handler)
    try:
        yield logger, handler, stream
    finally:
        logger.removeHandler(handler)
        handler.close()  # says what is still held back


def test_the_limit_is_per_message_and_summarizes_at_the_end_of_the_interval() -> None:
    with _limited_logger("tests.logs.limit", TextFormatter(), 2, 0.3) as (logger, _, stream):
        for pid in range(5):
            logger.warning("worker %d exited", pid)
        logger.warning("something else")
        logger.info("info is never limited")
        logger.info("info is never limited")
        time.sleep(0.6)
        logger.warning("worker %d exited", 99)  # a new interval
    assert stream.getvalue().splitlines() == [
        "WARNING: tests.logs.limit: worker 0 exited",
        "WARNING: tests.logs.limit: worker 1 exited",
        "WARNING: tests.logs.limit: something else",
        "INFO: tests.logs.limit: info is never limited",
        "INFO: tests.logs.limit: info is never limited",
        "WARNING: tests.logs.limit: … suppressed 3 similar messages in 0.3 s: worker %d exited",
        "WARNING: tests.logs.limit: worker 99 exited",
    ]


def test_summary_fields_are_in_the_json_line() -> None:
    with _limited_logger("tests.logs.fields", JsonFormatter(), 1, 60) as (logger, _, stream):
        for _ in range(4):
            logger.warning("again")
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert lines[0]["message"] == "again"
    assert {k: lines[1][k] for k in ("suppressed", "suppressed_message")} == {
        "suppressed": 3,
        "suppressed_message": "again",
    }


def _fail(kind: type[Exception]) -> None:
    raise kind("broken on purpose")


def test_each_distinct_exception_gets_its_own_burst() -> None:
    """uvicorn logs every unhandled error as one message: a new bug's first traceback still
    shows while another bug floods, and the flood itself is limited."""
    failures = [lambda: _fail(ValueError)] * 3 + [
        lambda: _fail(KeyError),
        lambda: int("not a number"),  # the same type raised elsewhere
        lambda: _fail(ValueError),
    ]
    with _limited_logger("tests.logs.exceptions", TextFormatter(), 1, 60) as (logger, _, stream):
        for fail in failures:
            try:
                fail()
            except Exception:
                logger.exception("Exception in ASGI application\n")
    shown = [
        line
        for line in stream.getvalue().splitlines()
        if line.startswith(("ValueError", "KeyError"))
    ]
    assert shown == [
        "ValueError: broken on purpose",
        "KeyError: 'broken on purpose'",
        "ValueError: invalid literal for int() with base 10: 'not a number'",
    ]
    assert stream.getvalue().count("suppressed 3 similar messages") == 1


def _read_from(child: int, reader: int, timeout: float) -> bytes:
    """What ``child`` wrote to ``reader`` before exiting; b"" (and the child killed) if it
    hangs."""
    chunks = []
    deadline = time.monotonic() + timeout
    while (left := deadline - time.monotonic()) > 0 and select.select([reader], [], [], left)[0]:
        chunk = os.read(reader, 4096)
        if not chunk:
            break
        chunks.append(chunk)
    else:
        os.kill(child, 9)
        chunks = []
    os.waitpid(child, 0)
    return b"".join(chunks)


# Forking with the limiter's timer running is the case under test; Python 3.12+ warns of it.
@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
def test_a_forked_worker_starts_with_a_fresh_limiter() -> None:
    """The supervisor of `folio api --workers N` forks with a warning being suppressed and,
    maybe, another thread holding the limiter's lock: the worker still logs that warning."""
    held, release = threading.Event(), threading.Event()
    with _limited_logger("tests.logs.fork", TextFormatter(), 1, 60) as (logger, handler, stream):

        def hold_the_lock() -> None:
            with handler._guard:
                held.set()
                release.wait(10)

        holder = threading.Thread(target=hold_the_lock)
        try:
            logger.warning("again")
            logger.warning("again")  # suppressed: the summary's timer is pending
            holder.start()
            assert held.wait(10)
            reader, writer = os.pipe()
            child = os.fork()
            if child == 0:  # never returns into pytest
                try:
                    os.close(reader)
                    logger.warning("again")
                    os.write(writer, stream.getvalue().encode())
                finally:
                    os._exit(0)
            os.close(writer)
            release.set()
            try:
                written = _read_from(child, reader, timeout=5).decode()
            finally:
                os.close(reader)
        finally:
            release.set()
            if holder.is_alive():
                holder.join()
    assert written.splitlines() == ["WARNING: tests.logs.fork: again"] * 2
