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
        before = self.render()
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
            self.document = tomlkit.parse(_separate_added(before, self.render()))
            return
        for key, value in values.items():
            if existing.get(key) != value:
                existing[key] = value

    def remove_pin(self, name: str) -> None:
        egress = _egress(self.document, create=False)
        if egress is None or name not in egress:
            raise FtlError(f"no realm named {name!r} is pinned in {display_path(self.path)}")
        before = self.render()
        del egress[name]
        realms = self.document["realms"]
        # Drop the `realms`/`egress` tables we may have created, but only once they are empty.
        if isinstance(egress, Table) and egress.is_super_table() and not egress:
            del realms["egress"]
        if isinstance(realms, Table) and realms.is_super_table() and not realms:
            del self.document["realms"]
        self.document = tomlkit.parse(_close_removed(before, self.render()))

    def pinned(self) -> dict[str, Any]:
        """`[realms.egress]` as written, malformed pins included (an error if it is no table)."""
        egress = _egress(self.document, create=False)
        return {} if egress is None else dict(egress.unwrap())

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


# Blank lines around a pin's table. tomlkit puts a new table straight before the next one and
# leaves the blank line that set a removed table off behind; these keep one blank line between
# tables, so that `realm add` then `realm remove` gives back the file byte for byte.


def _separate_added(old_text: str, new_text: str) -> str:
    """`new_text` (`old_text` plus a table) with the new table set off by blank lines: the gap
    where it went on both sides of it (one blank line if there was none; at the end of the file,
    the file still ends as it did)."""
    newline = "\r\n" if "\r\n" in old_text else "\n"
    old, new = _lines(old_text), _lines(new_text)
    if old and not old[-1].endswith("\n"):
        old[-1] += newline  # tomlkit ends the last line before it adds a table
    start, end = _changed(new, old)
    if start is None or not new[start].lstrip().startswith("["):
        return new_text  # not a table added on lines of its own (an inline table, say)
    content_lines = [index for index, line in enumerate(old) if not _blank(line)]
    lines_before = sum(1 for line in new[:start] if not _blank(line))
    gap_start = content_lines[lines_before - 1] + 1 if lines_before else 0
    gap_end = gap_start + len(_split_leading_blanks(old[gap_start:])[0])
    if gap_start == gap_end and 0 < gap_start < len(old):
        # tomlkit appends after a comment that introduces the next table: go before that comment.
        comment = _comment_block_start(old[:gap_start])
        if 0 < comment < gap_start and _blank(old[comment - 1]):
            gap_end = comment
            gap_start = len(_split_trailing_blanks(old[:comment])[0])
    before, gap, after = old[:gap_start], old[gap_start:gap_end], old[gap_end:]
    blank = gap or [newline]
    return "".join(before + (blank if before else []) + new[start:end] + (blank if after else gap) + after)


def _close_removed(old_text: str, new_text: str) -> str:
    """`new_text` (`old_text` less a table) with one gap where the table was, the wider of the
    two around it (at either end of the file: the one at that end)."""
    old, new = _lines(old_text), _lines(new_text)
    start, end = _changed(old, new)
    if start is None:
        return new_text
    if end < len(old) and not _blank(old[end]):
        # A comment set off from the table and directly above what follows is about what follows
        # (tomlkit counts it as part of the removed table): keep it.
        comment = _comment_block_start(old[:end], stop=start)
        if start < comment < end and _blank(old[comment - 1]):
            end = comment
            while _blank(old[end - 1]):
                end -= 1
    content_before, blank_before = _split_trailing_blanks(old[:start])
    blank_after, content_after = _split_leading_blanks(old[end:])
    if not content_after:
        gap = blank_after
    elif not content_before:
        gap = blank_before
    else:
        gap = blank_before if len(blank_before) >= len(blank_after) else blank_after
    return "".join(content_before + gap + content_after)


def _changed(longer: list[str], shorter: list[str]) -> tuple[int | None, int]:
    """The lines of `longer` that `shorter` lacks, trimmed of blank lines, as (start, end); start
    is None unless `shorter` is exactly `longer` without some whole lines."""
    common = min(len(longer), len(shorter))
    start = 0
    while start < common and longer[start] == shorter[start]:
        start += 1
    same_end = 0
    while same_end < common - start and longer[-1 - same_end] == shorter[-1 - same_end]:
        same_end += 1
    end = len(longer) - same_end
    if longer[:start] + longer[end:] != shorter:
        return None, 0
    while start < end and _blank(longer[start]):
        start += 1
    while end > start and _blank(longer[end - 1]):
        end -= 1
    return (start, end) if start < end else (None, 0)


def _lines(text: str) -> list[str]:
    return re.findall(r"[^\n]*\n|[^\n]+$", text)


def _blank(line: str) -> bool:
    return not line.strip()


def _comment_block_start(lines: list[str], stop: int = 0) -> int:
    """Where the run of comment lines that ends `lines` starts (len(lines) if there is none)."""
    index = len(lines)
    while index > stop and lines[index - 1].lstrip().startswith("#"):
        index -= 1
    return index


def _split_trailing_blanks(lines: list[str]) -> tuple[list[str], list[str]]:
    index = len(lines)
    while index and _blank(lines[index - 1]):
        index -= 1
    return lines[:index], lines[index:]


def _split_leading_blanks(lines: list[str]) -> tuple[list[str], list[str]]:
    index = 0
    while index < len(lines) and _blank(lines[index]):
        index += 1
    return lines[:index], lines[index:]


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
