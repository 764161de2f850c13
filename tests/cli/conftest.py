"""Commands run in-process (typer's CliRunner) set process-wide output state: reset it per test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ftl.cli import output


@pytest.fixture(autouse=True)
def plain_output_reset() -> Iterator[None]:
    yield
    output.set_plain(False)
