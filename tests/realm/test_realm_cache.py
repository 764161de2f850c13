from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from ftl.errors import FtlError
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


# --- containment: nothing outside .ftl/realms is ever read, written or deleted --------------------


@pytest.mark.parametrize("name", ["../../modules", "..", ".", "a/b", "", "bank/../..", "/abs"])
def test_a_name_that_is_not_a_plain_realm_name_is_refused(tmp_path: Path, name: str) -> None:
    state = tmp_path / "project" / ".ftl"
    victim = tmp_path / "project" / "modules"
    victim.mkdir(parents=True)
    (victim / "keep.py").write_text("x")
    bad = RealmPin(name, PIN.git_repo, "main", PIN.git_commit, PIN.git_path)
    with pytest.raises(FtlError, match="not a valid realm name"):
        cache.forget(state, name)
    with pytest.raises(FtlError, match="not a valid realm name"):
        cache.store(state, bad, "realm bank {}\n")
    with pytest.raises(FtlError, match="not a valid realm name"):
        cache.lookup(state, bad)
    assert (victim / "keep.py").read_text() == "x"
    assert not (tmp_path / "project" / "evil").exists()


@pytest.mark.parametrize("commit", ["main", "../../x", "A" * 40, "a" * 39, ""])
def test_a_commit_that_is_not_a_full_commit_id_is_refused(tmp_path: Path, commit: str) -> None:
    bad = RealmPin("bank", PIN.git_repo, "main", commit, PIN.git_path)
    with pytest.raises(FtlError, match="not a full git commit id"):
        cache.store(tmp_path, bad, "realm bank {}\n")
    with pytest.raises(FtlError, match="not a full git commit id"):
        cache.lookup(tmp_path, bad)
    assert not (tmp_path / "realms").exists()


def test_forget_removes_only_the_realms_own_directory(tmp_path: Path) -> None:
    cache.store(tmp_path, PIN, "realm bank {}\n")
    other = RealmPin("other", PIN.git_repo, "main", PIN.git_commit, PIN.git_path)
    cache.store(tmp_path, other, "realm other {}\n")
    cache.forget(tmp_path, "bank")
    assert not (tmp_path / "realms" / "bank").exists()
    assert cache.lookup(tmp_path, other)[0] is Lookup.HIT
    cache.forget(tmp_path, "bank")  # already gone: nothing to do


def test_forget_unlinks_a_symlinked_realm_directory_without_touching_its_target(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "precious").write_text("keep")
    (tmp_path / "state" / "realms").mkdir(parents=True)
    (tmp_path / "state" / "realms" / "bank").symlink_to(outside, target_is_directory=True)
    cache.forget(tmp_path / "state", "bank")
    assert not (tmp_path / "state" / "realms" / "bank").is_symlink()
    assert (outside / "precious").read_text() == "keep"


def test_a_symlinked_realm_directory_is_tampered_and_never_written_through(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    state = tmp_path / "state"
    (state / "realms").mkdir(parents=True)
    (state / "realms" / "bank").symlink_to(outside, target_is_directory=True)
    real = cache.store(tmp_path / "elsewhere", PIN, "realm bank {}\n")
    os.replace(real.directory, outside / PIN.git_commit)  # a valid-looking entry, but outside the cache
    assert cache.lookup(state, PIN) == (Lookup.TAMPERED, None)
    entry = cache.store(state, PIN, "realm bank {}\n")
    assert not (state / "realms" / "bank").is_symlink()
    assert entry.directory == state / "realms" / "bank" / PIN.git_commit
    assert sorted(p.name for p in outside.iterdir()) == [PIN.git_commit]  # untouched
    assert cache.lookup(state, PIN)[0] is Lookup.HIT


# --- an entry that is not a directory -------------------------------------------------------------


def test_an_entry_that_is_a_file_is_tampered_and_replaced_by_store(tmp_path: Path) -> None:
    entry = cache.store(tmp_path, PIN, "realm bank {}\n")
    shutil.rmtree(entry.directory)
    entry.directory.write_text("x\n")
    assert cache.lookup(tmp_path, PIN) == (Lookup.TAMPERED, None)
    cache.store(tmp_path, PIN, "realm bank {}\n")
    assert cache.lookup(tmp_path, PIN)[0] is Lookup.HIT


def test_an_entry_that_is_a_symlink_is_tampered_and_replaced_without_touching_its_target(
    tmp_path: Path,
) -> None:
    genuine = cache.store(tmp_path / "elsewhere", PIN, "realm bank {}\n")
    link = cache.entry_dir(tmp_path / "state", PIN)
    link.parent.mkdir(parents=True)
    link.symlink_to(genuine.directory, target_is_directory=True)
    assert cache.lookup(tmp_path / "state", PIN) == (Lookup.TAMPERED, None)
    cache.store(tmp_path / "state", PIN, "realm bank {}\n")
    assert not link.is_symlink() and link.is_dir()
    assert cache.lookup(tmp_path / "elsewhere", PIN)[0] is Lookup.HIT  # the target survives


def test_a_dangling_symlink_entry_is_tampered(tmp_path: Path) -> None:
    link = cache.entry_dir(tmp_path, PIN)
    link.parent.mkdir(parents=True)
    link.symlink_to(tmp_path / "nowhere")
    assert cache.lookup(tmp_path, PIN) == (Lookup.TAMPERED, None)
    cache.store(tmp_path, PIN, "realm bank {}\n")
    assert cache.lookup(tmp_path, PIN)[0] is Lookup.HIT
