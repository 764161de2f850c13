"""Runner log dirs left behind by a backplane that was SIGKILLed are swept by the next one."""

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from ftl.devserver import supervisor


def test_stale_dirs_of_dead_backplanes_are_removed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    script = "import os; print(os.getpid())"
    dead = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    dead_pid = int(dead.stdout)
    stale = tmp_path / f"ftl-runners-{dead_pid}-abc"
    live = tmp_path / f"ftl-runners-{os.getpid()}-def"
    unrelated = tmp_path / "ftl-runners-notapid"
    for directory in (stale, live, unrelated):
        directory.mkdir()
        (directory / "r.log").write_text("x")

    supervisor._remove_stale_log_dirs()

    assert not stale.exists()
    assert live.exists()
    assert unrelated.exists()
