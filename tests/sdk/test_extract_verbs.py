"""Verbs, their metadata, config and secrets, topics, and `+calls` derived from the code."""

from collections.abc import Callable
from pathlib import Path

from ftl._sdk.markers import Config, Secret
from ftl.runtime.loader import LoadedModule
from ftl.schema import ast

Load = Callable[..., LoadedModule]
Errors = Callable[..., list[str]]
Stubs = Callable[[str, str], Path]

HEADER = """\
from dataclasses import dataclass
from typing import Annotated
import ftl

@dataclass
class Req:
    name: str

@dataclass
class Resp:
    text: str
"""

TIME_STUB = """\
from __future__ import annotations
import dataclasses
import ftl

@dataclasses.dataclass(kw_only=True)
class TimeRequest:
    pass

@dataclasses.dataclass(kw_only=True)
class TimeResponse:
    hour: int

time: ftl.VerbClient[TimeRequest, TimeResponse] = ftl.VerbClient("time", "time", TimeRequest, TimeResponse)
now: ftl.SourceClient[TimeResponse] = ftl.SourceClient("time", "now", None, TimeResponse)
ticks = ftl.Topic("ticks", TimeResponse, module="time", python_module=__name__)
"""

HELPERS = """\
from ftl_modules.time import now

def stamp() -> str:
    return str(now().hour)
"""


def verb(module: ast.Module, name: str) -> ast.Verb:
    decl = module.decl(name)
    assert isinstance(decl, ast.Verb), name
    return decl


def metadata(module: ast.Module, name: str, kind: type) -> object:
    return next((m for m in verb(module, name).metadata if isinstance(m, kind)), None)


def test_sync_and_async_verbs_with_names_in_lower_camel(load: Load) -> None:
    loaded = load(
        HEADER
        + """
@ftl.verb(export=True)
def get_user(req: Req) -> Resp:
    '''Find a user.'''
    return Resp(text=req.name)

@ftl.verb
async def ping() -> None:
    pass
"""
    )
    get_user = verb(loaded.schema, "getUser")
    assert (get_user.request, get_user.response) == (ast.Ref("shop", "Req"), ast.Ref("shop", "Resp"))
    assert get_user.visibility == ast.Visibility.MODULE and get_user.comments == ("Find a user.",)
    assert (get_user.pos.line, get_user.pos.column) == (14, 5)
    ping = verb(loaded.schema, "ping")
    assert (ping.request, ping.response, ping.visibility) == (ast.Unit(), ast.Unit(), ast.Visibility.NONE)
    handle = loaded.verbs["getUser"]
    assert (handle.python_name, handle.is_async, handle.request_type.__name__) == ("get_user", False, "Req")
    assert loaded.verbs["ping"].is_async and loaded.verbs["ping"].request_type is type(None)


def test_config_and_secrets_are_declared_and_injected(load: Load) -> None:
    loaded = load(
        HEADER
        + """
@ftl.verb
def greet(
    req: Req,
    greeting: Annotated[str, ftl.Config("greeting")],
    api_key: Annotated[str, ftl.Secret()],
    limits: Annotated[dict[str, int], ftl.Config("limits")],
) -> Resp:
    return Resp(text=greeting)

@ftl.verb
def other(req: Req, greeting: Annotated[str, ftl.Config("greeting")]) -> None: ...
"""
    )
    schema = loaded.schema
    assert schema.decl("greeting") == ast.Config("greeting", ast.String())
    assert schema.decl("limits") == ast.Config("limits", ast.Map(ast.String(), ast.Int()))
    assert schema.decl("apiKey") == ast.Secret("apiKey", ast.String())
    config = metadata(schema, "greet", ast.MetadataConfig)
    assert config == ast.MetadataConfig((ast.Ref("shop", "greeting"), ast.Ref("shop", "limits")))
    assert metadata(schema, "greet", ast.MetadataSecrets) == ast.MetadataSecrets((ast.Ref("shop", "apiKey"),))
    assert loaded.verbs["greet"].injections == {
        "greeting": Config("greeting"),
        "api_key": Secret("apiKey"),
        "limits": Config("limits"),
    }


def test_ingress_maps_route_and_path_parameters(extract: Callable[..., ast.Module]) -> None:
    module = extract(
        HEADER
        + """
@dataclass
class UserPath:
    user_id: int

@ftl.ingress("get", "/users/{user_id}")
def get_user(req: ftl.HttpRequest[None, UserPath, None]) -> ftl.HttpResponse[Resp, str]:
    return ftl.HttpResponse(body=Resp(text="x"))

@ftl.ingress("POST", "/")
@ftl.verb(export="realm")
def root(req: ftl.HttpRequest[Req, None, dict[str, list[str]]]) -> ftl.HttpResponse[None, str]:
    return ftl.HttpResponse()
"""
    )
    get_user = verb(module, "getUser")
    assert get_user.visibility == ast.Visibility.MODULE
    assert get_user.request == ast.Ref(
        "builtin", "HttpRequest", (ast.Unit(), ast.Ref("shop", "UserPath"), ast.Unit())
    )
    assert get_user.response == ast.Ref("builtin", "HttpResponse", (ast.Ref("shop", "Resp"), ast.String()))
    ingress = get_user.metadata[0]
    assert isinstance(ingress, ast.MetadataIngress)
    assert (ingress.method, ingress.path_text, ingress.pos.line) == ("GET", "/users/{userId}", 17)
    root = verb(module, "root")
    assert root.visibility == ast.Visibility.REALM
    assert root.metadata == (ast.MetadataIngress("POST", ()),)
    assert module.decl("UserPath").visibility == ast.Visibility.MODULE  # type: ignore[union-attr]


def test_cron_subscribe_retry_fixture_and_topics(extract: Callable[..., ast.Module]) -> None:
    module = extract(
        HEADER
        + """
orders = ftl.topic("orders", Req, partitions=4, export=True)

@ftl.cron("0 * * * *")
def hourly() -> None:
    pass

@ftl.verb
def place(req: Req) -> None:
    orders.publish(req)

@ftl.verb
def give_up(req: ftl.CatchRequest[Req]) -> None: ...

@ftl.subscribe(orders, from_="beginning", dead_letter=True)
@ftl.retry(5, "1s", "1m", catch=give_up)
def on_order(req: Req) -> None: ...

@ftl.fixture(manual=True)
def seed() -> None: ...
"""
    )
    assert module.decl("orders") == ast.Topic(
        "orders",
        ast.Ref("shop", "Req"),
        visibility=ast.Visibility.MODULE,
        metadata=(ast.MetadataPartitions(4),),
    )
    assert module.decl("Req").visibility == ast.Visibility.MODULE  # type: ignore[union-attr]
    assert verb(module, "hourly").metadata == (ast.MetadataCronJob("0 * * * *"),)
    assert verb(module, "place").metadata == (ast.MetadataPublisher((ast.Ref("shop", "orders"),)),)
    assert verb(module, "onOrder").metadata == (
        ast.MetadataSubscriber(ast.Ref("shop", "orders"), ast.FromOffset.BEGINNING, True),
        ast.MetadataRetry(5, "1s", "1m", ast.Ref("shop", "giveUp")),
    )
    assert verb(module, "giveUp").request == ast.Ref("builtin", "CatchRequest", (ast.Ref("shop", "Req"),))
    assert verb(module, "seed").metadata == (ast.MetadataFixture(manual=True),)


def test_calls_come_from_the_clients_the_code_uses(load: Load, stubs: Stubs) -> None:
    root = stubs("time", TIME_STUB)
    root = stubs(
        "bank.accounts", 'import ftl\npay = ftl.VerbClient("accounts", "pay", int, int, realm="bank")\n'
    )
    loaded = load(
        HEADER
        + """
import ftl_modules.time
from ftl_modules import time as clock
from ftl_modules.time import now
from shop.helpers import stamp

@ftl.verb
def direct(req: Req) -> Resp:
    return Resp(text=str(clock.time(clock.TimeRequest()).hour))

@ftl.verb
def dotted(req: Req) -> None:
    ftl_modules.time.now()

@ftl.verb
def through_helper(req: Req) -> Resp:
    return Resp(text=stamp())

@ftl.verb
async def lazily(req: Req) -> None:
    from ftl_modules.bank import accounts
    await accounts.pay.call_async(1)

@ftl.verb
def shadowed(req: Req) -> None:
    clock = object()
    print(clock)

@ftl.subscribe(ftl_modules.time.ticks)
def on_tick(req: ftl_modules.time.TimeResponse) -> None: ...
""",
        files={"helpers.py": HELPERS},
        stubs=root,
    )
    schema = loaded.schema

    def calls(name: str) -> list[str]:
        found = metadata(schema, name, ast.MetadataCalls)
        assert isinstance(found, ast.MetadataCalls) or found is None
        return (
            [f"{r.module}.{r.name}" + (f"@{r.realm}" if r.realm else "") for r in found.calls]
            if found
            else []
        )

    assert calls("direct") == ["time.time"]
    assert calls("dotted") == ["time.now"]
    assert calls("throughHelper") == ["time.now"]
    assert calls("lazily") == ["accounts.pay@bank"]
    assert calls("shadowed") == []
    assert calls("onTick") == []
    direct_calls = metadata(schema, "direct", ast.MetadataCalls)
    assert isinstance(direct_calls, ast.MetadataCalls) and direct_calls.pos.line == 20
    helper_calls = metadata(schema, "throughHelper", ast.MetadataCalls)
    assert isinstance(helper_calls, ast.MetadataCalls) and helper_calls.pos.filename.endswith("helpers.py")
    on_tick = verb(schema, "onTick")
    assert on_tick.request == ast.Ref("time", "TimeResponse")
    assert on_tick.metadata == (ast.MetadataSubscriber(ast.Ref("time", "ticks"), ast.FromOffset.LATEST),)


def test_verb_signature_errors(errors: Errors) -> None:
    found = errors(
        HEADER
        + """
@ftl.verb
def no_hints(req):
    return None

@ftl.verb
def extra(req: Req, other: int) -> None: ...

@ftl.verb
def star(req: Req, *rest: int) -> None: ...

@ftl.ingress("PATCH", "/x")
def patch(req: ftl.HttpRequest[None, None, None]) -> ftl.HttpResponse[None, str]: ...

@ftl.ingress("GET", "/x/{id}/")
def slash(req: ftl.HttpRequest[None, None, None]) -> ftl.HttpResponse[None, str]: ...

@ftl.ingress("GET", "/plain")
def plain(req: Req) -> Resp: ...

@ftl.verb
def a(req: Req, x: Annotated[int, ftl.Config("limit")]) -> None: ...

@ftl.verb
def b(req: Req, x: Annotated[str, ftl.Config("limit")]) -> None: ...

@ftl.cron("5m")
@ftl.cron("6m")
def twice() -> None: ...
"""
    )
    assert found == [
        "shop/__init__.py:14:5: verb noHints has no return type hint: add `-> <ResponseType>` (or `-> None`)",
        "shop/__init__.py:14:14: parameter req of verb noHints has no type hint: write `req: <RequestType>`",
        "shop/__init__.py:18:21: parameter other of verb extra is neither the request (the first parameter) "
        'nor injected: declare it `other: Annotated[T, ftl.Config("name")]` (or ftl.Secret)',
        "shop/__init__.py:21:21: verb star: remove `*rest`; a verb takes one request parameter and injects "
        "the others with Annotated[T, ftl.Config(...)]",
        "shop/__init__.py:23:2: ingress method 'PATCH' is not supported: use one of GET, POST, PUT, DELETE",
        "shop/__init__.py:26:2: ingress path '/x/{id}/' has an invalid segment '': segments are literal text "
        "or `{name}`, separated by single slashes, with no trailing slash",
        "shop/__init__.py:30:16: ingress verb plain takes `ftl.HttpRequest[Body, PathParams, Query]` "
        "(None for none), not shop.Req",
        "shop/__init__.py:30:24: ingress verb plain returns `ftl.HttpResponse[Body, Error]`, not shop.Resp",
        "shop/__init__.py:36:17: config 'limit' has type String here but Int at line 33: use one type",
        "shop/__init__.py:38:2: verb twice has more than one @ftl.cron: keep one",
    ]


def test_cron_intervals_the_schema_would_read_as_something_else(errors: Errors) -> None:
    found = errors(
        HEADER
        + """
@ftl.cron("0s")
def never() -> None: ...

@ftl.cron("60m")
def hourly() -> None: ...

@ftl.cron("24h")
def daily() -> None: ...

@ftl.cron("59s")
def fine() -> None: ...
"""
    )
    assert found == [
        'shop/__init__.py:13:2: the cron interval "0s" never repeats: use at least 1s',
        'shop/__init__.py:16:2: the cron interval "60m" is too long: steps restart every hour, '
        "so at most 59m; for every hour write 1h",
        'shop/__init__.py:19:2: the cron interval "24h" is too long: steps restart every day, '
        'so at most 23h; for every day write "0 0 * * *"',
    ]


def test_two_functions_with_one_schema_name(errors: Errors) -> None:
    found = errors(
        HEADER + "\n@ftl.verb\ndef get_user() -> None: ...\n\n@ftl.verb\ndef getUser() -> None: ...\n"
    )
    assert found == [
        "shop/__init__.py:17:5: two verbs are named 'getUser' (the other at line 14): rename one"
    ]
