"""What `ftl realm add` needs from the remote (and nothing more), how fetched files are named in
errors, and pins whose commit is not a commit id."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ftl.errors import FtlError
from ftl.project import RealmPin, load_project
from ftl.realm import (
    RealmInUseError,
    add_realm,
    load_external_realms,
    load_pinned_realm,
    remove_realm,
    update_realms,
)
from ftl.realm.external import source_label

from .conftest import BANK_V1, GitRepo

NOTHING_FOR_REALMS = """realm bank {
  module balance {
    export data Receipt {
      id String
    }

    export verb audit(Unit) balance.Receipt
  }
}
"""


@pytest.fixture
def unchanged(shop: Path) -> Iterator[None]:
    before = shop.read_bytes()
    yield
    assert shop.read_bytes() == before


# --- the remote's ftl-project.toml is read only for what was not given -----------------------------


def test_a_malformed_remote_project_file_is_ignored_when_path_and_name_are_given(
    shop: Path, bank: GitRepo
) -> None:
    bank.commit("broken project", **{"ftl-project.toml": "realm = [\n"})
    pin = add_realm(shop, bank.url, git_path="ftl-public-schema.ftl", name="money").pin
    assert (pin.name, pin.git_path, pin.git_commit) == ("money", "ftl-public-schema.ftl", bank.head())


def test_a_malformed_remote_project_file_is_ignored_when_the_path_is_given(shop: Path, bank: GitRepo) -> None:
    bank.commit("broken project", **{"ftl-project.toml": 'realm = 42\npublic-schema = "x.ftl"\n'})
    assert add_realm(shop, bank.url, git_path="ftl-public-schema.ftl").pin.name == "bank"


def test_a_malformed_remote_project_file_is_an_error_when_the_path_comes_from_it(
    shop: Path, bank: GitRepo, unchanged: None
) -> None:
    bank.commit("broken project", **{"ftl-project.toml": "realm = [\n"})
    with pytest.raises(FtlError, match=r"ftl-project\.toml of .* is not valid TOML"):
        add_realm(shop, bank.url)


# --- a public schema that exports nothing to other realms ------------------------------------------


def test_a_schema_exporting_nothing_to_realms_is_refused(shop: Path, bank: GitRepo, unchanged: None) -> None:
    commit = bank.commit("no realm exports", **{"ftl-public-schema.ftl": NOTHING_FOR_REALMS})
    with pytest.raises(FtlError) as caught:
        add_realm(shop, bank.url)
    message = str(caught.value)
    assert message.startswith(f"bank@{commit[:12]}:ftl-public-schema.ftl exports nothing to other realms")
    assert '@ftl.verb(export="realm")' in message
    assert not (shop.parent / ".ftl" / "realms" / "bank").exists()


def test_an_empty_realm_is_refused(shop: Path, bank: GitRepo, unchanged: None) -> None:
    bank.commit("empty", **{"ftl-public-schema.ftl": "realm bank {\n}\n"})
    with pytest.raises(FtlError, match="exports nothing to other realms"):
        add_realm(shop, bank.url)


# --- fetched files are named by realm, commit and path ---------------------------------------------


def test_source_label_names_the_realm_commit_and_path() -> None:
    assert source_label("bank", "d24f01f5b095" + "0" * 28, "ftl-public-schema.ftl") == (
        "bank@d24f01f5b095:ftl-public-schema.ftl"
    )


def test_errors_in_a_fetched_schema_name_the_local_realm_name(
    shop: Path, bank: GitRepo, unchanged: None
) -> None:
    commit = bank.commit("broken", **{"ftl-public-schema.ftl": "realm bank {\n  module balance {\n  data\n"})
    with pytest.raises(FtlError) as caught:
        add_realm(shop, bank.url, name="money")
    [diagnostic] = caught.value.diagnostics
    assert diagnostic.pos is not None
    assert diagnostic.pos.filename == f"money@{commit[:12]}:ftl-public-schema.ftl"


def test_without_a_remote_project_file_errors_name_the_repository(
    shop: Path, tmp_path: Path, unchanged: None
) -> None:
    only_schema = GitRepo(tmp_path / "schemas.git")
    commit = only_schema.commit("broken", **{"bank.ftl": "realm bank {\n  module\n"})
    with pytest.raises(FtlError) as caught:
        add_realm(shop, only_schema.url, git_path="bank.ftl")
    [diagnostic] = caught.value.diagnostics
    assert diagnostic.pos is not None and diagnostic.pos.filename == f"schemas@{commit[:12]}:bank.ftl"


def test_update_to_a_broken_schema_names_the_pin(shop: Path, bank: GitRepo) -> None:
    add_realm(shop, bank.url, name="money")
    before = shop.read_bytes()
    commit = bank.commit("broken", **{"ftl-public-schema.ftl": BANK_V1.replace("id String", "id Nope")})
    with pytest.raises(FtlError) as caught:
        update_realms(shop)
    assert {d.pos.filename for d in caught.value.diagnostics if d.pos} == {
        f"money@{commit[:12]}:ftl-public-schema.ftl"
    }
    assert shop.read_bytes() == before


# --- a pinned git-commit that is no commit id ------------------------------------------------------


def test_a_pin_whose_commit_is_not_a_commit_id_says_which_pin(shop: Path, bank: GitRepo) -> None:
    project = load_project(shop)
    pin = RealmPin("bank", bank.url, "main", "main", "ftl-public-schema.ftl")
    with pytest.raises(FtlError) as caught:
        load_pinned_realm(project, pin)
    assert str(caught.value) == (
        "`[realms.egress.bank]` git-commit 'main' is not a full git commit id "
        "(`ftl realm update bank` pins its branch head)"
    )
    assert not (shop.parent / ".ftl" / "realms").exists()


def test_a_pinned_commit_that_is_not_a_commit_id_is_reported_at_its_pin(shop: Path, bank: GitRepo) -> None:
    shop.write_text(shop.read_text() + _pin_text(bank, commit='"main"'))
    with pytest.raises(FtlError) as caught:
        load_external_realms(load_project(shop))
    [diagnostic] = caught.value.diagnostics
    assert str(diagnostic) == (
        "ftl-project.toml:8:1: `[realms.egress.bank]` git-commit 'main' is not a full git commit id "
        "(`ftl realm update bank` pins its branch head)"
    )


# --- removing a malformed pin is how it gets fixed ------------------------------------------------


def _pin_text(bank: GitRepo, *, repo: str | None = None, commit: str | None = None) -> str:
    return (
        "\n[realms.egress.bank]\n"
        f"git-repo = {repo or repr(bank.url)}\n"
        'git-branch = "main"\n'
        f"git-commit = {commit or repr(bank.head())}\n"
        'git-path = "ftl-public-schema.ftl"\n'
    )


@pytest.mark.parametrize(("repo", "commit"), [("5", None), (None, '"main"'), (None, "[1]")])
def test_a_malformed_pin_can_be_removed(
    shop: Path, bank: GitRepo, repo: str | None, commit: str | None
) -> None:
    original = shop.read_text()
    shop.write_text(original + _pin_text(bank, repo=repo, commit=commit))
    pin = remove_realm(shop, "bank")
    assert pin.name == "bank"
    assert shop.read_text() == original


def test_a_malformed_pin_is_not_removed_while_a_module_uses_it(shop: Path, bank: GitRepo) -> None:
    shop.write_text(shop.read_text() + _pin_text(bank, repo="5"))
    source = shop.parent / "modules" / "checkout" / "checkout" / "__init__.py"
    source.parent.mkdir(parents=True)
    source.write_text("import ftl\nfrom ftl_modules.bank import balance\n")
    before = shop.read_bytes()
    with pytest.raises(RealmInUseError):
        remove_realm(shop, "bank")
    assert shop.read_bytes() == before


def test_removing_another_realm_still_reports_the_malformed_pin(shop: Path, bank: GitRepo) -> None:
    shop.write_text(shop.read_text() + _pin_text(bank, repo="5"))
    before = shop.read_bytes()
    with pytest.raises(FtlError) as caught:
        remove_realm(shop, "fx")
    assert [str(d) for d in caught.value.diagnostics] == [
        "ftl-project.toml:8:1: `[realms.egress.bank]`: git-repo must be a string"
    ]
    assert shop.read_bytes() == before


# --- the remote's own name ----------------------------------------------------------------------


def test_an_invalid_remote_realm_name_suggests_choosing_one(
    shop: Path, bank: GitRepo, unchanged: None
) -> None:
    bank.commit("bad name", **{"ftl-project.toml": 'realm = "bad-name"\n'})
    with pytest.raises(FtlError) as caught:
        add_realm(shop, bank.url)
    assert str(caught.value) == (
        "'bad-name' is not a valid realm name (letters, digits and underscores); "
        "choose a local name for it with --name NAME"
    )


def test_an_invalid_name_given_with_name_gets_no_hint_to_use_name(
    shop: Path, bank: GitRepo, unchanged: None
) -> None:
    with pytest.raises(FtlError) as caught:
        add_realm(shop, bank.url, name="my-bank")
    assert str(caught.value) == "'my-bank' is not a valid realm name (letters, digits and underscores)"


def test_a_remote_whose_project_and_schema_name_different_realms_is_refused(
    shop: Path, bank: GitRepo, unchanged: None
) -> None:
    commit = bank.commit("renamed", **{"ftl-project.toml": 'realm = "money"\n'})
    with pytest.raises(FtlError) as caught:
        add_realm(shop, bank.url)
    assert str(caught.value) == (
        f"the ftl-project.toml of {bank.url} at commit {commit[:12]} says realm 'money', but its public "
        f"schema money@{commit[:12]}:ftl-public-schema.ftl holds realm 'bank'; "
        "to pin it anyway, choose the local name with --name NAME"
    )
    assert not (shop.parent / ".ftl" / "realms").exists()


def test_a_name_given_with_name_pins_a_remote_whose_names_differ(shop: Path, bank: GitRepo) -> None:
    bank.commit("renamed", **{"ftl-project.toml": 'realm = "money"\n'})
    assert add_realm(shop, bank.url, name="bank").pin.name == "bank"
    assert [p.name for p in load_project(shop).realms] == ["bank"]
