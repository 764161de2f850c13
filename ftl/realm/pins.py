"""Adding, updating, listing and removing realm pins (`[realms.egress.<name>]`).

Every operation does all of its network and validation work first and edits `ftl-project.toml`
last, in one atomic write, so any failure leaves the file exactly as it was.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ftl.errors import Diagnostic, FtlError
from ftl.project import DEFAULT_PUBLIC_SCHEMA, PROJECT_FILE_NAME, Project, RealmPin
from ftl.realm import cache
from ftl.realm.external import (
    fetch_public_schema,
    load_pinned_realm,
    parse_public_realm,
    read_public_schema,
    source_label,
    validate_public_realm,
)
from ftl.realm.git import git_location, is_local_path, open_commit, redact, resolve_branch
from ftl.realm.project_file import ProjectFile
from ftl.realm.references import realm_references
from ftl.schema import ast
from ftl.schema.breaking import Change, schema_changes

_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass(frozen=True)
class RealmSummary:
    """What a pinned realm offers: its modules and the verbs it exports to other realms."""

    pin: RealmPin
    modules: tuple[str, ...]
    verbs: tuple[str, ...]

    @classmethod
    def of(cls, pin: RealmPin, realm: ast.Realm) -> RealmSummary:
        modules = tuple(sorted(m.name for m in realm.modules if not m.builtin))
        verbs = tuple(
            sorted(
                f"{m.name}.{v.name}"
                for m in realm.modules
                for v in m.verbs()
                if v.visibility == ast.Visibility.REALM
            )
        )
        return cls(pin=pin, modules=modules, verbs=verbs)


@dataclass(frozen=True)
class PinUpdate:
    """One pin's move: old → new commit and what changed in its public schema."""

    name: str
    old_commit: str
    new_commit: str
    changes: tuple[Change, ...]
    unknown_changes: str = ""  # why the changes could not be computed (the old schema is gone)

    @property
    def moved(self) -> bool:
        return self.old_commit != self.new_commit

    @property
    def breaking(self) -> tuple[Change, ...]:
        return tuple(c for c in self.changes if c.breaking)


class RealmInUseError(FtlError):
    """`remove` refused: modules still refer to the realm (`references` says where)."""

    def __init__(self, name: str, references: list[Diagnostic]) -> None:
        self.references = references
        super().__init__(
            f"realm {name!r} is still referred to by this project's modules; "
            "remove those references first, or use --force"
        )


# ---------------------------------------------------------------------------------------------


def add_realm(
    project_file: Path,
    git_repo: str,
    *,
    git_branch: str | None = None,
    git_path: str | None = None,
    name: str | None = None,
) -> RealmSummary:
    """Pin the public schema of the realm in `git_repo` at its branch's current head."""
    document = ProjectFile.read(project_file)
    project = document.project()
    if name is not None:
        _check_new_name(name, project)
    head = resolve_branch(git_repo, git_branch)
    with open_commit(git_repo, head.commit) as files:
        # The remote's project file is only read for what was not given: a path, or a name.
        remote = None
        if git_path is None or name is None:
            remote = _remote_project(
                files.read(PROJECT_FILE_NAME), git_repo, head.commit, strict=not git_path
            )
        path = git_path or (remote.public_schema if remote else None)
        if path is None:
            raise FtlError(
                f"git repository {redact(git_repo)} has no {PROJECT_FILE_NAME} at commit {head.commit[:12]}; "
                "give the public schema file with --git-path"
            )
        label_name = name or (remote.realm if remote else _repo_name(git_repo))
        text = read_public_schema(files, git_repo, head.commit, path, label_name)
    label = source_label(label_name, head.commit, path)
    realm = parse_public_realm(text, label)
    local_name = name or (remote.realm if remote else realm.name)
    _check_new_name(local_name, project, chosen=name is not None)
    if name is None and remote is not None and remote.realm != realm.name:
        raise FtlError(
            f"the {PROJECT_FILE_NAME} of {redact(git_repo)} at commit {head.commit[:12]} says realm "
            f"{remote.realm!r}, but its public schema {label} holds realm {realm.name!r}; "
            "to pin it anyway, choose the local name with --name NAME"
        )
    _check_exports_something(realm, label)
    pin = RealmPin(
        name=local_name,
        git_repo=_as_recorded(git_repo, project.root),
        git_branch=head.branch,
        git_commit=head.commit,
        git_path=path,
    )
    cache.store(project.state_dir, pin, text)
    document.set_pin(pin)
    document.save()
    return RealmSummary.of(pin, realm)


def update_realms(project_file: Path, names: Iterable[str] = (), *, check: bool = False) -> list[PinUpdate]:
    """Move pins (all, or those named) to their branch heads; with `check`, only report."""
    document = ProjectFile.read(project_file)
    project = document.project()
    pins = _select(project, list(names))
    updates: list[PinUpdate] = []
    for pin in pins:
        head = resolve_branch(pin.git_repo, pin.git_branch or None, base=project.root)
        if head.commit == pin.git_commit:
            updates.append(PinUpdate(pin.name, pin.git_commit, head.commit, ()))
            continue
        moved = RealmPin(pin.name, pin.git_repo, head.branch, head.commit, pin.git_path)
        new_text = fetch_public_schema(moved, project.root)
        new_realm = parse_public_realm(new_text, source_label(pin.name, moved.git_commit, moved.git_path))
        try:
            old_realm = load_pinned_realm(project, pin).realm
        except FtlError as exc:
            # The old commit may be gone (force-push, gc) and not cached: still let the pin move.
            updates.append(PinUpdate(pin.name, pin.git_commit, head.commit, (), unknown_changes=str(exc)))
        else:
            changes = schema_changes(_validated(old_realm), _validated(new_realm))
            updates.append(PinUpdate(pin.name, pin.git_commit, head.commit, tuple(changes)))
        if not check:
            cache.store(project.state_dir, moved, new_text)
            document.set_pin(moved)
    if not check:
        document.save()
    return updates


def list_realms(project: Project) -> list[RealmSummary]:
    return [RealmSummary.of(pin, load_pinned_realm(project, pin).realm) for pin in project.realms]


def remove_realm(project_file: Path, name: str, *, force: bool = False) -> RealmPin:
    """Unpin `name`; refused while the project's modules still refer to it, unless `force`."""
    document = ProjectFile.read(project_file)
    try:
        project: Project | None = document.project()
    except FtlError as invalid:
        # Removing a malformed pin is how it gets fixed: allowed when it is the only problem.
        if name not in _pinned_as_written(document, invalid):
            raise
        project = None
    if project is not None and all(p.name != name for p in project.realms):
        raise FtlError(_unknown_realm(name, project))
    pin = _pin_as_written(name, document.pinned()[name])
    document.remove_pin(name)
    remaining = document.project()
    if not force:
        references = realm_references(project or remaining, name)
        if references:
            raise RealmInUseError(name, references)
    document.save()
    cache.forget(remaining.state_dir, name)
    return pin


# ---------------------------------------------------------------------------------------------


def _pinned_as_written(document: ProjectFile, invalid: FtlError) -> dict[str, Any]:
    """The pins in the file, however malformed; `invalid` when even `[realms.egress]` is no table."""
    try:
        return document.pinned()
    except FtlError:
        raise invalid from None


def _pin_as_written(name: str, values: object) -> RealmPin:
    """A pin from its table as written: a key that is missing or not a string reads as ""."""
    table = values if isinstance(values, dict) else {}

    def text(key: str) -> str:
        value = table.get(key, "")
        return value if isinstance(value, str) else ""

    return RealmPin(name, text("git-repo"), text("git-branch"), text("git-commit"), text("git-path"))


@dataclass(frozen=True)
class _RemoteProject:
    realm: str
    public_schema: str


def _remote_project(data: bytes | None, url: str, commit: str, *, strict: bool) -> _RemoteProject | None:
    """The remote's realm name and public-schema path; a file that cannot be read is an error
    when `strict` (the path is needed from it), else as good as no file at all."""
    if data is None:
        return None
    where = f"{PROJECT_FILE_NAME} of {redact(url)} at commit {commit[:12]}"
    try:
        values = tomllib.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        if not strict:
            return None
        raise FtlError(f"the {where} is not valid TOML: {exc}") from exc
    realm = values.get("realm")
    public_schema = values.get("public-schema", DEFAULT_PUBLIC_SCHEMA)
    if not isinstance(realm, str) or not isinstance(public_schema, str):
        if not strict:
            return None
        raise FtlError(f"the {where} has no valid `realm` / `public-schema` setting")
    return _RemoteProject(realm=realm, public_schema=public_schema)


def _repo_name(git_repo: str) -> str:
    """A short name for a repository in messages: the last part of its URL or path (`bank.git` -> `bank`)."""
    last = re.split(r"[/:\\]", redact(git_repo).rstrip("/\\"))[-1]
    return last.removesuffix(".git") or redact(git_repo)


def _check_exports_something(realm: ast.Realm, label: str) -> None:
    """Refuse a public schema that offers other realms nothing to use."""
    if any(ast.visibility_of(d) == ast.Visibility.REALM for m in realm.modules for d in m.decls):
        return
    raise FtlError(
        f"{label} exports nothing to other realms (it has no `export realm` declaration): the realm "
        f'{realm.name!r} must export a verb with `@ftl.verb(export="realm")` and commit its public '
        "schema (`ftl schema export`) before it can be pinned"
    )


def _as_recorded(git_repo: str, root: Path) -> str:
    """`git_repo` as the pin records it: a relative local path (given from the current directory)
    re-expressed from the project root, where pins' paths are taken from; anything else as given."""
    if not is_local_path(git_repo) or Path(git_repo).is_absolute():
        return git_repo
    absolute = git_location(git_repo)
    try:
        return Path(os.path.relpath(absolute, root)).as_posix()
    except ValueError:  # on another drive (Windows): only an absolute path can name it
        return absolute


def _check_new_name(name: str, project: Project, *, chosen: bool = True) -> None:
    """Refuse a local name that is invalid or taken; `chosen`: given with --name (else the
    remote's own name, which --name can replace)."""
    if not _NAME_RE.fullmatch(name):
        hint = "" if chosen else "; choose a local name for it with --name NAME"
        raise FtlError(f"{name!r} is not a valid realm name (letters, digits and underscores){hint}")
    if name == project.realm:
        raise FtlError(f"realm name {name!r} is this project's own realm; give another one with --name")
    if any(p.name == name for p in project.realms):
        raise FtlError(
            f"a realm named {name!r} is already pinned; use `ftl realm update {name}` or another --name"
        )


def _select(project: Project, names: list[str]) -> list[RealmPin]:
    if not names:
        return list(project.realms)
    by_name = {p.name: p for p in project.realms}
    unknown = [n for n in names if n not in by_name]
    if unknown:
        raise FtlError(_unknown_realm(unknown[0], project))
    return [by_name[n] for n in dict.fromkeys(names)]


def _unknown_realm(name: str, project: Project) -> str:
    pinned = ", ".join(p.name for p in project.realms) or "none"
    return f"no realm named {name!r} is pinned (pinned: {pinned})"


def _validated(realm: ast.Realm) -> ast.Schema:
    return validate_public_realm(realm)[0]
