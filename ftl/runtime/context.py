"""The call a piece of user code is running for: request id, caller chain, depth.

Set by the runner around every verb invocation (in the task for async verbs, in the worker
thread for sync ones); read by outgoing calls (to enforce `+calls` and the depth limit and to
carry the chain on) and by log capture (to link each log line to its request).
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Mapping
from contextvars import ContextVar, Token
from dataclasses import dataclass, field

# A call chain deeper than this is almost certainly a loop between verbs.
MAX_CALL_DEPTH = 32
# The call header naming who called from outside (ingress, `ftl call`), for the timeline.
CALLER_HEADER = "ftl-caller"

_NO_HEADERS: Mapping[str, str] = {}


@dataclass(frozen=True, slots=True)
class CallContext:
    request_id: str
    module: str
    verb: str
    # Verbs from the outermost call to this one, inclusive: ("echo.hello", "time.time").
    chain: tuple[str, ...]
    headers: Mapping[str, str] = field(default_factory=lambda: _NO_HEADERS)

    @property
    def depth(self) -> int:
        return len(self.chain)

    @property
    def caller(self) -> str:
        """The verb that called this one, or "" for a call from outside (ingress, `ftl call`)."""
        return self.chain[-2] if len(self.chain) > 1 else ""


_current: ContextVar[CallContext | None] = ContextVar("ftl_call_context", default=None)


def current() -> CallContext | None:
    return _current.get()


def request_id() -> str:
    """The current request id, or "" outside a verb call."""
    context = _current.get()
    return context.request_id if context else ""


def enter(context: CallContext) -> Token[CallContext | None]:
    return _current.set(context)


def leave(token: Token[CallContext | None]) -> None:
    _current.reset(token)


class _RequestIds:
    """`req-` and 16 hex digits without a system call for randomness per request (ingress makes one
    per HTTP request): a random half per process, a counter for the other, reseeded in forked
    children (runners are forked from one zygote) so that no two processes share a prefix."""

    def __init__(self) -> None:
        self.reseed()

    def reseed(self) -> None:
        self.prefix = "req-" + os.urandom(4).hex()
        self.numbers = itertools.count(int.from_bytes(os.urandom(4)))

    def next(self) -> str:
        return f"{self.prefix}{next(self.numbers) & 0xFFFFFFFF:08x}"


_request_ids = _RequestIds()
os.register_at_fork(after_in_child=_request_ids.reseed)


def new_request_id() -> str:
    return _request_ids.next()


def describe_chain(chain: tuple[str, ...], limit: int = 6) -> str:
    """`a.x → b.y → a.x`, shortened in the middle when long."""
    if len(chain) > limit:
        head, tail = chain[: limit // 2], chain[-(limit // 2) :]
        return " → ".join((*head, f"… {len(chain) - limit} more …", *tail))
    return " → ".join(chain)
