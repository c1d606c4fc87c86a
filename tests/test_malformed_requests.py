"""Requests the HTTP parser refuses get the JSON 400 the README promises, on the real servers."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.ports import free_ports
from tests.processes import Service, requests_by_status, start, statuses_added, stop, wait_until
from tests.raw_http import error_shape, trickle

CONTENT_LENGTH = "the Content-Length header is not a valid integer"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Service]]:
    """``folio api`` and ``folio web``, started together."""
    directory = tmp_path_factory.mktemp("malformed")
    api_port, web_port = free_ports(2)
    database = {"FOLIO_DATABASE_URL": f"sqlite+aiosqlite:///{directory / 'folio.db'}"}
    services = {
        "api": start("api", api_port, database, directory / "api.log"),
        "web": start("web", web_port, {}, directory / "web.log"),
    }
    try:
        for service in services.values():
            wait_until(service, "/api/health")
        yield services
    finally:
        for service in services.values():
            stop(service)


def _port(service: Service) -> int:
    return int(service.url.rsplit(":", 1)[1])


@pytest.mark.parametrize("name", ["api", "web"])
@pytest.mark.parametrize("length", ["abc", "-1", "1e3", "٣", "1, 2"])
async def test_malformed_content_length_is_a_json_400(
    served: dict[str, Service], name: str, length: str
) -> None:
    """Content-Length that is not a plain decimal number gets 400 ``bad_request`` and a close."""
    head = f"POST /api/projects HTTP/1.1\r\nHost: x\r\nContent-Length: {length}\r\n\r\n{{}}"
    answer = await trickle(_port(served[name]), head.encode(), give_up=5)
    assert answer.status == 400, answer.raw
    assert answer.headers["connection"] == "close"
    assert error_shape(answer) == {
        "code": "bad_request",
        "message": CONTENT_LENGTH,
        "details": None,
    }
    assert answer.closed_after is not None, "the connection was left open"


MALFORMED = {
    "request line": (b"GARBAGE\r\n\r\n", "the request line is malformed"),
    "target with a space": (
        b"GET /a b HTTP/1.1\r\nHost: x\r\n\r\n",
        "the request line is malformed",
    ),
    "header line": (
        b"GET / HTTP/1.1\r\nHost: x\r\nNo Colon Here\r\n\r\n",
        "a header line is malformed",
    ),
    "Host missing": (b"GET / HTTP/1.1\r\n\r\n", "the Host header is missing or repeated"),
    "chunk size": (
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        "a chunk of the chunked body is malformed",
    ),
    "transfer coding": (
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n",
        "only Transfer-Encoding: chunked is supported",
    ),
}


@pytest.mark.parametrize("case", MALFORMED)
async def test_other_malformed_requests_say_what_was_wrong(
    served: dict[str, Service], case: str
) -> None:
    """Each kind of malformed request gets a JSON 400 whose message names the problem."""
    request, message = MALFORMED[case]
    answer = await trickle(_port(served["api"]), request, give_up=5)
    assert answer.status == 400, answer.raw
    error = error_shape(answer)
    assert error["code"] == "bad_request"
    assert error["message"].startswith(message)
    assert answer.closed_after is not None


async def test_a_malformed_body_under_a_handler_is_counted_as_its_400(
    served: dict[str, Service],
) -> None:
    """A chunk gone wrong after the handler began: a JSON 400, counted as 400, not a 499."""
    api = served["api"]
    before = requests_by_status(api, "/api/projects")
    head = (
        b"POST /api/projects HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n"
    )
    answer = await trickle(_port(api), head, drip=b"zz\r\n", every=0.3, give_up=5)
    assert answer.status == 400, answer.raw
    assert error_shape(answer)["message"].startswith("a chunk of the chunked body is malformed")
    assert await statuses_added(api, "/api/projects", before) == {"400": 1}
