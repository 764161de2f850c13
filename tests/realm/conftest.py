"""Real git repositories in temp dirs, and a realm project around them."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

BANK_PROJECT = 'realm = "bank"\nmodule-dirs = ["modules"]\npublic-schema = "ftl-public-schema.ftl"\n'

BANK_V1 = """realm bank {
  module balance {
    export realm data Receipt {
      id String
    }

    export realm data WithdrawRequest {
      amount Int
    }

    export realm verb withdraw(balance.WithdrawRequest) balance.Receipt
  }
}
"""

SHOP_PROJECT = """# The shop project.
realm = "shop"   # our own realm
module-dirs = ["modules"]

[config]
greeting = "hi" # keep me
"""


class GitRepo:
    """A working repository driven through the git CLI."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.mkdir(parents=True, exist_ok=True)
        self.git("init", "-q", "-b", "main")

    @property
    def url(self) -> str:
        return self.path.as_uri()

    def git(self, *args: str) -> str:
        done = subprocess.run(["git", *args], cwd=self.path, check=True, capture_output=True, text=True)
        return done.stdout.strip()

    def write(self, relative: str, text: str) -> None:
        target = self.path / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")

    def commit(self, message: str = "change", **files: str) -> str:
        for relative, text in files.items():
            self.write(relative, text)
        self.git("add", "-A")
        self.git("commit", "-q", "--allow-empty", "-m", message)
        return self.git("rev-parse", "HEAD")

    def head(self) -> str:
        return self.git("rev-parse", "HEAD")


@pytest.fixture(autouse=True)
def isolated_git(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Commits get a fixed identity; the user's own git configuration stays out of the way."""
    config = tmp_path_factory.mktemp("gitconfig") / "config"
    config.write_text("[init]\n\tdefaultBranch = main\n", encoding="utf-8")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(config))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    for role in ("AUTHOR", "COMMITTER"):
        monkeypatch.setenv(f"GIT_{role}_NAME", "Test")
        monkeypatch.setenv(f"GIT_{role}_EMAIL", "test@example.com")
    yield


@pytest.fixture
def bank(tmp_path: Path) -> GitRepo:
    """The `bank` realm's repository: its project file and public schema, one commit."""
    repo = GitRepo(tmp_path / "bank")
    repo.commit("bank v1", **{"ftl-project.toml": BANK_PROJECT, "ftl-public-schema.ftl": BANK_V1})
    return repo


@pytest.fixture
def shop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The `shop` project (not a git repo) whose ftl-project.toml the realm commands edit."""
    root = tmp_path / "shop"
    (root / "modules").mkdir(parents=True)
    path = root / "ftl-project.toml"
    path.write_text(SHOP_PROJECT, encoding="utf-8")
    monkeypatch.chdir(root)
    return path
