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


MODULE = """// bare module
module balance {
  export data Receipt {
    id String
  }

  data Request {
    amount Int
  }

  export verb withdraw(balance.Request) balance.Receipt

  verb hook(builtin.HttpRequest<Unit, Unit, Unit>) builtin.HttpResponse<String, String>
    +ingress http GET /hook
}
"""


def test_bare_modules_compare_by_canonical_text() -> None:
    messy = MODULE.replace("data Request {\n    amount Int\n  }", "data Request { amount Int }")
    result = diff_documents(MODULE, "old.ftl", messy, "new.ftl", with_changes=True)
    assert result.equal and result.changes == ()


def test_bare_modules_list_their_declarations_changes() -> None:
    new = MODULE.replace("    amount Int\n", "    amount Int\n    note String\n").replace(
        "export verb withdraw", "verb withdraw"
    )
    result = diff_documents(MODULE, "old.ftl", new, "new.ftl", with_changes=True)
    assert "+    note String\n" in result.diff
    assert [(str(c), c.breaking) for c in result.changes] == [
        ("balance.Request: required field note added to a request type", True),
        ("balance.withdraw: visibility narrowed from export to private", True),
    ]


def test_the_builtin_module_document_is_compared_too() -> None:
    old = "builtin module builtin {\n  export data Empty {\n  }\n}\n"
    new = "builtin module builtin {\n}\n"
    result = diff_documents(old, "old.ftl", new, "new.ftl", with_changes=True)
    assert [str(c) for c in result.breaking] == ["builtin.Empty: data removed"]


def test_a_bare_module_against_realms() -> None:
    realms = "realm bank {\n" + MODULE.replace("\n", "\n  ").rstrip(" ") + "}\n"
    assert diff_documents(MODULE, "old.ftl", realms, "new.ftl").diff.startswith("--- old.ftl\n")
    with pytest.raises(FtlError, match=r"a bare module \(old\.ftl\) and realms \(new\.ftl\)"):
        diff_documents(MODULE, "old.ftl", realms, "new.ftl", with_changes=True)


def test_an_invalid_bare_module_is_reported_with_its_place() -> None:
    broken = MODULE.replace("  data Request {", "  data Receipt {\n  }\n\n  data Request {")
    with pytest.raises(FtlError) as caught:
        diff_documents(MODULE, "old.ftl", broken, "new.ftl", with_changes=True)
    [diagnostic] = caught.value.diagnostics
    assert diagnostic.message.startswith('duplicate data "Receipt"')
    assert diagnostic.pos is not None and (diagnostic.pos.filename, diagnostic.pos.line) == ("new.ftl", 7)
