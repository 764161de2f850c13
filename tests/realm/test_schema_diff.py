from __future__ import annotations

import pytest

from ftl.errors import FtlError
from ftl.schema.diff import diff_documents, unified_diff

OLD = "realm a {\n  module m {\n    export realm data D {\n      x Int\n    }\n  }\n}\n"


def test_equal_documents_after_canonical_printing() -> None:
    messy = "realm a { module m { export realm data D { x Int } } }"
    result = diff_documents(OLD, "old.ftl", messy, "new.ftl", with_changes=True)
    assert result.equal and result.diff == "" and result.changes == ()


def test_a_unified_diff_with_labels() -> None:
    new = OLD.replace("x Int", "x String")
    result = diff_documents(OLD, "old.ftl", new, "new.ftl")
    assert result.diff.splitlines()[:2] == ["--- old.ftl", "+++ new.ftl"]
    assert "-      x Int" in result.diff and "+      x String" in result.diff
    assert result.changes == ()


def test_changes_come_with_breaking_flags() -> None:
    new = OLD.replace("x Int", "x Int\n      y Int?")
    result = diff_documents(OLD, "old.ftl", new, "new.ftl", with_changes=True)
    assert not result.equal
    assert [str(c) for c in result.changes] == ["m.D: optional field y added"]
    assert result.breaking == ()


def test_parse_errors_carry_the_label() -> None:
    with pytest.raises(FtlError) as caught:
        diff_documents(OLD, "old.ftl", "realm a {", "git:HEAD:new.ftl")
    [diagnostic] = caught.value.diagnostics
    assert diagnostic.pos is not None and diagnostic.pos.filename == "git:HEAD:new.ftl"


def test_unified_diff_marks_a_missing_final_newline() -> None:
    assert unified_diff("a\n", "a\nb", "x", "y").endswith("+b\n\\ No newline at end of file\n")
    assert unified_diff("same\n", "same\n") == ""
