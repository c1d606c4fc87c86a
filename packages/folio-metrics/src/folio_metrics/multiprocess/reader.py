"""Reading another worker's file: every entry checked, every value checked for sense."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import cast

from folio_metrics.multiprocess.checks import (
    BAD_VALUE,
    CORRUPT,
    LARGEST,
    SET_ASIDE,
    TRUNCATED,
    StoreFault,
    checked_count,
)
from folio_metrics.multiprocess.quarantine import is_set_aside
from folio_metrics.multiprocess.store import SUMMED, Entry, Segment, SeriesKey

Values = list[float]


@dataclass
class SegmentReader:
    """A reader's view of one segment: entries parsed so far, parsed again only when new.

    It remembers each summed series' count, because a live worker's counters never go down:
    one that does was overwritten.
    """

    segment: Segment
    parsed_to: int = 0
    entries: list[Entry] = field(default_factory=list)
    counts: list[float] = field(default_factory=list)

    def read(self) -> list[tuple[SeriesKey, Values]]:
        """Every series and its values; StoreFault if anything in the file is wrong."""
        segment = self.segment
        status = os.fstat(segment.descriptor)
        if is_set_aside(status.st_nlink):
            raise StoreFault(SET_ASIDE, f"{segment.path.name} is in quarantine")
        if status.st_size < len(segment.map):
            raise StoreFault(TRUNCATED, f"{segment.path.name} was truncated")
        if segment.used != self.parsed_to:
            new: list[Entry] = []  # kept only if every new entry reads well
            self.parsed_to = segment.entries(self.parsed_to, new)
            self.entries.extend(new)
            self.counts.extend([0.0] * (len(self.entries) - len(self.counts)))
        found = []
        counts = self.counts
        doubles = segment.doubles
        for index, (key, start, size, _) in enumerate(self.entries):
            values = cast(Values, doubles[start : start + size].tolist())
            if size > 1 and key[0] == SUMMED:
                # checked_count's histogram case, inlined: a scrape runs it for every series.
                buckets = values[:-1]
                count = sum(buckets)
                sane = min(buckets) >= 0.0 and count <= LARGEST
                if not (sane and -LARGEST <= values[-1] <= LARGEST):
                    raise StoreFault(BAD_VALUE, f"a value out of range in {values[:8]}")
            else:
                count = checked_count(key[0] == SUMMED, values)
            if count < counts[index]:
                raise StoreFault(BAD_VALUE, f"{key[1]} went down from {counts[index]} to {count}")
            counts[index] = count
            found.append((key, values))
        return found


def salvage(segment: Segment) -> tuple[list[tuple[SeriesKey, Values]], StoreFault | None]:
    """The summed series of a dead worker's file that can still be trusted, and its fault.

    Entries up to the first damage are kept, except the one right before damaged bytes,
    whose values the damage most likely began in; entries with senseless values are left out.
    """
    entries: list[Entry] = []
    fault = None
    try:
        segment.entries(0, entries)
    except StoreFault as error:
        fault = error
        if error.reason == CORRUPT and entries:
            entries.pop()
    kept = []
    for key, start, size, _ in entries:
        if key[0] != SUMMED:
            continue
        values = segment.values(start, size)
        try:
            checked_count(True, values)
        except StoreFault as error:
            fault = fault or error
            continue
        kept.append((key, values))
    return kept, fault
