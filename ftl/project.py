"""The project file `ftl-project.toml`: finding it and reading it.

Editing it (realm pins) lives in `ftl.realm`, which uses tomlkit to keep the user's formatting.
"""

from __future__ import annotations

import difflib
import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ftl.errors import Diagnostic, FtlError, Position

PROJECT_FILE_NAME = "ftl-project.toml"
DEFAULT_PUBLIC_SCHEMA = "ftl-public-schema.ftl"
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
KNOWN_KEYS = ("realm", "module-dirs", "public-schema", "config", "realms", "modules")
KNOWN_PIN_KEYS = ("git-repo", "git-branch", "git-commit", "git-path")


@dataclass(frozen=True)
class RealmPin:
    """An external realm pinned at an exact git commit."""

    name: str
    git_repo: str
    git_branch: str
    git_commit: str
    git_path: str
    # Where the pin's table is written in ftl-project.toml (None for a pin not read from a file).
    pos: Position | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Project:
    path: Path
    realm: str
    module_dirs: tuple[str, ...]
    public_schema: str = DEFAULT_PUBLIC_SCHEMA
    realms: tuple[RealmPin, ...] = ()
    config: dict[str, Any] = field(default_factory=dict)
    # Keys this version does not know (a typo such as `module_dirs` would otherwise be ignored).
    warnings: tuple[Diagnostic, ...] = ()

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
    if path.is_dir():
        hint = f" (did you mean {path / PROJECT_FILE_NAME}?)" if (path / PROJECT_FILE_NAME).is_file() else ""
        raise FtlError(f"project file {path} is a directory{hint}")
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
        line, column = toml_error_place(exc, text)
        message = str(exc).split(" (at ")[0]
        raise FtlError([Diagnostic(f"invalid TOML: {message}", Position(display, line, column))]) from exc
    return project_from_data(path, data, text)


def project_from_data(path: Path, data: dict[str, Any], text: str | None = None) -> Project:
    """The project that parsed TOML `data` describes; `text` (the file's text) lets errors point at
    the offending line instead of the top of the file."""
    display = _display(path)

    def problem(message: str, *where: str) -> FtlError:
        line, column = key_place(text or "", where)
        return FtlError([Diagnostic(message, Position(display, line, column))])

    realm = data.get("realm", realm_name_for(path.parent))
    if not isinstance(realm, str) or not realm:
        raise problem("`realm` must be a non-empty string", "realm")
    if not _NAME.fullmatch(realm):
        raise problem(
            f"invalid realm name {realm!r}: use letters, digits and underscores, not starting with a digit",
            "realm",
        )
    module_dirs = data.get("module-dirs", ["."])
    if not isinstance(module_dirs, list) or not all(isinstance(d, str) for d in module_dirs):
        raise problem("`module-dirs` must be a list of directory names", "module-dirs")
    public_schema = data.get("public-schema", DEFAULT_PUBLIC_SCHEMA)
    if not isinstance(public_schema, str) or not public_schema:
        raise problem("`public-schema` must be a file name", "public-schema")
    # Compared as written: a symlink inside the project may lead elsewhere on purpose.
    if not Path(os.path.normpath(path.parent / public_schema)).is_relative_to(os.path.normpath(path.parent)):
        raise problem(f'public-schema "{public_schema}" is outside the project directory', "public-schema")
    config = data.get("config", {})
    if not isinstance(config, dict):
        raise problem("`[config]` must be a table", "config")
    realms = data.get("realms", {})
    if not isinstance(realms, dict):
        raise problem("`[realms]` must be a table", "realms")
    egress = realms.get("egress", {})
    if not isinstance(egress, dict):
        raise problem("`[realms.egress]` must be a table", "realms", "egress")
    pins: list[RealmPin] = []
    for name, pin in sorted(egress.items()):
        where = ("realms", "egress", name)
        if not isinstance(pin, dict):
            raise problem(f"`[realms.egress.{name}]` must be a table", *where)
        if not _NAME.fullmatch(name):
            raise problem(
                f"invalid realm name {name!r} in `[realms.egress]`: use letters, digits and underscores, "
                "not starting with a digit",
                *where,
            )
        missing = [key for key in ("git-repo", "git-commit") if key not in pin]
        if missing:
            raise problem(f"`[realms.egress.{name}]` is missing {', '.join(missing)}", *where)
        wrong = [key for key in KNOWN_PIN_KEYS if key in pin and not isinstance(pin[key], str)]
        if wrong:
            must = "must be a string" if len(wrong) == 1 else "must be strings"
            raise problem(f"`[realms.egress.{name}]`: {', '.join(wrong)} {must}", *where)
        pins.append(
            RealmPin(
                name=name,
                git_repo=pin["git-repo"],
                git_branch=pin.get("git-branch", ""),
                git_commit=pin["git-commit"],
                git_path=pin.get("git-path", DEFAULT_PUBLIC_SCHEMA),
                pos=Position(display, *key_place(text, where)) if text else None,
            )
        )
    unknown: list[tuple[str, ...]] = [(key,) for key in data if key not in KNOWN_KEYS]
    unknown += [("realms", key) for key in realms if key != "egress"]
    for name, pin in egress.items():
        unknown += [("realms", "egress", name, key) for key in pin if key not in KNOWN_PIN_KEYS]
    return Project(
        path=path.resolve(),
        realm=realm,
        module_dirs=tuple(module_dirs),
        public_schema=public_schema,
        realms=tuple(pins),
        config=dict(config),
        warnings=tuple(_unknown_key(keys, display, text or "") for keys in unknown),
    )


def _unknown_key(keys: tuple[str, ...], display: str, text: str) -> Diagnostic:
    known = KNOWN_KEYS if len(keys) == 1 else ("egress",) if len(keys) == 2 else KNOWN_PIN_KEYS
    close = difflib.get_close_matches(keys[-1].replace("_", "-"), known, n=1, cutoff=0.6)
    hint = f" (did you mean `{close[0]}`?)" if close else f"; known keys: {', '.join(known)}"
    line, column = key_place(text, keys)
    return Diagnostic(f"unknown key `{'.'.join(keys)}` is ignored{hint}", Position(display, line, column))


def realm_name_for(directory: Path) -> str:
    """A valid realm name from a directory name: `my-shop` -> `my_shop`."""
    name = re.sub(r"[^A-Za-z0-9_]+", "_", directory.resolve().name).strip("_").lower()
    if not name:
        return "realm"
    return f"r_{name}" if name[0].isdigit() else name


def key_place(text: str, keys: tuple[str, ...]) -> tuple[int, int]:
    """Where the dotted key `keys` is written in `text`: its table header, or its `key = ...` line in
    its parent table (else where its parent is); (1, 1) when it cannot be found."""
    if not keys or not text:
        return 1, 1
    header = _header(keys).search(text)
    if header is not None:
        return _line_column(text, header.start())
    parent = _table_body(text, keys[:-1])
    if parent is not None:
        assignment = re.compile(rf"^[ \t]*{_key(keys[-1])}[ \t]*[=.]", re.MULTILINE)
        found = assignment.search(text, *parent)
        if found is not None:
            return _line_column(text, found.start())
    return key_place(text, keys[:-1])


def _key(name: str) -> str:
    quoted = re.escape(name)
    return rf"(?:{quoted}|\"{quoted}\"|'{quoted}')"


def _header(keys: tuple[str, ...]) -> re.Pattern[str]:
    dotted = r"[ \t]*\.[ \t]*".join(_key(k) for k in keys)
    return re.compile(rf"^[ \t]*\[[ \t]*{dotted}[ \t]*\][^\n]*$", re.MULTILINE)


def _table_body(text: str, keys: tuple[str, ...]) -> tuple[int, int] | None:
    """The (start, end) offsets of table `keys` (the top level for no keys) when it has a header."""
    start = 0
    if keys:
        header = _header(keys).search(text)
        if header is None:
            return None
        start = header.end()
    following = re.compile(r"^[ \t]*\[", re.MULTILINE).search(text, start)
    return start, following.start() if following else len(text)


def _line_column(text: str, offset: int) -> tuple[int, int]:
    while offset < len(text) and text[offset] in " \t":
        offset += 1
    return text.count("\n", 0, offset) + 1, offset - (text.rfind("\n", 0, offset) + 1) + 1


def toml_error_place(exc: tomllib.TOMLDecodeError, text: str) -> tuple[int, int]:
    """(line, column) of a TOML error in `text`; "at end of document" is just past the last character
    that is not a line break (where an editor's cursor lands, and where tomlkit puts it)."""
    # Python 3.11's TOMLDecodeError only carries the place inside its message.
    match = re.search(r"at line (\d+), column (\d+)", str(exc))
    if match:
        return int(match[1]), int(match[2])
    content = text.rstrip("\r\n")
    last_line = content.rsplit("\n", 1)[-1]
    return content.count("\n") + 1, len(last_line) + 1


def _display(path: Path) -> str:
    try:
        return os.path.relpath(path)
    except ValueError:
        return str(path)
