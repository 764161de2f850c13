"""`+calls` from what code uses: shared and recursive helpers, wrapped helpers, only the user's code read."""

from collections.abc import Callable
from pathlib import Path

import pytest

from ftl.runtime.extract import source, usage
from ftl.runtime.extract.source import SourceFile
from ftl.runtime.loader import LoadedModule
from ftl.schema import ast

Load = Callable[..., LoadedModule]
Stubs = Callable[[str, str], Path]

CLOCK_STUB = """\
import ftl
time = ftl.VerbClient("time", "time", int, int)
zone = ftl.VerbClient("time", "zone", int, int)
"""

MODULE = """\
import contextlib
from dataclasses import dataclass

import ftl
from ftl_modules import time as clock


@dataclass
class Req:
    n: int


def shared(depth: int) -> int:
    if depth:
        return shared(depth - 1)  # recursion ends
    return clock.time(depth)


@contextlib.contextmanager
def zoned():
    clock.zone(0)
    yield


def make_caller():
    client = clock.time

    def call() -> int:
        return client(1)

    return call


via_closure = make_caller()


class Audit:
    def record(self) -> None:
        with zoned():
            pass


@ftl.verb
def first(req: Req) -> None:
    shared(2)


@ftl.verb
def second(req: Req) -> None:
    shared(1)
    Audit().record()


@ftl.verb
def third(req: Req) -> None:
    via_closure()


@ftl.verb
def plain(req: Req) -> Req:
    return Req(n=req.n)
"""


def calls(schema: ast.Module, name: str) -> list[str]:
    decl = schema.decl(name)
    assert isinstance(decl, ast.Verb)
    found = next((m for m in decl.metadata if isinstance(m, ast.MetadataCalls)), None)
    return [f"{r.module}.{r.name}" for r in found.calls] if found else []


def test_helpers_are_followed_for_every_verb_that_reaches_them(
    load: Load, stubs: Stubs, monkeypatch: pytest.MonkeyPatch
) -> None:
    read: list[str] = []
    source_of = source.source_of

    def recording(obj: object) -> SourceFile | None:
        found = source_of(obj)
        read.append(found.path if found else repr(obj))
        return found

    monkeypatch.setattr(usage, "source_of", recording)
    root = stubs("time", CLOCK_STUB)
    loaded = load(MODULE, stubs=root)
    schema = loaded.schema
    assert calls(schema, "first") == ["time.time"]
    assert calls(schema, "second") == ["time.time", "time.zone"]
    assert calls(schema, "third") == ["time.time"]
    assert calls(schema, "plain") == []
    package_file = str(loaded.directory / "shop" / "__init__.py")
    # Only the package's own code is read (not dataclasses.py or contextlib.py), each function once.
    assert set(read) == {package_file}
    assert len(read) == len({"first", "second", "third", "plain", "shared", "zoned", "call", "record"})
