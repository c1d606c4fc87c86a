"""The one bearer-token check: constant time, any case of the scheme, no blank token."""

from __future__ import annotations

import hmac
from typing import Any

import pytest
from folio_metrics.bearer import bearer_matches, token_matches

TOKEN = "s3cret-token"


@pytest.mark.parametrize(
    "authorization",
    [f"Bearer {TOKEN}", f"bearer {TOKEN}", f"BEARER {TOKEN}", f"Bearer   {TOKEN}  "],
)
def test_the_token_matches_under_any_case_of_the_scheme(authorization: str) -> None:
    """The scheme is case-insensitive (RFC 9110 §11.1); spaces around the token do not count."""
    assert bearer_matches(authorization, TOKEN)


@pytest.mark.parametrize(
    "authorization",
    [
        "",
        TOKEN,
        f"Basic {TOKEN}",
        f"Bearer{TOKEN}",
        "Bearer ",
        f"Bearer {TOKEN}x",
        f"Bearer {TOKEN[:-1]}",
        f"Bearer {TOKEN.upper()}",
        "Bearer \xff\xfe",
    ],
)
def test_anything_else_does_not_match(authorization: str) -> None:
    """Another scheme, no scheme, a near miss or bytes that are not ASCII: refused, no error."""
    assert not bearer_matches(authorization, TOKEN)


@pytest.mark.parametrize("token", [None, "", " ", "\t \n"])
def test_a_blank_or_absent_token_never_matches(token: str | None) -> None:
    """Not even an empty credential or the same blank: "no token" is never a password."""
    for given in ("", " ", "\t \n", "anything"):
        assert not token_matches(given, token)
        assert not bearer_matches(f"Bearer {given}", token)
    assert not bearer_matches("Bearer", token)


def test_the_comparison_is_hmac_compare_digest(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every comparison goes through hmac.compare_digest, given first, so timing leaks nothing."""
    calls: list[tuple[Any, Any]] = []
    real = hmac.compare_digest
    monkeypatch.setattr(hmac, "compare_digest", lambda a, b: calls.append((a, b)) or real(a, b))
    assert not bearer_matches("Bearer wrong", TOKEN)
    assert token_matches(TOKEN, TOKEN)
    assert calls == [(b"wrong", TOKEN.encode()), (TOKEN.encode(), TOKEN.encode())]
