"""How a verb that raised is told to people: what it raised, where, and the frames in user code.

The runner sends the exception's type, its message, the place it was raised in user code
(`where`, `/abs/path.py:38`) and the traceback. `ftl call`, `ftl logs` and `ftl dev` show them
through these functions, with paths relative to the current directory.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from ftl.build.watcher import IGNORED_DIRS
from ftl.devserver.timeline import TimelineEvent
from ftl.files import display_path

__all__ = [
    "MAX_FRAMES_SHOWN",
    "call_summary",
    "display_place",
    "raised_summary",
    "relative_traceback",
    "verb_failure_lines",
]

MAX_FRAMES_SHOWN = 8
_FTL_PACKAGE = Path(__file__).resolve().parent
_FRAME = re.compile(r'^\s*File "(?P<path>[^"]+)", line (?P<line>\d+), in (?P<func>.+)$')
_TRACEBACK_FILE = re.compile(r'^(\s*File ")([^"]+)(")', re.MULTILINE)
_EXCEPTION_LINE = re.compile(r"^(?P<type>[A-Za-z_][\w.]*)(?::|$)")


def raised_summary(exception: str, message: str, where: str) -> str:
    """`ValueError: bad name x (orders/orders/__init__.py:38)`, the path relative to here."""
    summary = exception if message in ("", exception) else f"{exception}: {message}"
    return f"{summary} ({display_place(where)})" if where else summary


def display_place(where: str) -> str:
    """`/abs/path.py:38` as messages show it: the path relative to the current directory."""
    path, colon, line = where.rpartition(":")
    if not (colon and path and line.isdigit()):
        return where
    return f"{display_path(Path(path))}:{line}"


def relative_traceback(text: str) -> str:
    """A traceback with each absolute file name made relative to the current directory."""

    def relative(match: re.Match[str]) -> str:
        name = match[2]
        shown = display_path(Path(name)) if os.path.isabs(name) else name
        return f"{match[1]}{shown}{match[3]}"

    return _TRACEBACK_FILE.sub(relative, text)


def call_summary(event: TimelineEvent) -> str:
    """How a call event ended: `call ok`, `call failed: ValueError: bad name x (place)`."""
    if event.level != "error":
        return "call ok"
    exception, where = event.data.get("exception"), event.data.get("where")
    if isinstance(exception, str) and exception:
        place = where if isinstance(where, str) else ""
        return "call failed: " + raised_summary(exception, event.message, place)
    return f"call failed: {event.message}" if event.message else "call failed"


@dataclass(frozen=True, slots=True)
class _Frame:
    path: str
    line: int
    func: str
    code: str = ""


def verb_failure_lines(event: TimelineEvent, project_root: Path) -> list[str]:
    """`orders.boom failed: ValueError: bad name (orders/orders/__init__.py:38)`, then one line
    per traceback frame in user code (FTL's own frames, libraries' and generated clients' left out)."""
    text = str(event.data.get("traceback", ""))
    frames = [f for f in _frames(text) if _is_user_code(Path(f.path), project_root)]
    exception = str(event.data.get("exception", "")) or _exception_type(text)
    where = str(event.data.get("where", ""))
    if not where and frames:
        where = f"{frames[-1].path}:{frames[-1].line}"
    message = event.message
    if exception and message.startswith(f"{exception}: "):
        message = message[len(exception) + 2 :]
    what = raised_summary(exception, message, where) if exception else message or "an error"
    if not exception and where:
        what += f" ({display_place(where)})"
    shown = [
        f"  {display_path(Path(f.path))}:{f.line} in {f.func}" + (f": {f.code}" if f.code else "")
        for f in frames[-MAX_FRAMES_SHOWN:]
    ]
    return [f"{event.module}.{event.verb} failed: {what}", *shown]


def _frames(traceback: str) -> list[_Frame]:
    frames: list[_Frame] = []
    lines = traceback.splitlines()
    for index, line in enumerate(lines):
        match = _FRAME.match(line)
        if match is None:
            continue
        following = lines[index + 1].strip() if index + 1 < len(lines) else ""
        code = "" if _FRAME.match(following) or not lines[index + 1].startswith("    ") else following
        frames.append(_Frame(match["path"], int(match["line"]), match["func"], code))
    return frames


def _exception_type(traceback: str) -> str:
    """The exception's type from the traceback's last line (`ValueError: bad name`)."""
    last = next((line for line in reversed(traceback.splitlines()) if line.strip()), "")
    match = _EXCEPTION_LINE.match(last) if not last.startswith(" ") else None
    return match["type"] if match else ""


def _is_user_code(path: Path, project_root: Path) -> bool:
    if not path.is_absolute() or path.is_relative_to(_FTL_PACKAGE):
        return False
    if not path.is_relative_to(project_root):
        return False
    return not any(part in IGNORED_DIRS or part == "site-packages" for part in path.parts)
