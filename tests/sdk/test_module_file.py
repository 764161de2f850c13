"""A missing or unreadable `ftl.toml` is a plain error naming it; a malformed one, errors at their place."""

from __future__ import annotations

from pathlib import Path

import pytest

from ftl.errors import FtlError
from ftl.runtime.extract import read_module_file


def plain_error(directory: Path) -> str:
    with pytest.raises(FtlError) as caught:
        read_module_file(directory)
    [diagnostic] = caught.value.diagnostics
    assert diagnostic.pos is None
    return diagnostic.message


def test_a_directory_without_ftl_toml(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "shop").mkdir()
    monkeypatch.chdir(tmp_path)
    assert plain_error(tmp_path / "shop") == "shop is not a module directory (it has no ftl.toml)"
    assert plain_error(tmp_path / "gone") == "gone is not a module directory (it does not exist)"
    (tmp_path / "notes.txt").write_text("")
    assert plain_error(tmp_path / "notes.txt") == "notes.txt is not a module directory (it is a file)"


def test_an_unreadable_ftl_toml(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "shop" / "ftl.toml").mkdir(parents=True)
    monkeypatch.chdir(tmp_path)
    assert plain_error(tmp_path / "shop") == "cannot read shop/ftl.toml: Is a directory"


def test_malformed_ftl_toml_keeps_its_position(tmp_path: Path) -> None:
    (tmp_path / "shop").mkdir()
    (tmp_path / "shop" / "ftl.toml").write_bytes(b'module = "shop"\n# caf\xe9\n')
    with pytest.raises(FtlError) as caught:
        read_module_file(tmp_path / "shop")
    [diagnostic] = caught.value.diagnostics
    assert diagnostic.message == "ftl.toml is not UTF-8 text (byte 0xe9)"
    assert diagnostic.pos is not None
    assert (diagnostic.pos.filename, diagnostic.pos.line, diagnostic.pos.column) == (
        str((tmp_path / "shop" / "ftl.toml").resolve()),
        2,
        6,
    )
    (tmp_path / "shop" / "ftl.toml").write_text('module = "shop" = 1\n')
    with pytest.raises(FtlError) as caught:
        read_module_file(tmp_path / "shop")
    [diagnostic] = caught.value.diagnostics
    assert diagnostic.pos is not None and (diagnostic.pos.line, diagnostic.pos.column) == (1, 17)


@pytest.mark.parametrize(
    ("package", "hidden"),
    [
        ("test", "Python's own `test`"),  # not in sys.stdlib_module_names, yet Python's
        ("json", "Python's own `json`"),
        ("ftl_modules", "the `ftl_modules` package FTL projects use"),
        ("conftest", "the `conftest` package FTL projects use"),
    ],
)
def test_a_package_that_would_hide_another_is_refused(tmp_path: Path, package: str, hidden: str) -> None:
    (tmp_path / "shop" / package).mkdir(parents=True)
    (tmp_path / "shop" / package / "__init__.py").write_text("")
    (tmp_path / "shop" / "ftl.toml").write_text(f'module = "shop"\npackage = "{package}"\n')
    with pytest.raises(FtlError) as caught:
        read_module_file(tmp_path / "shop")
    [diagnostic] = caught.value.diagnostics
    assert diagnostic.message.startswith(f"the package name {package!r} clashes with {hidden}: ")
    assert diagnostic.pos is not None and diagnostic.pos.line == 2
