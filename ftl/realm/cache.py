"""The local cache of pinned public schemas: `.ftl/realms/<name>/<commit>/`.

Each entry holds the schema file exactly as fetched plus `source.json` recording where it came
from and its sha256. An entry whose file no longer matches its recorded digest (or that is
incomplete) counts as a miss, so it is fetched again rather than trusted.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from ftl.project import RealmPin

SCHEMA_FILE = "public-schema.ftl"
SOURCE_FILE = "source.json"


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
    return _realm_dir(state_dir, pin.name) / pin.git_commit


def forget(state_dir: Path, name: str) -> None:
    """Drop every cached entry of the realm pinned as `name`."""
    shutil.rmtree(_realm_dir(state_dir, name), ignore_errors=True)


def _realm_dir(state_dir: Path, name: str) -> Path:
    return state_dir / "realms" / name


def lookup(state_dir: Path, pin: RealmPin) -> tuple[Lookup, CacheEntry | None]:
    """The cached schema for `pin`, after checking it against its recorded digest and source."""
    directory = entry_dir(state_dir, pin)
    if not directory.exists():
        return Lookup.MISSING, None
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
    directory.parent.mkdir(parents=True, exist_ok=True)
    data = text.encode("utf-8")
    source = {**_origin(pin), "sha256": _digest(data)}
    scratch = Path(tempfile.mkdtemp(prefix=f".{pin.git_commit[:12]}.", dir=directory.parent))
    try:
        (scratch / SCHEMA_FILE).write_bytes(data)
        (scratch / SOURCE_FILE).write_text(json.dumps(source, indent=2) + "\n", encoding="utf-8")
        os.chmod(scratch, 0o755)
        if directory.exists():
            shutil.rmtree(directory)
        os.replace(scratch, directory)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            shutil.rmtree(scratch)
        raise
    return CacheEntry(directory, text)


def _origin(pin: RealmPin) -> dict[str, str]:
    """Where an entry's schema was fetched from, as `source.json` records it."""
    return {"git-repo": pin.git_repo, "git-commit": pin.git_commit, "git-path": pin.git_path}


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
