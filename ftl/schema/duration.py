"""FTL durations such as `1d3h2m` or `30s`: `+retry` backoffs and the `Ns`/`Nm`/`Nh` cron shorthand.

A duration is one or more `<digits><unit>` parts, units `d`, `h`, `m`, `s` strictly from the
largest to the smallest. Error texts are upstream's (`common/duration`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ftl.schema._gostrings import quote

__all__ = ["Duration", "DurationError", "parse_duration"]

_SHAPE = re.compile(r"(?:[0-9]+[a-zA-Z]+)+")
_PART = re.compile(r"([0-9]+)([a-zA-Z]+)")
_UNIT_RANK = {"d": 0, "h": 1, "m": 2, "s": 3}


class DurationError(ValueError):
    """A duration text that cannot be read; str() is the message."""


@dataclass(frozen=True, slots=True)
class Duration:
    days: int = 0
    hours: int = 0
    minutes: int = 0
    seconds: int = 0

    @property
    def total_seconds(self) -> int:
        return self.days * 86_400 + self.hours * 3_600 + self.minutes * 60 + self.seconds


def parse_duration(text: str) -> Duration:
    """The components of `text`, e.g. `1m30s` -> Duration(minutes=1, seconds=30)."""
    if not _SHAPE.fullmatch(text):
        raise DurationError(
            f"unable to parse duration {quote(text)} - expected duration in format like '1m' or '30s'"
        )
    values = {"d": 0, "h": 0, "m": 0, "s": 0}
    last_rank = -1
    for match in _PART.finditer(text):
        unit = match.group(2)
        rank = _UNIT_RANK.get(unit)
        if rank is None:
            raise DurationError(
                f"duration has unknown unit {quote(unit)} - use 'd', 'h', 'm' or 's', eg '1d' or '30s'"
            )
        if rank <= last_rank:
            raise DurationError(
                f"duration has unit {quote(unit)} out of order - units need to be ordered from largest "
                "to smallest - eg '1d3h2m'"
            )
        last_rank = rank
        values[unit] = int(match.group(1))
    return Duration(days=values["d"], hours=values["h"], minutes=values["m"], seconds=values["s"])
