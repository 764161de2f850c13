"""Atomic writes: a failure leaves the old file, permissions are kept, symlinks are written through."""

import os
from pathlib import Path

import pytest

from ftl.files import write_atomic, write_text_atomic


def test_the_old_permissions_are_kept(tmp_path: Path) -> None:
    path = tmp_path / "secrets.toml"
    path.write_text("old")
    path.chmod(0o600)
    write_text_atomic(path, "new")
    assert path.read_text() == "new"
    assert path.stat().st_mode & 0o777 == 0o600


def test_a_symlink_stays_a_link_and_its_target_changes(tmp_path: Path) -> None:
    target = tmp_path / "real" / "schema.ftl"
    target.parent.mkdir()
    target.write_text("old")
    link = tmp_path / "link.ftl"
    link.symlink_to(target)
    write_text_atomic(link, "new")
    assert link.is_symlink()
    assert target.read_text() == "new"
    assert not list(target.parent.glob(".*.tmp"))


def test_a_failed_write_leaves_the_old_file_and_no_temporary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "f.txt"
    path.write_text("old")

    def broken_replace(*_args: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        write_atomic(path, b"new")
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["f.txt"]
