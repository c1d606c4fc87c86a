"""Metrics shared by a service's worker processes: exact totals, bounded storage.

Each worker writes its series to its own memory-mapped files in one directory
(FOLIO_METRICS_DIR); whichever worker is scraped merges them all. Dead workers' counters
and histograms are folded into an archive, so nothing is lost and nothing piles up.
"""

from folio_metrics.multiprocess.directory import MetricsDirectory
from folio_metrics.multiprocess.worker import WorkerMetrics

__all__ = ["MetricsDirectory", "WorkerMetrics"]
