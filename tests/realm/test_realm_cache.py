from __future__ import annotations

import json
from pathlib import Path

from ftl.project import RealmPin
from ftl.realm import cache
from ftl.realm.cache import Lookup

PIN = RealmPin("bank", "file:///srv/bank", "main", "a" * 40, "ftl-public-schema.ftl")


def test_store_then_lookup(tmp_path: Path) -> None:
    entry = cache.store(tmp_path, PIN, "realm bank {}\n")
    assert entry.directory == tmp_path / "realms" / "bank" / ("a" * 40)
    assert entry.schema_file.read_text() == "realm bank {}\n"
    assert cache.lookup(tmp_path, PIN) == (Lookup.HIT, entry)


def test_missing_entry(tmp_path: Path) -> None:
    assert cache.lookup(tmp_path, PIN) == (Lookup.MISSING, None)


def test_an_edited_schema_file_is_detected(tmp_path: Path) -> None:
    entry = cache.store(tmp_path, PIN, "realm bank {}\n")
    entry.schema_file.write_text("realm bank { module evil {} }\n")
    assert cache.lookup(tmp_path, PIN) == (Lookup.TAMPERED, None)


def test_a_deleted_or_garbled_source_record_is_detected(tmp_path: Path) -> None:
    entry = cache.store(tmp_path, PIN, "realm bank {}\n")
    (entry.directory / cache.SOURCE_FILE).write_text("{not json")
    assert cache.lookup(tmp_path, PIN)[0] is Lookup.TAMPERED
    (entry.directory / cache.SOURCE_FILE).unlink()
    assert cache.lookup(tmp_path, PIN)[0] is Lookup.TAMPERED


def test_storing_again_replaces_a_tampered_entry(tmp_path: Path) -> None:
    entry = cache.store(tmp_path, PIN, "realm bank {}\n")
    (entry.directory / "junk").write_text("x")
    entry.schema_file.write_text("tampered")
    cache.store(tmp_path, PIN, "realm bank {}\n")
    assert cache.lookup(tmp_path, PIN)[0] is Lookup.HIT
    assert sorted(p.name for p in entry.directory.iterdir()) == [cache.SCHEMA_FILE, cache.SOURCE_FILE]


def test_an_entry_for_another_repository_or_path_is_a_miss(tmp_path: Path) -> None:
    cache.store(tmp_path, PIN, "realm bank {}\n")
    moved = RealmPin("bank", "file:///elsewhere", "main", "a" * 40, "ftl-public-schema.ftl")
    assert cache.lookup(tmp_path, moved) == (Lookup.MISSING, None)


def test_source_record_names_repository_commit_path_and_digest(tmp_path: Path) -> None:
    entry = cache.store(tmp_path, PIN, "realm bank {}\n")
    source = json.loads((entry.directory / cache.SOURCE_FILE).read_text())
    assert source["git-repo"] == PIN.git_repo
    assert source["git-commit"] == PIN.git_commit
    assert source["git-path"] == PIN.git_path
    assert len(source["sha256"]) == 64


def test_no_temporary_directories_are_left_behind(tmp_path: Path) -> None:
    cache.store(tmp_path, PIN, "realm bank {}\n")
    cache.store(tmp_path, PIN, "realm bank {}\n")
    assert [p.name for p in (tmp_path / "realms" / "bank").iterdir()] == ["a" * 40]
