"""folio-api's SLOs: attainment, error budget left, and burn rates from the recording rules.

The objectives and windows are those of deploy/prometheus/rules (recording.yml, alerts.yml):
    availability  99.9% of requests not 5xx       error budget 0.001
    latency       99% of requests under 0.5 s     error budget 0.01
"""

from __future__ import annotations

from dataclasses import dataclass

from folio.dashboards.model import JSON, Query, Row, dashboard, query_variable, stat
from folio.dashboards.model import timeseries as series

JOB = 'job=~"$job"'
# The recording rules' windows, shortest first; the alerts pair them (1h with 5m, and so on).
WINDOWS = ("5m", "30m", "1h", "6h", "3d")
# The longest window recorded: the budget shown is what is left of it over these 3 days.
BUDGET_WINDOW = "3d"


@dataclass(frozen=True)
class Objective:
    name: str
    record: str  # the recording rules' stem: job:<record>:ratio_rate<window>
    budget: float
    target: str


OBJECTIVES = (
    Objective("Availability", "slo_availability_errors", 0.001, "99.9% of requests not 5xx"),
    Objective("Latency", "slo_latency_slow", 0.01, "99% of requests under 0.5 s"),
)


def build() -> JSON:
    variables = [
        query_variable("job", "Job", "label_values(job:slo_availability_errors:ratio_rate5m, job)"),
    ]
    rows = [_objective_row(objective) for objective in OBJECTIVES]
    return dashboard(
        "folio-slo",
        "folio SLOs",
        "folio-api's availability and latency objectives: attainment, budget and burn rates.",
        variables,
        rows,
    )


def _ratio(objective: Objective, window: str) -> str:
    return f"job:{objective.record}:ratio_rate{window}{{{JOB}}}"


def _objective_row(objective: Objective) -> Row:
    long_ratio = _ratio(objective, BUDGET_WINDOW)
    return Row(
        f"{objective.name}: {objective.target}",
        (
            stat(
                f"{objective.name} over {BUDGET_WINDOW}",
                f"Is folio-api meeting its objective of {objective.target}?",
                Query(f"1 - {long_ratio}", "{{job}}"),
                unit="percentunit",
            ),
            stat(
                f"{objective.name} error budget left ({BUDGET_WINDOW})",
                "How much of the allowed failure is still unspent? Below 0, the SLO is broken.",
                Query(f"1 - {long_ratio} / {objective.budget}", "{{job}}"),
                unit="percentunit",
            ),
            series(
                f"{objective.name} burn rate by window",
                "How fast is the budget burning? 1 spends it exactly over the window; the "
                "page alert fires above 14.4 (1 h and 5 m), the ticket alerts above 6 and 1.",
                *(
                    Query(f"{_ratio(objective, window)} / {objective.budget}", f"{window}")
                    for window in WINDOWS
                ),
                unit="none",
            ),
        ),
    )
