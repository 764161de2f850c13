"""What `ftl dev` shows about each module: state, version, age, last reload time. Pure data.

The dev loop records what happened (`building`, `deployed`, `failed`, ...); the terminal UI reads
`rows()` and renders them, so every rule about what the status line says is testable here.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum


class ModuleState(StrEnum):
    PENDING = "pending"  # discovered, not built yet
    BUILDING = "building"  # in a changeset that is in flight
    SERVING = "serving"
    FAILED = "failed"  # the last change failed; an older version may still serve
    CRASHED = "crashed"  # the runner died; the backplane is restarting it


ICONS: dict[ModuleState, str] = {
    ModuleState.PENDING: "○",
    ModuleState.BUILDING: "◌",
    ModuleState.SERVING: "●",
    ModuleState.FAILED: "✖",
    ModuleState.CRASHED: "▲",
}


@dataclass(frozen=True, slots=True)
class ModuleStatus:
    name: str
    state: ModuleState = ModuleState.PENDING
    version: int = 0  # 0: never deployed
    deployed_at: float | None = None  # when the serving version went live (unix seconds)
    reload_ms: float | None = None  # change seen → serving, for the last successful deploy
    error: str = ""  # one line: the first diagnostic of the last failure

    @property
    def serving(self) -> bool:
        """Whether some version of the module answers calls (maybe an older one)."""
        return self.deployed_at is not None and self.state is not ModuleState.CRASHED


class DevStatus:
    """Per-module status, keyed by module name."""

    def __init__(self) -> None:
        self._modules: dict[str, ModuleStatus] = {}

    def __contains__(self, name: object) -> bool:
        return name in self._modules

    def get(self, name: str) -> ModuleStatus | None:
        return self._modules.get(name)

    def names(self) -> list[str]:
        return sorted(self._modules)

    def rows(self) -> list[ModuleStatus]:
        return [self._modules[name] for name in sorted(self._modules)]

    def discovered(self, name: str) -> None:
        self._modules.setdefault(name, ModuleStatus(name))

    def removed(self, name: str) -> None:
        self._modules.pop(name, None)

    def building(self, name: str) -> None:
        self._update(name, state=ModuleState.BUILDING)

    def deployed(self, name: str, *, version: int, at: float, reload_ms: float | None) -> None:
        self._update(
            name, state=ModuleState.SERVING, version=version, deployed_at=at, reload_ms=reload_ms, error=""
        )

    def failed(self, name: str, error: str) -> None:
        self._update(name, state=ModuleState.FAILED, error=error)

    def unchanged(self, name: str) -> None:
        """A changeset with this module did not go through, through no fault of its own."""
        current = self._modules.get(name)
        if current is not None and current.state is ModuleState.BUILDING:
            state = ModuleState.SERVING if current.deployed_at is not None else ModuleState.PENDING
            self._update(name, state=state)

    def crashed(self, name: str, error: str) -> None:
        self._update(name, state=ModuleState.CRASHED, error=error)

    def recovered(self, name: str) -> None:
        current = self._modules.get(name)
        if current is not None and current.state is ModuleState.CRASHED:
            self._update(name, state=ModuleState.SERVING, error="")

    def _update(self, name: str, **changes: object) -> None:
        current = self._modules.get(name, ModuleStatus(name))
        self._modules[name] = replace(current, **changes)  # type: ignore[arg-type]


def format_age(seconds: float) -> str:
    """A short, coarse age: `4s`, `12m`, `3h`, `2d`."""
    seconds = max(0.0, seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{int(seconds // size)}{unit}"
    return f"{int(seconds)}s"


def format_ms(ms: float) -> str:
    return f"{ms:.0f} ms" if ms >= 10 else f"{ms:.1f} ms"


def status_fields(status: ModuleStatus, now: float) -> tuple[str, str, str, str, str]:
    """(icon, name, version and age, last reload, note) for one module's status line."""
    version = "-"
    if status.deployed_at is not None:
        version = f"v{status.version} · {format_age(now - status.deployed_at)} ago"
    reload = format_ms(status.reload_ms) if status.reload_ms is not None else ""
    note = status.error if status.state in (ModuleState.FAILED, ModuleState.CRASHED) else ""
    if status.state is ModuleState.FAILED and status.deployed_at is not None:
        note = f"{note} (v{status.version} still serving)" if note else f"v{status.version} still serving"
    elif status.state in (ModuleState.PENDING, ModuleState.BUILDING):
        note = status.state.value
    return ICONS[status.state], status.name, version, reload, note


def status_line(status: ModuleStatus, now: float) -> str:
    """The plain-text status line: `● echo  v3 · 12s ago  84 ms`."""
    return "  ".join(part for part in status_fields(status, now) if part)
