"""Every document of conformance/schema/ (and legacy-2024/): verdict and error positions.

Line 1 of each document is a header for the harness (`source: ... | mode: ... | expect: ...`);
it is removed before parsing, and the header's positions count from the line after it. We also
match upstream's message texts exactly wherever we do not deliberately differ (OVERRIDES).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest
from conformance_data import CONFORMANCE

from ftl.errors import Diagnostic, FtlError
from ftl.schema import ast, parse_module, parse_schema, print_module, print_schema
from ftl.schema.validate import validate_module, validate_schema

_DIR = CONFORMANCE / "schema"
_POSITION = re.compile(r"(\d+):(\d+): ")

# Where we deliberately differ from the header, the errors we expect instead, and why.
OVERRIDES: dict[str, tuple[list[str], str]] = {
    "legacy-2024/valid_01_legacy2024_module_list.ftl": (
        ['1:1: unexpected token "module" (expected the end of the input, "external", "realm")'],
        "the Dec-2024 grammar (modules without realms) is not supported; the Aug-2025 parser rejects it too",
    ),
    "legacy-2024/invalid_01_legacy2024_data_metadata.ftl": (
        ['1:1: unexpected token "module" (expected the end of the input, "external", "realm")'],
        "the Dec-2024 grammar (modules without realms) is not supported; the Aug-2025 parser rejects it too",
    ),
}


@dataclass(frozen=True)
class Case:
    name: str
    module_mode: bool
    body: str
    expected: list[str]  # upstream's error strings, `LINE:COL: message` or a bare message


def _cases() -> list[Case]:
    cases = []
    for path in sorted(_DIR.glob("**/*.ftl")) if _DIR.is_dir() else []:
        header, _, body = path.read_text(encoding="utf-8").partition("\n")
        fields = [field.strip() for field in header.removeprefix("//").split(" | ")]
        mode = next(field for field in fields if field.startswith("mode:"))
        expect = next(field for field in fields if field.startswith("expect"))
        expected = (
            expect.removeprefix("expect errors:").strip().split(" || ") if expect != "expect: OK" else []
        )
        name = path.relative_to(_DIR).as_posix()
        cases.append(Case(name, "ParseModuleString" in mode, body, expected))
    return cases


def _check(case: Case) -> tuple[list[Diagnostic], ast.Schema | ast.Module | None]:
    """The errors (a parse error or the validation errors), and the normalised document."""
    try:
        if case.module_mode:
            module, diagnostics = validate_module(parse_module(case.body))
            return diagnostics, module
        schema, diagnostics = validate_schema(parse_schema(case.body))
        return diagnostics, schema
    except FtlError as failure:
        return failure.diagnostics, None


def _positions(errors: list[str]) -> tuple[set[str], int]:
    """The `line:col` of each error, and how many errors have no position."""
    positions = {match.group(0)[:-2] for error in errors if (match := _POSITION.match(error))}
    return positions, sum(1 for error in errors if not _POSITION.match(error))


@pytest.mark.parametrize("case", _cases(), ids=lambda case: case.name)
def test_schema_document(case: Case, conformance_dir: Path) -> None:
    expected = OVERRIDES[case.name][0] if case.name in OVERRIDES else case.expected
    diagnostics, normalised = _check(case)
    got = [str(d) for d in diagnostics]
    assert bool(got) == bool(expected), got
    assert _positions(got) == _positions(expected)
    assert sorted(got) == sorted(expected)  # our wording is upstream's for every document
    assert diagnostics == sorted(set(diagnostics))  # sorted by position, each error once
    if not expected:
        _assert_fixed_point(normalised)


def _assert_fixed_point(normalised: ast.Schema | ast.Module | None) -> None:
    """The normalised document prints, parses and validates back to itself."""
    if isinstance(normalised, ast.Module):
        assert validate_module(parse_module(print_module(normalised))) == (normalised, [])
    else:
        assert isinstance(normalised, ast.Schema)
        assert validate_schema(parse_schema(print_schema(normalised))) == (normalised, [])


def test_every_document_is_covered(conformance_dir: Path) -> None:
    names = {case.name for case in _cases()}
    assert len(names) == 32
    assert set(OVERRIDES) <= names
