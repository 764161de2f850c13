"""The error a verb sees when a call it makes to another verb fails."""

from __future__ import annotations

from ftl._sdk.calls import FtlCallError
from ftl.runtime.protocol import ErrorKind


class CallFailed(FtlCallError):
    """An outgoing call failed; `kind` is one of the runner protocol's error kinds."""

    def __init__(self, kind: ErrorKind, message: str) -> None:
        super().__init__(message)
        self.kind: ErrorKind = kind
        self.message = message
