"""Durations (ftl/schema/duration.py)."""

from __future__ import annotations

import pytest

from ftl.schema.duration import Duration, DurationError, parse_duration


def test_components() -> None:
    assert parse_duration("1d3h2m5s") == Duration(days=1, hours=3, minutes=2, seconds=5)
    assert parse_duration("90s").total_seconds == 90
    assert parse_duration("1m5s").total_seconds == 65


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "unable to parse duration \"\" - expected duration in format like '1m' or '30s'"),
        ("1.5h", "unable to parse duration \"1.5h\" - expected duration in format like '1m' or '30s'"),
        ("2mins", "duration has unknown unit \"mins\" - use 'd', 'h', 'm' or 's', eg '1d' or '30s'"),
        (
            "5s1m",
            'duration has unit "m" out of order - units need to be ordered from largest to smallest '
            "- eg '1d3h2m'",
        ),
        (
            "20m20m",
            'duration has unit "m" out of order - units need to be ordered from largest to smallest '
            "- eg '1d3h2m'",
        ),
    ],
)
def test_errors(text: str, message: str) -> None:
    with pytest.raises(DurationError) as failure:
        parse_duration(text)
    assert str(failure.value) == message
