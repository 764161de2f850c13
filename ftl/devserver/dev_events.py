"""What `ftl dev` shows once, above its status block: a `DevEvent`, and `describe`, its plain lines."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ftl.devserver.status import format_ms
from ftl.errors import Diagnostic

EventKind = Literal[
    "ready",
    "deployed",
    "failed",
    "slow",
    "removed",
    "added",
    "crashed",
    "restarted",
    "log",
    "call",
    "warning",
    "notice",
]


@dataclass(frozen=True, slots=True)
class DevEvent:
    """Something the terminal should show once, above the status block."""

    kind: EventKind
    modules: tuple[str, ...] = ()
    diagnostics: tuple[Diagnostic, ...] = ()
    message: str = ""
    duration_ms: float | None = None
    level: str = ""
    waiting: tuple[tuple[str, str], ...] = ()  # (module, what it waits for), shown with a failure


def describe(event: DevEvent) -> list[str]:
    """The plain-text lines `ftl dev` prints for an event (the first is the headline)."""
    names = ", ".join(event.modules)
    took = f" in {format_ms(event.duration_ms)}" if event.duration_ms is not None else ""
    match event.kind:
        case "ready":
            count = len(event.modules)
            return [f"ready: {count} module{'' if count == 1 else 's'} serving{took}"]
        case "deployed":
            return [f"deployed {names}{took}"]
        case "failed":
            lines = [str(d) for d in event.diagnostics]
            lines += [f"{module}: waiting for {blocker}" for module, blocker in event.waiting]
            note = f" ({event.message})" if event.message else ""
            return [f"failed: {names}{note}", *lines] if names else lines
        case "slow":
            return [f"deploying {names}: {event.message}"]
        case "call" | "notice":
            return event.message.splitlines()
        case "warning":
            return [
                f"{d.pos}: warning: {d.message}" if d.pos else f"warning: {d.message}"
                for d in event.diagnostics
            ]
        case "crashed":
            headline, *tail = event.message.splitlines()
            return [f"crashed: {headline}", *(f"  {line}" for line in tail)]
        case "log":
            return [f"{names} | {line}" for line in event.message.splitlines() or [""]]
        case _:
            return [f"{event.kind} {names}".rstrip() + (f": {event.message}" if event.message else "")]
