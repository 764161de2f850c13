"""`ftl realm add/update/list/remove`: pins of other realms' public schemas (see ftl.realm)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from ftl.cli.output import (
    JSON_OPTION,
    PLAIN_OPTION,
    console,
    console_err,
    fail,
    fail_with,
    is_terminal,
    print_diagnostics,
    print_json,
    set_plain,
)
from ftl.errors import FtlError
from ftl.project import find_project_file, load_project
from ftl.realm import (
    PinUpdate,
    RealmInUseError,
    RealmSummary,
    add_realm,
    list_realms,
    remove_realm,
    update_realms,
)

PROJECT_FILE_OPTION = typer.Option(
    None, "--project-file", help="The ftl-project.toml to use (default: found like git finds its repo)."
)

realm_app = typer.Typer(
    name="realm",
    help="Pin other realms' public schemas (federation): add, update, list, remove.",
    no_args_is_help=True,
)


def register(app: typer.Typer) -> None:
    app.add_typer(realm_app, name="realm")


@realm_app.command("add")
def add(
    git_repo: str = typer.Option(
        ..., "--git-repo", help="Repository URL (https, ssh, scp-like, file://, path)."
    ),
    git_branch: str | None = typer.Option(
        None, "--git-branch", help="Branch to pin (default: the remote's)."
    ),
    git_path: str | None = typer.Option(
        None, "--git-path", help="Public schema file in the repo (default: from its ftl-project.toml)."
    ),
    name: str | None = typer.Option(None, "--name", help="Local name for @name references."),
    project_file: Path | None = PROJECT_FILE_OPTION,
    plain: bool = PLAIN_OPTION,
) -> None:
    """Pin another realm's public schema at its branch's current head."""
    set_plain(plain)
    try:
        summary = add_realm(
            find_project_file(project_file), git_repo, git_branch=git_branch, git_path=git_path, name=name
        )
    except FtlError as error:
        fail_with(error)
    pin = summary.pin
    console.print(
        f"Pinned realm [bold]{escape(pin.name)}[/] at {pin.git_commit[:12]} "
        f"({escape(pin.git_branch)} of {escape(pin.git_repo)})"
    )
    console.print(f"  modules: {escape(', '.join(summary.modules) or '(none)')}")
    console.print(f"  exported verbs: {escape(', '.join(summary.verbs) or '(none)')}")


@realm_app.command("update")
def update(
    names: Annotated[list[str] | None, typer.Argument(help="Realms to update (default: all).")] = None,
    check: bool = typer.Option(False, "--check", help="Change nothing; exit 1 if any pin is behind."),
    project_file: Path | None = PROJECT_FILE_OPTION,
    plain: bool = PLAIN_OPTION,
) -> None:
    """Move pins to their branch heads, showing what changed in each public schema."""
    set_plain(plain)
    try:
        updates = update_realms(find_project_file(project_file), names or [], check=check)
    except FtlError as error:
        fail_with(error)
    if not updates:
        console_err.print("no realms pinned (add one with `ftl realm add --git-repo URL`)")
    for pin_update in updates:
        _print_update(pin_update, check=check)
    behind = [u.name for u in updates if u.moved]
    if check and behind:
        fail(f"{len(behind)} realm pin(s) behind their branch ({', '.join(behind)}): run `ftl realm update`")


def _print_update(update: PinUpdate, *, check: bool) -> None:
    name = escape(update.name)
    if not update.moved:
        console.print(f"{name}: up to date at {update.old_commit[:12]}")
        return
    verb = "behind" if check else "updated"
    console.print(f"{name}: {verb} {update.old_commit[:12]} → {update.new_commit[:12]}")
    if update.unknown_changes:
        console.print(
            f"  changes unknown: the old public schema cannot be read ({escape(update.unknown_changes)})"
        )
        return
    if not update.changes:
        console.print("  public schema unchanged")
        return
    breaking = len(update.breaking)
    console.print(f"  {len(update.changes)} schema change(s), {breaking} breaking:")
    for change in update.changes:
        if change.breaking:
            console.print(f"  [bold red]breaking:[/] {escape(str(change))}")
        else:
            console.print(f"  {escape(str(change))}")


@realm_app.command("list")
def list_command(
    json_output: bool = JSON_OPTION,
    project_file: Path | None = PROJECT_FILE_OPTION,
    plain: bool = PLAIN_OPTION,
) -> None:
    """The pinned realms: name, repo, branch, commit, modules, exported verbs."""
    set_plain(plain)
    try:
        summaries = list_realms(load_project(find_project_file(project_file)))
    except FtlError as error:
        fail_with(error)
    if json_output:
        print_json([_as_json(s) for s in summaries])
        return
    if not summaries:
        # A hint, not data: stdout stays empty for scripts.
        console_err.print("no realms pinned (add one with `ftl realm add --git-repo URL`)")
        return
    if is_terminal():
        table = Table(box=None, pad_edge=False)
        for header in ("NAME", "REPO", "BRANCH", "COMMIT", "MODULES", "EXPORTED VERBS"):
            table.add_column(header, overflow="fold")
        for s in summaries:
            table.add_row(*(escape(cell) for cell in _row(s)))
        console.print(table)
        return
    for s in summaries:
        typer.echo("\t".join(_row(s)))


def _row(summary: RealmSummary) -> tuple[str, ...]:
    pin = summary.pin
    return (
        pin.name,
        pin.git_repo,
        pin.git_branch,
        pin.git_commit[:12],
        ",".join(summary.modules) or "-",
        ",".join(summary.verbs) or "-",
    )


def _as_json(summary: RealmSummary) -> dict[str, object]:
    pin = summary.pin
    return {
        "name": pin.name,
        "git_repo": pin.git_repo,
        "git_branch": pin.git_branch,
        "git_commit": pin.git_commit,
        "git_path": pin.git_path,
        "modules": list(summary.modules),
        "verbs": list(summary.verbs),
    }


@realm_app.command("remove")
def remove(
    name: str = typer.Argument(..., help="The realm to unpin."),
    force: bool = typer.Option(False, "--force", help="Remove even if modules still refer to it."),
    project_file: Path | None = PROJECT_FILE_OPTION,
    plain: bool = PLAIN_OPTION,
) -> None:
    """Unpin a realm (refused while modules still refer to it, unless --force)."""
    set_plain(plain)
    try:
        pin = remove_realm(find_project_file(project_file), name, force=force)
    except RealmInUseError as error:
        print_diagnostics(error.references)
        fail(str(error))
    except FtlError as error:
        fail_with(error)
    was = f" (was {escape(pin.git_commit[:12])})" if pin.git_commit else ""
    console.print(f"Removed realm [bold]{escape(pin.name)}[/]{was}")
