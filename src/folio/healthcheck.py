"""``folio healthcheck api|web``: exit 0 when the local service answers its liveness check.

For container health checks (the Dockerfile's HEALTHCHECK, ECS's healthCheck), which run
inside the container and need no curl or wget in the image.
"""

from __future__ import annotations

import sys
import urllib.error
import urllib.request

LIVENESS_PATH = "/api/health"
TIMEOUT_SECONDS = 3.0


def check(port: int, host: str = "127.0.0.1") -> int:
    """0 when ``GET /api/health`` answers 200 within the timeout, else 1 (and say why)."""
    url = f"http://{host}:{port}{LIVENESS_PATH}"
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_SECONDS) as response:
            status: int = response.status
    except urllib.error.HTTPError as error:
        status = error.code
    except (OSError, ValueError) as error:
        print(f"folio healthcheck: {url}: {error}", file=sys.stderr)
        return 1
    if status != 200:
        print(f"folio healthcheck: {url} answered {status}", file=sys.stderr)
        return 1
    return 0
