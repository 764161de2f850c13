"""Python forms of the schema's builtin module: `builtin.HttpRequest`, `builtin.HttpResponse`, ...

Extraction maps these classes to `builtin.<Name>` references; `None` as a type argument is `Unit`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Generic, TypeVar

Body = TypeVar("Body")
Path = TypeVar("Path")
Query = TypeVar("Query")
Err = TypeVar("Err")
Req = TypeVar("Req")
Event = TypeVar("Event")


@dataclass
class HttpRequest(Generic[Body, Path, Query]):
    """What an ingress verb receives: `ftl.HttpRequest[Body, PathParams, Query]`."""

    method: str
    path: str
    path_parameters: Path
    query: Query
    headers: dict[str, list[str]]
    body: Body


@dataclass
class HttpResponse(Generic[Body, Err]):
    """What an ingress verb returns: `ftl.HttpResponse[Body, Error]`; set `body` or `error`."""

    status: int = 200
    headers: dict[str, list[str]] = field(default_factory=dict)
    body: Body | None = None
    error: Err | None = None


@dataclass
class Empty:
    """`builtin.Empty`: a data type with no fields."""


@dataclass
class Ref:
    """`builtin.Ref`: names a declaration, as in `CatchRequest.verb`."""

    module: str
    name: str


@dataclass
class CatchRequest(Generic[Req]):
    """What a retry `catch` verb receives once a subscriber has given up on an event."""

    verb: Ref
    request: Req
    request_type: str
    error: str


@dataclass
class FailedEvent(Generic[Event]):
    """An event in a dead-letter topic."""

    event: Event
    error: str


BUILTIN_TYPES: dict[type, str] = {
    HttpRequest: "HttpRequest",
    HttpResponse: "HttpResponse",
    Empty: "Empty",
    Ref: "Ref",
    CatchRequest: "CatchRequest",
    FailedEvent: "FailedEvent",
}
