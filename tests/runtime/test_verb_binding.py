"""Config and secret values are bound to each verb once; a problem fails its calls, not the runner."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import ftl
from ftl._sdk.markers import Injection
from ftl.runtime._verb_binding import bind_verb, bind_verbs
from ftl.runtime.loader import LoadedModule, VerbHandle
from ftl.schema import ast


@dataclass
class Req:
    text: str


@dataclass
class Limits:
    max_items: int


def handle(func: Callable[..., Any], injections: Mapping[str, Injection], name: str = "") -> VerbHandle:
    return VerbHandle(name or func.__name__, func.__name__, func, False, Req, Req, dict(injections))


def greet(
    req: Req,
    greeting: Annotated[str, ftl.Config("greeting")],
    limits: Annotated[Limits, ftl.Config()],
    api_key: Annotated[str, ftl.Secret("apiKey")],
    region: Annotated[str, ftl.Config()] = "eu",
) -> Req:
    return req


GREET_INJECTIONS: dict[str, Injection] = {
    "greeting": ftl.Config("greeting"),
    "limits": ftl.Config(),
    "api_key": ftl.Secret("apiKey"),
    "region": ftl.Config(),
}


def test_values_are_converted_to_the_declared_types() -> None:
    bound = bind_verb(
        "svc",
        handle(greet, GREET_INJECTIONS),
        {"greeting": "Hi", "limits": {"maxItems": 3}},
        {"apiKey": "k"},
    )
    assert bound.problem == ""
    assert bound.takes_request
    assert bound.kwargs == {"greeting": "Hi", "limits": Limits(3), "api_key": "k"}  # region: its default


def test_missing_and_malformed_values_are_named_with_how_to_set_them() -> None:
    bound = bind_verb("svc", handle(greet, GREET_INJECTIONS), {"limits": {"maxItems": "many"}}, {})
    problems = bound.problem.split("; ")
    assert "config `greeting` of module svc is not set (`ftl config set svc.greeting ...`)" in problems
    assert "secret `apiKey` of module svc is not set (`ftl secret set svc.apiKey ...`)" in problems
    assert any(p.startswith("config `limits` of module svc has the wrong type: ") for p in problems)
    assert len(problems) == 3


def test_a_verb_that_only_takes_injections_is_called_without_the_request() -> None:
    def tick(now: Annotated[str, ftl.Config("now")]) -> None:
        pass

    bound = bind_verb("svc", handle(tick, {"now": ftl.Config("now")}), {"now": "soon"}, {})
    assert (bound.takes_request, bound.kwargs) == (False, {"now": "soon"})


def test_every_verb_is_found_by_its_schema_and_its_python_name() -> None:
    def shout(req: Req) -> Req:
        return req

    loaded = LoadedModule(
        "svc", Path("svc"), ast.Module("svc"), {"shoutLoud": handle(shout, {}, "shoutLoud")}
    )
    verbs = bind_verbs(loaded, {}, {})
    assert set(verbs) == {"shoutLoud", "shout"}
    assert verbs["shout"] is verbs["shoutLoud"]
