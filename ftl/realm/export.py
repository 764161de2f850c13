"""`ftl schema export`: write (or check) this realm's public schema file."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ftl.errors import Diagnostic, FtlError, Position
from ftl.files import display_path, write_text_atomic
from ftl.project import Project, key_place
from ftl.realm._reasons import unreadable
from ftl.realm.public import public_schema
from ftl.schema import ast, print_schema
from ftl.schema.diff import unified_diff


@dataclass(frozen=True)
class ExportCheck:
    """The file as it should be against the file as it is; `diff` is empty when up to date."""

    path: Path
    exists: bool
    diff: str

    @property
    def up_to_date(self) -> bool:
        return self.exists and not self.diff


def public_schema_text(schema: ast.Schema, realm: str) -> str:
    """The canonical text of `realm`'s public schema (what the public-schema file holds)."""
    return print_schema(public_schema(schema, realm))


def export_path(project: Project, output: Path | None = None) -> Path:
    return output if output is not None else project.root / project.public_schema


def export_target(project: Project, output: str | None, *, writing: bool = True) -> Path:
    """The file `ftl schema export` writes (or checks): `output`, else the project's `public-schema`
    (which `load_project` keeps inside the project); a directory there is an error, pointing at
    the key in `ftl-project.toml` when it comes from there."""
    not_a_file = "is a directory and cannot be written" if writing else "is a directory, not a file"
    if output is not None:
        if Path(output).is_dir():
            raise FtlError(f"{output} {not_a_file}")
        return Path(output)
    path = export_path(project)
    if path.is_dir():
        try:
            text = project.path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            text = ""
        line, column = key_place(text, ("public-schema",))
        message = f'public-schema "{project.public_schema}" {not_a_file}'
        raise FtlError([Diagnostic(message, Position(display_path(project.path), line, column))])
    return path


def project_schema(project: Project) -> ast.Schema:
    """The project's merged, validated schema, built from its sources (no server needed).

    The build is asked for every module by name: a whole-project build would itself rewrite the
    public schema file, which `ftl schema export --check` must never do.
    """
    from ftl.build import build_project, discover_modules  # late: only this needs the build machinery

    names = [module.name for module in discover_modules(project)]
    if not names:
        return ast.Schema(realms=(ast.Realm(name=project.realm),))
    result = build_project(project, names)
    if result.diagnostics or result.schema is None:
        raise FtlError(result.diagnostics or "the project's schema could not be built")
    return result.schema


def write_public_schema(project: Project, schema: ast.Schema, output: Path | None = None) -> bool:
    """Write the public schema file (atomically) if it changed; returns whether it did."""
    path = export_path(project, output)
    text = public_schema_text(schema, project.realm)
    if _read(path) == text:
        return False
    write_text_atomic(path, text)
    return True


def check_public_schema(project: Project, schema: ast.Schema, output: Path | None = None) -> ExportCheck:
    """Compare the public schema file with what export would write; writes nothing."""
    path = export_path(project, output)
    expected = public_schema_text(schema, project.realm)
    current = _read(path)
    label = display_path(path)
    diff = unified_diff(current or "", expected, f"{label} (on disk)", f"{label} (from sources)")
    return ExportCheck(path=path, exists=current is not None, diff=diff)


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise unreadable(display_path(path), exc) from exc
