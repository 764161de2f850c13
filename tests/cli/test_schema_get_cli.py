"""`ftl schema get`: from the sources, and from a running backplane's admin API."""

import json
import os
import re
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest

REPO = Path(__file__).resolve().parents[2]


def ftl(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ftl", *args], cwd=cwd, capture_output=True, text=True, timeout=120
    )


@pytest.fixture(scope="module")
def examples(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("examples")
    shutil.copytree(REPO / "examples", root / "examples", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "ftl-project.toml", root / "ftl-project.toml")
    return root


def test_the_schema_from_sources(examples: Path) -> None:
    result = ftl("schema", "get", cwd=examples)
    assert result.returncode == 0, result.stderr
    text = result.stdout
    assert text.startswith("realm examples {\n")
    assert "builtin module builtin {" in text
    assert "  module echo {" in text and "  module greeter {" in text and "  module time {" in text
    assert "+ingress http GET /echo/hello" in text
    assert "+calls time.time" in text


def test_one_module_as_json(examples: Path) -> None:
    result = ftl("schema", "get", "--json", "--module", "greeter", cwd=examples)
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    [realm] = document["realms"]
    assert [m["name"] for m in realm["modules"]] == ["greeter"]


def test_public_schema_of_a_realm_that_exports_nothing(examples: Path) -> None:
    result = ftl("schema", "get", "--public", cwd=examples)
    assert result.returncode == 0, result.stderr
    assert "module echo" not in result.stdout


class AdminApi(BaseHTTPRequestHandler):
    seen: list[dict[str, list[str]]] = []

    def do_GET(self) -> None:
        url = urlparse(self.path)
        query = parse_qs(url.query)
        AdminApi.seen.append(query)
        if query.get("module") == ["missing"]:
            self._send(
                404, "application/json", json.dumps({"error": {"kind": "not_found", "message": "no module"}})
            )
        elif query["format"] == ["json"]:
            self._send(200, "application/json", json.dumps({"realms": []}))
        else:
            self._send(200, "text/plain", "realm remote {\n}\n")

    def _send(self, status: int, content_type: str, body: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, format: str, *args: object) -> None:
        return


@pytest.fixture
def admin_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), AdminApi)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_the_schema_from_a_running_backplane(admin_url: str, tmp_path: Path) -> None:
    AdminApi.seen.clear()
    text = ftl("schema", "get", "--endpoint", admin_url, "--module", "echo", "--public", cwd=tmp_path)
    assert (text.returncode, text.stdout) == (0, "realm remote {\n}\n")
    as_json = ftl("schema", "get", "--endpoint", admin_url, "--json", cwd=tmp_path)
    assert as_json.returncode == 0 and json.loads(as_json.stdout) == {"realms": []}
    assert AdminApi.seen == [{"format": ["text"], "module": ["echo"], "public": ["1"]}, {"format": ["json"]}]
    missing = ftl("schema", "get", "--endpoint", admin_url, "--module", "missing", cwd=tmp_path)
    assert missing.returncode == 1
    assert missing.stderr.strip() == "ftl: error: no module"


def test_an_unreachable_backplane(tmp_path: Path) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), AdminApi)
    port = server.server_address[1]
    server.server_close()
    result = ftl("schema", "get", "--endpoint", f"http://127.0.0.1:{port}", cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr.startswith(f"ftl: error: no backplane at http://127.0.0.1:{port}")


# --- --public in a realm that pins another one -----------------------------------------------------

BANK_PUBLIC = """realm bank {
  module balance {
    export realm data Receipt {
      balance Int
    }

    export realm verb withdraw(Int) balance.Receipt
  }
}
"""

SHOP_MODULE = """from __future__ import annotations

from dataclasses import dataclass

import ftl
from ftl_modules.bank import balance


@dataclass
class Paid:
    ok: bool


@dataclass
class Shown:
    receipt: balance.Receipt


@ftl.verb(export="realm")
def pay(amount: int) -> Paid:
    balance.withdraw(amount)
    return Paid(ok=True)
"""

SHOWN_VERB = """

@ftl.verb(export="realm")
def show(amount: int) -> Shown:
    return Shown(receipt=balance.withdraw(amount))
"""


def _git(cwd: Path, *args: str) -> None:
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(cwd),
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_AUTHOR_NAME": "Test",
        "GIT_AUTHOR_EMAIL": "test@example.com",
        "GIT_COMMITTER_NAME": "Test",
        "GIT_COMMITTER_EMAIL": "test@example.com",
    }
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, env=env)


@pytest.fixture
def shop(tmp_path: Path) -> Path:
    """A `shop` realm whose `checkout` module pins and calls the `bank` realm."""
    bank = tmp_path / "bank"
    bank.mkdir()
    (bank / "ftl-project.toml").write_text('realm = "bank"\n')
    (bank / "ftl-public-schema.ftl").write_text(BANK_PUBLIC)
    _git(bank, "init", "-q", "-b", "main")
    _git(bank, "add", "-A")
    _git(bank, "commit", "-q", "-m", "bank")
    root = tmp_path / "shop"
    (root / "modules" / "checkout" / "checkout").mkdir(parents=True)
    (root / "ftl-project.toml").write_text('realm = "shop"\nmodule-dirs = ["modules"]\n')
    (root / "modules" / "checkout" / "ftl.toml").write_text('module = "checkout"\n')
    (root / "modules" / "checkout" / "checkout" / "__init__.py").write_text(SHOP_MODULE)
    added = ftl("realm", "add", "--git-repo", str(bank), cwd=root)
    assert added.returncode == 0, added.stderr
    return root


def test_public_leaves_out_calls_into_other_realms(shop: Path) -> None:
    result = ftl("schema", "get", "--public", cwd=shop)
    assert result.returncode == 0, result.stderr
    assert "export realm verb pay(Int) checkout.Paid\n" in result.stdout
    assert "@bank" not in result.stdout and "+calls" not in result.stdout


def test_public_exposing_another_realms_type_is_a_positioned_error(shop: Path) -> None:
    source = shop / "modules" / "checkout" / "checkout" / "__init__.py"
    source.write_text(SHOP_MODULE + SHOWN_VERB)
    result = ftl("schema", "get", "--public", cwd=shop)
    assert (result.returncode, result.stdout) == (1, "")
    assert "Traceback" not in result.stderr
    line = SHOP_MODULE.splitlines().index("    receipt: balance.Receipt") + 1
    where = os.path.join("modules", "checkout", "checkout", "__init__.py")
    assert re.search(
        rf"^{re.escape(where)}:{line}:\d+: checkout\.Shown exposes balance\.Receipt@bank of realm 'bank'",
        result.stderr,
        re.MULTILINE,
    ), result.stderr
