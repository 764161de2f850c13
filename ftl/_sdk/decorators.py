"""The decorators users put on verbs: `verb`, `ingress`, `cron`, `subscribe`, `retry`, `fixture`.

They only record what was declared (a `VerbSpec` on the function) and return the function itself,
so a verb stays a plain, directly callable function. Extraction turns the spec into schema.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, TypeVar, overload

from ftl._sdk import registry

if TYPE_CHECKING:
    from ftl._sdk.calls import VerbClient
    from ftl._sdk.topics import Topic

F = TypeVar("F", bound=Callable[..., Any])
C = TypeVar("C", bound=type)

Export = bool | Literal["realm"]
SPEC_ATTRIBUTE = "__ftl_verb__"
ENUM_ATTRIBUTE = "__ftl_enum__"


@dataclass(frozen=True, slots=True)
class IngressSpec:
    method: str
    path: str


@dataclass(frozen=True, slots=True)
class CronSpec:
    schedule: str


@dataclass(frozen=True, slots=True)
class SubscribeSpec:
    topic: Topic[Any]
    from_offset: str
    dead_letter: bool


@dataclass(frozen=True, slots=True)
class RetrySpec:
    count: int | None
    min_backoff: str
    max_backoff: str
    catch: Callable[..., Any] | VerbClient[Any, Any] | None


@dataclass(frozen=True, slots=True)
class FixtureSpec:
    manual: bool


MetadataSpec = IngressSpec | CronSpec | SubscribeSpec | RetrySpec | FixtureSpec


@dataclass
class VerbSpec:
    """Everything the decorators on one function declared, in the order they were applied."""

    export: Export = False
    explicit: bool = False  # had `@ftl.verb`
    metadata: list[MetadataSpec] = field(default_factory=list)


def verb_spec(func: object) -> VerbSpec | None:
    """The spec of a function declared as a verb, or None."""
    spec = getattr(func, SPEC_ATTRIBUTE, None)
    return spec if isinstance(spec, VerbSpec) else None


def _spec(func: object, decorator: str) -> VerbSpec:
    if not callable(func) or isinstance(func, type):
        raise TypeError(f"@ftl.{decorator} decorates a function (`def` or `async def`), not {func!r}")
    spec = verb_spec(func)
    if spec is None:
        spec = VerbSpec()
        setattr(func, SPEC_ATTRIBUTE, spec)
        registry.record(getattr(func, "__module__", "") or "", func)
    return spec


def _check_export(export: object) -> Export:
    if export is True or export is False or export == "realm":
        return export
    raise TypeError(f'export must be True, False or "realm", not {export!r}')


@overload
def verb(func: F, /) -> F: ...
@overload
def verb(*, export: Export = False) -> Callable[[F], F]: ...
def verb(func: F | None = None, /, *, export: Export = False) -> F | Callable[[F], F]:
    """Declare a verb: `@ftl.verb` or `@ftl.verb(export=True)` / `@ftl.verb(export="realm")`.

    The first positional parameter is the request; other parameters are injected (`ftl.Config`,
    `ftl.Secret`). The schema name is the function name in lowerCamel.
    """
    level = _check_export(export)

    def decorate(target: F) -> F:
        spec = _spec(target, "verb")
        spec.explicit = True
        spec.export = level
        return target

    return decorate(func) if func is not None else decorate


def _adding(decorator: str, item: MetadataSpec) -> Callable[[F], F]:
    def decorate(target: F) -> F:
        _spec(target, decorator).metadata.append(item)
        return target

    return decorate


def ingress(method: str, path: str) -> Callable[[F], F]:
    """An HTTP route, `@ftl.ingress("GET", "/users/{user_id}")`; makes an exported verb on its own.

    The verb takes `ftl.HttpRequest[Body, PathParams, Query]` and returns `ftl.HttpResponse[Body, Error]`.
    """
    return _adding("ingress", IngressSpec(method, path))


def cron(schedule: str) -> Callable[[F], F]:
    """Run the verb on a schedule: a crontab (`"0 * * * *"`), an interval (`"5m"`) or a weekday."""
    return _adding("cron", CronSpec(schedule))


def subscribe(
    topic: Topic[Any], *, from_: Literal["beginning", "latest"] = "latest", dead_letter: bool = False
) -> Callable[[F], F]:
    """Call the verb with every event published to `topic`."""
    return _adding("subscribe", SubscribeSpec(topic, from_, dead_letter))


def retry(
    count: int | None = None,
    min_backoff: str = "",
    max_backoff: str = "",
    *,
    catch: Callable[..., Any] | VerbClient[Any, Any] | None = None,
) -> Callable[[F], F]:
    """Retry a subscriber that fails: `@ftl.retry(10, "5s", "1m", catch=on_failure)`."""
    return _adding("retry", RetrySpec(count, min_backoff, max_backoff, catch))


@overload
def fixture(func: F, /) -> F: ...
@overload
def fixture(*, manual: bool = False) -> Callable[[F], F]: ...
def fixture(func: F | None = None, /, *, manual: bool = False) -> F | Callable[[F], F]:
    """A test or dev fixture verb; FTL runs it automatically unless `manual=True`."""
    decorate: Callable[[F], F] = _adding("fixture", FixtureSpec(manual))
    return decorate(func) if func is not None else decorate


def enum(cls: C) -> C:
    """Mark a base class as a sum type: its `@dataclass` subclasses are the variants."""
    if not isinstance(cls, type):
        raise TypeError(f"@ftl.enum decorates a class, not {cls!r}")
    setattr(cls, ENUM_ATTRIBUTE, True)
    return cls


def is_sum_type_base(cls: object) -> bool:
    return isinstance(cls, type) and cls.__dict__.get(ENUM_ATTRIBUTE) is True
