"""The dev status model: transitions and what each status line says."""

from __future__ import annotations

from ftl.devserver.status import DevStatus, ModuleState, format_age, format_ms, status_line


def test_a_module_goes_from_pending_to_serving() -> None:
    status = DevStatus()
    status.discovered("echo")
    assert status.get("echo") is not None
    assert status_line(status.rows()[0], now=0) == "○  echo  -  pending"
    status.building("echo")
    assert status.rows()[0].state is ModuleState.BUILDING
    status.deployed("echo", version=1, at=100.0, reload_ms=84.2)
    row = status.rows()[0]
    assert row.state is ModuleState.SERVING and row.serving
    assert status_line(row, now=112.5) == "●  echo  v1 · 12s ago  84 ms"


def test_a_failure_keeps_the_serving_version_visible() -> None:
    status = DevStatus()
    status.deployed("echo", version=3, at=0.0, reload_ms=5.04)
    status.building("echo")
    status.failed("echo", "echo/__init__.py:3:5: invalid syntax")
    row = status.rows()[0]
    assert row.serving and row.version == 3
    assert status_line(row, now=120) == (
        "✖  echo  v3 · 2m ago  5.0 ms  echo/__init__.py:3:5: invalid syntax (v3 still serving)"
    )
    status.deployed("echo", version=4, at=130.0, reload_ms=40)
    assert status.rows()[0].error == ""


def test_a_failure_before_any_deploy_says_nothing_serves() -> None:
    status = DevStatus()
    status.failed("time", "time/__init__.py:1:1: boom")
    row = status.rows()[0]
    assert not row.serving
    assert status_line(row, now=0) == "✖  time  -  time/__init__.py:1:1: boom"


def test_unchanged_returns_to_the_previous_state() -> None:
    status = DevStatus()
    status.discovered("a")
    status.deployed("b", version=1, at=1.0, reload_ms=1.0)
    for name in ("a", "b"):
        status.building(name)
        status.unchanged(name)
    assert [r.state for r in status.rows()] == [ModuleState.PENDING, ModuleState.SERVING]
    status.failed("a", "x")
    status.unchanged("a")
    assert status.get("a") is not None and status.rows()[0].state is ModuleState.FAILED


def test_crash_and_recovery() -> None:
    status = DevStatus()
    status.deployed("echo", version=2, at=0.0, reload_ms=None)
    status.crashed("echo", "runner exited with code -9")
    row = status.rows()[0]
    assert row.state is ModuleState.CRASHED and not row.serving
    assert status_line(row, now=3) == "▲  echo  v2 · 3s ago  runner exited with code -9"
    status.recovered("echo")
    assert status.rows()[0].state is ModuleState.SERVING


def test_rows_are_sorted_and_removal_forgets() -> None:
    status = DevStatus()
    for name in ("time", "echo", "greeter"):
        status.discovered(name)
    assert status.names() == ["echo", "greeter", "time"]
    status.removed("greeter")
    assert "greeter" not in status
    assert [r.name for r in status.rows()] == ["echo", "time"]


def test_formatting() -> None:
    assert [format_age(s) for s in (-1, 0, 59.9, 60, 3599, 3600, 86400 * 2)] == [
        "0s",
        "0s",
        "59s",
        "1m",
        "59m",
        "1h",
        "2d",
    ]
    assert format_ms(3.14159) == "3.1 ms"
    assert format_ms(123.6) == "124 ms"
