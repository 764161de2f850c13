"""The CLI contract (docs: cli.md, general rules) checked the way a new user meets it.

Each test here pins down something an audit of every command found off: error places in
ftl-project.toml, one-line errors instead of tracebacks, `--plain` versus `NO_COLOR` on a terminal,
hints kept off stdout, `ftl serve`/`ftl deploy`/`ftl logs` argument checks, and answers from
something that is not the admin API. Commands run as real processes in temp dirs, except for the
pure rendering helpers.
"""

from __future__ import annotations

import contextlib
import io
import os
import pty
import select
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from ftl.cli import output
from ftl.client import AdminClient, parse_diagnostic
from ftl.configstore import Key, Kind, undeclared_problem
from ftl.errors import Diagnostic, FtlError, Position
from ftl.project import find_project_file, load_project
from ftl.scaffold import init_project, new_module
from ftl.schema import ast

BROKEN_TOML = 'realm = "x"\nmodule-dirs = [\n'  # the error is "at end of document"
PROJECT_COMMANDS = [
    ["build"],
    ["new", "extra"],
    ["schema", "get"],
    ["schema", "export"],
    ["config", "list"],
    ["config", "set", "greeting", '"hi"'],
    ["secret", "list"],
    ["realm", "list"],
    ["realm", "update"],
    ["realm", "remove", "bank"],
    ["deploy"],
    ["serve"],
    ["dev"],
]


def clean_env(**extra: str) -> dict[str, str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("FTL_", "PYTEST_", "NO_COLOR"))}
    return {**environment, "NO_COLOR": "1", **extra}


def ftl(cwd: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ftl", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        env=env if env is not None else clean_env(),
        stdin=subprocess.DEVNULL,
    )


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A fresh `ftl init` + `ftl new users` project; returns its root."""
    root = tmp_path / "shop"
    init_project(root, "shop")
    new_module(load_project(root / "ftl-project.toml"), "users")
    return root


# ---------------------------------------------------------------------------------------------
# ftl-project.toml: every problem is one line at the right place


def test_a_toml_error_at_the_end_of_the_file_points_at_the_end(tmp_path: Path) -> None:
    (tmp_path / "ftl-project.toml").write_text(BROKEN_TOML)
    with pytest.raises(FtlError) as raised:
        load_project(tmp_path / "ftl-project.toml")
    [diagnostic] = raised.value.diagnostics
    assert diagnostic.pos is not None
    assert (diagnostic.pos.line, diagnostic.pos.column) == (2, 16)  # where tomlkit puts it too


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ('module-dirs = ["."]\nrealm = "my-shop"\n', 2, "invalid realm name 'my-shop'"),
        ('realm = "x"\nrealms = {egress = "x"}\n', 2, "`[realms.egress]` must be a table"),
        (
            'realm = "x"\n\n[realms.egress.b]\ngit-repo = "r"\ngit-commit = "c"\ngit-branch = 5\n',
            3,
            "git-branch must be a string",
        ),
        ('realm = "x"\n\n[config]\na = 1\n\n[realms]\negress = 3\n', 7, "`[realms.egress]` must be a table"),
        ('realm = "x"\nconfig = 5\n', 2, "`[config]` must be a table"),
    ],
)
def test_project_file_problems_point_at_their_line(
    tmp_path: Path, text: str, line: int, message: str
) -> None:
    (tmp_path / "ftl-project.toml").write_text(text)
    with pytest.raises(FtlError) as raised:
        load_project(tmp_path / "ftl-project.toml")
    [diagnostic] = raised.value.diagnostics
    assert message in diagnostic.message
    assert diagnostic.pos is not None and diagnostic.pos.line == line


def test_without_a_realm_key_the_realm_is_the_directory_name_made_valid(tmp_path: Path) -> None:
    root = tmp_path / "my-shop"
    root.mkdir()
    (root / "ftl-project.toml").write_text('module-dirs = ["."]\n')
    assert load_project(root / "ftl-project.toml").realm == "my_shop"


def test_a_project_file_option_naming_a_directory_says_so(project: Path) -> None:
    with pytest.raises(FtlError, match=r"is a directory \(did you mean"):
        find_project_file(project)


@pytest.mark.parametrize("command", PROJECT_COMMANDS, ids=" ".join)
def test_a_malformed_project_file_is_one_positioned_line_for_every_command(
    tmp_path: Path, command: list[str]
) -> None:
    (tmp_path / "ftl-project.toml").write_text(BROKEN_TOML)
    before = snapshot(tmp_path)
    result = ftl(tmp_path, *command, env=clean_env(FTL_BIND="127.0.0.1:0", FTL_INGRESS_BIND="127.0.0.1:0"))
    assert result.returncode == 1, result.stderr
    assert result.stderr == "ftl-project.toml:2:16: invalid TOML: Invalid value\n"
    assert snapshot(tmp_path) == before


# ---------------------------------------------------------------------------------------------
# --project-file and $FTL_PROJECT_FILE, from a directory outside the project


@pytest.mark.parametrize(
    "command",
    [
        ["build"],
        ["schema", "get"],
        ["schema", "export"],
        ["config", "list"],
        ["secret", "list"],
        ["realm", "list"],
        ["realm", "update"],
        ["new", "orders"],
    ],
    ids=" ".join,
)
def test_project_discovery_by_flag_and_by_environment(
    tmp_path: Path, project: Path, command: list[str]
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    project_file = str(project / "ftl-project.toml")
    by_flag = ftl(elsewhere, *command, "--project-file", project_file)
    assert by_flag.returncode == 0, by_flag.stderr
    if command[0] == "new":
        assert (project / "orders" / "ftl.toml").is_file()  # under module-dirs, not in the cwd
        command = ["new", "billing"]
    by_env = ftl(elsewhere, *command, env=clean_env(FTL_PROJECT_FILE=project_file))
    assert by_env.returncode == 0, by_env.stderr
    if command[:2] != ["schema", "export"]:  # the second export finds the file up to date
        assert by_env.stdout.replace("billing", "orders") == by_flag.stdout
    assert list(elsewhere.iterdir()) == []


# ---------------------------------------------------------------------------------------------
# ftl init / ftl new: bad places are errors, not tracebacks


def test_init_below_a_file_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("")
    with pytest.raises(FtlError, match="afile exists and is not a directory"):
        init_project(tmp_path / "afile" / "sub")


def test_new_with_a_dir_that_is_a_file_is_an_error(project: Path) -> None:
    (project / "afile").write_text("")
    with pytest.raises(FtlError, match="exists and is not a directory"):
        new_module(load_project(project / "ftl-project.toml"), "orders", project / "afile")
    result = ftl(project, "new", "orders", "--dir", "afile")
    assert (result.returncode, result.stderr) == (1, "ftl: error: afile exists and is not a directory\n")


def test_new_without_module_dirs_asks_for_one(project: Path) -> None:
    (project / "ftl-project.toml").write_text('realm = "shop"\nmodule-dirs = []\n')
    with pytest.raises(FtlError, match="lists no module-dirs"):
        new_module(load_project(project / "ftl-project.toml"), "orders")


# ---------------------------------------------------------------------------------------------
# Output: --plain versus NO_COLOR, hints off stdout


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture
def terminal_stderr(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeTerminal]:
    stream = FakeTerminal()
    monkeypatch.setattr(sys, "stderr", stream)
    monkeypatch.delenv("NO_COLOR", raising=False)
    yield stream
    output.set_plain(False)


def test_plain_turns_terminal_output_off_and_back_on(terminal_stderr: FakeTerminal) -> None:
    assert output.is_terminal(terminal_stderr)
    output.set_plain(True)
    assert not output.is_terminal(terminal_stderr)
    output.set_plain(False)
    assert output.is_terminal(terminal_stderr)


def test_no_color_keeps_terminal_output(
    terminal_stderr: FakeTerminal, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    output.set_plain(False)
    assert output.is_terminal(terminal_stderr)  # NO_COLOR takes colour away, not the layout


def test_json_output_keeps_text_readable(capsys: pytest.CaptureFixture[str]) -> None:
    output.print_json({"message": "Hello, José!"})
    assert capsys.readouterr().out == '{"message": "Hello, José!"}\n'


def in_a_terminal(cwd: Path, *args: str, env: dict[str, str]) -> str:
    """Everything `ftl args` writes when stdout and stderr are a terminal."""
    leader, follower = pty.openpty()
    try:
        process = subprocess.Popen(
            [sys.executable, "-m", "ftl", *args],
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=follower,
            stderr=follower,
            start_new_session=True,
        )
        os.close(follower)
        chunks = []
        while True:
            ready, _, _ = select.select([leader], [], [], 30)
            if not ready:
                break
            try:
                chunk = os.read(leader, 4096)
            except OSError:  # the terminal closed: the process is done
                break
            if not chunk:
                break
            chunks.append(chunk)
        process.wait(timeout=30)
    finally:
        os.close(leader)
    return b"".join(chunks).decode()


def test_plain_and_no_color_in_a_terminal(tmp_path: Path) -> None:
    (tmp_path / "bad.ftl").write_text("realm r {\n  module m {\n    data A {\n      x Strin\n    }\n  }\n}\n")
    base = {k: v for k, v in clean_env().items() if k != "NO_COLOR"}
    plain = in_a_terminal(tmp_path, "schema", "validate", "bad.ftl", "--plain", env=base)
    assert plain.splitlines() == [
        'bad.ftl:4:9: unknown reference "Strin", is the type annotated and exported?'
    ]
    no_color = in_a_terminal(tmp_path, "schema", "validate", "bad.ftl", env={**base, "NO_COLOR": "1"})
    assert "x Strin" in [line.strip() for line in no_color.splitlines()]  # the source line stays
    assert "\x1b[31m" not in no_color and "\x1b[1;31m" not in no_color


@pytest.mark.parametrize("group", ["config", "secret", "realm"])
def test_an_empty_list_prints_nothing_on_stdout_and_a_hint_on_stderr(project: Path, group: str) -> None:
    result = ftl(project, group, "list")
    assert (result.returncode, result.stdout) == (0, "")
    assert result.stderr.startswith("no ")
    assert ftl(project, group, "list", "--json").stdout == "[]\n"


def test_realm_update_with_nothing_pinned_says_so(project: Path) -> None:
    result = ftl(project, "realm", "update")
    assert (result.returncode, result.stdout) == (0, "")
    assert result.stderr.startswith("no realms pinned")


# ---------------------------------------------------------------------------------------------
# ftl config / ftl secret: a key nothing reads is most likely a typo

SCHEMA = ast.Schema(
    (
        ast.Realm(
            "shop",
            (
                ast.Module(
                    "users", decls=(ast.Config("greeting", ast.String()), ast.Secret("apiKey", ast.String()))
                ),
                ast.Module("orders"),
            ),
        ),
    )
)


@pytest.mark.parametrize(
    ("kind", "key", "problem"),
    [
        ("config", Key("users", "greeting"), None),
        ("config", Key("", "greeting"), None),
        ("secret", Key("users", "apiKey"), None),
        ("config", Key("users", "greting"), "module users declares no config 'greting' (declared: greeting)"),
        ("config", Key("", "greting"), "no module declares a config 'greting' (declared: greeting)"),
        ("secret", Key("users", "apikey"), "module users declares no secret 'apikey' (declared: apiKey)"),
        ("config", Key("nosuch", "greeting"), "there is no module 'nosuch' in this project"),
    ],
)
def test_a_key_that_no_declaration_reads_is_named(kind: Kind, key: Key, problem: str | None) -> None:
    assert undeclared_problem(SCHEMA, kind, key) == problem


def test_config_set_of_an_undeclared_key_stores_it_with_a_note(project: Path) -> None:
    result = ftl(project, "config", "set", "users.greting", '"hi"')
    assert (result.returncode, result.stdout) == (0, "set config users.greting\n")
    assert result.stderr == "note: module users declares no config 'greting'\n"
    assert ftl(project, "config", "get", "users.greting").stdout == '"hi"\n'


# ---------------------------------------------------------------------------------------------
# ftl serve / ftl dev: addresses


@pytest.mark.parametrize(
    ("args", "env"),
    [(["--bind", "nonsense:xx"], {}), ([], {"FTL_BIND": "garbage"}), (["--ingress-bind", "ftp://h:1"], {})],
)
def test_serve_with_a_bad_address_is_an_error_that_touches_nothing(
    project: Path, args: list[str], env: dict[str, str]
) -> None:
    (project / "notes.txt").write_text("mine\n")
    before = snapshot(project)
    result = ftl(project, "serve", "--ingress-bind", "127.0.0.1:0", *args, env=clean_env(**env))
    assert result.returncode == 1
    [line] = result.stderr.splitlines()
    assert line.startswith("ftl: error: bad bind address ")
    assert snapshot(project) == before


@pytest.mark.parametrize(
    "args", [["serve"], ["dev"], ["dev", "--bind", "nonsense:xx"]], ids=["serve", "dev", "dev-bad-address"]
)
def test_a_backplane_that_cannot_start_leaves_the_project_alone(project: Path, args: list[str]) -> None:
    (project / "notes.txt").write_text("mine\n")
    before = snapshot(project)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        flags = ["--ingress-bind", "127.0.0.1:0"] + (
            [] if "--bind" in args else ["--bind", f"127.0.0.1:{port}"]
        )
        result = ftl(project, *args, *flags)
    assert result.returncode == 1, result.stderr
    assert snapshot(project) == before


# ---------------------------------------------------------------------------------------------
# ftl deploy / ftl logs / the admin client


def test_deploy_of_a_directory_that_is_not_a_module_fails_before_calling_the_backplane(
    project: Path,
) -> None:
    env = clean_env(FTL_ENDPOINT=f"http://127.0.0.1:{closed_port()}")
    result = ftl(project, "deploy", "nowhere", "users", env=env)
    assert (result.returncode, result.stderr) == (
        1,
        "ftl: error: nowhere is not a module directory (it has no ftl.toml)\n",
    )


def test_logs_with_an_unknown_kind_is_a_usage_error(project: Path) -> None:
    result = ftl(project, "logs", "--kind", "bogus")
    assert result.returncode == 2
    assert "unknown kind 'bogus'" in result.stderr


def test_admin_api_diagnostics_become_values_with_places() -> None:
    assert parse_diagnostic("/p/m/ftl.toml:2:10: no package") == Diagnostic(
        "no package", Position("/p/m/ftl.toml", 2, 10)
    )
    assert parse_diagnostic("module users is listed twice") == Diagnostic("module users is listed twice")


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (404, "http://admin is not an FTL admin API (it answered 404 to GET /api/deployments)"),
        (500, "the backplane at http://admin failed (it answered 500 to GET /api/deployments)"),
    ],
)
def test_an_answer_that_is_not_the_admin_api_says_so(status: int, expected: str) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, text="<html>Not Found</html>")

    transport = httpx.MockTransport(handler)
    with AdminClient("http://admin", transport=transport) as admin, pytest.raises(FtlError) as raised:
        admin.deployments()
    assert str(raised.value).startswith(expected)


@dataclass
class Served:
    root: Path
    ingress: str
    admin: str


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    root = tmp_path_factory.mktemp("served") / "shop"
    init_project(root, "shop")
    new_module(load_project(root / "ftl-project.toml"), "users")
    process = subprocess.Popen(
        # The admin address from its flag, the ingress one from the environment: both port 0.
        [sys.executable, "-m", "ftl", "serve", "--bind", "127.0.0.1:0"],
        cwd=root,
        env=clean_env(FTL_INGRESS_BIND="127.0.0.1:0", FTL_BIND="127.0.0.1:8892"),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
    )
    try:
        assert process.stdout is not None
        urls: dict[str, str] = {}
        for line in process.stdout:  # readiness: the URLs are printed once both ports listen
            name, _, url = line.strip().partition(" ")
            urls[name] = url
            if "console" in urls:
                break
        assert "admin" in urls, "ftl serve did not start"
        for url in (urls["ingress"], urls["admin"]):
            port = int(url.rsplit(":", 1)[1])
            assert url.startswith("http://127.0.0.1:") and port not in (0, 8891, 8892)
        yield Served(root, urls["ingress"], urls["admin"])
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=5)


def test_deploy_failures_name_files_relative_to_here_and_end_in_one_error(served: Served) -> None:
    broken = served.root / "broken"
    broken.mkdir(exist_ok=True)
    (broken / "ftl.toml").write_text('module = "broken"\nlanguage = "python"\n')  # no package beside it
    result = ftl(served.root, "deploy", "broken", env=clean_env(FTL_ENDPOINT=served.admin))
    assert result.returncode == 1
    *placed, last = result.stderr.splitlines()
    assert placed and all(line.startswith("broken/ftl.toml:") for line in placed), result.stderr
    assert last.startswith("ftl: error: changeset ") and last.endswith(" failed")


@pytest.mark.parametrize("args", [["ps"], ["call", "users.echo"]], ids=" ".join)
def test_pointing_at_the_ingress_instead_of_the_admin_api(served: Served, args: list[str]) -> None:
    result = ftl(served.root, *args, "--endpoint", served.ingress)
    assert result.returncode == 1
    [line] = result.stderr.splitlines()
    assert line.startswith(f"ftl: error: {served.ingress} is not an FTL admin API")
