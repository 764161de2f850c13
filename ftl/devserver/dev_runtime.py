"""What runners do once deployed, as `ftl dev` shows it: user logs, runner crashes and restarts,
and verb calls that raised, each shown once, with the frames of its traceback in user code."""

from __future__ import annotations

from collections.abc import Callable, Container
from pathlib import Path

from ftl.devserver.dev_backplane import SERVING_STATES, Deployer
from ftl.devserver.dev_events import DevEvent
from ftl.devserver.status import DevStatus
from ftl.devserver.timeline import TimelineEvent
from ftl.verb_failures import verb_failure_lines

MAX_CALLS_REMEMBERED = 1000  # request ids whose verb failure was shown


class RuntimeReporter:
    """Turns the backplane's timeline events into `DevEvent`s and status changes."""

    def __init__(
        self, backplane: Deployer, status: DevStatus, report: Callable[[DevEvent], None], root: Path
    ) -> None:
        self._backplane = backplane
        self._status = status
        self._report = report
        self._root = root
        self._calls_shown: dict[str, None] = {}  # request ids whose verb failure was shown (bounded)

    def show(self, event: TimelineEvent, modules: Container[str]) -> None:
        """A timeline event from the backplane: user logs, and runner crashes and restarts (told
        apart by `data["runner"]`, see `ftl.devserver.backplane`) of the deployments of `modules`
        that serve."""
        if event.kind == "log":
            self._report(DevEvent("log", (event.module,), message=event.message, level=event.level))
            return
        if event.kind == "call":
            self._call_failed(event)
            return
        deployment = str(event.data.get("deployment", ""))
        serving = {d.key for d in self._backplane.deployments() if d.state in SERVING_STATES}
        if event.kind != "deployment" or event.module not in modules or deployment not in serving:
            return
        runner = event.data.get("runner")
        if runner == "crashed":
            tail = str(event.data.get("stderr", "")).rstrip()
            self._status.crashed(event.module, event.message)
            message = f"{event.message}\n{tail}" if tail else event.message
            self._report(DevEvent("crashed", (event.module,), message=message, level="error"))
        elif runner == "restarted":
            self._status.recovered(event.module)
            self._report(DevEvent("restarted", (event.module,), message=event.message))

    def _call_failed(self, event: TimelineEvent) -> None:
        """A verb that raised, once per request (a call it made shares its request id)."""
        if event.level != "error" or event.data.get("error_kind") != "verb_error":
            return
        request = event.request_id or f"#{event.id}"
        if request in self._calls_shown:
            return
        self._calls_shown[request] = None
        if len(self._calls_shown) > MAX_CALLS_REMEMBERED:
            del self._calls_shown[next(iter(self._calls_shown))]
        lines = verb_failure_lines(event, self._root)
        self._report(DevEvent("call", (event.module,), message="\n".join(lines), level="error"))
