"""Hypothesis settings profiles for the reliability fuzzers: bounded in `make test`, long
under `make soak`.

Tests apply a profile explicitly (``@settings(fuzz_profile(), max_examples=amount(...))``)
instead of loading it globally, so the rest of the suite keeps Hypothesis's defaults.
"""

from __future__ import annotations

from hypothesis import HealthCheck, settings

from tests.reliability.soak import soaking

BOUNDED = "folio-reliability"
SOAK = "folio-reliability-soak"

_COMMON = {
    # One example is a whole HTTP exchange; timing varies with whatever else the machine runs.
    "deadline": None,
    # No example database in the checkout: every run explores afresh (failures print a seed).
    "database": None,
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large],
    "print_blob": True,
}
# Each test sets its own max_examples with amount(); these are the defaults.
settings.register_profile(BOUNDED, max_examples=200, **_COMMON)
settings.register_profile(SOAK, max_examples=5_000, **_COMMON)


def fuzz_profile() -> settings:
    """The profile for this run: bounded in `make test`, the long one under `make soak`."""
    return settings.get_profile(SOAK if soaking() else BOUNDED)
