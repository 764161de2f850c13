"""Call errors on the runner's side: the error a verb sees when a call it makes fails, and what a
verb's own failure tells its caller besides the message.

A verb that raises is answered with an error reply whose body (unused otherwise on an error) is
the `VerbFailure` as JSON: the exception's type, the innermost line of user code it passed
through, and the traceback without FTL's own frames. The backplane hands it to the admin API
(`ftl call`), never to HTTP ingress clients.
"""

from __future__ import annotations

import os
import sysconfig
import traceback
from pathlib import Path
from typing import Final

import msgspec

from ftl._sdk.calls import FtlCallError
from ftl.runtime.protocol import ErrorKind

MAX_TRACEBACK_CHARS: Final = 16 * 1024
_FTL_ROOT: Final = str(Path(__file__).resolve().parent.parent) + os.sep
_GENERATED: Final = f"{os.sep}.ftl{os.sep}"  # client stubs generated into the project's .ftl/
# The stdlib and site-packages: `stdlib`, `platstdlib`, `purelib`, `platlib`.
_LIBRARY_ROOTS: Final = tuple(
    sorted({path + os.sep for name, path in sysconfig.get_paths().items() if name.endswith("lib")})
)


class CallFailed(FtlCallError):
    """An outgoing call failed; `kind` is one of the runner protocol's error kinds."""

    def __init__(self, kind: ErrorKind, message: str) -> None:
        super().__init__(message)
        self.kind: ErrorKind = kind
        self.message = message


class VerbFailure(msgspec.Struct, frozen=True, omit_defaults=True):
    """Why a verb failed, beyond its message: for the developer who called it."""

    exception: str = ""  # the exception's type, e.g. ValueError
    where: str = ""  # `path:line` of the innermost user-code frame (absolute path)
    traceback: str = ""  # the traceback without FTL's own frames


_decoder: Final = msgspec.json.Decoder(VerbFailure)


def verb_failure(exc: BaseException) -> VerbFailure:
    """What the caller of a verb that raised `exc` is told about it."""
    exception = "FtlCallError" if isinstance(exc, CallFailed) else type(exc).__name__
    return VerbFailure(exception, _innermost_user_line(exc), user_traceback(exc))


def encode_failure(failure: VerbFailure) -> bytes:
    return msgspec.json.encode(failure)


def decode_failure(body: bytes) -> VerbFailure:
    """The failure an error reply's body carries; an empty or foreign body carries none."""
    if not body:
        return VerbFailure()
    try:
        return _decoder.decode(body)
    except msgspec.DecodeError:
        return VerbFailure()


def user_traceback(exc: BaseException) -> str:
    """`exc`'s traceback (chained ones too) without the frames of FTL and its generated clients.

    When no frame is left (FTL itself raised), the whole traceback: a bug report needs it.
    """
    summary = traceback.TracebackException.from_exception(exc)
    if _drop_ftl_frames(summary, set()):
        text = "".join(summary.format())
    else:
        text = "".join(traceback.format_exception(exc))
    if len(text) > MAX_TRACEBACK_CHARS:
        text = "(earlier lines cut)\n" + text[-MAX_TRACEBACK_CHARS:]
    return text


def _drop_ftl_frames(summary: traceback.TracebackException, seen: set[int]) -> bool:
    """Filter every traceback in the chain in place; whether any user frame is left."""
    if id(summary) in seen:
        return False
    seen.add(id(summary))
    kept = [frame for frame in summary.stack if not _is_ftl(frame.filename)]
    summary.stack = traceback.StackSummary.from_list(kept)
    found = bool(kept)
    for linked in (summary.__cause__, summary.__context__, *(getattr(summary, "exceptions", None) or ())):
        if linked is not None:
            found = _drop_ftl_frames(linked, seen) or found
    return found


def _innermost_user_line(exc: BaseException) -> str:
    """`path:line` of the last frame in the user's own code (not FTL, a library or the stdlib)."""
    place = ""
    for frame in traceback.extract_tb(exc.__traceback__):
        name = frame.filename
        if not (_is_ftl(name) or name.startswith(_LIBRARY_ROOTS)) and frame.lineno:
            place = f"{name}:{frame.lineno}"
    return place


def _is_ftl(filename: str) -> bool:
    return filename.startswith((_FTL_ROOT, "<")) or _GENERATED in filename
