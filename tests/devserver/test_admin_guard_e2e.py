"""A real `ftl serve`: the admin port serves the developer's own tools, not other sites' pages.

Any web page the developer opens can send requests to 127.0.0.1; this checks, over real sockets,
that such requests are refused while `ftl call`, `ftl deploy` and `ftl logs` keep working, and
that the ingress port (user traffic) takes any Host.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
WAIT_S = 60.0
EVIL = "http://evil.example"


@dataclass(frozen=True)
class Served:
    root: Path
    ingress: str
    admin: str

    def ftl(self, *args: str) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "FTL_ENDPOINT": self.admin, "NO_COLOR": "1"}
        return subprocess.run(
            [sys.executable, "-m", "ftl", *args],
            cwd=self.root,
            env=env,
            capture_output=True,
            text=True,
            timeout=WAIT_S * 2,
        )

    def calls(self) -> list[dict[str, object]]:
        found: list[dict[str, object]] = httpx.get(
            f"{self.admin}/api/timeline", params={"kind": "call"}, timeout=WAIT_S
        ).json()
        return found


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    root = tmp_path_factory.mktemp("guarded").resolve()
    (root / "ftl-project.toml").write_text('realm = "guarded"\nmodule-dirs = ["modules"]\n')
    shutil.copytree(
        REPO / "examples" / "time", root / "modules" / "time", ignore=shutil.ignore_patterns("__pycache__")
    )
    env = {**os.environ, "NO_COLOR": "1", "PYTHONUNBUFFERED": "1"}
    env.pop("FTL_PROJECT_FILE", None)
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "ftl",
            "serve",
            "--plain",
            "--bind",
            "127.0.0.1:0",
            "--ingress-bind",
            "127.0.0.1:0",
        ],
        cwd=root,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
    )
    try:
        assert process.stdout is not None
        urls: dict[str, str] = {}
        # `ftl serve --plain` prints its URLs first, one per line; a dead process ends the output.
        for line in process.stdout:
            name, _, value = line.strip().partition(" ")
            urls[name] = value
            if "admin" in urls and "ingress" in urls:
                break
        assert "admin" in urls and "ingress" in urls, f"ftl serve printed no URLs (exit {process.poll()})"
        served = Served(root, urls["ingress"], urls["admin"])
        deployed = served.ftl("deploy", "modules/time")  # the client's JSON POST is let through
        assert deployed.returncode == 0, deployed.stdout + deployed.stderr
        yield served
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=WAIT_S)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=WAIT_S)


def test_another_sites_page_cannot_call_a_verb(served: Served) -> None:
    body = '{"verb":"time.time","body":{}}'
    cross_site = httpx.post(
        f"{served.admin}/api/call",
        content=body,
        headers={"Content-Type": "text/plain", "Origin": EVIL},
        timeout=WAIT_S,
    )
    assert cross_site.status_code == 403
    assert f"a page from {EVIL} may not use the admin API" in cross_site.json()["error"]["message"]
    # Without an Origin (not a browser), a body that is not declared JSON is still refused.
    untyped = httpx.post(f"{served.admin}/api/call", content=body, headers={"Content-Type": "text/plain"})
    assert untyped.status_code == 415
    assert served.calls() == [], "a refused request ran the verb"

    called = served.ftl("call", "time.time")
    assert called.returncode == 0, called.stderr
    assert '"time"' in called.stdout
    assert len(served.calls()) == 1


def test_dns_rebinding_cannot_read_the_timeline(served: Served) -> None:
    rebound = httpx.get(f"{served.admin}/api/timeline", headers={"Host": "evil.example:8892"}, timeout=WAIT_S)
    assert rebound.status_code == 403
    assert rebound.json()["error"]["message"].startswith(
        f"Host 'evil.example:8892' is not this admin server: use {served.admin}"
    )
    port = served.admin.rsplit(":", 1)[1]
    assert httpx.get(f"{served.admin}/api/status", headers={"Host": f"localhost:{port}"}).status_code == 200
    logs = served.ftl("logs", "--kind", "all", "-n", "5")
    assert logs.returncode == 0, logs.stderr


def test_the_ingress_takes_any_host(served: Served) -> None:
    answer = httpx.get(
        f"{served.ingress}/no/such/route", headers={"Host": "shop.example.com"}, timeout=WAIT_S
    )
    assert answer.status_code == 404
