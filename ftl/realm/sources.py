"""Where `ftl schema diff` reads a schema from: a file, `-` (stdin), or `git:REV[:PATH]`."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ftl.errors import FtlError
from ftl.files import display_path
from ftl.project import Project
from ftl.realm._reasons import unreadable
from ftl.realm.external import decode_schema
from ftl.realm.git import read_local_file, repo_root
from ftl.schema import decode_source

STDIN_LABEL = "<stdin>"


@dataclass(frozen=True)
class SchemaSource:
    label: str  # how errors and diff headers name it
    text: str


def read_schema_source(
    spec: str,
    *,
    project: Project | None,
    read_stdin: Callable[[], str],
    cwd: Path | None = None,
) -> SchemaSource:
    """Read `spec`. A `git:` PATH is relative to the repository root, or to the current
    directory when it starts with `./` or `../` (as git has it); it defaults to the project's
    public-schema file."""
    here = cwd or Path.cwd()
    if spec == "-":
        return SchemaSource(STDIN_LABEL, read_stdin())
    if spec.startswith("git:"):
        return _from_git(spec, project, here)
    path = here / spec
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise unreadable(spec, exc) from exc
    label = display_path(path)
    return SchemaSource(label, decode_source(data, label))


def _from_git(spec: str, project: Project | None, here: Path) -> SchemaSource:
    rev, _, path = spec.removeprefix("git:").partition(":")
    if not rev:
        raise FtlError(f"{spec!r}: expected git:REV or git:REV:PATH")
    start = project.root if project is not None else here
    root = repo_root(start)
    if root is None:
        raise FtlError(f"{display_path(start)} is not inside a git repository (needed for {spec!r})")
    if not path:
        if project is None:
            raise FtlError(f"{spec!r} names no file and there is no ftl-project.toml to take one from")
        in_repo = _relative_to_repo(project.root / project.public_schema, root)
    elif path.startswith(("./", "../")):
        in_repo = _relative_to_repo(here / path, root)
    else:
        in_repo = path
    label = f"git:{rev}:{in_repo}"
    return SchemaSource(label, decode_schema(read_local_file(root, rev, in_repo), label))


def _relative_to_repo(path: Path, root: Path) -> str:
    relative = os.path.relpath(os.path.realpath(path), os.path.realpath(root))
    if relative.startswith(".."):
        raise FtlError(f"{display_path(path)} is outside the git repository at {display_path(root)}")
    return Path(relative).as_posix()
