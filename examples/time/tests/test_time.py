from datetime import UTC, datetime

from time_module import TimeRequest, time

from ftl.testing import call


def test_time_is_now_in_utc() -> None:
    before = datetime.now(UTC)
    response = call(time, TimeRequest())
    assert before <= response.time <= datetime.now(UTC)
