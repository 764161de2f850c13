"""Config and secret values: where they live, how they are read, changed and checked.

Values are JSON values. Config lives in `ftl-project.toml` (`[config]` for every module,
`[modules.M.config]` for one), edited with tomlkit so the user's comments and layout survive.
Secrets never go there: they live in `.ftl/secrets.toml` (mode 0600, inside the git-ignored state
directory) with the same layout (`[secrets]`, `[modules.M.secrets]`), or come from the environment
as `FTL_SECRET_<MODULE>_<NAME>` (NAME in UPPER_SNAKE: `apiKey` is `API_KEY`), which wins over the
file. An environment value is JSON when it parses as JSON, else the text itself.

A module sees the project-level values overlaid with its own (`values_for`). TOML has no null,
so a value containing null cannot be stored; unset the key instead.
"""

from __future__ import annotations

import difflib
import json
import math
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time
from pathlib import Path
from typing import Any, Literal

import tomlkit
import tomlkit.exceptions
from tomlkit.items import Table

from ftl.errors import FtlError
from ftl.files import write_atomic
from ftl.names import lower_camel, snake_case
from ftl.project import Project
from ftl.schema import ast
from ftl.schema.jsonvalidate import INT64_MAX, INT64_MIN, validate_json

Kind = Literal["config", "secret"]

SECRETS_FILE = "secrets.toml"
_SECTION: dict[Kind, str] = {"config": "config", "secret": "secrets"}
_MODULE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
_SECRETS_HEADER = "# Secrets of this FTL project, written by `ftl secret set`. Never commit this file.\n"


@dataclass(frozen=True, order=True)
class Key:
    """`[MODULE.]NAME`; `module` is "" for a project-level value, seen by every module."""

    module: str
    name: str

    def __str__(self) -> str:
        return f"{self.module}.{self.name}" if self.module else self.name


@dataclass(frozen=True)
class Entry:
    key: Key
    value: Any
    source: str  # where the value comes from: a file (relative to the project) or `env NAME`


def parse_key(text: str) -> Key:
    """`echo.greeting` or `greeting`; raises FtlError for anything else."""
    module, dot, name = text.rpartition(".")
    if (dot and not _MODULE.fullmatch(module)) or not _NAME.fullmatch(name):
        raise FtlError(f"invalid key {text!r}: write NAME or MODULE.NAME (letters, digits, underscores)")
    return Key(module, name)


def parse_value(text: str) -> Any:
    """A value given on the command line: JSON, with a hint for the usual mistake (a bare string)."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        hint = (
            f": strings need JSON quotes, e.g. '{json.dumps(text)}'" if text and text[0] not in '[{"' else ""
        )
        raise FtlError(f"value is not valid JSON ({exc.msg}){hint}") from None


def secret_env_var(module: str, name: str) -> str:
    """The environment variable that supplies secret `module.name`: `FTL_SECRET_ECHO_API_KEY`."""
    return f"FTL_SECRET_{module.upper()}_{snake_case(name).upper()}"


# ---------------------------------------------------------------------------------------------
# Reading


def values_for(project: Project, kind: Kind, module: str) -> dict[str, Any]:
    """Every value module `module` sees: project-level ones overlaid with its own (and env, for secrets)."""
    values = {e.key.name: e.value for e in _stored(project, kind) if e.key.module in ("", module)}
    if kind == "config":
        # Module-level entries come after project-level ones in `_stored`, so they win.
        return values
    for entry in _env_secrets(module, known=values):
        values[entry.key.name] = entry.value
    return values


def list_values(project: Project, kind: Kind) -> list[Entry]:
    """Every stored value, project-level first, then by module and name (env secrets included)."""
    entries = {e.key: e for e in _stored(project, kind)}
    if kind == "secret":
        modules = {e.key.module for e in entries.values() if e.key.module} | _module_dir_names(project)
        for module in _env_secret_modules(modules):
            known = {e.key.name: None for e in entries.values() if e.key.module == module}
            for entry in _env_secrets(module, known=known):
                entries[entry.key] = entry
    return sorted(entries.values(), key=lambda e: e.key)


def get_value(project: Project, kind: Kind, key: Key) -> Entry:
    """The value `key` has for its module (its own, else project-level); FtlError when unset."""
    if kind == "secret" and key.module:
        variable = secret_env_var(key.module, key.name)
        if variable in os.environ:
            return Entry(key, _env_value(os.environ[variable]), f"env {variable}")
    stored = {e.key: e for e in _stored(project, kind)}
    entry = stored.get(key) or stored.get(Key("", key.name))
    if entry is None:
        raise FtlError(f"{kind} {key} is not set")
    return entry


def _stored(project: Project, kind: Kind) -> list[Entry]:
    path = _file(project, kind)
    if not path.is_file():
        return []
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise FtlError(f"cannot read {_display(project, path)}: {exc}") from exc
    section = _SECTION[kind]
    source = _display(project, path)
    entries = [Entry(Key("", n), _from_toml(v), source) for n, v in _table(data.get(section)).items()]
    for module, tables in sorted(_table(data.get("modules")).items()):
        for name, value in _table(_table(tables).get(section)).items():
            entries.append(Entry(Key(module, name), _from_toml(value), source))
    return entries


def _env_secrets(module: str, *, known: Mapping[str, Any]) -> list[Entry]:
    prefix = f"FTL_SECRET_{module.upper()}_"
    by_variable = {secret_env_var(module, name): name for name in known}
    entries = []
    for variable, text in sorted(os.environ.items()):
        if variable.startswith(prefix) and len(variable) > len(prefix):
            name = by_variable.get(variable) or lower_camel(variable[len(prefix) :].lower())
            entries.append(Entry(Key(module, name), _env_value(text), f"env {variable}"))
    return entries


def _env_secret_modules(known: set[str]) -> set[str]:
    """Modules named by FTL_SECRET_<MODULE>_<NAME> variables. Both parts may contain `_`, so prefer
    the longest known module name that fits, else take the first word."""
    modules = set()
    for variable in os.environ:
        if not variable.startswith("FTL_SECRET_") or variable.count("_") < 3:
            continue
        rest = variable[len("FTL_SECRET_") :]
        fitting = [m for m in known if rest.startswith(f"{m.upper()}_") and len(rest) > len(m) + 1]
        modules.add(max(fitting, key=len) if fitting else rest.split("_")[0].lower())
    return modules


def _module_dir_names(project: Project) -> set[str]:
    return {
        p.parent.name for root in project.module_roots() if root.is_dir() for p in root.glob("*/ftl.toml")
    }


def _env_value(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


# ---------------------------------------------------------------------------------------------
# Changing


def set_value(
    project: Project, kind: Kind, key: Key, value: Any, *, schema: ast.Schema | None = None
) -> None:
    """Store `value` for `key`, first checking it against the declared type when `schema` is given."""
    if schema is not None:
        problems = check_value(schema, kind, key, value)
        if problems:
            raise FtlError(f"invalid value for {kind} {key}: " + "; ".join(problems))
    item = _to_toml(value, str(key))
    document = _read_document(project, kind)
    table = _section(document, kind, key.module, create=True)
    assert table is not None
    table[key.name] = item
    _write_document(project, kind, document)


def unset_value(project: Project, kind: Kind, key: Key) -> None:
    """Remove the stored value of `key` (exactly that key: a module's, or the project-level one)."""
    document = _read_document(project, kind)
    table = _section(document, kind, key.module, create=False)
    if table is None or key.name not in table:
        where = _display(project, _file(project, kind))
        raise FtlError(f"{kind} {key} is not set in {where}")
    del table[key.name]
    _prune(document, kind, key.module)
    _write_document(project, kind, document)


def check_value(schema: ast.Schema, kind: Kind, key: Key, value: Any) -> list[str]:
    """Problems of `value` against every declaration it feeds: the module's own `config NAME T`
    (or `secret`), or for a project-level key, that declaration in any module."""
    wanted = ast.Config if kind == "config" else ast.Secret
    problems: list[str] = []
    for realm in schema.internal_realms():
        for module in realm.modules:
            if key.module and module.name != key.module:
                continue
            declared = _find(module, wanted, key.name)
            if declared is not None:
                problems += validate_json(value, declared.type, schema, f"{module.name}.{key.name}")
    return problems


def undeclared_problem(schema: ast.Schema, kind: Kind, key: Key) -> str | None:
    """Why no declaration reads `key` (a typo, usually), or None when one does."""
    wanted = ast.Config if kind == "config" else ast.Secret
    modules = [m for realm in schema.internal_realms() for m in realm.modules if not m.builtin]
    if key.module and key.module not in {m.name for m in modules}:
        return f"there is no module {key.module!r} in this project"
    readers = [m for m in modules if key.module in ("", m.name)]
    if any(_find(m, wanted, key.name) is not None for m in readers):
        return None
    names = sorted({d.name for m in readers for d in m.decls if isinstance(d, wanted)})
    known = f" (declared: {', '.join(names)})" if names else ""
    if key.module:
        return f"module {key.module} declares no {kind} {key.name!r}{known}"
    return f"no module declares a {kind} {key.name!r}{known}"


def env_secret_problems(schema: ast.Schema, entries: list[Entry]) -> list[str]:
    """Why each environment secret among `entries` is read by no module (a misspelled variable,
    usually), with the variable the secret it most likely meant is read from."""
    problems = []
    for entry in entries:
        problem = undeclared_problem(schema, "secret", entry.key) if entry.source.startswith("env ") else None
        if problem is None:
            continue
        module = entry.key.module
        modules = [m for realm in schema.internal_realms() for m in realm.modules if m.name == module]
        declared = [d.name for m in modules for d in m.decls if isinstance(d, ast.Secret)]
        meant = difflib.get_close_matches(entry.key.name.lower(), [n.lower() for n in declared], 1, 0.8)
        hint = ""
        if meant:
            name = next(n for n in declared if n.lower() == meant[0])
            hint = f"; {entry.key.module}.{name} is read from {secret_env_var(entry.key.module, name)}"
        problems.append(f"{entry.source.removeprefix('env ')}: {problem}{hint}")
    return problems


def declared_schema(project: Project) -> ast.Schema | None:
    """The project's schema as its sources declare it, when the build can produce one; else None."""
    try:
        from ftl.build import build_project  # type: ignore[attr-defined,unused-ignore]
    except ImportError:
        return None
    try:
        result = build_project(project)
    except FtlError:
        return None
    schema: ast.Schema | None = result.schema
    return schema if not result.diagnostics else None


def _find(
    module: ast.Module, wanted: type[ast.Config] | type[ast.Secret], name: str
) -> ast.Config | ast.Secret | None:
    # Different kinds may share a name (a data and a config), so `module.decl(name)` is not enough.
    return next((d for d in module.decls if isinstance(d, wanted) and d.name == name), None)


# ---------------------------------------------------------------------------------------------
# Files


def _file(project: Project, kind: Kind) -> Path:
    return project.path if kind == "config" else project.state_dir / SECRETS_FILE


def _read_document(project: Project, kind: Kind) -> tomlkit.TOMLDocument:
    path = _file(project, kind)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        if kind == "config":
            raise FtlError(f"{_display(project, path)} does not exist") from None
        return tomlkit.parse(_SECRETS_HEADER)
    except (OSError, UnicodeDecodeError) as exc:
        raise FtlError(f"cannot read {_display(project, path)}: {exc}") from exc
    try:
        return tomlkit.parse(text)
    except tomlkit.exceptions.ParseError as exc:
        raise FtlError(f"cannot edit {_display(project, path)}: invalid TOML: {exc}") from exc


def _write_document(project: Project, kind: Kind, document: tomlkit.TOMLDocument) -> None:
    path = _file(project, kind)
    data = _same_ending(tomlkit.dumps(document), path).encode("utf-8")
    if kind == "config":
        write_atomic(path, data, mode=None)
        return
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    ignore = path.parent / ".gitignore"
    if not ignore.exists():
        # Belt and braces: the state directory is never meant for git, whatever the repo ignores.
        write_atomic(ignore, b"*\n", mode=None)
    write_atomic(path, data, mode=0o600)


def _same_ending(text: str, path: Path) -> str:
    """`text` ending in as many newlines as the file at `path` does, so that removing a table
    tomlkit added (with a blank line before it) gives back the file byte for byte."""
    try:
        original = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return text
    wanted = max(len(original) - len(original.rstrip("\n")), 1)
    return text.rstrip("\n") + "\n" * wanted


def _section(document: tomlkit.TOMLDocument, kind: Kind, module: str, *, create: bool) -> Table | None:
    """`[config]` / `[modules.M.config]` (or the secrets ones), created as needed when `create`."""
    section = _SECTION[kind]
    path = ["modules", module, section] if module else [section]
    container: Any = document
    for depth, part in enumerate(path):
        child = container.get(part)
        if child is None:
            if not create:
                return None
            # Intermediate tables are "super tables": only `[modules.M.config]` gets a header.
            child = tomlkit.table(is_super_table=depth < len(path) - 1)
            container[part] = child
        if not isinstance(child, Table):
            raise FtlError(f"`{'.'.join(path[: depth + 1])}` must be a table")
        container = child
    table: Table = container
    return table


def _prune(document: tomlkit.TOMLDocument, kind: Kind, module: str) -> None:
    """Drop tables the last unset left empty."""
    section = _SECTION[kind]
    if not module:
        if section in document and not document[section]:
            del document[section]
        return
    modules = document.get("modules")
    if not isinstance(modules, Table):
        return
    tables = modules.get(module)
    if isinstance(tables, Table) and section in tables and not tables[section]:
        del tables[section]
        if not tables:
            del modules[module]
    if not modules:
        del document["modules"]


def _to_toml(value: Any, where: str) -> Any:
    """A JSON value as a tomlkit item: objects become inline tables, so a value stays one line."""
    if value is None:
        raise FtlError(f"{where}: TOML cannot store null; use `unset` to remove a value")
    if isinstance(value, bool | str):
        return value
    if isinstance(value, int):
        if not INT64_MIN <= value <= INT64_MAX:
            raise FtlError(f"{where}: {value} does not fit in a 64-bit integer")
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise FtlError(f"{where}: {value} is not a JSON number")
        return value
    if isinstance(value, list):
        array = tomlkit.array()
        array.extend(_to_toml(item, f"{where}[{i}]") for i, item in enumerate(value))
        return array
    if isinstance(value, dict):
        table = tomlkit.inline_table()
        for name, item in value.items():
            table[name] = _to_toml(item, f"{where}.{name}")
        return table
    raise FtlError(f"{where}: {type(value).__name__} is not a JSON value")


def _from_toml(value: Any) -> Any:
    """A TOML value as JSON: dates and times (which TOML has and JSON has not) become RFC 3339 text."""
    if isinstance(value, dict):
        return {k: _from_toml(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_from_toml(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, date | time):
        return value.isoformat()
    return value


def _table(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _display(project: Project, path: Path) -> str:
    try:
        return str(path.relative_to(project.root))
    except ValueError:
        return str(path)
