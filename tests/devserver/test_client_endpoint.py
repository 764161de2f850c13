"""Finding the project's own backplane: `.ftl/endpoint`, written by `ftl dev`/`ftl serve`, read by
`ftl call`/`ps`/`logs` after `--endpoint` and $FTL_ENDPOINT, ignored when stale."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from ftl.client import ENDPOINT_FILE, endpoint_file_text, read_endpoint_file, resolve_endpoint
from ftl.devserver.server import EndpointAdvert

DEFAULT = "http://127.0.0.1:8892"


@pytest.fixture
def listening() -> Iterator[str]:
    """The URL of a socket that accepts connections, as a live admin server's would."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        yield f"http://127.0.0.1:{server.getsockname()[1]}"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "ftl-project.toml").write_text('realm = "shop"\n')
    (tmp_path / "orders" / "orders").mkdir(parents=True)
    return tmp_path


def closed_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def finished_pid() -> int:
    """The id of a process that has exited (and been reaped): no process has it now."""
    process = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    return int(process.stdout)


def advertise(root: Path, url: str, pid: int | None = None) -> None:
    (root / ".ftl").mkdir(exist_ok=True)
    (root / ENDPOINT_FILE).write_text(endpoint_file_text(url, os.getpid() if pid is None else pid))


def test_a_live_server_of_the_project_is_found_from_anywhere_in_it(project: Path, listening: str) -> None:
    advertise(project, listening)
    assert resolve_endpoint(None, {}, start=project) == listening
    assert resolve_endpoint(None, {}, start=project / "orders" / "orders") == listening


def test_the_flag_and_the_environment_still_win(project: Path, listening: str) -> None:
    advertise(project, listening)
    assert resolve_endpoint("127.0.0.1:7", {}, start=project) == "http://127.0.0.1:7"
    assert resolve_endpoint(None, {"FTL_ENDPOINT": "http://x:1"}, start=project) == "http://x:1"


def test_the_project_file_named_by_the_environment_is_used(
    project: Path, listening: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    advertise(project, listening)
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    named = {"FTL_PROJECT_FILE": str(project / "ftl-project.toml")}
    assert resolve_endpoint(None, named, start=elsewhere) == listening
    assert resolve_endpoint(None, {}, start=elsewhere) == DEFAULT


def test_a_file_whose_process_is_gone_is_stale(project: Path, listening: str) -> None:
    advertise(project, listening, pid=finished_pid())
    assert resolve_endpoint(None, {}, start=project) == DEFAULT


def test_a_file_where_nothing_answers_is_stale(project: Path) -> None:
    advertise(project, closed_url())
    assert resolve_endpoint(None, {}, start=project) == DEFAULT


@pytest.mark.parametrize("text", ["", "not json", "[]", '{"admin_url": "http://x:1"}', '{"pid": 1}'])
def test_a_file_that_is_not_an_endpoint_file_is_ignored(project: Path, text: str) -> None:
    (project / ".ftl").mkdir()
    (project / ENDPOINT_FILE).write_text(text)
    assert read_endpoint_file(project / ENDPOINT_FILE) is None
    assert resolve_endpoint(None, {}, start=project) == DEFAULT


def test_outside_a_project_the_default_is_used(tmp_path: Path) -> None:
    assert resolve_endpoint(None, {}, start=tmp_path) == DEFAULT


def test_the_advert_is_written_whole_and_withdrawn_on_leaving(project: Path, listening: str) -> None:
    with EndpointAdvert(project) as advert:
        advert.publish(listening)
        assert read_endpoint_file(project / ENDPOINT_FILE) == (listening, os.getpid())
        assert [p.name for p in (project / ".ftl").iterdir()] == ["endpoint"]  # no temporary left
        assert resolve_endpoint(None, {}, start=project) == listening
    assert not (project / ENDPOINT_FILE).exists()


def test_withdrawing_leaves_another_servers_file_alone(project: Path, listening: str) -> None:
    with EndpointAdvert(project) as advert:
        advert.publish(closed_url())
        advertise(project, listening, pid=os.getpid() + 1)  # a second server took over meanwhile
    assert json.loads((project / ENDPOINT_FILE).read_text())["admin_url"] == listening


def test_without_a_project_nothing_is_written(tmp_path: Path) -> None:
    with EndpointAdvert(None) as advert:
        advert.publish("http://127.0.0.1:1")
    assert list(tmp_path.iterdir()) == []
