"""The time module: tells the time."""

from dataclasses import dataclass
from datetime import UTC, datetime

import ftl


@dataclass
class TimeRequest:
    """Asks for the current time."""


@dataclass
class TimeResponse:
    time: datetime


@ftl.verb(export=True)
def time(req: TimeRequest) -> TimeResponse:
    """The current time, in UTC."""
    return TimeResponse(time=datetime.now(UTC))
