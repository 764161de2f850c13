from __future__ import annotations

import stat
from pathlib import Path

import pytest

from ftl.errors import FtlError
from ftl.realm.git import (
    RemoteHead,
    git_location,
    is_local_path,
    read_files_at,
    read_local_file,
    redact,
    repo_root,
    resolve_branch,
)

from .conftest import GitRepo


@pytest.fixture
def repo(tmp_path: Path) -> GitRepo:
    repo = GitRepo(tmp_path / "remote")
    repo.commit("one", **{"f.txt": "one\n"})
    return repo


def test_default_branch_head(repo: GitRepo) -> None:
    head = resolve_branch(repo.url)
    assert (head.branch, head.commit) == ("main", repo.head())


def test_default_branch_need_not_be_main(tmp_path: Path) -> None:
    repo = GitRepo(tmp_path / "r")
    repo.git("checkout", "-q", "-b", "trunk")
    commit = repo.commit("x", **{"a": "a"})
    assert resolve_branch(str(repo.path)) == RemoteHead("trunk", commit)


def test_named_branch_and_unknown_branch(repo: GitRepo) -> None:
    repo.git("checkout", "-q", "-b", "dev")
    dev = repo.commit("dev", **{"f.txt": "dev\n"})
    assert resolve_branch(repo.url, "dev").commit == dev
    with pytest.raises(FtlError, match=r"no branch 'nope' \(branches: dev, main\)"):
        resolve_branch(repo.url, "nope")


def test_unreachable_repository(tmp_path: Path) -> None:
    with pytest.raises(
        FtlError, match=r"cannot reach git repository .*does not appear to be a git repository"
    ):
        resolve_branch(str(tmp_path / "missing"))


def test_empty_repository(tmp_path: Path) -> None:
    empty = GitRepo(tmp_path / "empty")
    with pytest.raises(FtlError, match="has no branches"):
        resolve_branch(empty.url)


def test_reads_exactly_the_pinned_commit_after_the_branch_moved(repo: GitRepo) -> None:
    old = repo.head()
    repo.commit("two", **{"f.txt": "two\n"})
    assert read_files_at(repo.url, old, ["f.txt", "absent"]) == {"f.txt": b"one\n", "absent": None}


def test_reads_a_commit_after_a_force_push(tmp_path: Path, repo: GitRepo) -> None:
    server = tmp_path / "server.git"
    repo.git("clone", "-q", "--bare", str(repo.path), str(server))
    old = repo.head()
    repo.commit("two", **{"f.txt": "two\n"})
    repo.git("reset", "-q", "--hard", "HEAD~1")
    repo.commit("rewritten", **{"f.txt": "rewritten\n"})
    repo.git("push", "-q", "--force", str(server), "main")
    assert resolve_branch(str(server)).commit == repo.head()
    assert read_files_at(server.as_uri(), old, ["f.txt"]) == {"f.txt": b"one\n"}


def test_scp_like_urls_go_through_ssh(tmp_path: Path, repo: GitRepo, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_ssh = tmp_path / "fake-ssh"
    fake_ssh.write_text('#!/bin/sh\nwhile [ $# -gt 2 ]; do shift; done\nexec sh -c "$2"\n')
    fake_ssh.chmod(fake_ssh.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("GIT_SSH_COMMAND", str(fake_ssh))
    monkeypatch.setenv("GIT_SSH_VARIANT", "simple")
    url = f"git.example.com:{repo.path}"
    head = resolve_branch(url)
    assert head.commit == repo.head()
    assert read_files_at(url, head.commit, ["f.txt"]) == {"f.txt": b"one\n"}


def test_a_commit_that_is_gone_is_reported(repo: GitRepo) -> None:
    with pytest.raises(FtlError, match="cannot fetch commit"):
        read_files_at(repo.url, "0" * 40, ["f.txt"])


def test_only_full_commit_ids_are_accepted(repo: GitRepo) -> None:
    with pytest.raises(FtlError, match="not a full git commit id"):
        read_files_at(repo.url, "HEAD", ["f.txt"])


def test_local_file_at_revision(repo: GitRepo) -> None:
    first = repo.head()
    repo.commit("two", **{"f.txt": "two\n"})
    sub = repo.path / "sub"
    sub.mkdir()
    assert read_local_file(sub, first, "f.txt") == b"one\n"
    assert read_local_file(sub, "HEAD", "f.txt") == b"two\n"
    assert repo_root(sub) == repo.path
    with pytest.raises(FtlError, match="unknown git revision"):
        read_local_file(sub, "nope", "f.txt")
    with pytest.raises(FtlError, match=r"has no file g\.txt"):
        read_local_file(sub, "HEAD", "g.txt")


def test_not_a_repository(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    outside = tmp_path / "plain"
    outside.mkdir()
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    assert repo_root(outside) is None
    with pytest.raises(FtlError, match="not inside a git repository"):
        read_local_file(outside, "HEAD", "f.txt")


def test_redact_hides_credentials() -> None:
    assert redact("https://user:token@example.com/r.git") == "https://***@example.com/r.git"
    assert redact("git@example.com:r.git") == "git@example.com:r.git"


@pytest.mark.parametrize(
    ("url", "local"),
    [
        ("../bank", True),
        ("bank", True),
        ("/srv/git/bank.git", True),
        ("./odd:name", True),
        ("/srv/odd:name", True),
        ("file:///srv/bank", False),
        ("https://example.com/bank.git", False),
        ("ssh://git@example.com/bank.git", False),
        ("git@example.com:bank.git", False),
        ("example.com:repos/bank", False),
    ],
)
def test_which_urls_are_local_paths(url: str, local: bool) -> None:
    assert is_local_path(url) is local
    location = git_location(url, Path("/base"))
    assert Path(location).is_absolute() if local else location == url


def test_a_local_path_is_made_absolute_from_the_base() -> None:
    assert git_location("../bank", Path("/work/shop")) == "/work/bank"
    assert git_location("/srv/bank", Path("/work/shop")) == "/srv/bank"
    with pytest.raises(FtlError, match="URL is empty"):
        git_location(" ")


def test_a_relative_path_from_the_current_directory(
    repo: GitRepo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = tmp_path / "project"
    project.mkdir()
    monkeypatch.chdir(project)
    head = resolve_branch("../remote")
    assert head.commit == repo.head()
    # The fetch runs inside a scratch repository: the path must still mean ../remote from here.
    assert read_files_at("../remote", head.commit, ["f.txt"]) == {"f.txt": b"one\n"}


def test_a_relative_path_from_a_base_directory(
    repo: GitRepo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = tmp_path / "project"
    (project / "deep" / "er").mkdir(parents=True)
    monkeypatch.chdir(project / "deep" / "er")
    head = resolve_branch("../remote", base=project)
    assert head.commit == repo.head()
    assert read_files_at("../remote", head.commit, ["f.txt"], base=project) == {"f.txt": b"one\n"}
    with pytest.raises(FtlError, match=r"cannot fetch commit .* from git repository \.\./remote: "):
        read_files_at("../remote", head.commit, ["f.txt"], base=tmp_path)
