"""`ftl config` / `ftl secret`: the store (`ftl.configstore`) and the real command in temp projects."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from ftl.configstore import (
    Entry,
    Key,
    check_value,
    env_secret_problems,
    get_value,
    list_values,
    parse_key,
    parse_value,
    secret_env_var,
    set_value,
    unset_value,
    values_for,
)
from ftl.errors import FtlError
from ftl.project import Project, load_project
from ftl.schema import ast

PROJECT_TEXT = textwrap.dedent(
    """\
    # my shop
    realm = "shop"   # the realm
    module-dirs = ["."]

    [config]
    # said by everyone
    greeting = "hi"
    """
)


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Project:
    for variable in [v for v in os.environ if v.startswith("FTL_SECRET_") or v == "FTL_PROJECT_FILE"]:
        monkeypatch.delenv(variable)
    (tmp_path / "ftl-project.toml").write_text(PROJECT_TEXT)
    return load_project(tmp_path / "ftl-project.toml")


class TestKeys:
    def test_parse(self) -> None:
        assert parse_key("echo.greeting") == Key("echo", "greeting")
        assert parse_key("bank-realm-endpoint") == Key("", "bank-realm-endpoint")
        for bad in ("a.b.c", ".x", "echo.", "1x", "e cho.x"):
            with pytest.raises(FtlError, match="invalid key"):
                parse_key(bad)

    def test_values_are_json_with_a_hint_for_bare_strings(self) -> None:
        assert parse_value('{"a": [1, null]}') == {"a": [1, None]}
        with pytest.raises(FtlError, match=r"""strings need JSON quotes, e\.g\. '"hello"'"""):
            parse_value("hello")

    def test_secret_env_var(self) -> None:
        assert secret_env_var("echo", "apiKey") == "FTL_SECRET_ECHO_API_KEY"


class TestConfig:
    def test_set_keeps_comments_and_layout(self, project: Project) -> None:
        set_value(project, "config", Key("echo", "limits"), {"max": 3, "tags": ["a"]})
        set_value(project, "config", Key("", "count"), 2)
        text = project.path.read_text()
        assert text.startswith(PROJECT_TEXT.rstrip("\n"))
        assert "count = 2" in text
        assert '[modules.echo.config]\nlimits = {max = 3, tags = ["a"]}\n' in text
        assert "[modules]\n" not in text

    def test_module_values_overlay_project_values(self, project: Project) -> None:
        set_value(project, "config", Key("echo", "greeting"), "yo")
        set_value(project, "config", Key("echo", "n"), 1.5)
        assert values_for(project, "config", "echo") == {"greeting": "yo", "n": 1.5}
        assert values_for(project, "config", "other") == {"greeting": "hi"}
        assert get_value(project, "config", Key("other", "greeting")).value == "hi"
        assert [str(e.key) for e in list_values(project, "config")] == ["greeting", "echo.greeting", "echo.n"]

    def test_unset_removes_empty_tables(self, project: Project) -> None:
        set_value(project, "config", Key("echo", "x"), True)
        unset_value(project, "config", Key("echo", "x"))
        assert project.path.read_text() == PROJECT_TEXT
        with pytest.raises(FtlError, match=r"config echo\.x is not set in ftl-project\.toml"):
            unset_value(project, "config", Key("echo", "x"))

    def test_get_unset(self, project: Project) -> None:
        with pytest.raises(FtlError, match=r"config echo\.nope is not set"):
            get_value(project, "config", Key("echo", "nope"))

    def test_null_cannot_be_stored(self, project: Project) -> None:
        before = project.path.read_bytes()
        with pytest.raises(FtlError, match=r"echo.x.a: TOML cannot store null"):
            set_value(project, "config", Key("echo", "x"), {"a": None})
        assert project.path.read_bytes() == before

    def test_toml_dates_read_as_rfc3339_text(self, project: Project) -> None:
        project.path.write_text(PROJECT_TEXT + "start = 2024-01-02T03:04:05Z\n")
        assert values_for(project, "config", "m")["start"] == "2024-01-02T03:04:05Z"


class TestSecrets:
    def test_stored_outside_the_project_file_with_mode_0600(self, project: Project) -> None:
        set_value(project, "secret", Key("echo", "apiKey"), "s3cr3t")
        secrets = project.state_dir / "secrets.toml"
        assert stat.S_IMODE(secrets.stat().st_mode) == 0o600
        assert "s3cr3t" not in project.path.read_text()
        assert (project.state_dir / ".gitignore").read_text() == "*\n"
        assert values_for(project, "secret", "echo") == {"apiKey": "s3cr3t"}
        assert values_for(project, "secret", "other") == {}

    def test_environment_wins(self, project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
        set_value(project, "secret", Key("echo", "apiKey"), "from-file")
        monkeypatch.setenv("FTL_SECRET_ECHO_API_KEY", "from-env")
        monkeypatch.setenv("FTL_SECRET_ECHO_PORT", "5432")
        monkeypatch.setenv("FTL_SECRET_ECHO_DB_PASSWORD", '"quoted"')
        assert values_for(project, "secret", "echo") == {
            "apiKey": "from-env",
            "port": 5432,
            "dbPassword": "quoted",
        }
        entry = get_value(project, "secret", Key("echo", "apiKey"))
        assert (entry.value, entry.source) == ("from-env", "env FTL_SECRET_ECHO_API_KEY")
        listed = {str(e.key): e.source for e in list_values(project, "secret")}
        assert listed == {
            "echo.apiKey": "env FTL_SECRET_ECHO_API_KEY",
            "echo.dbPassword": "env FTL_SECRET_ECHO_DB_PASSWORD",
            "echo.port": "env FTL_SECRET_ECHO_PORT",
        }

    def test_existing_file_is_tightened_to_0600(self, project: Project) -> None:
        project.state_dir.mkdir()
        secrets = project.state_dir / "secrets.toml"
        secrets.write_text("[secrets]\n")
        secrets.chmod(0o644)
        set_value(project, "secret", Key("", "token"), "t")
        assert stat.S_IMODE(secrets.stat().st_mode) == 0o600


class TestValidation:
    SCHEMA = ast.Schema(
        (
            ast.Realm(
                "shop",
                modules=(
                    ast.Module(
                        "echo",
                        decls=(
                            ast.Data("greeting", fields=()),  # another kind with the same name
                            ast.Config("greeting", ast.String()),
                            ast.Secret("port", ast.Int()),
                        ),
                    ),
                    ast.Module("other", decls=(ast.Config("greeting", ast.Optional(ast.String())),)),
                ),
            ),
        )
    )

    def test_checked_against_the_declared_type(self) -> None:
        assert check_value(self.SCHEMA, "config", Key("echo", "greeting"), "hi") == []
        assert check_value(self.SCHEMA, "config", Key("echo", "greeting"), 3) == [
            "echo.greeting: expected String, got Int"
        ]
        assert check_value(self.SCHEMA, "secret", Key("echo", "port"), "80") == []
        assert check_value(self.SCHEMA, "config", Key("echo", "undeclared"), 3) == []

    def test_project_level_values_are_checked_for_every_module(self) -> None:
        assert check_value(self.SCHEMA, "config", Key("", "greeting"), 3) == [
            "echo.greeting: expected String, got Int",
            "other.greeting: expected String, got Int",
        ]

    def test_set_refuses_an_invalid_value(self, project: Project) -> None:
        before = project.path.read_bytes()
        with pytest.raises(
            FtlError, match=r"invalid value for config echo\.greeting: echo\.greeting: expected String, got"
        ):
            set_value(project, "config", Key("echo", "greeting"), 3, schema=self.SCHEMA)
        assert project.path.read_bytes() == before


# ---------------------------------------------------------------------------------------------
# The real command

MODULE_CODE = textwrap.dedent(
    """\
    from dataclasses import dataclass
    from typing import Annotated

    import ftl


    @dataclass
    class Reply:
        text: str


    @ftl.verb
    def greet(
        req: None,
        greeting: Annotated[str, ftl.Config("greeting")],
        port: Annotated[int, ftl.Secret("port")],
    ) -> Reply:
        return Reply(text=f"{greeting} {port}")
    """
)


def ftl_command(
    cwd: Path, *args: str, stdin: str | None = None, **env: str
) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("FTL_")}
    environment.update(NO_COLOR="1", **env)
    return subprocess.run(
        [sys.executable, "-m", "ftl", *args],
        cwd=cwd,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        env=environment,
    )


def write_module(root: Path, name: str, code: str) -> None:
    (root / name / name).mkdir(parents=True)
    (root / name / "ftl.toml").write_text(f'module = "{name}"\n')
    (root / name / name / "__init__.py").write_text(code)


@pytest.mark.e2e
def test_config_commands(project: Project) -> None:
    root = project.root
    assert ftl_command(root, "config", "set", "echo.limits", '{"max": 3}').returncode == 0
    assert ftl_command(root, "config", "set", "echo.name", stdin='"piped"\n').returncode == 0
    listed = ftl_command(root, "config", "list", "--json")
    assert json.loads(listed.stdout) == [
        {"module": None, "name": "greeting", "value": "hi", "source": "ftl-project.toml"},
        {"module": "echo", "name": "limits", "value": {"max": 3}, "source": "ftl-project.toml"},
        {"module": "echo", "name": "name", "value": "piped", "source": "ftl-project.toml"},
    ]
    assert ftl_command(root, "config", "list", "--plain").stdout.splitlines() == [
        'greeting = "hi"',
        'echo.limits = {"max": 3}',
        'echo.name = "piped"',
    ]
    assert json.loads(ftl_command(root, "config", "get", "echo.limits").stdout) == {"max": 3}
    assert ftl_command(root, "config", "unset", "echo.limits").returncode == 0
    missing = ftl_command(root, "config", "get", "echo.limits")
    assert (missing.returncode, missing.stderr) == (1, "ftl: error: config echo.limits is not set\n")
    bad = ftl_command(root, "config", "set", "echo.x", "hello")
    assert bad.returncode == 1 and "strings need JSON quotes" in bad.stderr


@pytest.mark.e2e
def test_secret_list_never_prints_values(project: Project) -> None:
    root = project.root
    assert ftl_command(root, "secret", "set", "echo.apiKey", '"s3cr3t"').returncode == 0
    listed = ftl_command(root, "secret", "list", FTL_SECRET_ECHO_TOKEN="t0k3n")
    assert listed.stdout.splitlines() == [
        "echo.apiKey  (.ftl/secrets.toml)",
        "echo.token  (env FTL_SECRET_ECHO_TOKEN)",
    ]
    as_json = ftl_command(root, "secret", "list", "--json", FTL_SECRET_ECHO_TOKEN="t0k3n").stdout
    assert "s3cr3t" not in as_json and "t0k3n" not in as_json
    assert json.loads(ftl_command(root, "secret", "get", "echo.apiKey").stdout) == "s3cr3t"
    assert "s3cr3t" not in project.path.read_text()


@pytest.mark.e2e
def test_values_are_validated_against_declared_types(project: Project) -> None:
    root = project.root
    write_module(root, "echo", MODULE_CODE)
    wrong = ftl_command(root, "config", "set", "echo.greeting", "5")
    assert wrong.returncode == 1
    assert "echo.greeting: expected String, got Int" in wrong.stderr
    assert ftl_command(root, "config", "set", "echo.greeting", '"hello"').returncode == 0
    assert ftl_command(root, "secret", "set", "echo.port", '"eighty"').returncode == 1
    assert ftl_command(root, "secret", "set", "echo.port", "80").returncode == 0
    assert ftl_command(root, "secret", "set", "echo.port", '"x"', "--no-validate").returncode == 0


def test_an_environment_secret_no_module_reads_is_warned_about_with_the_right_variable() -> None:
    schema = TestValidation.SCHEMA
    entries = [
        Entry(Key("echo", "pORT"), "80", "env FTL_SECRET_ECHO_PORT_"),
        Entry(Key("echo", "port"), "80", "env FTL_SECRET_ECHO_PORT"),
        Entry(Key("echo", "token"), "x", ".ftl/secrets.toml"),
    ]
    assert env_secret_problems(schema, entries) == [
        "FTL_SECRET_ECHO_PORT_: module echo declares no secret 'pORT' (declared: port); "
        "echo.port is read from FTL_SECRET_ECHO_PORT"
    ]


@pytest.mark.e2e
def test_secret_list_warns_about_a_misspelled_variable(project: Project) -> None:
    root = project.root
    write_module(root, "echo", MODULE_CODE)
    listed = ftl_command(root, "secret", "list", FTL_SECRET_ECHO_PORTT="80")
    assert listed.returncode == 0
    assert listed.stdout.splitlines() == ["echo.portt  (env FTL_SECRET_ECHO_PORTT)"]
    assert listed.stderr == (
        "warning: FTL_SECRET_ECHO_PORTT: module echo declares no secret 'portt' (declared: port); "
        "echo.port is read from FTL_SECRET_ECHO_PORT\n"
    )


@pytest.mark.e2e
def test_an_integer_beyond_int64_is_out_of_range(project: Project) -> None:
    root = project.root
    write_module(
        root,
        "users",
        MODULE_CODE.replace('ftl.Config("greeting")', 'ftl.Config("maxId")').replace(
            "greeting: Annotated[str", "greeting: Annotated[int"
        ),
    )
    before = project.path.read_bytes()
    done = ftl_command(root, "config", "set", "users.maxId", "99999999999999999999999")
    assert done.returncode == 1
    assert done.stderr == (
        "ftl: error: invalid value for config users.maxId: "
        "users.maxId: integer out of range for Int (64-bit)\n"
    )
    assert project.path.read_bytes() == before
    assert ftl_command(root, "config", "set", "users.maxId", "9223372036854775807").returncode == 0


# ---------------------------------------------------------------------------------------------
# `<realm>-realm-endpoint`: where calls to a pinned realm go, not a module's config

BANK_PIN = textwrap.dedent(
    """
    [realms.egress.bank]
    git-repo = "../bank"
    git-branch = "main"
    git-commit = "0123456789abcdef0123456789abcdef01234567"
    git-path = "ftl-public-schema.ftl"
    """
)


@pytest.mark.e2e
def test_a_realm_endpoint_is_set_without_a_misleading_note(project: Project) -> None:
    root = project.root
    write_module(root, "echo", MODULE_CODE)
    with project.path.open("a") as file:
        file.write(BANK_PIN)
    done = ftl_command(root, "config", "set", "bank-realm-endpoint", '"http://127.0.0.1:9999"')
    assert (done.returncode, done.stdout, done.stderr) == (0, "set config bank-realm-endpoint\n", "")
    assert 'bank-realm-endpoint = "http://127.0.0.1:9999"' in project.path.read_text()
    overridden = ftl_command(
        root,
        "config",
        "set",
        "bank-realm-endpoint",
        '"http://127.0.0.1:9998"',
        FTL_REALM_ENDPOINT_BANK="http://elsewhere:1",
    )
    assert overridden.returncode == 0, overridden.stderr
    assert "note: FTL_REALM_ENDPOINT_BANK is set and takes precedence" in overridden.stdout


@pytest.mark.e2e
def test_an_endpoint_for_a_realm_that_is_not_pinned_says_so(project: Project) -> None:
    done = ftl_command(project.root, "config", "set", "bank-realm-endpoint", '"https://bank.example.com"')
    assert done.returncode == 0, done.stderr
    assert done.stderr.startswith("note: no realm named 'bank' is pinned (pinned: none)")
    assert "no module declares" not in done.stderr


@pytest.mark.e2e
@pytest.mark.parametrize("value", ["8892", '"127.0.0.1:8892"', '"ftp://host/"', '"http://"'])
def test_a_realm_endpoint_must_be_an_http_url(project: Project, value: str) -> None:
    before = project.path.read_bytes()
    done = ftl_command(project.root, "config", "set", "bank-realm-endpoint", value)
    assert done.returncode == 1
    assert done.stderr.startswith(
        "ftl: error: bank-realm-endpoint is where calls to realm 'bank' go: it must be an http:// or "
        "https:// URL"
    )
    assert project.path.read_bytes() == before
    unchecked = ftl_command(project.root, "config", "set", "bank-realm-endpoint", value, "--no-validate")
    assert unchecked.returncode == 0, unchecked.stderr
