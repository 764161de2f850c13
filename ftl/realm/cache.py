"""The local cache of pinned public schemas: `.ftl/realms/<name>/<commit>/`.

Each entry holds the schema file exactly as fetched plus `source.json` recording where it came
from and its sha256. An entry whose file no longer matches its recorded digest (or that is
incomplete, or is not a plain directory) counts as a miss, so it is fetched again rather than
trusted.

Nothing here ever reads, writes or deletes outside `.ftl/realms`: a pin name or commit that is
not a single plain path component is refused, and a symlink found where a directory belongs is
removed (never followed).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from ftl.errors import FtlError
from ftl.files import display_path
from ftl.project import RealmPin
from ftl.realm.git import check_commit_id

SCHEMA_FILE = "public-schema.ftl"
SOURCE_FILE = "source.json"

_REALM_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class Lookup(StrEnum):
    HIT = "hit"
    MISSING = "missing"
    TAMPERED = "tampered"


@dataclass(frozen=True)
class CacheEntry:
    directory: Path
    text: str

    @property
    def schema_file(self) -> Path:
        return self.directory / SCHEMA_FILE


def entry_dir(state_dir: Path, pin: RealmPin) -> Path:
    check_commit_id(pin.git_commit)
    return _realm_dir(state_dir, pin.name) / pin.git_commit


def forget(state_dir: Path, name: str) -> None:
    """Drop every cached entry of the realm pinned as `name`."""
    directory = _realm_dir(state_dir, name)
    if directory.is_symlink() or directory.is_file():
        directory.unlink()  # the link only: whatever it points at is not ours
    elif directory.is_dir():
        _check_inside(state_dir, directory)
        shutil.rmtree(directory, ignore_errors=True)


def _realms_root(state_dir: Path) -> Path:
    return state_dir / "realms"


def _realm_dir(state_dir: Path, name: str) -> Path:
    if not _REALM_NAME_RE.fullmatch(name):
        raise FtlError(f"{name!r} is not a valid realm name (letters, digits and underscores)")
    return _realms_root(state_dir) / name


def _check_inside(state_dir: Path, path: Path) -> None:
    """Refuse `path` unless it resolves (symlinks followed) to somewhere inside `.ftl/realms`."""
    root = os.path.realpath(_realms_root(state_dir))
    if os.path.commonpath([root, os.path.realpath(path)]) != root:
        raise FtlError(f"{display_path(path)} resolves outside {display_path(_realms_root(state_dir))}")


def _is_plain_dir(path: Path) -> bool:
    return path.is_dir() and not path.is_symlink()


def lookup(state_dir: Path, pin: RealmPin) -> tuple[Lookup, CacheEntry | None]:
    """The cached schema for `pin`, after checking it against its recorded digest and source."""
    directory = entry_dir(state_dir, pin)
    if not (directory.exists() or directory.is_symlink()):
        return Lookup.MISSING, None
    if not (_is_plain_dir(directory.parent) and _is_plain_dir(directory)):
        return Lookup.TAMPERED, None
    try:
        data = (directory / SCHEMA_FILE).read_bytes()
        source = json.loads((directory / SOURCE_FILE).read_text(encoding="utf-8"))
        text = data.decode("utf-8")
    except (OSError, ValueError):
        return Lookup.TAMPERED, None
    expected = _origin(pin)
    recorded = {key: source.get(key) for key in expected} if isinstance(source, dict) else {}
    if recorded != expected:
        # Same commit, but the pin now names another repository or file: a different entry.
        return Lookup.MISSING, None
    if source.get("sha256") != _digest(data):
        return Lookup.TAMPERED, None
    return Lookup.HIT, CacheEntry(directory, text)


def store(state_dir: Path, pin: RealmPin, text: str) -> CacheEntry:
    """Record `text` as the schema of `pin`, replacing whatever entry was there."""
    directory = entry_dir(state_dir, pin)
    _remove_unless_plain_dir(directory.parent)
    directory.parent.mkdir(parents=True, exist_ok=True)
    _check_inside(state_dir, directory.parent)
    data = text.encode("utf-8")
    source = {**_origin(pin), "sha256": _digest(data)}
    scratch = Path(tempfile.mkdtemp(prefix=f".{pin.git_commit[:12]}.", dir=directory.parent))
    try:
        (scratch / SCHEMA_FILE).write_bytes(data)
        (scratch / SOURCE_FILE).write_text(json.dumps(source, indent=2) + "\n", encoding="utf-8")
        os.chmod(scratch, 0o755)
        _remove_unless_plain_dir(directory)
        if directory.exists():
            shutil.rmtree(directory)
        os.replace(scratch, directory)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            shutil.rmtree(scratch)
        raise
    return CacheEntry(directory, text)


def _remove_unless_plain_dir(path: Path) -> None:
    """Unlink a file or symlink found where a cache directory belongs (a symlink is not followed)."""
    if path.is_symlink() or (path.exists() and not path.is_dir()):
        path.unlink()


def _origin(pin: RealmPin) -> dict[str, str]:
    """Where an entry's schema was fetched from, as `source.json` records it."""
    return {"git-repo": pin.git_repo, "git-commit": pin.git_commit, "git-path": pin.git_path}


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
