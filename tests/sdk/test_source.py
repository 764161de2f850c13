"""Parsed source files: parsed once per content, re-read when they change, definitions found anywhere."""

import ast
import os
import types
from pathlib import Path
from typing import Any

import pytest

from ftl.runtime.extract import source
from ftl.runtime.extract.source import load_source, pinned_sources, recheck_sources

NESTED = """\
import contextlib

def top():
    def inner():
        pass
    return inner

class Outer:
    class Inner:
        def method(self):
            pass

try:
    import json
except ImportError:
    def fallback():
        pass

match 1:
    case 1:
        class InMatch:
            pass

with contextlib.suppress(Exception):
    if True:
        def guarded():
            pass
    else:
        pass
"""


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_a_file_is_parsed_once_while_it_is_unchanged(tmp_path: Path) -> None:
    path = write(tmp_path / "a.py", "x = 1\n")
    first = load_source(path)
    assert first is not None and first is load_source(path)
    os.utime(path)  # touched, same bytes: nothing to parse again
    assert load_source(path) is first


def test_an_edit_is_seen_on_the_next_read(tmp_path: Path) -> None:
    path = write(tmp_path / "a.py", "x = 1\n")
    assert load_source(path) is not None
    write(path, "y = 22\n")
    edited = load_source(path)
    assert edited is not None and edited.text == "y = 22\n"


def test_recheck_catches_a_save_that_kept_the_stat(tmp_path: Path) -> None:
    path = write(tmp_path / "a.py", "x = 1\n")
    assert load_source(path) is not None
    write(path, "y = 2\n")
    # What a same-size save within one timestamp tick looks like to the cache.
    status = path.stat()
    source._cache[str(path)].stamp = (status.st_mtime_ns, status.st_ctime_ns, status.st_size, status.st_ino)
    stale = load_source(path)
    assert stale is not None and stale.text == "x = 1\n"
    recheck_sources(tmp_path)
    fresh = load_source(path)
    assert fresh is not None and fresh.text == "y = 2\n"


def test_pinned_sources_read_each_file_once(tmp_path: Path) -> None:
    path = write(tmp_path / "a.py", "x = 1\n")
    with pinned_sources():
        before = load_source(path)
        write(path, "y = 22\n")
        assert load_source(path) is before
        with pinned_sources():
            assert load_source(path) is before
    after = load_source(path)
    assert after is not None and after.text == "y = 22\n"


@pytest.mark.parametrize(
    ("name", "data"),
    [("broken.py", b"def f(:\n"), ("latin.py", b"# caf\xe9\n"), ("missing.py", None)],
)
def test_what_cannot_be_read_or_parsed_is_none(tmp_path: Path, name: str, data: bytes | None) -> None:
    path = tmp_path / name
    if data is not None:
        path.write_bytes(data)
    assert load_source(path) is None


def test_a_deleted_file_is_forgotten(tmp_path: Path) -> None:
    path = write(tmp_path / "a.py", "x = 1\n")
    assert load_source(path) is not None
    path.unlink()
    assert load_source(path) is None
    assert str(path) not in source._cache


def test_functions_and_classes_are_found_at_any_depth(tmp_path: Path) -> None:
    path = write(tmp_path / "nested.py", NESTED)
    namespace: dict[str, object] = {}
    exec(compile(NESTED, str(path), "exec"), namespace)
    parsed = load_source(path)
    assert parsed is not None
    top: Any = namespace["top"]
    outer: Any = namespace["Outer"]
    for function in (top, top(), outer.Inner.method, namespace["guarded"]):
        assert isinstance(function, types.FunctionType)
        found = parsed.find_function(function)
        assert found is not None
        assert (found.name, found.lineno) == (function.__name__, function.__code__.co_firstlineno)
    for cls in (outer, outer.Inner, namespace["InMatch"]):
        assert isinstance(cls, type)
        found_class = parsed.find_class(cls)
        assert found_class is not None and found_class.name == cls.__name__


def test_positions_count_characters_not_bytes(tmp_path: Path) -> None:
    path = write(tmp_path / "a.py", 'é = "ü"; value = 1\n')
    parsed = load_source(path)
    assert parsed is not None
    statement = parsed.tree.body[1]
    assert (parsed.pos(statement).line, parsed.pos(statement).column) == (1, 10)


def test_statements_are_every_statement_in_walk_order(tmp_path: Path) -> None:
    parsed = load_source(write(tmp_path / "nested.py", NESTED))
    assert parsed is not None
    walked = [node for node in ast.walk(parsed.tree) if isinstance(node, ast.stmt)]
    assert list(parsed.statements()) == walked


def test_the_code_is_compiled_from_the_tree_once(tmp_path: Path) -> None:
    parsed = load_source(write(tmp_path / "a.py", "from __future__ import annotations\nx = 1\n"))
    assert parsed is not None
    code = parsed.code()
    assert code is parsed.code() and code.co_filename == str(tmp_path / "a.py")
    namespace: dict[str, object] = {}
    exec(code, namespace)
    assert namespace["x"] == 1
