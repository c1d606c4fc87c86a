"""The bearer-token check of the metrics endpoint, for an app's own endpoints to share."""

from __future__ import annotations

import hmac


def token_matches(given: str, token: str | None) -> bool:
    """Whether ``given`` is ``token``, compared in constant time; no blank token ever matches."""
    if token is None or not token.strip():
        return False
    # Called through the module, so that a test can watch every comparison.
    return hmac.compare_digest(given.encode(), token.encode())


def bearer_matches(authorization: str, token: str | None) -> bool:
    """Whether an Authorization header is ``Bearer <token>``; the scheme's case is not checked."""
    scheme, _, credentials = authorization.partition(" ")
    return scheme.lower() == "bearer" and token_matches(credentials.strip(), token)
