"""Schema diffs: a unified diff of two documents' canonical (printed) texts, and optionally the
list of changes between them (`ftl.schema.breaking`).

A document is what `ftl schema validate` takes: realms, or one bare `module` block. A bare module
is compared as the one module of an unnamed realm (beside the builtin module its references reach).
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

from ftl.errors import FtlError
from ftl.schema import ast, parse_document, print_module, print_schema, validate_module, validate_schema
from ftl.schema.breaking import Change, schema_changes
from ftl.schema.builtin import BUILTIN_MODULE, BUILTINS

Document = ast.Schema | ast.Module


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
    """Diff two schema documents; `with_changes` also validates both and lists their changes
    (which needs both to be realms, or both bare modules)."""
    old = parse_document(old_text, old_label)
    new = parse_document(new_text, new_label)
    diff = unified_diff(canonical_text(old), canonical_text(new), old_label, new_label)
    if not with_changes:
        return SchemaDiff(diff)
    if isinstance(old, ast.Module) != isinstance(new, ast.Module):
        module, realms = (old_label, new_label) if isinstance(old, ast.Module) else (new_label, old_label)
        raise FtlError(
            f"cannot list the changes between a bare module ({module}) and realms ({realms}): "
            "compare two documents of the same kind"
        )
    return SchemaDiff(diff, tuple(schema_changes(_validated(old), _validated(new))))


def canonical_text(document: Document) -> str:
    """The document as `ftl schema fmt` prints it."""
    if isinstance(document, ast.Module):
        return print_module(document) + "\n"
    return print_schema(document)


def unified_diff(old: str, new: str, old_label: str = "old", new_label: str = "new") -> str:
    """`diff -u` of two texts; empty when they are equal."""
    lines = difflib.unified_diff(
        old.splitlines(keepends=True), new.splitlines(keepends=True), old_label, new_label
    )
    return "".join(
        line if line.endswith("\n") else line + "\n\\ No newline at end of file\n" for line in lines
    )


def _validated(document: Document) -> ast.Schema:
    if isinstance(document, ast.Schema):
        validated, diagnostics = validate_schema(document)
        if diagnostics:
            raise FtlError(diagnostics)
        return validated
    module, diagnostics = validate_module(document)
    if diagnostics:
        raise FtlError(diagnostics)
    if module.name == BUILTIN_MODULE:
        # Breaking checks skip builtin modules; this one is the document, so compare it like any other.
        return ast.Schema(realms=(ast.Realm(name="", modules=(ast.replace(module, builtin=False),)),))
    return ast.Schema(realms=(ast.Realm(name="", modules=(BUILTINS, module)),))
