"""Every pattern of conformance/cron.json: accepted or rejected (with upstream's message), its
seven-field form, and the fire times `next_after` gives from the case's origin."""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from conformance_data import json_cases

from ftl.schema.cron import CronError, CronPattern, next_after, parse_cron

_RFC3339 = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)")


def _cases() -> list[dict[str, Any]]:
    return json_cases("cron.json")


def _time(text: str) -> datetime:
    """RFC 3339 with up to nanoseconds (datetime keeps microseconds; only whole seconds matter)."""
    match = _RFC3339.fullmatch(text)
    assert match is not None, text
    seconds, fraction, zone = match.groups()
    micros = (fraction or "").ljust(6, "0")[:6]
    return datetime.fromisoformat(f"{seconds}.{micros}{'+00:00' if zone == 'Z' else zone}")


def _rfc3339(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _series(pattern: CronPattern, case: dict[str, Any], count: int) -> tuple[list[str], str | None]:
    times: list[str] = []
    moment, inclusive = _time(case["from"]), bool(case["inclusive"])
    try:
        for _ in range(count):
            moment = next_after(pattern, moment, inclusive)
            inclusive = False
            times.append(_rfc3339(moment))
    except CronError as failure:
        return times, str(failure)
    return times, None


@pytest.mark.parametrize("case", _cases(), ids=lambda case: str(case["id"]))
def test_cron_case(case: dict[str, Any], conformance_dir: Path) -> None:
    if not case["valid"]:
        with pytest.raises(CronError) as failure:
            parse_cron(case["pattern"])
        assert str(failure.value) == case["error"]
        return
    pattern = parse_cron(case["pattern"])
    assert pattern.standardized == case["standardized"]
    if "from" not in case:
        return
    expected = case["next"]
    times, error = _series(pattern, case, len(expected) + (1 if "next_error" in case else 0))
    assert times == expected
    assert error == case.get("next_error")
    if "until" in case:
        until = _time(case["until"])
        fired, moment = 0, _time(case["from"])
        while True:
            try:
                moment = next_after(pattern, moment)
            except CronError:
                break
            if moment > until:
                break
            fired += 1
        assert fired == case["count"]


def test_every_case_is_here(conformance_dir: Path) -> None:
    assert len(_cases()) == 146
