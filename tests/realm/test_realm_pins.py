from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from ftl.errors import FtlError
from ftl.project import load_project
from ftl.realm import (
    RealmInUseError,
    add_realm,
    list_realms,
    load_external_realms,
    load_pinned_realm,
    remove_realm,
    update_realms,
)
from ftl.realm.cache import Lookup
from ftl.schema import ast

from .conftest import BANK_PROJECT, BANK_V1, GitRepo

BANK_V2_BREAKING = BANK_V1.replace("      amount Int\n", "      amount Int\n      currency String\n").replace(
    "      id String\n", ""
)


@pytest.fixture
def unchanged(shop: Path) -> Iterator[None]:
    """The test's failure must leave ftl-project.toml byte-for-byte as it was."""
    before = shop.read_bytes()
    yield
    assert shop.read_bytes() == before


# --- add ---------------------------------------------------------------------------------------


def test_add_pins_the_default_branch_head(shop: Path, bank: GitRepo) -> None:
    summary = add_realm(shop, bank.url)
    pin = summary.pin
    assert (pin.name, pin.git_repo, pin.git_branch, pin.git_commit, pin.git_path) == (
        "bank",
        bank.url,
        "main",
        bank.head(),
        "ftl-public-schema.ftl",
    )
    assert summary.modules == ("balance",)
    assert summary.verbs == ("balance.withdraw",)
    assert load_project(shop).realms == (pin,)
    assert "# The shop project." in shop.read_text() and "# keep me" in shop.read_text()
    assert (
        shop.parent / ".ftl" / "realms" / "bank" / bank.head() / "public-schema.ftl"
    ).read_text() == BANK_V1


def test_add_with_branch_path_and_local_name(shop: Path, bank: GitRepo) -> None:
    bank.git("checkout", "-q", "-b", "release")
    commit = bank.commit("release", **{"schemas/public.ftl": BANK_V1})
    bank.git("checkout", "-q", "main")
    pin = add_realm(
        shop, str(bank.path), git_branch="release", git_path="schemas/public.ftl", name="money"
    ).pin
    assert (pin.name, pin.git_branch, pin.git_commit, pin.git_path) == (
        "money",
        "release",
        commit,
        "schemas/public.ftl",
    )
    [external] = load_external_realms(load_project(shop))
    assert (external.name, external.external) == ("money", True)


def test_add_without_a_remote_project_file_takes_the_name_from_the_schema(shop: Path, tmp_path: Path) -> None:
    bare = GitRepo(tmp_path / "schemas-only")
    bare.commit("only a schema", **{"bank.ftl": BANK_V1})
    assert add_realm(shop, bare.url, git_path="bank.ftl").pin.name == "bank"


def test_add_without_a_remote_project_file_needs_a_path(shop: Path, tmp_path: Path, unchanged: None) -> None:
    bare = GitRepo(tmp_path / "schemas-only")
    bare.commit("only a schema", **{"bank.ftl": BANK_V1})
    with pytest.raises(FtlError, match="give the public schema file with --git-path"):
        add_realm(shop, bare.url)


# --- add: bad input, the project file never changes ---------------------------------------------


def test_unreachable_repository(shop: Path, tmp_path: Path, unchanged: None) -> None:
    with pytest.raises(FtlError, match="cannot reach git repository"):
        add_realm(shop, (tmp_path / "nowhere").as_uri())


def test_unknown_branch(shop: Path, bank: GitRepo, unchanged: None) -> None:
    with pytest.raises(FtlError, match="has no branch 'nope'"):
        add_realm(shop, bank.url, git_branch="nope")


def test_missing_public_schema_file(shop: Path, bank: GitRepo, unchanged: None) -> None:
    bank.git("rm", "-q", "ftl-public-schema.ftl")
    bank.commit("lost it")
    with pytest.raises(FtlError, match=r"has no file ftl-public-schema\.ftl at commit"):
        add_realm(shop, bank.url)


def test_public_schema_that_does_not_parse(shop: Path, bank: GitRepo, unchanged: None) -> None:
    commit = bank.commit(
        "broken", **{"ftl-public-schema.ftl": "realm bank {\n  module balance {\n    data {\n"}
    )
    with pytest.raises(FtlError) as caught:
        add_realm(shop, bank.url)
    [diagnostic] = caught.value.diagnostics
    assert diagnostic.pos is not None
    assert (diagnostic.pos.filename, diagnostic.pos.line) == (f"bank@{commit[:12]}:ftl-public-schema.ftl", 3)


def test_public_schema_that_is_not_text(shop: Path, bank: GitRepo, unchanged: None) -> None:
    bank.path.joinpath("ftl-public-schema.ftl").write_bytes(b"realm bank {} // \xff\n")
    commit = bank.commit("binary")
    with pytest.raises(FtlError) as caught:
        add_realm(shop, bank.url)
    assert str(caught.value) == (
        f"bank@{commit[:12]}:ftl-public-schema.ftl is not UTF-8 text (byte 0xff at offset 17)"
    )


def test_public_schema_that_does_not_validate(shop: Path, bank: GitRepo, unchanged: None) -> None:
    invalid = BANK_V1.replace("balance.Receipt\n", "balance.Missing\n")
    bank.commit("invalid", **{"ftl-public-schema.ftl": invalid})
    with pytest.raises(FtlError) as caught:
        add_realm(shop, bank.url)
    assert any("Missing" in d.message for d in caught.value.diagnostics)
    label = f"bank@{bank.head()[:12]}:ftl-public-schema.ftl"
    assert all(d.pos and d.pos.filename == label for d in caught.value.diagnostics)


def test_public_schema_holding_two_realms(shop: Path, bank: GitRepo, unchanged: None) -> None:
    bank.commit("two", **{"ftl-public-schema.ftl": BANK_V1 + "realm other {}\n"})
    with pytest.raises(FtlError, match="exactly one realm"):
        add_realm(shop, bank.url)


def test_public_schema_leaking_a_third_realms_type(shop: Path, bank: GitRepo, unchanged: None) -> None:
    leaking = BANK_V1.replace("      id String\n", "      id String\n      rate fx.Rate@fx\n")
    bank.commit("leak", **{"ftl-public-schema.ftl": leaking})
    with pytest.raises(FtlError) as caught:
        add_realm(shop, bank.url)
    [diagnostic] = caught.value.diagnostics
    assert "fx.Rate@fx" in diagnostic.message and "another realm" in diagnostic.message
    assert diagnostic.pos is not None and diagnostic.pos.line == 5


def test_name_of_this_realm(shop: Path, bank: GitRepo, unchanged: None) -> None:
    with pytest.raises(FtlError, match="this project's own realm"):
        add_realm(shop, bank.url, name="shop")


def test_remote_realm_named_like_this_one(shop: Path, bank: GitRepo, unchanged: None) -> None:
    bank.commit("rename", **{"ftl-project.toml": BANK_PROJECT.replace('"bank"', '"shop"')})
    with pytest.raises(FtlError, match="this project's own realm"):
        add_realm(shop, bank.url)


def test_name_already_pinned(shop: Path, bank: GitRepo) -> None:
    add_realm(shop, bank.url)
    before = shop.read_bytes()
    with pytest.raises(FtlError, match="already pinned"):
        add_realm(shop, bank.url)
    assert shop.read_bytes() == before


def test_invalid_local_name(shop: Path, bank: GitRepo, unchanged: None) -> None:
    with pytest.raises(FtlError, match="not a valid realm name"):
        add_realm(shop, bank.url, name="my-bank")


def test_malformed_project_file_is_reported_with_its_line(shop: Path, bank: GitRepo) -> None:
    shop.write_text('realm = "shop"\n\n[config\nx = 1\n')
    before = shop.read_bytes()
    with pytest.raises(FtlError) as caught:
        add_realm(shop, bank.url)
    [diagnostic] = caught.value.diagnostics
    assert diagnostic.pos is not None and diagnostic.pos.line == 3
    assert shop.read_bytes() == before


def test_an_invalid_project_setting_is_reported_at_its_line(shop: Path, bank: GitRepo) -> None:
    shop.write_text('realm = "shop"\n\nmodule-dirs = "modules"\n')
    with pytest.raises(FtlError) as caught:
        add_realm(shop, bank.url)
    [diagnostic] = caught.value.diagnostics
    assert diagnostic.pos is not None and (diagnostic.pos.line, diagnostic.pos.column) == (3, 1)


def test_add_a_relative_path_from_the_project_directory(
    shop: Path, bank: GitRepo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pin = add_realm(shop, "../bank").pin
    assert (pin.git_repo, pin.git_commit) == ("../bank", bank.head())
    assert load_project(shop).realms == (pin,)
    # Later commands take the path from the project root, whatever the current directory.
    monkeypatch.chdir(shop.parent / "modules")
    (shop.parent / ".ftl").rename(tmp_path / "old-state")
    [realm] = load_external_realms(load_project(shop))
    assert [m.name for m in realm.modules] == ["balance"]
    new = bank.commit("v2", **{"ftl-public-schema.ftl": BANK_V2_BREAKING})
    [update] = update_realms(shop)
    assert (update.new_commit, load_project(shop).realms[0].git_repo) == (new, "../bank")


def test_a_relative_path_from_elsewhere_is_recorded_from_the_project_root(
    shop: Path, bank: GitRepo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert add_realm(shop, "bank").pin.git_repo == "../bank"
    assert add_realm(shop, str(bank.path), name="money").pin.git_repo == str(bank.path)


# --- the cache -----------------------------------------------------------------------------------


def test_builds_read_the_cache_without_git(shop: Path, bank: GitRepo) -> None:
    add_realm(shop, bank.url)
    project = load_project(shop)
    bank.path.rename(bank.path.with_name("gone"))
    pinned = load_pinned_realm(project, project.realms[0])
    assert pinned.lookup is Lookup.HIT
    assert [m.name for m in pinned.realm.modules] == ["balance"]


def test_a_tampered_cache_is_detected_and_refetched(shop: Path, bank: GitRepo) -> None:
    add_realm(shop, bank.url)
    project = load_project(shop)
    schema_file = shop.parent / ".ftl" / "realms" / "bank" / bank.head() / "public-schema.ftl"
    schema_file.write_text(BANK_V1.replace("amount Int", "amount String"))
    pinned = load_pinned_realm(project, project.realms[0])
    assert pinned.lookup is Lookup.TAMPERED
    assert schema_file.read_text() == BANK_V1
    request = pinned.realm.modules[0].decl("WithdrawRequest")
    assert isinstance(request, ast.Data) and request.fields[0].type == ast.Int()


def test_a_cache_miss_fetches_exactly_the_pinned_commit_after_a_force_push(
    shop: Path, bank: GitRepo, tmp_path: Path
) -> None:
    server = tmp_path / "bank.git"
    bank.git("clone", "-q", "--bare", str(bank.path), str(server))
    add_realm(shop, str(server))
    pinned_commit = load_project(shop).realms[0].git_commit
    bank.git("commit", "-q", "--amend", "-m", "rewritten history")
    bank.git("push", "-q", "--force", str(server), "main")
    (shop.parent / ".ftl").rename(tmp_path / "old-state")
    [realm] = load_external_realms(load_project(shop))
    assert load_project(shop).realms[0].git_commit == pinned_commit
    assert [m.name for m in realm.modules] == ["balance"]


# --- update --------------------------------------------------------------------------------------


def test_update_moves_the_pin_and_reports_breaking_changes(shop: Path, bank: GitRepo) -> None:
    old = add_realm(shop, bank.url).pin.git_commit
    new = bank.commit("breaking", **{"ftl-public-schema.ftl": BANK_V2_BREAKING})
    [update] = update_realms(shop)
    assert (update.name, update.old_commit, update.new_commit, update.moved) == ("bank", old, new, True)
    assert [str(c) for c in update.breaking] == [
        "balance.Receipt: field id removed",
        "balance.WithdrawRequest: required field currency added to a request type",
    ]
    assert load_project(shop).realms[0].git_commit == new
    [realm] = load_external_realms(load_project(shop))
    receipt = realm.modules[0].decl("Receipt")
    assert isinstance(receipt, ast.Data) and receipt.fields == ()


def test_update_check_changes_nothing(shop: Path, bank: GitRepo) -> None:
    add_realm(shop, bank.url)
    before = shop.read_bytes()
    new = bank.commit("breaking", **{"ftl-public-schema.ftl": BANK_V2_BREAKING})
    [update] = update_realms(shop, check=True)
    assert update.moved and update.new_commit == new and update.breaking
    assert shop.read_bytes() == before
    assert not (shop.parent / ".ftl" / "realms" / "bank" / new).exists()


def test_update_when_up_to_date(shop: Path, bank: GitRepo) -> None:
    add_realm(shop, bank.url)
    before = shop.read_bytes()
    [update] = update_realms(shop, ["bank"])
    assert not update.moved and update.changes == ()
    assert shop.read_bytes() == before


def test_update_of_an_unknown_realm(shop: Path, bank: GitRepo) -> None:
    add_realm(shop, bank.url)
    before = shop.read_bytes()
    with pytest.raises(FtlError, match=r"no realm named 'fx' is pinned \(pinned: bank\)"):
        update_realms(shop, ["fx"])
    assert shop.read_bytes() == before


def test_update_to_an_invalid_schema_changes_nothing(shop: Path, bank: GitRepo) -> None:
    add_realm(shop, bank.url)
    before = shop.read_bytes()
    bank.commit("broken", **{"ftl-public-schema.ftl": "realm bank {"})
    with pytest.raises(FtlError):
        update_realms(shop)
    assert shop.read_bytes() == before


# --- list and remove -----------------------------------------------------------------------------


def test_list(shop: Path, bank: GitRepo) -> None:
    add_realm(shop, bank.url)
    [summary] = list_realms(load_project(shop))
    assert (summary.pin.name, summary.modules, summary.verbs) == ("bank", ("balance",), ("balance.withdraw",))


def test_remove_an_unused_realm(shop: Path, bank: GitRepo) -> None:
    original = shop.read_text()
    add_realm(shop, bank.url)
    assert remove_realm(shop, "bank").name == "bank"
    assert shop.read_text() == original
    assert not (shop.parent / ".ftl" / "realms" / "bank").exists()


def test_remove_refuses_while_a_module_uses_the_realm(shop: Path, bank: GitRepo) -> None:
    add_realm(shop, bank.url)
    source = shop.parent / "modules" / "checkout" / "checkout" / "__init__.py"
    source.parent.mkdir(parents=True)
    source.write_text("import ftl\nfrom ftl_modules.bank import balance\n")
    before = shop.read_bytes()
    with pytest.raises(RealmInUseError) as caught:
        remove_realm(shop, "bank")
    assert shop.read_bytes() == before
    [reference] = caught.value.references
    assert reference.pos is not None
    assert (Path(reference.pos.filename).name, reference.pos.line, reference.pos.column) == (
        "__init__.py",
        2,
        6,
    )
    remove_realm(shop, "bank", force=True)
    assert load_project(shop).realms == ()


def test_remove_an_unknown_realm(shop: Path, unchanged: None) -> None:
    with pytest.raises(FtlError, match="no realm named 'bank' is pinned"):
        remove_realm(shop, "bank")


def test_update_after_the_pinned_commit_vanished(shop: Path, bank: GitRepo, tmp_path: Path) -> None:
    server = tmp_path / "bank.git"
    bank.git("clone", "-q", "--bare", str(bank.path), str(server))
    old = add_realm(shop, str(server)).pin.git_commit
    bank.git("commit", "-q", "--amend", "-m", "rewritten history")
    bank.git("push", "-q", "--force", str(server), "main")
    subprocess.run(["git", "gc", "-q", "--prune=now"], cwd=server, check=True)
    (shop.parent / ".ftl").rename(tmp_path / "old-state")
    [update] = update_realms(shop)
    assert update.moved and update.old_commit == old and update.changes == ()
    assert "cannot fetch commit" in update.unknown_changes
    assert load_project(shop).realms[0].git_commit == bank.head()
