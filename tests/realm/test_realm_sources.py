from __future__ import annotations

from pathlib import Path

import pytest

from ftl.errors import FtlError
from ftl.project import load_project
from ftl.realm.sources import read_schema_source

from .conftest import GitRepo


def _no_stdin() -> str:
    raise AssertionError("stdin must not be read")


def test_a_file_and_stdin(tmp_path: Path) -> None:
    (tmp_path / "a.ftl").write_text("realm a {}\n")
    source = read_schema_source("a.ftl", project=None, read_stdin=_no_stdin, cwd=tmp_path)
    assert source.text == "realm a {}\n" and source.label.endswith("a.ftl")
    stdin = read_schema_source("-", project=None, read_stdin=lambda: "realm b {}\n", cwd=tmp_path)
    assert (stdin.label, stdin.text) == ("<stdin>", "realm b {}\n")


def test_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(FtlError, match=r"cannot read nope\.ftl"):
        read_schema_source("nope.ftl", project=None, read_stdin=_no_stdin, cwd=tmp_path)


def test_read_failures_are_said_plainly(tmp_path: Path) -> None:
    with pytest.raises(FtlError) as caught:
        read_schema_source("nope.ftl", project=None, read_stdin=_no_stdin, cwd=tmp_path)
    assert str(caught.value) == "cannot read nope.ftl: No such file or directory"
    (tmp_path / "latin1.ftl").write_bytes(b"realm a {}\n// caf\xe9\n")
    with pytest.raises(FtlError) as caught:
        read_schema_source("latin1.ftl", project=None, read_stdin=_no_stdin, cwd=tmp_path)
    [diagnostic] = caught.value.diagnostics
    assert diagnostic.message == "invalid UTF-8 (byte 0xe9)"
    assert diagnostic.pos is not None and (diagnostic.pos.line, diagnostic.pos.column) == (2, 7)


def test_git_revision_defaults_to_the_projects_public_schema(tmp_path: Path) -> None:
    repo = GitRepo(tmp_path / "repo")
    repo.commit(
        "one",
        **{
            "app/ftl-project.toml": 'realm = "app"\npublic-schema = "public.ftl"\n',
            "app/public.ftl": "realm app {}\n",
        },
    )
    repo.commit("two", **{"app/public.ftl": "realm app { module m {} }\n"})
    project = load_project(repo.path / "app" / "ftl-project.toml")
    old = read_schema_source("git:HEAD~1", project=project, read_stdin=_no_stdin, cwd=repo.path / "app")
    assert (old.label, old.text) == ("git:HEAD~1:app/public.ftl", "realm app {}\n")
    explicit = read_schema_source(
        "git:HEAD:app/public.ftl", project=None, read_stdin=_no_stdin, cwd=repo.path
    )
    assert explicit.text == "realm app { module m {} }\n"
    relative = read_schema_source(
        "git:HEAD~1:./public.ftl", project=None, read_stdin=_no_stdin, cwd=repo.path / "app"
    )
    assert relative.text == "realm app {}\n"


def test_git_errors(tmp_path: Path) -> None:
    repo = GitRepo(tmp_path / "repo")
    repo.commit("one", **{"a.ftl": "realm a {}\n"})
    with pytest.raises(FtlError, match="unknown git revision 'nope'"):
        read_schema_source("git:nope:a.ftl", project=None, read_stdin=_no_stdin, cwd=repo.path)
    with pytest.raises(FtlError, match=r"has no file b\.ftl"):
        read_schema_source("git:HEAD:b.ftl", project=None, read_stdin=_no_stdin, cwd=repo.path)
    with pytest.raises(FtlError, match="names no file"):
        read_schema_source("git:HEAD", project=None, read_stdin=_no_stdin, cwd=repo.path)
