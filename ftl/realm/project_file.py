"""Editing `ftl-project.toml` with tomlkit: the user's comments, order and formatting survive.

Every edit is made in memory, checked by reading the result back as a project, and only then
written (atomically). So a failure at any step leaves the file byte-for-byte as it was.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tomlkit
import tomlkit.exceptions
from tomlkit.items import Table

from ftl.errors import Diagnostic, FtlError, Position
from ftl.files import display_path, write_atomic
from ftl.project import Project, RealmPin, project_from_data
from ftl.realm._reasons import unreadable


@dataclass
class ProjectFile:
    """An `ftl-project.toml` read for editing. `original` is the exact bytes that were read."""

    path: Path
    original: bytes
    document: tomlkit.TOMLDocument

    @classmethod
    def read(cls, path: Path) -> ProjectFile:
        display = display_path(path)
        try:
            original = path.read_bytes()
            text = original.decode("utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise unreadable(display, exc) from exc
        try:
            document = tomlkit.parse(text)
        except tomlkit.exceptions.ParseError as exc:
            message, line, column = _toml_problem(text, exc)
            raise FtlError([Diagnostic(f"invalid TOML: {message}", Position(display, line, column))]) from exc
        return cls(path=path, original=original, document=document)

    def project(self) -> Project:
        """The project as the file says now (including edits not yet saved)."""
        return project_from_data(self.path, _plain(self.document), text=self.document.as_string())

    def set_pin(self, pin: RealmPin) -> None:
        """Add `[realms.egress.<name>]`, or update the keys of an existing one in place."""
        egress = _egress(self.document, create=True)
        assert egress is not None
        values = {
            "git-repo": pin.git_repo,
            "git-branch": pin.git_branch,
            "git-commit": pin.git_commit,
            "git-path": pin.git_path,
        }
        existing = egress.get(pin.name)
        if existing is None:
            table = tomlkit.table()
            for key, value in values.items():
                table[key] = value
            egress[pin.name] = table
            return
        for key, value in values.items():
            if existing.get(key) != value:
                existing[key] = value

    def remove_pin(self, name: str) -> None:
        egress = _egress(self.document, create=False)
        if egress is None or name not in egress:
            raise FtlError(f"no realm named {name!r} is pinned in {display_path(self.path)}")
        del egress[name]
        realms = self.document["realms"]
        # Drop the `realms`/`egress` tables we may have created, but only once they are empty.
        if isinstance(egress, Table) and egress.is_super_table() and not egress:
            del realms["egress"]
        if isinstance(realms, Table) and realms.is_super_table() and not realms:
            del self.document["realms"]

    def render(self) -> str:
        return tomlkit.dumps(self.document)

    def save(self) -> bool:
        """Write the edited document if it differs; returns whether the file changed.

        The rendered text is parsed back and checked as a project first, and the file on disk must
        still hold the bytes that were read (so a concurrent edit is never overwritten).
        """
        data = self.render().encode("utf-8")
        if data == self.original:
            return False
        checked = ProjectFile(self.path, data, tomlkit.parse(data.decode("utf-8")))
        checked.project()
        try:
            current = self.path.read_bytes()
        except OSError as exc:
            raise unreadable(display_path(self.path), exc) from exc
        if current != self.original:
            name = display_path(self.path)
            raise FtlError(f"{name} changed while it was being edited; nothing was written")
        write_atomic(self.path, data)
        self.original = data
        return True


def _toml_problem(text: str, exc: tomlkit.exceptions.ParseError) -> tuple[str, int, int]:
    """Message, line and column for a TOML error: tomllib's wording where it has one (tomlkit
    reports the end of the file as an unexpected NUL character)."""
    try:
        tomllib.loads(text)
    except tomllib.TOMLDecodeError as strict:
        message, _, where = str(strict).partition(" (at ")
        place = re.match(r"line (\d+), column (\d+)", where)
        if place:
            return message, int(place[1]), int(place[2])
        lines = text.splitlines() or [""]
        return message, len(lines), len(lines[-1]) + 1
    message = re.sub(r" at line \d+ col \d+$", "", str(exc))
    return message, exc.line, max(exc.col, 1)


def _egress(document: tomlkit.TOMLDocument, *, create: bool) -> Any:
    """The `[realms.egress]` table (None if absent and not `create`)."""
    realms = document.get("realms")
    if realms is None:
        if not create:
            return None
        realms = tomlkit.table(is_super_table=True)
        document["realms"] = realms
    if not isinstance(realms, dict):
        raise FtlError("`realms` in ftl-project.toml must be a table")
    egress = realms.get("egress")
    if egress is None:
        if not create:
            return None
        egress = tomlkit.table(is_super_table=True)
        realms["egress"] = egress
    if not isinstance(egress, dict):
        raise FtlError("`realms.egress` in ftl-project.toml must be a table")
    return egress


def _plain(document: tomlkit.TOMLDocument) -> dict[str, Any]:
    value: dict[str, Any] = document.unwrap()
    return value
