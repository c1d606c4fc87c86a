"""folio-api: requests (RED per endpoint), saturation, errors, the database, the runtime."""

from __future__ import annotations

from folio.dashboards.model import JSON, Query, Row, dashboard, heatmap, query_variable, stat
from folio.dashboards.model import timeseries as series
from folio.dashboards.promql import distribution, error_ratio, quantile, rate, zero_filled
from folio.dashboards.runtime import runtime_row

SERVICE = 'job=~"$job", instance=~"$instance"'
ENDPOINTS = f'{SERVICE}, endpoint=~"$endpoint"'
SERVER_ERROR = 'status=~"5.."'


def build() -> JSON:
    variables = [
        # Only jobs that run folio-api export folio_build_info.
        query_variable("job", "Job", "label_values(folio_build_info, job)"),
        query_variable(
            "instance", "Instance", 'label_values(folio_build_info{job=~"$job"}, instance)'
        ),
        query_variable(
            "endpoint", "Endpoint", 'label_values(http_requests_total{job=~"$job"}, endpoint)'
        ),
    ]
    rows = [_overview(), _requests(), _saturation(), _database(), runtime_row(SERVICE)]
    return dashboard(
        "folio-api",
        "folio-api",
        "The JSON API: traffic, errors and latency per endpoint, the database and the runtime.",
        variables,
        rows,
    )


def _overview() -> Row:
    return Row(
        "Overview",
        (
            stat(
                "Requests per second",
                "How busy is folio-api right now?",
                Query(rate("http_requests_total", ENDPOINTS, "job")),
                unit="reqps",
            ),
            stat(
                "5xx ratio",
                "What share of requests fail on the server's side?",
                Query(error_ratio("http_requests_total", ENDPOINTS, SERVER_ERROR, "job")),
                unit="percentunit",
            ),
            stat(
                "p95 latency",
                "How long do 95% of requests take at most?",
                Query(quantile(0.95, "http_request_duration_seconds", ENDPOINTS, "job")),
                unit="s",
            ),
            stat(
                "Projects stored",
                "How many projects are stored, published and draft?",
                Query(
                    f"max by (state) (folio_projects{{{SERVICE}}})",
                    "{{state}}",
                ),
                unit="none",
            ),
        ),
    )


def _requests() -> Row:
    latency = "http_request_duration_seconds"
    return Row(
        "Requests: rate, errors, duration",
        (
            series(
                "Request rate by endpoint",
                "Which endpoints get the traffic?",
                Query(rate("http_requests_total", ENDPOINTS, "endpoint"), "{{endpoint}}"),
                unit="reqps",
            ),
            series(
                "5xx ratio by endpoint",
                "Which endpoints fail, and how often?",
                Query(
                    error_ratio("http_requests_total", ENDPOINTS, SERVER_ERROR, "endpoint"),
                    "{{endpoint}}",
                ),
                unit="percentunit",
            ),
            series(
                "Latency p50, p95, p99 by endpoint",
                "How slow is each endpoint for the typical request and for the tail?",
                Query(quantile(0.5, latency, ENDPOINTS, "endpoint"), "{{endpoint}} p50"),
                Query(quantile(0.95, latency, ENDPOINTS, "endpoint"), "{{endpoint}} p95"),
                Query(quantile(0.99, latency, ENDPOINTS, "endpoint"), "{{endpoint}} p99"),
                unit="s",
            ),
            heatmap(
                "Latency distribution",
                "Is latency one population or several (a fast path and a slow one)?",
                Query(distribution(latency, ENDPOINTS), "{{le}}", heatmap=True),
                unit="s",
            ),
            series(
                "Responses by status",
                "Which status codes are answered: 2xx, 4xx client mistakes or 5xx?",
                Query(rate("http_requests_total", ENDPOINTS, "status"), "{{status}}"),
                unit="reqps",
            ),
            series(
                "App errors by type",
                "Which kinds of error answers and exceptions occur, and where?",
                Query(
                    rate("app_errors_total", ENDPOINTS, "endpoint, type"), "{{endpoint}} {{type}}"
                ),
                unit="ops",
            ),
        ),
    )


def _saturation() -> Row:
    return Row(
        "Saturation",
        (
            series(
                "In-progress requests by endpoint",
                "How many requests are being served at once? A rising line means a queue.",
                Query(
                    f"sum by (endpoint) (http_requests_in_progress{{{ENDPOINTS}}})", "{{endpoint}}"
                ),
                unit="none",
                width=8,
            ),
            series(
                "Open connections by instance",
                "How many client connections, idle keep-alive ones included, each instance holds.",
                Query(f"sum by (instance) (http_active_connections{{{SERVICE}}})", "{{instance}}"),
                unit="none",
                width=8,
            ),
            series(
                "Response size p95 by endpoint",
                "Are responses growing (a list without a limit, say)?",
                Query(
                    quantile(0.95, "http_response_size_bytes", ENDPOINTS, "endpoint"),
                    "{{endpoint}}",
                ),
                unit="bytes",
                width=8,
            ),
        ),
    )


def _database() -> Row:
    errors = zero_filled(
        rate("db_query_errors_total", SERVICE, "operation"),
        rate("db_queries_total", SERVICE, "operation"),
    )
    return Row(
        "Database",
        (
            series(
                "Queries by operation",
                "How many statements folio-api runs, by SQL verb and transaction event.",
                Query(rate("db_queries_total", SERVICE, "operation"), "{{operation}}"),
                unit="ops",
                width=8,
            ),
            series(
                "Query latency p95 by operation",
                "Is the database getting slower?",
                Query(
                    quantile(0.95, "db_query_duration_seconds", SERVICE, "operation"),
                    "{{operation}}",
                ),
                unit="s",
                width=8,
            ),
            series(
                "Query errors by operation",
                "Are statements failing (database down, timeouts, constraint violations)?",
                Query(errors, "{{operation}}"),
                unit="ops",
                width=8,
            ),
            series(
                "Connection pool",
                "Is the pool exhausted? Near the maximum, requests wait for a connection.",
                Query(
                    f"sum by (instance, state) (db_pool_connections{{{SERVICE}}})",
                    "{{instance}} {{state}}",
                ),
                Query(
                    f"sum by (instance) (db_pool_max_connections{{{SERVICE}}})",
                    "{{instance}} max",
                ),
                unit="none",
            ),
            series(
                "Queries per request p95 by endpoint",
                "Does an endpoint run more statements than it should (N+1 queries)?",
                Query(
                    quantile(0.95, "db_queries_per_request", ENDPOINTS, "endpoint"),
                    "{{endpoint}}",
                ),
                unit="none",
            ),
        ),
    )
