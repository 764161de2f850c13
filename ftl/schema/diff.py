"""Schema diffs: a unified diff of two documents' canonical (printed) texts, and optionally the
list of changes between them (`ftl.schema.breaking`)."""

from __future__ import annotations

import difflib
from dataclasses import dataclass

from ftl.errors import FtlError
from ftl.schema import ast, parse_schema, print_schema, validate_schema
from ftl.schema.breaking import Change, schema_changes


@dataclass(frozen=True)
class SchemaDiff:
    diff: str
    changes: tuple[Change, ...] = ()

    @property
    def equal(self) -> bool:
        return not self.diff

    @property
    def breaking(self) -> tuple[Change, ...]:
        return tuple(c for c in self.changes if c.breaking)


def diff_documents(
    old_text: str, old_label: str, new_text: str, new_label: str, *, with_changes: bool = False
) -> SchemaDiff:
    """Diff two schema documents; `with_changes` also validates both and lists their changes."""
    old = parse_schema(old_text, old_label)
    new = parse_schema(new_text, new_label)
    diff = unified_diff(print_schema(old), print_schema(new), old_label, new_label)
    if not with_changes:
        return SchemaDiff(diff)
    return SchemaDiff(diff, tuple(schema_changes(_validated(old), _validated(new))))


def unified_diff(old: str, new: str, old_label: str = "old", new_label: str = "new") -> str:
    """`diff -u` of two texts; empty when they are equal."""
    lines = difflib.unified_diff(
        old.splitlines(keepends=True), new.splitlines(keepends=True), old_label, new_label
    )
    return "".join(
        line if line.endswith("\n") else line + "\n\\ No newline at end of file\n" for line in lines
    )


def _validated(schema: ast.Schema) -> ast.Schema:
    validated, diagnostics = validate_schema(schema)
    if diagnostics:
        raise FtlError(diagnostics)
    return validated
