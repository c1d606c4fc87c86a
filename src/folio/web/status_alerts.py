"""The /status page's alerts panel: Prometheus's pending and firing alerts, ready to show.

The order is the one an operator works in: firing before pending, then `page` before
`ticket` (any other severity after both), then the longest active first.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

from folio.web.prometheus import Alert

NO_ALERTS = "No alerts are pending or firing."
STATE_ORDER = {"firing": 0, "pending": 1}
SEVERITY_ORDER = {"page": 0, "ticket": 1}
# An id that the runbook page can carry: the lower-cased alert names of docs/runbook.md.
_ANCHOR = re.compile(r"[a-z0-9][a-z0-9_-]{0,199}")


@dataclass(frozen=True)
class ShownAlert:
    """One row of the panel; ``runbook_anchor`` is the /runbook section, if the rule names one."""

    name: str
    summary: str
    severity: str
    state: str
    active_since: str  # ISO 8601, UTC, whole seconds
    active_for: str
    runbook_anchor: str | None
    runbook_other: str | None  # a runbook_url that is not a section of folio's runbook


def shown_alerts(alerts: list[Alert], now: datetime) -> list[ShownAlert]:
    """The alerts in the panel's order, each with how long it has been active at ``now``."""
    return [_shown(alert, now) for alert in sorted(alerts, key=_order)]


def runbook_anchor(url: str) -> str | None:
    """The section a ``runbook_url`` names in folio's runbook: ``docs/runbook.md#x`` gives x."""
    path, hash_sign, fragment = url.strip().partition("#")
    if not hash_sign or not (path == "runbook.md" or path.endswith("/runbook.md")):
        return None
    anchor = fragment.lower()
    return anchor if _ANCHOR.fullmatch(anchor) else None


def format_age(seconds: float) -> str:
    """A duration in its two largest units, as an operator reads it: 45s, 12m 5s, 2h 5m, 3d 4h."""
    whole = max(int(seconds), 0)  # a Prometheus clock a little ahead is not a negative age
    days, rest = divmod(whole, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes}m"
    if minutes:
        return f"{minutes}m {secs}s"
    return f"{secs}s"


def _order(alert: Alert) -> tuple[int, int, datetime, str, list[tuple[str, str]]]:
    return (
        STATE_ORDER.get(alert.state, len(STATE_ORDER)),
        SEVERITY_ORDER.get(alert.labels.get("severity", ""), len(SEVERITY_ORDER)),
        alert.active_at,
        alert.labels.get("alertname", ""),
        sorted(alert.labels.items()),  # same name and start: still the same order every load
    )


def _shown(alert: Alert, now: datetime) -> ShownAlert:
    url = alert.annotations.get("runbook_url", "")
    anchor = runbook_anchor(url)
    since = alert.active_at.astimezone(UTC).replace(microsecond=0)
    return ShownAlert(
        name=alert.labels.get("alertname", "(no alertname)"),
        summary=alert.annotations.get("summary", ""),
        severity=alert.labels.get("severity", ""),
        state=alert.state,
        active_since=since.isoformat().replace("+00:00", "Z"),
        active_for=format_age((now - alert.active_at).total_seconds()),
        runbook_anchor=anchor,
        runbook_other=(url.strip() or None) if anchor is None else None,
    )
