"""Scaffolding: a new project (`ftl init`) and a new module in it (`ftl new`), from `templates/`.

Plain functions that write files and return what they did; `ftl.cli.project` only renders.
"""

from __future__ import annotations

import keyword
import os
import re
import shlex
import shutil
import tempfile
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

import jinja2

import ftl
from ftl.errors import FtlError
from ftl.names import module_name_problem, snake_case
from ftl.project import PROJECT_FILE_NAME, Project, realm_name_for

_REALM = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_MODULE = re.compile(r"[a-z][a-z0-9_]*")

__all__ = [
    "Scaffold",
    "init_project",
    "is_inside_module_dirs",
    "module_name_error",
    "new_module",
    "next_steps_after_init",
    "realm_name_for",
    "suggested_module_name",
    "templates_dir",
]


@dataclass
class Scaffold:
    """What a scaffolding step did, with paths relative to `root`."""

    root: Path
    created: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)  # existing files left as they were
    updated: list[str] = field(default_factory=list)


def templates_dir() -> Path:
    """The scaffolds: `ftl/_templates` in a wheel, the repository's `templates/` in a checkout."""
    package = Path(ftl.__file__).resolve().parent
    for candidate in (package / "_templates", package.parent / "templates"):
        if (candidate / "project").is_dir() and (candidate / "module").is_dir():
            return candidate
    raise FtlError(f"FTL's scaffolds are missing from this installation (looked in {package})")


def init_project(directory: Path, realm: str | None = None) -> Scaffold:
    """Make `directory` (created if needed) an FTL project. Refuses to touch an existing project file;
    other files that already exist are kept, except that `.gitignore` gains `.ftl/` if it lacks it."""
    realm = realm if realm is not None else realm_name_for(directory)
    if not _REALM.fullmatch(realm):
        raise FtlError(
            f"invalid realm name {realm!r}: use letters, digits and underscores, not starting with a digit"
        )
    project_file = directory / PROJECT_FILE_NAME
    if project_file.exists():
        raise FtlError(
            f"{_shown(project_file)} already exists: {_shown(directory)} is already an FTL project"
        )
    _make_directory(directory)
    result = Scaffold(directory)
    try:
        _write_project(directory, realm, result)
    except OSError as exc:
        raise FtlError(f"cannot write the project in {_shown(directory)}: {_reason(exc)}") from None
    return result


def next_steps_after_init(directory: Path) -> list[tuple[str, str]]:
    """What to run after `ftl init DIRECTORY`, from the current directory: (command, what it does),
    starting with `cd DIRECTORY` (that says nothing more) unless it is the current directory."""
    steps = [
        ("ftl new NAME", "add a module: an example verb, an HTTP route and a test"),
        ("ftl dev", "build and serve every module, with the console"),
        ("python -m pytest", "run the modules' tests"),
    ]
    if directory.resolve() != Path.cwd().resolve():
        steps.insert(0, (f"cd {shlex.quote(_shown(directory))}", ""))
    return steps


def _write_project(directory: Path, realm: str, result: Scaffold) -> None:
    for relative, text in _render(templates_dir() / "project", {"realm": realm}):
        target = directory / relative
        if relative == ".gitignore" and target.is_file():
            if _add_ignore_line(target, ".ftl/"):
                result.updated.append(relative)
            else:
                result.kept.append(relative)
        elif target.exists() and relative != PROJECT_FILE_NAME:
            result.kept.append(relative)
        else:
            _write_new(target, text)
            result.created.append(relative)


def module_name_error(name: str) -> str | None:
    """Why `name` cannot be a new module's name (with a name that would do), or None.

    Stricter than the schema: the name is also a Python package and part of the module's URL
    prefix, so it is lower_snake_case, and it must not hide a package the project imports.
    """
    problem = _name_problem(name)
    if problem is None:
        return None
    suggestion = suggested_module_name(name)
    return f"{problem}; try {suggestion!r}" if suggestion else problem


def suggested_module_name(name: str) -> str | None:
    """A valid module name close to `name` (`My-Mod` -> `my_mod`, `json` -> `json_module`), or None."""
    ascii_only = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    words = re.sub(r"[^A-Za-z0-9]+", "_", ascii_only)
    base = re.sub(r"_+", "_", snake_case(words)).strip("_")
    if not base:
        return None
    if not base[0].isalpha():
        base = f"mod_{base}"
    for candidate in (base, f"{base}_module"):
        if candidate != name and _name_problem(candidate) is None:
            return candidate
    return None


def _name_problem(name: str) -> str | None:
    from ftl.runtime.extract import hidden_package  # extraction machinery: only `new` needs it

    if not _MODULE.fullmatch(name):
        return (
            f"module name {name!r} is invalid: it must be a lower_snake_case identifier "
            "starting with a letter (a-z, then a-z, 0-9 or _)"
        )
    problem = module_name_problem(name)
    if problem:
        return problem
    if keyword.issoftkeyword(name):  # importable, but confusing as a module name: refused for new ones
        return f"module name {name!r} is a Python soft keyword: choose another name"
    hidden = hidden_package(name)
    if hidden:
        return f"module name {name!r} would hide {hidden}"
    return None


def new_module(project: Project, name: str, directory: Path | None = None) -> Scaffold:
    """Write a module `name` into `directory/name` (default: the first `module-dirs` entry)."""
    problem = module_name_error(name)
    if problem:
        raise FtlError(problem)
    existing = _existing_modules(project)
    if name in existing:
        raise FtlError(f"the project already has a module {name!r} ({_shown(existing[name])})")
    if directory is None and not project.module_dirs:
        raise FtlError(f"{_shown(project.path)} lists no module-dirs: add one there, or pass --dir")
    parent = directory if directory is not None else project.module_roots()[0]
    target = parent / name
    if target.exists():
        raise FtlError(f"{_shown(target)} already exists")
    _make_directory(parent)
    try:
        return _write_module(parent, target, name)
    except OSError as exc:
        raise FtlError(f"cannot write module {name} in {_shown(parent)}: {_reason(exc)}") from None


def _write_module(parent: Path, target: Path, name: str) -> Scaffold:
    # Rendered beside the target and renamed into place: never a half-written module.
    staging = Path(tempfile.mkdtemp(prefix=f".{name}.", dir=parent))
    try:
        result = Scaffold(target)
        for relative, text in _render(templates_dir() / "module", {"module": name}):
            _write_new(staging / relative, text)
            result.created.append(relative)
        os.chmod(staging, 0o777 & ~_umask())
        staging.rename(target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return result


def is_inside_module_dirs(project: Project, path: Path) -> bool:
    """Whether `ftl build` looks for modules under `path` (it searches the `module-dirs` entries)."""
    resolved = path.resolve()
    return any(resolved == root or root in resolved.parents for root in project.module_roots())


def _existing_modules(project: Project) -> dict[str, Path]:
    from ftl.build import scan_modules  # the build imports user code machinery; only `new` needs it

    modules, _problems = scan_modules(project)
    return {m.name: m.directory for m in modules}


def _render(source: Path, variables: dict[str, str]) -> list[tuple[str, str]]:
    """Every template under `source` as (relative output path, rendered text)."""
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(source),
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
        autoescape=False,
    )
    rendered = []
    for path in sorted(p for p in source.rglob("*") if p.is_file() and p.suffix == ".j2"):
        relative = path.relative_to(source)
        text = environment.get_template(relative.as_posix()).render(**variables)
        parts = [_output_name(part, variables) for part in relative.parts]
        rendered.append(("/".join(parts), text))
    return rendered


def _output_name(part: str, variables: dict[str, str]) -> str:
    part = part.removesuffix(".j2").replace("__module__", variables.get("module", "__module__"))
    return "." + part.removeprefix("dot-") if part.startswith("dot-") else part


def _make_directory(directory: Path) -> None:
    """`directory` and its parents, or an FtlError that says why not."""
    for existing in (directory, *directory.parents):
        if existing.exists():
            if not existing.is_dir():
                raise FtlError(f"{_shown(existing)} exists and is not a directory")
            break
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise FtlError(f"cannot create {_shown(directory)}: {_reason(exc)}") from None


def _reason(exc: OSError) -> str:
    return exc.strerror or str(exc)


def _write_new(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.tmp")
    temp.write_text(text, encoding="utf-8")
    temp.replace(path)


def _add_ignore_line(path: Path, line: str) -> bool:
    text = path.read_text(encoding="utf-8")
    if any(existing.strip() in (line, line.rstrip("/"), f"/{line}") for existing in text.splitlines()):
        return False
    separator = "" if not text or text.endswith("\n") else "\n"
    _write_new(path, f"{text}{separator}{line}\n")
    return True


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _shown(path: Path) -> str:
    try:
        return os.path.relpath(path)
    except ValueError:
        return str(path)
