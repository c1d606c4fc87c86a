"""Options that shape the http_* labels: an extra per-request label and route exclusions."""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass

from folio_metrics.asgi import Scope

MAX_ANSWERS = 4096


@dataclass(frozen=True, slots=True)
class ExtraLabel:
    """One more label on every http_* series, its value chosen per request from a fixed set.

    ``value`` reads the request's scope; an answer outside ``allowed`` is recorded as
    ``other``, so the label can never create more series than ``allowed`` holds, plus one.
    """

    name: str
    value: Callable[[Scope], str]
    allowed: frozenset[str]
    other: str = "other"

    def __post_init__(self) -> None:
        if isinstance(self.allowed, str):
            raise TypeError(f"ExtraLabel {self.name!r}: allowed must be a set of values, not a str")

    def __call__(self, scope: Scope) -> str:
        """This request's value for the label, bounded to ``allowed``."""
        value = self.value(scope)
        return value if value in self.allowed else self.other


class Exclusions:
    """Route templates left unrecorded: named exactly, or matched whole by a pattern."""

    def __init__(self, rules: Iterable[str | re.Pattern[str]] = ()) -> None:
        if isinstance(rules, str):
            raise TypeError(f"exclude takes a list of templates or patterns, not the str {rules!r}")
        rules = list(rules)
        self.exact = frozenset(rule for rule in rules if isinstance(rule, str))
        self.patterns = tuple(rule for rule in rules if isinstance(rule, re.Pattern))
        # Templates are few (unmatched paths share one), so the answers stay few too.
        self._answers: dict[str, bool] = {}

    def __contains__(self, template: object) -> bool:
        answer = self._answers.get(template) if isinstance(template, str) else None
        if answer is None:
            answer = isinstance(template, str) and (
                template in self.exact
                or any(pattern.fullmatch(template) for pattern in self.patterns)
            )
            if isinstance(template, str):
                if len(self._answers) >= MAX_ANSWERS:
                    self._answers.clear()  # a resolver that returns raw paths: stay bounded
                self._answers[template] = answer
        return answer


def exclusions(rules: Collection[str | re.Pattern[str]] | Exclusions) -> Exclusions:
    """``rules`` as Exclusions."""
    return rules if isinstance(rules, Exclusions) else Exclusions(rules)
