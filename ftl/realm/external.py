"""Pinned realms as `external realm` blocks, read from the cache and fetched from git on a miss."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ftl.errors import Diagnostic, FtlError, Position
from ftl.files import display_path
from ftl.project import Project, RealmPin
from ftl.realm import cache
from ftl.realm._reasons import reason
from ftl.realm.git import CommitFiles, is_commit_id, open_commit, redact
from ftl.realm.public import check_no_third_realm_leak
from ftl.schema import ast, parse_schema, validate_schema


@dataclass(frozen=True)
class PinnedRealm:
    """A pin's public schema. `lookup` says how the cache answered (a miss or tamper: refetched)."""

    pin: RealmPin
    realm: ast.Realm
    entry: cache.CacheEntry
    lookup: cache.Lookup


def load_external_realms(project: Project) -> list[ast.Realm]:
    """Every pinned realm's public schema as an `external realm` named by its pin."""
    return [load_pinned_realm(project, pin).realm for pin in project.realms]


def load_pinned_realm(project: Project, pin: RealmPin) -> PinnedRealm:
    """One pin's public schema: from the cache if intact, else fetched at exactly the pinned commit."""
    if not is_commit_id(pin.git_commit):
        message = (
            f"`[realms.egress.{pin.name}]` git-commit {pin.git_commit!r} is not a full git commit id "
            f"(`ftl realm update {pin.name}` pins its branch head)"
        )
        raise FtlError([Diagnostic(message, pin.pos)])
    lookup, entry = cache.lookup(project.state_dir, pin)
    if entry is not None:
        realm = parse_public_realm(entry.text, display_path(entry.schema_file), validate=False)
    else:
        text = fetch_public_schema(pin, project.root)
        realm = parse_public_realm(text, source_label(pin.name, pin.git_commit, pin.git_path))
        entry = cache.store(project.state_dir, pin, text)
    return PinnedRealm(pin=pin, realm=as_external(realm, pin.name), entry=entry, lookup=lookup)


def fetch_public_schema(pin: RealmPin, root: Path) -> str:
    """The pinned schema file, fetched at exactly the pinned commit; a local path in the pin is
    taken from `root`, the project's directory."""
    with open_commit(pin.git_repo, pin.git_commit, base=root) as files:
        return read_public_schema(files, pin.git_repo, pin.git_commit, pin.git_path, pin.name)


def read_public_schema(files: CommitFiles, git_repo: str, commit: str, path: str, realm: str) -> str:
    """The text of the schema file at `path` of a fetched commit of `realm`'s repository."""
    data = files.read(path)
    if data is None:
        raise FtlError(f"git repository {redact(git_repo)} has no file {path} at commit {commit[:12]}")
    return decode_schema(data, source_label(realm, commit, path))


def decode_schema(data: bytes, label: str) -> str:
    """Schema file bytes as text; `label` names the file in the error."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise FtlError(f"{label} is {reason(exc)}") from exc


def source_label(realm: str, commit: str, path: str) -> str:
    """How errors name a file inside a commit of `realm`'s repository: `REALM@REV:PATH`, after
    git's own `REV:PATH` spelling and the `@realm` of references."""
    return f"{realm}@{commit[:12]}:{path}"


def parse_public_realm(text: str, filename: str, *, validate: bool = True) -> ast.Realm:
    """The single realm of a public schema file, checked: it parses, holds exactly one realm,
    exposes no third realm's declarations and (unless `validate` is off) validates."""
    schema = parse_schema(text, filename)
    if len(schema.realms) != 1:
        found = ", ".join(r.name for r in schema.realms) or "none"
        message = f"a public schema must hold exactly one realm (found: {found})"
        raise FtlError([Diagnostic(message, Position(filename, 1, 1))])
    realm = schema.realms[0]
    leaks = check_no_third_realm_leak(realm)
    if leaks:
        raise FtlError([_in_file(d, filename) for d in leaks])
    if validate:
        _, diagnostics = validate_public_realm(realm)
        if diagnostics:
            raise FtlError([_in_file(d, filename) for d in diagnostics])
    return realm


def validate_public_realm(realm: ast.Realm) -> tuple[ast.Schema, list[Diagnostic]]:
    """A public realm validated on its own, as the one (internal) realm of a schema."""
    return validate_schema(ast.Schema(realms=(ast.replace(realm, external=False),)))


def as_external(realm: ast.Realm, name: str) -> ast.Realm:
    """The realm as this project sees it: external, under the pin's (local) name."""
    renamed: ast.Realm = ast.replace(realm, name=name, external=True)
    return renamed


def _in_file(diagnostic: Diagnostic, filename: str) -> Diagnostic:
    if diagnostic.pos is None or diagnostic.pos.filename:
        return diagnostic
    return Diagnostic(diagnostic.message, diagnostic.pos.with_filename(filename))
