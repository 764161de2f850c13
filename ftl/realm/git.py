"""Git access for realm pins, through gitpython: resolve a branch head, read files at a commit.

URLs are handed to git unchanged, so every form git accepts works (`https://`, `ssh://`,
scp-like `host:path`, `file://`, a local path), except that a local path is made absolute first
(against `base`: the project root for pins), since git runs inside a scratch repository. Reading
fetches exactly the pinned commit into a throw-away bare repository, so it works after the branch
moved on or was force-pushed.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import git
from git.exc import BadName, GitCommandError, InvalidGitRepositoryError, NoSuchPathError

from ftl.errors import FtlError

# Never wait for a password prompt: a CLI run in CI must fail, not hang.
_GIT_ENV = {"GIT_TERMINAL_PROMPT": "0", "GCM_INTERACTIVE": "never"}
_TIMEOUT_S = 120
_COMMIT_RE = re.compile(r"[0-9a-f]{40}([0-9a-f]{24})?")
_URL_SCHEME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


@dataclass(frozen=True)
class RemoteHead:
    branch: str
    commit: str


def redact(url: str) -> str:
    """The URL with any password or token removed, for messages."""
    return re.sub(r"^([a-z][a-z0-9+.-]*://)[^/@]*@", r"\1***@", url)


def is_local_path(url: str) -> bool:
    """Whether git takes `url` as a path on this machine: no `scheme://` and, as git decides, not
    scp-like `host:path` (a colon with no slash before it)."""
    if _URL_SCHEME_RE.match(url):
        return False
    if Path(url).is_absolute():
        return True
    colon = url.find(":")
    return colon == -1 or "/" in url[:colon]


def git_location(url: str, base: Path | None = None) -> str:
    """What git is given for `url`: a local path made absolute (a relative one taken from `base`,
    default the current directory); any other URL unchanged."""
    if not url.strip():
        raise FtlError("the git repository URL is empty")
    if not is_local_path(url):
        return url
    return os.path.abspath(os.path.join(base or Path.cwd(), url))


def resolve_branch(url: str, branch: str | None = None, *, base: Path | None = None) -> RemoteHead:
    """The commit `branch` points at in the repository at `url` (default: its default branch);
    a relative local path is taken from `base` (default: the current directory)."""
    what = f"cannot reach git repository {redact(url)}"
    output = _run(git.Git(), "ls_remote", "--symref", git_location(url, base), what=what)
    heads: dict[str, str] = {}
    default_ref = ""
    head_commit = ""
    for line in output.splitlines():
        left, _, ref = line.partition("\t")
        if left.startswith("ref: ") and ref == "HEAD":
            default_ref = left.removeprefix("ref: ")
        elif ref == "HEAD":
            head_commit = left
        elif ref.startswith("refs/heads/"):
            heads[ref.removeprefix("refs/heads/")] = left
    if not heads:
        raise FtlError(f"git repository {redact(url)} has no branches (nothing was ever pushed to it)")
    if branch is None:
        branch = _default_branch(url, heads, default_ref, head_commit)
    if branch not in heads:
        known = ", ".join(sorted(heads))
        raise FtlError(f"git repository {redact(url)} has no branch {branch!r} (branches: {known})")
    return RemoteHead(branch=branch, commit=heads[branch])


def _default_branch(url: str, heads: dict[str, str], default_ref: str, head_commit: str) -> str:
    if default_ref.startswith("refs/heads/") and default_ref.removeprefix("refs/heads/") in heads:
        return default_ref.removeprefix("refs/heads/")
    candidates = sorted(name for name, commit in heads.items() if commit == head_commit)
    if len(candidates) == 1:
        return candidates[0]
    raise FtlError(
        f"cannot tell the default branch of git repository {redact(url)}; give one with --git-branch"
    )


def is_commit_id(commit: str) -> bool:
    """Whether `commit` is a full (40 or 64 hex digit) lower-case commit id."""
    return _COMMIT_RE.fullmatch(commit) is not None


def check_commit_id(commit: str) -> None:
    if not is_commit_id(commit):
        raise FtlError(f"{commit!r} is not a full git commit id")


class CommitFiles:
    """Files of one fetched commit; see `open_commit`."""

    def __init__(self, tree: git.Tree) -> None:
        self._tree = tree

    def read(self, path: str) -> bytes | None:
        """The file's contents, or None when the commit has no such file."""
        return _blob_at(self._tree, path)


@contextlib.contextmanager
def open_commit(url: str, commit: str, *, base: Path | None = None) -> Iterator[CommitFiles]:
    """Fetch exactly `commit` from the repository at `url` and give access to its files; a relative
    local path is taken from `base` (default: the current directory)."""
    check_commit_id(commit)
    where = git_location(url, base)
    with tempfile.TemporaryDirectory(prefix="ftl-realm-") as scratch:
        repo = git.Repo.init(scratch, bare=True)
        try:
            _fetch_commit(repo, where, commit, shown=redact(url))
            yield CommitFiles(repo.commit(commit).tree)
        finally:
            repo.close()


def read_files_at(
    url: str, commit: str, paths: Iterable[str], *, base: Path | None = None
) -> dict[str, bytes | None]:
    """The contents of `paths` at exactly `commit` in the repository at `url` (None: no such file)."""
    with open_commit(url, commit, base=base) as files:
        return {path: files.read(path) for path in paths}


def _fetch_commit(repo: git.Repo, url: str, commit: str, *, shown: str) -> None:
    what = f"cannot fetch commit {commit[:12]} from git repository {shown}"
    try:
        _run(repo.git, "fetch", "--quiet", "--no-tags", "--depth=1", url, commit, what=what)
        return
    except FtlError:
        # Some servers refuse a bare commit id as a want; fall back to everything they advertise.
        pass
    _run(repo.git, "fetch", "--quiet", "--no-tags", url, "+refs/*:refs/fetched/*", what=what)
    try:
        repo.git.cat_file("-e", f"{commit}^{{commit}}")
    except GitCommandError as exc:
        raise FtlError(
            f"{what}: the commit is no longer in the repository (was the branch force-pushed and the "
            "old commit garbage-collected?)"
        ) from exc


def _blob_at(tree: git.Tree, path: str) -> bytes | None:
    try:
        item = tree / path.strip("/")
    except KeyError:
        return None
    if not isinstance(item, git.Blob):
        return None
    data: bytes = item.data_stream.read()
    return data


def read_local_file(start: Path, rev: str, path: str) -> bytes:
    """`path` (relative to the repository root) at revision `rev` of the repository holding `start`."""
    try:
        repo = git.Repo(start, search_parent_directories=True)
    except (InvalidGitRepositoryError, NoSuchPathError) as exc:
        raise FtlError(f"{start} is not inside a git repository") from exc
    try:
        try:
            tree = repo.commit(rev).tree
        except (BadName, ValueError) as exc:
            raise FtlError(f"unknown git revision {rev!r}") from exc
        data = _blob_at(tree, path)
        if data is None:
            raise FtlError(f"git revision {rev!r} has no file {path}")
        return data
    finally:
        repo.close()


def repo_root(start: Path) -> Path | None:
    """The working tree root of the git repository holding `start`, if any."""
    try:
        repo = git.Repo(start, search_parent_directories=True)
    except (InvalidGitRepositoryError, NoSuchPathError):
        return None
    try:
        return Path(repo.working_tree_dir) if repo.working_tree_dir else None
    finally:
        repo.close()


def _run(runner: git.Git, command: str, *args: str, what: str) -> str:
    env = dict(_GIT_ENV)
    if "GIT_SSH_COMMAND" not in os.environ and "GIT_SSH" not in os.environ:
        env["GIT_SSH_COMMAND"] = "ssh -o BatchMode=yes"
    try:
        output: str = getattr(runner, command)(*args, env=env, kill_after_timeout=_TIMEOUT_S)
    except GitCommandError as exc:
        raise FtlError(f"{what}: {_git_reason(exc)}") from exc
    return output


_BOILERPLATE = ("hint:", "Please make sure you have", "and the repository exists")


def _git_reason(exc: GitCommandError) -> str:
    stderr = exc.stderr if isinstance(exc.stderr, str) else str(exc.stderr or "")
    lines = [line.strip() for line in stderr.replace("stderr:", "").strip(" '\n").splitlines()]
    lines = [line.removeprefix("fatal: ").removeprefix("error: ") for line in lines]
    lines = [line for line in lines if line and not line.startswith(_BOILERPLATE)]
    return "; ".join(lines[:2]) if lines else f"git exited with status {exc.status}"
