"""Cron patterns (ftl/schema/cron.py); upstream's cases are in tests/conformance/test_cron_conformance.py."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from ftl.schema.cron import CronError, next_after, parse_cron


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


@pytest.mark.parametrize(
    ("pattern", "standardized"),
    [
        ("5m", "0 */5 * * * * *"),
        ("5 m", "0 */5 * * * * *"),
        ("30s", "*/30 * * * * * *"),
        ("0s", "0 0 0 * * * *"),
        ("Wed", "0 0 0 * * 3 *"),
        ("0 9 * * 1-5", "0 0 9 * * 1-5 *"),
        ("30 0 * * * *", "30 0 * * * * *"),
        ("0 0 1 1 * 2030", "0 0 0 1 1 * 2030"),
        ("05 * * * *", "0 5 * * * * *"),
    ],
)
def test_patterns_become_seven_fields(pattern: str, standardized: str) -> None:
    assert parse_cron(pattern).standardized == standardized


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        ("", '1:1: unexpected token "<EOF>"'),
        ("1h30m", '1:2: unexpected token "h30m"'),
        ("0 0 * * MON", '1:9: unexpected token "MON"'),
        ("* * * *", "expected 5-7 components, got 4"),
        ("60 * * * *", "failed to parse cron expression: syntax error in minute field: '60'"),
        ("*/0 * * * *", "failed to parse cron expression: invalid interval */0"),
        ("90s", "failed to parse cron expression: invalid interval */90"),
        ("5M", "duration has unknown unit \"M\" - use 'd', 'h', 'm' or 's', eg '1d' or '30s'"),
        ("0 0 31 4 *", "unable to find next timeout for 0 0 31 4 *"),
        ("1;", '1:2: invalid input text ";"'),
    ],
)
def test_invalid_patterns(pattern: str, message: str) -> None:
    with pytest.raises(CronError) as failure:
        parse_cron(pattern)
    assert str(failure.value) == message


def test_next_after_is_strict_unless_inclusive() -> None:
    hourly = parse_cron("0 * * * *")
    assert next_after(hourly, _at("2025-01-01T10:00:00Z")) == _at("2025-01-01T11:00:00Z")
    assert next_after(hourly, _at("2025-01-01T10:00:00Z"), inclusive=True) == _at("2025-01-01T10:00:00Z")
    assert next_after(hourly, _at("2025-01-01T10:59:59.9Z")) == _at("2025-01-01T11:00:00Z")


def test_next_after_works_in_utc() -> None:
    daily = parse_cron("0 0 * * *")
    origin = datetime(2025, 1, 1, 23, 30, tzinfo=timezone(timedelta(hours=2)))
    assert next_after(daily, origin) == datetime(2025, 1, 2, tzinfo=UTC)
    assert next_after(daily, datetime(2025, 1, 1, 12)) == datetime(2025, 1, 2, tzinfo=UTC)  # naive is UTC


def test_day_of_month_and_day_of_week_combine_with_or() -> None:
    pattern = parse_cron("0 0 13 * 5")
    times = [next_after(pattern, _at("2025-01-01T00:00:00Z"))]
    for _ in range(3):
        times.append(next_after(pattern, times[-1]))
    assert [t.day for t in times] == [3, 10, 13, 17]


def test_a_pattern_that_stops_firing_raises() -> None:
    pattern = parse_cron("0 0 0 1 1 * 2030")
    with pytest.raises(CronError, match="unable to find next timeout"):
        next_after(pattern, _at("2030-06-01T00:00:00Z"))
