"""One request's trace: the timeline events sharing a request id, nested by who called whom.

An ingress event is the outermost span; a call without a caller hangs under the ingress that
routed to it (same module and verb), a call with a caller (`data["caller"]` = `module.verb`) under
that caller's span, a topic's delivery under the span of its publisher (a verb of the topic's
module), and a log line under the span of the verb that wrote it. Anything that fits
nowhere is a root. Spans carry start and end times so the page can draw them as a waterfall.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from ftl.devserver.pubsub import topic_of_caller
from ftl.devserver.timeline import TimelineEvent

__all__ = ["Trace", "TraceNode", "build_trace"]


@dataclass(slots=True)
class TraceNode:
    event: TimelineEvent
    start: float  # unix seconds
    end: float  # == start for a point in time (a log line, a call that never ran)
    children: list[TraceNode] = field(default_factory=list)

    @property
    def name(self) -> str:
        return f"{self.event.module}.{self.event.verb}" if self.event.verb else self.event.module

    @property
    def duration_ms(self) -> float | None:
        return self.event.duration_ms

    @property
    def failed(self) -> bool:
        return self.event.level == "error"

    def walk(self, depth: int = 0) -> Iterable[tuple[int, TraceNode]]:
        yield depth, self
        for child in self.children:
            yield from child.walk(depth + 1)


@dataclass(frozen=True, slots=True)
class Trace:
    request_id: str
    roots: list[TraceNode]
    start: float
    end: float

    @property
    def duration_ms(self) -> float:
        return (self.end - self.start) * 1000

    @property
    def event_count(self) -> int:
        return sum(1 for root in self.roots for _ in root.walk())

    def rows(self) -> list[tuple[int, TraceNode]]:
        """Every node depth-first with its depth: the order the page lists them in."""
        return [row for root in self.roots for row in root.walk()]

    def offset_percent(self, node: TraceNode) -> float:
        span = self.end - self.start
        return 0.0 if span <= 0 else 100 * (node.start - self.start) / span

    def width_percent(self, node: TraceNode) -> float:
        span = self.end - self.start
        return 0.0 if span <= 0 else 100 * (node.end - node.start) / span


def _node(event: TimelineEvent) -> TraceNode:
    duration_s = (event.duration_ms or 0.0) / 1000
    if event.kind == "ingress":
        # The ingress records its event when the response is sent: the time is its end.
        return TraceNode(event, event.time - duration_s, event.time)
    return TraceNode(event, event.time, event.time + duration_s)


def build_trace(request_id: str, events: Iterable[TimelineEvent]) -> Trace:
    """The nested trace of `events` (any order); all of them should carry `request_id`."""
    nodes = sorted((_node(e) for e in events), key=lambda n: (n.start, n.event.id))
    spans: dict[tuple[str, str], list[TraceNode]] = {}
    ingresses: dict[tuple[str, str], list[TraceNode]] = {}
    for node in nodes:
        key = (node.event.module, node.event.verb)
        if node.event.kind == "call":
            spans.setdefault(key, []).append(node)
        elif node.event.kind == "ingress":
            ingresses.setdefault(key, []).append(node)
    order = {id(node): index for index, node in enumerate(nodes)}
    roots: list[TraceNode] = []
    for node in nodes:
        parent = _parent(node, spans, ingresses, order)
        (parent.children if parent is not None else roots).append(node)
    start = min((n.start for n in nodes), default=0.0)
    end = max((n.end for n in nodes), default=0.0)
    return Trace(request_id, roots, start, end)


def _parent(
    node: TraceNode,
    spans: dict[tuple[str, str], list[TraceNode]],
    ingresses: dict[tuple[str, str], list[TraceNode]],
    order: dict[int, int],
) -> TraceNode | None:
    event = node.event
    key = (event.module, event.verb)
    if event.kind == "call":
        caller = event.data.get("caller")
        topic = topic_of_caller(caller) if isinstance(caller, str) else ""
        if topic:
            # Only a topic's own module publishes to it: the delivery hangs under that module's span.
            module = topic.partition(".")[0]
            publishers = [span for (m, _), found in spans.items() if m == module for span in found]
            return _enclosing(node, publishers, order)
        if isinstance(caller, str) and "." in caller:
            module, _, verb = caller.partition(".")
            return _enclosing(node, spans.get((module, verb), []), order)
        return _enclosing(node, ingresses.get(key, []), order)
    if event.kind == "log":
        return _enclosing(node, spans.get(key, []), order)
    return None


def _enclosing(node: TraceNode, candidates: list[TraceNode], order: dict[int, int]) -> TraceNode | None:
    """The earlier candidate whose span holds `node`'s start (the latest such), else the nearest one."""
    # Only a node listed before this one may be its parent: that keeps the trace a tree.
    others = [c for c in candidates if order[id(c)] < order[id(node)]]
    if not others:
        return None
    holding = [c for c in others if c.start <= node.start <= c.end]
    if holding:
        return max(holding, key=lambda c: c.start)
    # Clocks of separate processes differ slightly: fall back to the closest span.
    return min(others, key=lambda c: min(abs(node.start - c.start), abs(node.start - c.end)))
