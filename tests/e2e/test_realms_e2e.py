"""Two realms end to end: `bank` exports a verb, `shop` pins bank's public schema from git, builds
against it and calls it across two running backplanes; then bank breaks its public API.

Everything goes through the real `ftl` command in temp dirs: real git repositories (file:// URLs),
real `ftl dev` processes on free ports, real HTTP between them.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from ftl.devserver.console.trace import build_trace
from ftl.devserver.timeline import event_from_json

pytestmark = pytest.mark.e2e

FTL = [sys.executable, "-m", "ftl"]
STARTUP_TIMEOUT_S = 90

BANK_MODULE = '''"""Accounts."""

from __future__ import annotations

from dataclasses import dataclass

import ftl


@dataclass
class WithdrawRequest:
    account: str
    amount: int


@dataclass
class Receipt:
    account: str
    balance: int


@ftl.verb(export="realm")
def withdraw(req: WithdrawRequest) -> Receipt:
    """Take money out of an account that starts with 100."""
    return Receipt(account=req.account, balance=100 - req.amount)


@ftl.verb(export=True)
def audit(req: WithdrawRequest) -> Receipt:
    """Exported inside the bank only: other realms must not reach it."""
    return Receipt(account=req.account, balance=0)
'''

# The breaking change: `Receipt` is renamed, so `withdraw` returns another type.
BANK_MODULE_V2 = (
    BANK_MODULE.replace("class Receipt", "class Statement")
    .replace("-> Receipt", "-> Statement")
    .replace("return Receipt(", "return Statement(")
)

SHOP_MODULE = '''"""The shop's checkout, paying through the bank realm."""

from __future__ import annotations

from dataclasses import dataclass

import ftl
from ftl_modules.bank import balance


@dataclass
class CheckoutRequest:
    account: str
    total: int


@dataclass
class CheckoutResponse:
    receipt: balance.Receipt


@ftl.verb(export=True)
def checkout(req: CheckoutRequest) -> CheckoutResponse:
    receipt = balance.withdraw(balance.WithdrawRequest(account=req.account, amount=req.total))
    return CheckoutResponse(receipt=receipt)
'''
RECEIPT_FIELD_LINE = SHOP_MODULE.splitlines().index("    receipt: balance.Receipt") + 1


# --- helpers -------------------------------------------------------------------------------------


def ftl(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*FTL, *args], cwd=cwd, capture_output=True, text=True, timeout=120, env=_env())


def git(cwd: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True, env=_env())
    return done.stdout.strip()


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FTL_", "GIT_"))}
    env.update(
        GIT_AUTHOR_NAME="Test",
        GIT_AUTHOR_EMAIL="test@example.com",
        GIT_COMMITTER_NAME="Test",
        GIT_COMMITTER_EMAIL="test@example.com",
        GIT_CONFIG_NOSYSTEM="1",
        NO_COLOR="1",
    )
    return env


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def new_project(root: Path, realm: str, module: str, source: str) -> None:
    write(root / "ftl-project.toml", f'realm = "{realm}"\nmodule-dirs = ["modules"]\n')
    write(root / ".gitignore", ".ftl/\n__pycache__/\n")
    write(root / "modules" / module / "ftl.toml", f'module = "{module}"\n')
    write(root / "modules" / module / module / "__init__.py", source)
    git(root, "init", "-q", "-b", "main")


def commit(root: Path, message: str) -> str:
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", message)
    return git(root, "rev-parse", "HEAD")


class DevServer:
    """A running `ftl dev` in its own process group; its output is collected as it comes."""

    def __init__(self, root: Path, env: dict[str, str] | None = None) -> None:
        self.lines: list[str] = []
        self.process = subprocess.Popen(
            [
                *FTL,
                "dev",
                "--plain",
                "--no-console",
                "--bind",
                "127.0.0.1:0",
                "--ingress-bind",
                "127.0.0.1:0",
            ],
            cwd=root,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**_env(), **(env or {})},
            start_new_session=True,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self.admin_url = ""
        self.ingress_url = ""

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))

    def output(self) -> str:
        return "\n".join(self.lines)

    def wait_ready(self, module: str) -> None:
        """Until the admin API answers and `module` has a ready deployment (no fixed sleeps)."""
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"ftl dev exited with {self.process.returncode}:\n{self.output()}")
            if not self.admin_url:
                self._find_admin()
            elif self._deployed(module):
                return
            time.sleep(0.1)  # polling interval, not synchronisation
        raise AssertionError(f"ftl dev did not deploy {module} in time:\n{self.output()}")

    def _find_admin(self) -> None:
        for url in dict.fromkeys(re.findall(r"https?://127\.0\.0\.1:\d+", self.output())):
            try:
                status = httpx.get(f"{url}/api/status", timeout=2).json()
            except (httpx.HTTPError, ValueError):
                continue
            if isinstance(status, dict) and "ingress_url" in status:
                self.admin_url = url
                self.ingress_url = str(status["ingress_url"]).rstrip("/")
                return

    def _deployed(self, module: str) -> bool:
        try:
            deployments = httpx.get(f"{self.admin_url}/api/deployments", timeout=2).json()
        except (httpx.HTTPError, ValueError):
            return False
        return any(
            d.get("module") == module and d.get("state") in {"ready", "live", "running"} for d in deployments
        )

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGINT)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=15)
        self._reader.join(timeout=5)


@pytest.fixture
def dev_servers() -> Iterator[list[DevServer]]:
    servers: list[DevServer] = []
    try:
        yield servers
    finally:
        for server in reversed(servers):
            server.stop()


@pytest.fixture
def realms(tmp_path: Path) -> tuple[Path, Path]:
    """bank (exports `balance.withdraw`, public schema committed) and shop (pins bank, builds)."""
    bank = tmp_path / "bank"
    new_project(bank, "bank", "balance", BANK_MODULE)
    built = ftl(bank, "build")
    assert built.returncode == 0, built.stderr
    public = (bank / "ftl-public-schema.ftl").read_text()
    assert "export realm verb withdraw(balance.WithdrawRequest) balance.Receipt" in public
    assert "audit" not in public
    commit(bank, "bank v1")

    shop = tmp_path / "shop"
    new_project(shop, "shop", "checkout", SHOP_MODULE)
    added = ftl(shop, "realm", "add", "--git-repo", bank.as_uri())
    assert added.returncode == 0, added.stderr
    assert f'git-commit = "{git(bank, "rev-parse", "HEAD")}"' in (shop / "ftl-project.toml").read_text()
    built = ftl(shop, "build")
    assert built.returncode == 0, built.stderr
    assert (shop / ".ftl" / "stubs" / "ftl_modules" / "bank" / "balance.py").is_file()
    commit(shop, "shop v1")
    return bank, shop


# --- the tests -----------------------------------------------------------------------------------


def test_a_shop_verb_calls_the_bank_across_two_backplanes(
    realms: tuple[Path, Path], dev_servers: list[DevServer]
) -> None:
    bank, shop = realms
    bank_dev = DevServer(bank)
    dev_servers.append(bank_dev)
    bank_dev.wait_ready("balance")

    with (shop / "ftl-project.toml").open("a", encoding="utf-8") as project_file:
        project_file.write(f'\n[config]\nbank-realm-endpoint = "{bank_dev.ingress_url}"\n')
    shop_dev = DevServer(shop)
    dev_servers.append(shop_dev)
    shop_dev.wait_ready("checkout")

    called = ftl(
        shop,
        "call",
        "checkout.checkout",
        '{"account": "alice", "total": 30}',
        "--endpoint",
        shop_dev.admin_url,
    )
    assert called.returncode == 0, called.stderr + shop_dev.output() + bank_dev.output()
    assert json.loads(called.stdout) == {"receipt": {"account": "alice", "balance": 70}}

    # The bank saw the call as coming from the shop realm, under the shop's request id.
    events = httpx.get(
        f"{bank_dev.admin_url}/api/timeline", params={"kind": "call", "verb": "withdraw"}
    ).json()
    assert events, bank_dev.output()
    request_id = events[0]["request_id"]
    shop_events = httpx.get(f"{shop_dev.admin_url}/api/timeline", params={"request_id": request_id}).json()
    assert any(e.get("verb") == "checkout" for e in shop_events)
    # The shop records its side of the call, nested in its trace under the verb that made it.
    [made] = [e for e in shop_events if e["kind"] == "call" and e["verb"] == "withdraw@bank"]
    assert (made["module"], made["level"], made["data"]["caller"]) == ("balance", "info", "checkout.checkout")
    assert made["duration_ms"] is not None
    trace = build_trace(request_id, [event_from_json(e) for e in shop_events])
    depths = {node.name: depth for depth, node in trace.rows()}
    assert depths["balance.withdraw@bank"] == depths["checkout.checkout"] + 1, trace.rows()

    # Only `export realm` verbs are served to other realms; the rest is 404.
    hidden = httpx.post(
        f"{bank_dev.ingress_url}/_ftl/realm/balance/audit", json={"account": "a", "amount": 1}
    )
    assert hidden.status_code == 404
    bad = httpx.post(f"{bank_dev.ingress_url}/_ftl/realm/balance/withdraw", json={"account": 1})
    assert bad.status_code == 400 and bad.json()["error"]["kind"]


def test_a_breaking_change_in_the_bank_is_caught_by_update_and_build(realms: tuple[Path, Path]) -> None:
    bank, shop = realms
    old = git(bank, "rev-parse", "HEAD")
    write(bank / "modules" / "balance" / "balance" / "__init__.py", BANK_MODULE_V2)
    exported = ftl(bank, "schema", "export")
    assert exported.returncode == 0, exported.stderr
    assert ftl(bank, "schema", "export", "--check").returncode == 0
    new = commit(bank, "rename Receipt to Statement")

    diff = ftl(bank, "schema", "diff", "git:HEAD~1", "git:HEAD", "--breaking")
    assert diff.returncode == 1
    assert "balance.Receipt: data removed" in diff.stdout.splitlines()

    before = (shop / "ftl-project.toml").read_bytes()
    check = ftl(shop, "realm", "update", "--check")
    assert check.returncode == 1
    assert f"bank: behind {old[:12]} → {new[:12]}" in check.stdout
    assert (shop / "ftl-project.toml").read_bytes() == before

    update = ftl(shop, "realm", "update")
    assert update.returncode == 0, update.stderr
    lines = update.stdout.splitlines()
    assert f"bank: updated {old[:12]} → {new[:12]}" in lines
    assert "  breaking: balance.Receipt: data removed" in lines
    assert (
        "  breaking: balance.withdraw: response: type changed from balance.Receipt to balance.Statement"
        in lines
    )
    assert f'git-commit = "{new}"' in (shop / "ftl-project.toml").read_text()

    build = ftl(shop, "build")
    assert build.returncode == 1
    where = re.escape(os.path.join("modules", "checkout", "checkout", "__init__.py"))
    assert re.search(rf"^{where}:{RECEIPT_FIELD_LINE}:\d+: .*Receipt", build.stderr, re.MULTILINE), (
        build.stderr
    )

    assert ftl(shop, "realm", "update", "--check").returncode == 0


PAY_VERB = '''

@dataclass
class Paid:
    ok: bool


@ftl.verb(export="realm")
def pay(req: CheckoutRequest) -> Paid:
    """Offered to other realms; that it calls the bank is its own business."""
    balance.withdraw(balance.WithdrawRequest(account=req.account, amount=req.total))
    return Paid(ok=True)
'''


def test_the_shop_exports_a_verb_that_calls_the_bank(realms: tuple[Path, Path]) -> None:
    _, shop = realms
    source = shop / "modules" / "checkout" / "checkout" / "__init__.py"
    write(source, SHOP_MODULE + PAY_VERB)
    exported = ftl(shop, "schema", "export")
    assert exported.returncode == 0, exported.stderr
    public = (shop / "ftl-public-schema.ftl").read_text()
    assert "export realm verb pay(checkout.CheckoutRequest) checkout.Paid" in public
    assert "@bank" not in public and "+calls" not in public
    shown = ftl(shop, "schema", "get", "--public")
    assert (shown.returncode, shown.stdout) == (0, public), shown.stderr


def test_a_cache_entry_that_is_not_a_directory_is_fetched_again(
    realms: tuple[Path, Path], tmp_path: Path
) -> None:
    bank, shop = realms
    entry = shop / ".ftl" / "realms" / "bank" / git(bank, "rev-parse", "HEAD")
    outside = tmp_path / "outside"
    write(outside / "keep.txt", "mine")
    for damage in ("file", "symlink"):
        shutil.rmtree(entry)
        if damage == "file":
            entry.write_text("x\n")
        else:
            entry.symlink_to(outside, target_is_directory=True)
        built = ftl(shop, "build")
        assert built.returncode == 0, (damage, built.stderr)
        assert entry.is_dir() and not entry.is_symlink(), damage
        assert "export realm verb withdraw" in (entry / "public-schema.ftl").read_text()
    assert [p.name for p in outside.iterdir()] == ["keep.txt"]


def test_build_reports_an_export_exposing_the_banks_type_at_its_place(realms: tuple[Path, Path]) -> None:
    _, shop = realms
    source = shop / "modules" / "checkout" / "checkout" / "__init__.py"
    write(source, SHOP_MODULE.replace("@ftl.verb(export=True)", '@ftl.verb(export="realm")'))
    for command in (("build",), ("schema", "get", "--public")):
        done = ftl(shop, *command)
        assert (done.returncode, done.stdout) == (1, ""), command
        assert "Traceback" not in done.stderr
        where = re.escape(os.path.join("modules", "checkout", "checkout", "__init__.py"))
        exposes = r"checkout\.CheckoutResponse exposes balance\.Receipt@bank"
        pattern = rf"^{where}:{RECEIPT_FIELD_LINE}:\d+: {exposes}"
        assert re.search(pattern, done.stderr, re.MULTILINE), (command, done.stderr)


def test_a_failing_realm_fetch_is_the_only_error_of_a_fresh_build(realms: tuple[Path, Path]) -> None:
    bank, shop = realms
    project_file = shop / "ftl-project.toml"
    project_file.write_text(project_file.read_text().replace(git(bank, "rev-parse", "HEAD"), "main"))
    shutil.rmtree(shop / ".ftl")
    built = ftl(shop, "build")
    assert built.returncode == 1
    assert "ModuleNotFoundError" not in built.stderr
    assert "git-commit 'main' is not a full git commit id" in built.stderr
