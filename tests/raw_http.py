"""A raw HTTP/1.1 client for tests that must send what no well-behaved client would."""

from __future__ import annotations

import asyncio
import contextlib
import json
from dataclasses import dataclass
from typing import Any


@dataclass
class Answer:
    """What came back on one connection, and when, counted from the first byte sent."""

    raw: bytes
    answered_after: float | None  # the first byte of the response
    closed_after: float | None  # the server closed the connection

    @property
    def status(self) -> int | None:
        """The response's status code, None when nothing came back."""
        if not self.raw.startswith(b"HTTP/1.1 "):
            return None
        return int(self.raw[9:12])

    @property
    def headers(self) -> dict[str, str]:
        """The response's headers, names in lower case."""
        head = self.raw.partition(b"\r\n\r\n")[0].decode("latin-1").split("\r\n")[1:]
        return {
            name.strip().lower(): value.strip()
            for name, _, value in (h.partition(":") for h in head)
        }

    def json(self) -> Any:
        """The response's body, parsed."""
        return json.loads(self.raw.partition(b"\r\n\r\n")[2])


async def trickle(
    port: int,
    head: bytes,
    drip: bytes = b"",
    every: float = 0.2,
    give_up: float = 10.0,
) -> Answer:
    """Send ``head``, then ``drip`` every ``every`` seconds until the server answers and closes."""
    loop = asyncio.get_running_loop()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    start = loop.time()
    writer.write(head)
    raw, answered, closed = b"", None, None
    try:
        while loop.time() - start < give_up:
            try:
                data = await asyncio.wait_for(reader.read(65536), every)
            except TimeoutError:
                if drip and answered is None:
                    # Once the server has closed, the next read says so.
                    with contextlib.suppress(ConnectionError, RuntimeError):
                        writer.write(drip)
                continue
            except ConnectionError:
                data = b""
            if not data:
                closed = loop.time() - start
                break
            if answered is None:
                answered = loop.time() - start
            raw += data
    finally:
        writer.close()
    return Answer(raw, answered, closed)


def error_shape(answer: Answer) -> dict[str, Any]:
    """The ``error`` object of a JSON error answer, having checked the shape and headers."""
    assert answer.headers.get("content-type") == "application/json", answer.raw
    body = answer.json()
    assert set(body) == {"error"}, body
    assert set(body["error"]) == {"code", "message", "details"}, body
    return dict(body["error"])
