"""Why a file could not be read, said as a person would (`No such file or directory`, not
`[Errno 2] No such file or directory: '/abs/path'`)."""

from __future__ import annotations

from ftl.errors import FtlError


def unreadable(what: str, exc: OSError | UnicodeDecodeError) -> FtlError:
    """`cannot read WHAT: REASON`."""
    return FtlError(f"cannot read {what}: {reason(exc)}")


def reason(exc: OSError | UnicodeDecodeError) -> str:
    if isinstance(exc, UnicodeDecodeError):
        return f"not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at offset {exc.start})"
    return exc.strerror or str(exc)
