"""Reading `ftl-project.toml`: unknown keys are reported with their place, not silently ignored."""

from pathlib import Path

import pytest

from ftl.errors import FtlError
from ftl.project import load_project


def _project(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "ftl-project.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_known_keys_give_no_warnings(tmp_path: Path) -> None:
    path = _project(
        tmp_path,
        'realm = "shop"\nmodule-dirs = ["."]\npublic-schema = "p.ftl"\n[config]\nx = 1\n'
        '[modules.a.config]\ny = 2\n[realms.egress.bank]\ngit-repo = "r"\ngit-commit = "c"\n',
    )
    assert load_project(path).warnings == ()


def test_a_misspelt_key_is_pointed_at_with_a_suggestion(tmp_path: Path) -> None:
    path = _project(tmp_path, 'realm = "shop"\nmodule_dirs = ["modules"]\n')
    project = load_project(path)
    assert project.module_dirs == (".",)
    [warning] = project.warnings
    assert str(warning).endswith(
        "ftl-project.toml:2:1: unknown key `module_dirs` is ignored (did you mean `module-dirs`?)"
    )


def test_unknown_keys_in_a_pin_are_reported(tmp_path: Path) -> None:
    path = _project(
        tmp_path,
        'realm = "shop"\n\n[realms.egress.bank]\ngit-repo = "r"\ngit-commit = "c"\ngit-brnch = "main"\n',
    )
    [warning] = load_project(path).warnings
    assert "6:1: unknown key `realms.egress.bank.git-brnch` is ignored (did you mean `git-branch`?)" in str(
        warning
    )


def test_a_key_unlike_any_lists_the_known_ones(tmp_path: Path) -> None:
    path = _project(tmp_path, 'realm = "shop"\nzzz = 1\n')
    [warning] = load_project(path).warnings
    assert "unknown key `zzz` is ignored; known keys: realm, module-dirs" in warning.message


def test_a_pin_name_that_is_not_a_schema_name_is_refused(tmp_path: Path) -> None:
    # Pin names become cache paths: `..` must never reach the file system.
    path = _project(
        tmp_path,
        'realm = "shop"\n\n[realms.egress."../../modules"]\ngit-repo = "r"\ngit-commit = "c"\n',
    )
    with pytest.raises(FtlError) as raised:
        load_project(path)
    assert "ftl-project.toml:3:1: invalid realm name '../../modules'" in str(raised.value)


@pytest.mark.parametrize("outside", ["../x.ftl", "/tmp/x.ftl", "sub/../../x.ftl"])
def test_a_public_schema_outside_the_project_is_refused_at_its_key(tmp_path: Path, outside: str) -> None:
    # Every command that writes it (`ftl build`, `ftl schema export`) would write outside the project.
    path = _project(tmp_path, f'realm = "shop"\npublic-schema = "{outside}"\n')
    with pytest.raises(FtlError) as raised:
        load_project(path)
    assert f'ftl-project.toml:2:1: public-schema "{outside}" is outside the project directory' in str(
        raised.value
    )
    inside = _project(tmp_path, f'realm = "shop"\npublic-schema = "{tmp_path / "schema" / "x.ftl"}"\n')
    assert load_project(inside).public_schema.endswith("x.ftl")
