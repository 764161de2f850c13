"""`ftl realm ...` through the real typer app, against real git repositories in temp dirs."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ftl.cli.app import app

BANK_V1 = """realm bank {
  module balance {
    export realm data Receipt {
      id String
    }

    export realm verb withdraw(Unit) balance.Receipt
  }
}
"""
SHOP = '# shop\nrealm = "shop"\nmodule-dirs = ["modules"]\n'


def _git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


def _commit(repo: Path, **files: str) -> str:
    for name, text in files.items():
        (repo / name).write_text(text)
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "change")
    return _git(repo, "rev-parse", "HEAD")


@pytest.fixture
def bank(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(tmp_path / "gitconfig"))
    for role in ("AUTHOR", "COMMITTER"):
        monkeypatch.setenv(f"GIT_{role}_NAME", "Test")
        monkeypatch.setenv(f"GIT_{role}_EMAIL", "test@example.com")
    repo = tmp_path / "bank"
    repo.mkdir()
    _git(repo, "init", "-q", "-b", "main")
    _commit(repo, **{"ftl-project.toml": 'realm = "bank"\n', "ftl-public-schema.ftl": BANK_V1})
    return repo


@pytest.fixture
def shop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "shop"
    (root / "modules").mkdir(parents=True)
    (root / "ftl-project.toml").write_text(SHOP)
    monkeypatch.chdir(root)
    return root / "ftl-project.toml"


def ftl(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_add_then_list(shop: Path, bank: Path) -> None:
    code, out, err = ftl("realm", "add", "--git-repo", bank.as_uri(), "--plain")
    assert (code, err) == (0, "")
    head = _git(bank, "rev-parse", "HEAD")
    assert out.splitlines()[0] == f"Pinned realm bank at {head[:12]} (main of {bank.as_uri()})"
    assert "exported verbs: balance.withdraw" in out
    assert f'git-commit = "{head}"' in shop.read_text()

    code, out, _ = ftl("realm", "list", "--plain")
    assert code == 0
    assert out == f"bank\t{bank.as_uri()}\tmain\t{head[:12]}\tbalance\tbalance.withdraw\n"

    code, out, _ = ftl("realm", "list", "--json")
    [entry] = json.loads(out)
    assert (entry["name"], entry["git_commit"], entry["modules"], entry["verbs"]) == (
        "bank",
        head,
        ["balance"],
        ["balance.withdraw"],
    )


def test_add_a_relative_local_path(shop: Path, bank: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    head = _git(bank, "rev-parse", "HEAD")
    code, out, err = ftl("realm", "add", "--git-repo", "../bank", "--plain")
    assert (code, err) == (0, "")
    assert out.splitlines()[0] == f"Pinned realm bank at {head[:12]} (main of ../bank)"
    assert 'git-repo = "../bank"' in shop.read_text()
    # From a subdirectory, with no cache: the pin's path is still taken from the project root.
    monkeypatch.chdir(shop.parent / "modules")
    shutil.rmtree(shop.parent / ".ftl")
    code, out, _ = ftl("realm", "list", "--plain")
    assert (code, out) == (0, f"bank\t../bank\tmain\t{head[:12]}\tbalance\tbalance.withdraw\n")
    assert ftl("realm", "update", "--check")[:2] == (0, f"bank: up to date at {head[:12]}\n")


def test_list_with_no_pins(shop: Path) -> None:
    assert ftl("realm", "list", "--json")[:2] == (0, "[]\n")
    code, out, err = ftl("realm", "list")
    assert (code, out) == (0, "")  # stdout is data only; the hint goes to stderr
    assert "no realms pinned" in err


def test_errors_are_one_line_and_leave_the_file_alone(shop: Path, bank: Path) -> None:
    before = shop.read_bytes()
    code, out, err = ftl("realm", "add", "--git-repo", bank.as_uri(), "--git-branch", "nope")
    assert (code, out) == (1, "")
    assert err == "ftl: error: git repository " + bank.as_uri() + " has no branch 'nope' (branches: main)\n"
    assert shop.read_bytes() == before


def test_an_invalid_public_schema_is_reported_at_its_place(shop: Path, bank: Path) -> None:
    commit = _commit(bank, **{"ftl-public-schema.ftl": "realm bank {\n  module balance {\n    verb x(\n"})
    before = shop.read_bytes()
    code, _, err = ftl("realm", "add", "--git-repo", str(bank))
    assert code == 1
    assert re.match(rf"bank@{commit[:12]}:ftl-public-schema\.ftl:3:\d+: ", err)
    assert shop.read_bytes() == before


def test_a_malformed_project_file_is_reported_with_its_line(shop: Path, bank: Path) -> None:
    shop.write_text('realm = "shop"\nmodule-dirs = ["modules"\n')
    before = shop.read_bytes()
    code, _, err = ftl("realm", "add", "--git-repo", str(bank))
    assert code == 1
    assert err == "ftl-project.toml:2:25: invalid TOML: Unclosed array\n"
    assert shop.read_bytes() == before


def test_update_and_check(shop: Path, bank: Path) -> None:
    old = _git(bank, "rev-parse", "HEAD")
    assert ftl("realm", "add", "--git-repo", bank.as_uri())[0] == 0
    assert ftl("realm", "update", "--check")[:2] == (0, f"bank: up to date at {old[:12]}\n")

    new = _commit(bank, **{"ftl-public-schema.ftl": BANK_V1.replace("      id String\n", "")})
    before = shop.read_bytes()
    code, out, err = ftl("realm", "update", "--check", "--plain")
    assert code == 1
    assert out.splitlines()[0] == f"bank: behind {old[:12]} → {new[:12]}"
    assert "  breaking: balance.Receipt: field id removed" in out.splitlines()
    assert err == "ftl: error: 1 realm pin(s) behind their branch (bank): run `ftl realm update`\n"
    assert shop.read_bytes() == before

    code, out, _ = ftl("realm", "update", "bank", "--plain")
    assert code == 0
    assert out.splitlines()[0] == f"bank: updated {old[:12]} → {new[:12]}"
    assert "  breaking: balance.Receipt: field id removed" in out.splitlines()
    assert f'git-commit = "{new}"' in shop.read_text()


def test_remove_refuses_while_used(shop: Path, bank: Path) -> None:
    assert ftl("realm", "add", "--git-repo", bank.as_uri())[0] == 0
    source = shop.parent / "modules" / "cart" / "cart.py"
    source.parent.mkdir(parents=True)
    source.write_text("import ftl\n\nimport ftl_modules.bank.balance as balance\n")
    before = shop.read_bytes()
    code, _, err = ftl("realm", "remove", "bank")
    assert code == 1
    lines = err.splitlines()
    assert lines[0] == "modules/cart/cart.py:3:8: imports the stubs of realm 'bank'"
    assert lines[-1].startswith("ftl: error: realm 'bank' is still referred to")
    assert shop.read_bytes() == before
    code, out, _ = ftl("realm", "remove", "bank", "--force")
    assert code == 0 and out.startswith("Removed realm bank")
    assert "realms" not in shop.read_text()


def test_project_file_option(shop: Path, bank: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    code, _, err = ftl("realm", "add", "--git-repo", bank.as_uri(), "--project-file", str(shop))
    assert (code, err) == (0, "")
    assert ftl("realm", "list", "--json", "--project-file", str(shop))[0] == 0


def test_no_project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("FTL_PROJECT_FILE", raising=False)
    code, _, err = ftl("realm", "list")
    assert code == 1 and err.startswith("ftl: error: no ftl-project.toml found")


def test_a_realm_exporting_nothing_to_realms_is_refused_with_how_to_export(shop: Path, bank: Path) -> None:
    private = BANK_V1.replace("export realm", "export")
    commit = _commit(bank, **{"ftl-public-schema.ftl": private})
    before = shop.read_bytes()
    code, out, err = ftl("realm", "add", "--git-repo", str(bank))
    assert (code, out) == (1, "")
    assert err.startswith(
        f"ftl: error: bank@{commit[:12]}:ftl-public-schema.ftl exports nothing to other realms"
    )
    assert '@ftl.verb(export="realm")' in err and "Traceback" not in err
    assert shop.read_bytes() == before


def test_add_with_path_and_name_never_reads_the_remote_project_file(shop: Path, bank: Path) -> None:
    _commit(bank, **{"ftl-project.toml": "realm = \n"})
    code, out, err = ftl(
        "realm", "add", "--git-repo", str(bank), "--git-path", "ftl-public-schema.ftl", "--name", "money"
    )
    assert (code, err) == (0, ""), err
    assert out.startswith("Pinned realm money at ")
    assert "[realms.egress.money]" in shop.read_text()


def test_add_then_remove_gives_the_project_file_back_byte_for_byte(shop: Path, bank: Path) -> None:
    shop.write_text(SHOP + '\n[realms.egress]\n\n[config]\ngreeting = "hi"\n')
    original = shop.read_bytes()
    assert ftl("realm", "add", "--git-repo", bank.as_uri())[0] == 0
    assert 'git-path = "ftl-public-schema.ftl"\n\n[config]\n' in shop.read_text()
    code, out, _ = ftl("realm", "remove", "bank", "--plain")
    assert code == 0 and out.startswith("Removed realm bank (was ")
    assert shop.read_bytes() == original


def test_a_malformed_pin_is_reported_at_its_place_and_can_be_removed(shop: Path, bank: Path) -> None:
    original = shop.read_text()
    shop.write_text(original + '\n[realms.egress.bank]\ngit-repo = 5\ngit-commit = "main"\n')
    code, _, err = ftl("realm", "list")
    assert code == 1
    assert err == "ftl-project.toml:5:1: `[realms.egress.bank]`: git-repo must be a string\n"
    code, out, err = ftl("realm", "remove", "bank", "--plain")
    assert (code, out, err) == (0, "Removed realm bank (was main)\n", "")
    assert shop.read_text() == original
