"""What the backplane is told when a module does not load: diagnostics at the user's own line."""

from __future__ import annotations

import os
import traceback
from pathlib import Path

from ftl.errors import FtlError
from ftl.runtime.protocol import WireDiagnostic

_FTL_ROOT = str(Path(__file__).resolve().parent.parent)
_STDLIB = os.path.dirname(os.__file__)


def wire_diagnostics(error: FtlError) -> list[WireDiagnostic]:
    """The diagnostics of a module FTL refused (its schema does not extract), as sent on the wire."""
    diagnostics = []
    for diagnostic in error.diagnostics:
        pos = diagnostic.pos
        if pos is None:
            diagnostics.append(WireDiagnostic(diagnostic.message))
        else:
            diagnostics.append(WireDiagnostic(diagnostic.message, pos.filename, pos.line, pos.column))
    return diagnostics


def import_failure(exc: BaseException) -> WireDiagnostic:
    """User code raised `exc` while being imported: where, in the user's files, and what."""
    message = f"importing the module failed: {type(exc).__name__}: {exc}"
    return WireDiagnostic(message, *_user_frame(exc))


def _user_frame(exc: BaseException) -> tuple[str, int, int]:
    """The innermost frame outside FTL and the stdlib (a syntax error: its own position)."""
    if isinstance(exc, SyntaxError) and exc.filename:
        return exc.filename, exc.lineno or 0, exc.offset or 0
    place = ("", 0, 0)
    for frame in traceback.extract_tb(exc.__traceback__):
        if not frame.filename.startswith((_FTL_ROOT, _STDLIB, "<")):
            place = (frame.filename, frame.lineno or 0, (frame.colno or 0) + 1)
    return place
