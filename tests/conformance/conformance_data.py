"""The shared conformance data (`../shared/conformance/`), read when the tests are collected.

Parametrised tests need their cases before any fixture runs, so they read them here (none when
the data is absent); the `conformance_dir` fixture of tests/conftest.py then skips at run time.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

CONFORMANCE = Path(__file__).resolve().parents[3] / "shared" / "conformance"


def json_cases(name: str) -> list[dict[str, Any]]:
    """The cases of the JSON list `name`; [] when the file is not there."""
    path = CONFORMANCE / name
    if not path.is_file():
        return []
    cases: list[dict[str, Any]] = json.loads(path.read_text(encoding="utf-8"))
    return cases
