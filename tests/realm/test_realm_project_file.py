from __future__ import annotations

import re
from pathlib import Path

import pytest

from ftl.errors import FtlError
from ftl.project import RealmPin, load_project
from ftl.realm.project_file import ProjectFile

PIN = RealmPin("bank", "file:///srv/bank", "main", "a" * 40, "ftl-public-schema.ftl")


def test_adding_a_pin_keeps_comments_order_and_formatting(shop: Path) -> None:
    before = shop.read_text()
    document = ProjectFile.read(shop)
    document.set_pin(PIN)
    assert document.save()
    after = shop.read_text()
    assert after.startswith(before)
    assert after[len(before) :] == (
        "\n[realms.egress.bank]\n"
        'git-repo = "file:///srv/bank"\n'
        'git-branch = "main"\n'
        f'git-commit = "{"a" * 40}"\n'
        'git-path = "ftl-public-schema.ftl"\n'
    )
    assert load_project(shop).realms == (PIN,)


def test_updating_a_pin_changes_only_its_commit_line(shop: Path) -> None:
    shop.write_text(
        shop.read_text()
        + "\n[realms.egress.bank]  # the bank\n"
        + 'git-repo = "file:///srv/bank"\ngit-branch = "main"\n'
        + f'git-commit = "{"a" * 40}"   # pinned\ngit-path = "ftl-public-schema.ftl"\n'
    )
    before = shop.read_text()
    document = ProjectFile.read(shop)
    document.set_pin(RealmPin("bank", PIN.git_repo, "main", "b" * 40, PIN.git_path))
    document.save()
    assert shop.read_text() == before.replace("a" * 40, "b" * 40)


def test_removing_the_last_pin_restores_the_original_file(shop: Path) -> None:
    original = shop.read_text()
    document = ProjectFile.read(shop)
    document.set_pin(PIN)
    document.save()
    document = ProjectFile.read(shop)
    document.remove_pin("bank")
    document.save()
    assert shop.read_text() == original


def test_pins_written_as_inline_tables_are_edited_in_place(shop: Path) -> None:
    shop.write_text(f'realm = "shop"\nrealms.egress.bank = {{git-repo = "x", git-commit = "{"a" * 40}"}}\n')
    document = ProjectFile.read(shop)
    document.set_pin(RealmPin("bank", "x", "main", "c" * 40, "p.ftl"))
    document.save()
    text = shop.read_text()
    assert text.startswith('realm = "shop"\nrealms.egress.bank = {git-repo = "x", git-commit = "' + "c" * 40)
    assert load_project(shop).realms[0].git_path == "p.ftl"


def test_malformed_toml_is_an_error_with_its_line(shop: Path) -> None:
    shop.write_text('realm = "shop"\nmodule-dirs = [\n[config]\nx = = 1\n')
    with pytest.raises(FtlError) as caught:
        ProjectFile.read(shop)
    [diagnostic] = caught.value.diagnostics
    assert diagnostic.pos is not None and diagnostic.pos.line == 3
    assert diagnostic.message.startswith("invalid TOML")


def test_project_errors_point_at_their_line(shop: Path) -> None:
    shop.write_text('realm = "shop"\n\n[realms.egress.bank]\ngit-repo = "x"\n')
    with pytest.raises(FtlError) as caught:
        ProjectFile.read(shop).project()
    [diagnostic] = caught.value.diagnostics
    assert diagnostic.message == "`[realms.egress.bank]` is missing git-commit"
    assert diagnostic.pos is not None and (diagnostic.pos.line, diagnostic.pos.column) == (3, 1)


def test_an_unreadable_file_is_reported_plainly(tmp_path: Path) -> None:
    with pytest.raises(FtlError) as caught:
        ProjectFile.read(tmp_path / "ftl-project.toml")
    assert str(caught.value).endswith("ftl-project.toml: No such file or directory")
    assert str(caught.value).startswith("cannot read ") and "Errno" not in str(caught.value)
    (tmp_path / "bad.toml").write_bytes(b'realm = "\xff"\n')
    with pytest.raises(FtlError, match=r"bad\.toml: not UTF-8 text \(byte 0xff at offset 9\)$"):
        ProjectFile.read(tmp_path / "bad.toml")


def test_removing_an_unknown_pin_is_an_error(shop: Path) -> None:
    with pytest.raises(FtlError, match="no realm named 'nope'"):
        ProjectFile.read(shop).remove_pin("nope")


def test_nothing_is_written_when_the_file_changed_meanwhile(shop: Path) -> None:
    document = ProjectFile.read(shop)
    document.set_pin(PIN)
    shop.write_text(shop.read_text() + "# edited by someone else\n")
    edited = shop.read_bytes()
    with pytest.raises(FtlError, match="changed while it was being edited"):
        document.save()
    assert shop.read_bytes() == edited


def test_an_edit_that_makes_the_project_invalid_is_not_written(shop: Path) -> None:
    before = shop.read_bytes()
    document = ProjectFile.read(shop)
    document.document["module-dirs"] = "not a list"
    with pytest.raises(FtlError, match="module-dirs"):
        document.save()
    assert shop.read_bytes() == before


def test_saving_an_unchanged_document_does_not_touch_the_file(shop: Path) -> None:
    mtime = shop.stat().st_mtime_ns
    assert not ProjectFile.read(shop).save()
    assert shop.stat().st_mtime_ns == mtime


def test_the_file_keeps_its_permissions(shop: Path) -> None:
    shop.chmod(0o640)
    document = ProjectFile.read(shop)
    document.set_pin(PIN)
    document.save()
    assert shop.stat().st_mode & 0o777 == 0o640


# --- blank lines around pins: add then remove gives the file back byte for byte ----------------------

PIN_TEXT = (
    "[realms.egress.bank]\n"
    'git-repo = "file:///srv/bank"\n'
    'git-branch = "main"\n'
    f'git-commit = "{"a" * 40}"\n'
    'git-path = "ftl-public-schema.ftl"\n'
)
FX = RealmPin("fx", "file:///srv/fx", "main", "b" * 40, "ftl-public-schema.ftl")


def _add(path: Path, *pins: RealmPin) -> str:
    for pin in pins:
        document = ProjectFile.read(path)
        document.set_pin(pin)
        document.save()
    return path.read_text()


def _remove(path: Path, *names: str) -> bytes:
    for name in names:
        document = ProjectFile.read(path)
        document.remove_pin(name)
        document.save()
    return path.read_bytes()


@pytest.mark.parametrize(
    "original",
    [
        'realm = "shop"\n',
        '# The shop.\nrealm = "shop"\n\n[config]\ngreeting = "hi" # keep me\n',
        'realm = "shop"\n\n[realms.egress]\n\n[config]\ngreeting = "hi"\n',
        'realm = "shop"\n\n[config]\ngreeting = "hi"\n\n',
        'realm = "shop"\r\n\r\n[config]\r\ngreeting = "hi"\r\n',
    ],
)
def test_adding_then_removing_pins_restores_the_file_byte_for_byte(tmp_path: Path, original: str) -> None:
    path = tmp_path / "ftl-project.toml"
    path.write_bytes(original.encode())
    _add(path, PIN)
    assert _remove(path, "bank") == original.encode()
    _add(path, PIN, FX)
    assert _remove(path, "fx", "bank") == original.encode()
    _add(path, PIN, FX)
    assert _remove(path, "bank", "fx") == original.encode()


def test_a_pin_added_before_another_table_is_set_off_by_a_blank_line(tmp_path: Path) -> None:
    path = tmp_path / "ftl-project.toml"
    path.write_text('realm = "shop"\n\n[realms.egress]\n\n[config]\ngreeting = "hi"\n')
    assert _add(path, PIN) == (
        f'realm = "shop"\n\n[realms.egress]\n\n{PIN_TEXT}\n[config]\ngreeting = "hi"\n'
    )
    assert load_project(path).realms == (PIN,)


def test_a_comment_above_the_next_table_stays_with_that_table(tmp_path: Path) -> None:
    fx_text = f'[realms.egress.fx]\ngit-repo = "x"\ngit-commit = "{"c" * 40}"\n'
    original = f'realm = "shop"\n\n{fx_text}\n# greetings\n[config]\ngreeting = "hi"\n'
    path = tmp_path / "ftl-project.toml"
    path.write_text(original)
    assert (
        _add(path, PIN)
        == f'realm = "shop"\n\n{fx_text}\n{PIN_TEXT}\n# greetings\n[config]\ngreeting = "hi"\n'
    )
    assert _remove(path, "bank") == original.encode()
    assert _remove(path, "fx") == b'realm = "shop"\n\n# greetings\n[config]\ngreeting = "hi"\n'


def test_removing_a_pin_between_tables_leaves_one_gap(tmp_path: Path) -> None:
    path = tmp_path / "ftl-project.toml"
    path.write_text(f'realm = "shop"\n\n{PIN_TEXT}\n[config]\ngreeting = "hi"\n')
    assert _remove(path, "bank") == b'realm = "shop"\n\n[config]\ngreeting = "hi"\n'


# --- malformed pins: positioned, and a wrong type is not "missing" ---------------------------------


@pytest.mark.parametrize(
    ("key", "value"), [("git-repo", "5"), ("git-commit", "7"), ("git-branch", "false"), ("git-path", "[]")]
)
def test_a_pin_value_of_the_wrong_type_says_so_at_its_table(shop: Path, key: str, value: str) -> None:
    written = re.sub(rf"^{key} = .*$", f"{key} = {value}", PIN_TEXT, flags=re.MULTILINE)
    shop.write_text(shop.read_text() + "\n" + written)
    with pytest.raises(FtlError) as caught:
        load_project(shop)
    [diagnostic] = caught.value.diagnostics
    assert diagnostic.message == f"`[realms.egress.bank]`: {key} must be a string"
    assert diagnostic.pos is not None and (diagnostic.pos.line, diagnostic.pos.column) == (8, 1)
