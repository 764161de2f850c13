"""The project file `ftl-project.toml`: finding it and reading it.

Editing it (realm pins) lives in `ftl.realm`, which uses tomlkit to keep the user's formatting.
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ftl.errors import Diagnostic, FtlError, Position

PROJECT_FILE_NAME = "ftl-project.toml"
DEFAULT_PUBLIC_SCHEMA = "ftl-public-schema.ftl"


@dataclass(frozen=True)
class RealmPin:
    """An external realm pinned at an exact git commit."""

    name: str
    git_repo: str
    git_branch: str
    git_commit: str
    git_path: str


@dataclass(frozen=True)
class Project:
    path: Path
    realm: str
    module_dirs: tuple[str, ...]
    public_schema: str = DEFAULT_PUBLIC_SCHEMA
    realms: tuple[RealmPin, ...] = ()
    config: dict[str, Any] = field(default_factory=dict)

    @property
    def root(self) -> Path:
        return self.path.parent

    def module_roots(self) -> list[Path]:
        return [(self.root / d).resolve() for d in self.module_dirs]

    @property
    def state_dir(self) -> Path:
        """Generated files (stubs, realm cache) that never belong in git."""
        return self.root / ".ftl"


def find_project_file(explicit: str | os.PathLike[str] | None = None, start: Path | None = None) -> Path:
    """`--project-file`, else `$FTL_PROJECT_FILE`, else the first one walking up from `start`."""
    if explicit:
        return _existing(Path(explicit))
    from_env = os.environ.get("FTL_PROJECT_FILE")
    if from_env:
        return _existing(Path(from_env))
    here = (start or Path.cwd()).resolve()
    for directory in (here, *here.parents):
        candidate = directory / PROJECT_FILE_NAME
        if candidate.is_file():
            return candidate
    raise FtlError(
        f"no {PROJECT_FILE_NAME} found in {here} or any parent directory (run `ftl init` to create one)"
    )


def _existing(path: Path) -> Path:
    if not path.is_file():
        raise FtlError(f"project file {path} does not exist")
    return path.resolve()


def load_project(path: Path) -> Project:
    """Parse and check `ftl-project.toml`; errors point at the file (and line where TOML gives one)."""
    display = _display(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise FtlError(f"cannot read {display}: {exc}") from exc
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        line, column = _toml_error_place(exc)
        message = str(exc).split(" (at ")[0]
        raise FtlError([Diagnostic(f"invalid TOML: {message}", Position(display, line, column))]) from exc
    return project_from_data(path, data)


def project_from_data(path: Path, data: dict[str, Any]) -> Project:
    display = _display(path)

    def problem(message: str) -> FtlError:
        return FtlError([Diagnostic(message, Position(display, 1, 1))])

    realm = data.get("realm", path.parent.name)
    if not isinstance(realm, str) or not realm:
        raise problem("`realm` must be a non-empty string")
    module_dirs = data.get("module-dirs", ["."])
    if not isinstance(module_dirs, list) or not all(isinstance(d, str) for d in module_dirs):
        raise problem("`module-dirs` must be a list of directory names")
    public_schema = data.get("public-schema", DEFAULT_PUBLIC_SCHEMA)
    if not isinstance(public_schema, str):
        raise problem("`public-schema` must be a file name")
    config = data.get("config", {})
    if not isinstance(config, dict):
        raise problem("`[config]` must be a table")
    pins: list[RealmPin] = []
    egress = data.get("realms", {}).get("egress", {}) if isinstance(data.get("realms", {}), dict) else {}
    for name, pin in sorted(egress.items()):
        if not isinstance(pin, dict):
            raise problem(f"`[realms.egress.{name}]` must be a table")
        missing = [key for key in ("git-repo", "git-commit") if not isinstance(pin.get(key), str)]
        if missing:
            raise problem(f"`[realms.egress.{name}]` is missing {', '.join(missing)}")
        pins.append(
            RealmPin(
                name=name,
                git_repo=pin["git-repo"],
                git_branch=str(pin.get("git-branch", "")),
                git_commit=pin["git-commit"],
                git_path=str(pin.get("git-path", DEFAULT_PUBLIC_SCHEMA)),
            )
        )
    return Project(
        path=path.resolve(),
        realm=realm,
        module_dirs=tuple(module_dirs),
        public_schema=public_schema,
        realms=tuple(pins),
        config=dict(config),
    )


def _toml_error_place(exc: tomllib.TOMLDecodeError) -> tuple[int, int]:
    # Python 3.11's TOMLDecodeError only carries the place inside its message.
    match = re.search(r"at line (\d+), column (\d+)", str(exc))
    return (int(match[1]), int(match[2])) if match else (1, 1)


def _display(path: Path) -> str:
    try:
        return os.path.relpath(path)
    except ValueError:
        return str(path)
