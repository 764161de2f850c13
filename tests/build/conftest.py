"""A fixture that writes a small project (ftl-project.toml plus modules) to a temp dir."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from ftl.project import Project, load_project

MakeProject = Callable[..., Project]

TIME = """\
from dataclasses import dataclass
from datetime import datetime
import ftl

@dataclass
class TimeResponse:
    time: datetime

@ftl.verb(export=True)
def now() -> TimeResponse:
    return TimeResponse(datetime.now())
"""

ECHO = """\
from dataclasses import dataclass
import ftl
from ftl_modules import clock

@dataclass
class EchoRequest:
    name: str

@ftl.verb(export=True)
def echo(req: EchoRequest) -> clock.TimeResponse:
    return clock.now()
"""


SOURCES = {"clock": TIME, "echo": ECHO}


@pytest.fixture
def make_project(tmp_path: Path) -> MakeProject:
    """`make_project({"clock": None, "echo": source})` -> a Project with those modules under modules/.

    A source of None is the standard one of that name: `clock` (a verb `now`) and `echo` (calls it).
    """

    def make(modules: dict[str, str | None], *, realm: str = "shop", extra: str = "") -> Project:
        root = tmp_path / "project"
        root.mkdir(exist_ok=True)
        (root / "ftl-project.toml").write_text(f'realm = "{realm}"\nmodule-dirs = ["modules"]\n{extra}')
        for name, source in modules.items():
            directory = root / "modules" / name
            (directory / name).mkdir(parents=True, exist_ok=True)
            (directory / "ftl.toml").write_text(f'module = "{name}"\nlanguage = "python"\n')
            (directory / name / "__init__.py").write_text(textwrap.dedent(source or SOURCES[name]))
        return load_project(root / "ftl-project.toml")

    return make
