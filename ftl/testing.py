"""Testing verbs in-process: fake config, secrets and other modules' verbs, no server.

    from ftl.testing import call

    def test_greet():
        response = call(
            greet,
            GreetRequest(name="Ada"),
            config={"greeting": "Hi"},
            secrets={"signingKey": "test"},
            fakes={"echo.echo": lambda req: echo.EchoResponse(message=f"echo {req.name}")},
        )
        assert response.text.startswith("Hi")

A call the verb makes through a generated client goes to the fake registered for it (keys are
`"module.verb"`, in either spelling, or the client itself); a call with no fake fails clearly.

Values cross FTL-JSON as they do in a running module: the request, the response, what fakes are
sent and return, published events and config/secret values are encoded and decoded with the
runner's codec, so a naive datetime, a dict where a dataclass belongs or an Int that is a string
fails here as it would there: `ftl.FtlCallError` (with the runner's `kind`) and the same message.
A request (or config value) may also be given in its JSON form, as `ftl call` takes it
(`{"userId": 7}`).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import importlib
import inspect
import sys
import typing
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, TypeVar, overload

from ftl._sdk.calls import FtlCallError, VerbClient, using_transport
from ftl._sdk.decorators import verb_spec
from ftl._sdk.markers import Config, injections_of
from ftl.errors import FtlError
from ftl.names import lower_camel
from ftl.project import PROJECT_FILE_NAME, Project, find_project_file, load_project
from ftl.runtime._call_errors import CallFailed
from ftl.runtime._wire import (
    REQUEST_ROOT,
    answered,
    decode_response,
    encode_event,
    encode_request,
    invoke,
    received,
    request_decoder,
    response_encoder,
)
from ftl.runtime.encoding import DecodeError, EncodeError, decode, decoder, encode, from_json_value

__all__ = ["Call", "FakeTransport", "Published", "VerbContext", "call", "call_async", "setup_project"]

R = TypeVar("R")
FakeKey = str | VerbClient[Any, Any]
_EMPTY: Mapping[str, Any] = {}
_NO_FAKES: Mapping[FakeKey, Callable[[Any], Any]] = {}


class TestingError(Exception):
    """A verb was called in a test without what it needs (a config value, a fake)."""

    __test__ = False  # not a test class, despite the name


@dataclass(frozen=True)
class Call:
    """One call a verb made to another module's verb."""

    module: str
    verb: str
    request: Any
    realm: str | None = None


@dataclass(frozen=True)
class Published:
    """One event a verb published."""

    module: str
    topic: str
    event: Any


def _key(module: str, verb: str, realm: str | None = None) -> str:
    return f"{module}.{lower_camel(verb)}" + (f"@{realm}" if realm else "")


class FakeTransport:
    """Routes generated-client calls to fakes and records them; records published events."""

    def __init__(self, fakes: Mapping[FakeKey, Callable[[Any], Any]] = _NO_FAKES) -> None:
        self.fakes: dict[str, Callable[[Any], Any]] = {}
        for key, fake in fakes.items():
            if isinstance(key, VerbClient):
                self.fakes[_key(key.module, key.verb, key.realm)] = fake
            else:
                target, _, realm = key.partition("@")
                module, dot, verb = target.rpartition(".")
                if not dot:
                    raise TestingError(f"fake key {key!r} must be 'module.verb'")
                self.fakes[_key(module, verb, realm or None)] = fake
        self.calls: list[Call] = []
        self.published: list[Published] = []

    def _fake(self, module: str, verb: str, request: Any, realm: str | None) -> Callable[[Any], Any]:
        self.calls.append(Call(module, verb, request, realm))
        key = _key(module, verb, realm)
        fake = self.fakes.get(key)
        if fake is None:
            raise FtlCallError(
                f"the verb called {key} but the test has no fake for it: pass fakes={{{key!r}: ...}}"
            )
        return fake

    def call(self, module: str, verb: str, request: Any, response_type: Any, realm: str | None) -> Any:
        sent = _sent_request(module, verb, request)
        result = self._fake(module, verb, sent, realm)(sent)
        if inspect.isawaitable(result):
            _close(result)
            raise TestingError(
                f"the fake for {_key(module, verb, realm)} is async, but the verb calls it synchronously"
            )
        return _fake_response(module, verb, result, response_type)

    async def call_async(
        self, module: str, verb: str, request: Any, response_type: Any, realm: str | None
    ) -> Any:
        sent = _sent_request(module, verb, request)
        result = self._fake(module, verb, sent, realm)(sent)
        if inspect.isawaitable(result):
            result = await result
        return _fake_response(module, verb, result, response_type)

    def publish(self, module: str, topic: str, event: Any, event_type: Any) -> None:
        body = encode_event(module, topic, event, event_type)
        sent = _decoded_back(body, event_type, "event", f"event for {module}.{topic}")
        self.published.append(Published(module, topic, sent))


# What the runner does to a call between verbs (`ftl.runtime._wire`), in one process: the caller
# encodes the request by its own type, the callee encodes its response by its declared type, the
# caller decodes that.


def _sent_request(module: str, verb: str, request: Any) -> Any:
    body = encode_request(module, verb, request)
    kind = type(request)
    # The callee decodes by its declared type; a generic one's arguments are not known here.
    if getattr(kind, "__parameters__", ()):
        return request
    return _decoded_back(body, kind, "request", f"request for {module}.{verb}")


def _decoded_back(body: bytes, py_type: Any, root: str, what: str) -> Any:
    """`body`, just encoded from a `py_type`, decoded by it: a value that does not survive is refused."""
    try:
        return decode(body, py_type, root=root)
    except (DecodeError, TypeError) as exc:
        raise CallFailed("bad_request", f"{what}: {exc}") from None


def _fake_response(module: str, verb: str, result: Any, response_type: Any) -> Any:
    body = answered(response_encoder(response_type), f"the fake for {module}.{verb}", result)
    return decode_response(module, verb, body, response_type)


def _close(awaitable: Awaitable[Any]) -> None:
    close = getattr(awaitable, "close", None)
    if callable(close):
        close()


@dataclass
class VerbContext:
    """Fakes and values for calling verbs in a test; `calls` and `published` record what happened.

    with VerbContext(fakes={"time.time": fake_time}) as context:
        response = echo(EchoRequest(name="Ada"))
    assert context.calls[0].verb == "time"
    """

    config: Mapping[str, Any] = field(default_factory=dict)
    secrets: Mapping[str, Any] = field(default_factory=dict)
    fakes: Mapping[FakeKey, Callable[[Any], Any]] = field(default_factory=dict)
    transport: FakeTransport = field(init=False)

    def __post_init__(self) -> None:
        self.transport = FakeTransport(self.fakes)

    @property
    def calls(self) -> list[Call]:
        return self.transport.calls

    @property
    def published(self) -> list[Published]:
        return self.transport.published

    def __enter__(self) -> VerbContext:
        """Route generated-client calls made in this context (thread or task) to the fakes."""
        self._stack = ExitStack()
        self._stack.enter_context(using_transport(self.transport))
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.close()

    def arguments(self, verb: Callable[..., Any], request: Any) -> tuple[tuple[Any, ...], dict[str, Any]]:
        """The positional and keyword arguments to call `verb` with, as the runner would pass them
        (each decoded from FTL-JSON)."""
        name = getattr(verb, "__name__", repr(verb))
        if verb_spec(verb) is None:
            raise TestingError(
                f"{name} is not a verb: decorate it with @ftl.verb (or @ftl.ingress, @ftl.cron, ...)"
            )
        wire = _wire_of(verb)
        keyword: dict[str, Any] = {}
        for parameter, injection in injections_of(verb).items():
            kind, values = (
                ("config", self.config) if isinstance(injection, Config) else ("secret", self.secrets)
            )
            if injection.name not in values:
                argument = "secrets" if kind == "secret" else "config"
                wanted = f"{argument}={{{injection.name!r}: ...}}"
                raise TestingError(f"verb {name} needs {kind} {injection.name!r}: pass {wanted}")
            keyword[parameter] = wire.setting(kind, injection.name, values[injection.name], parameter)
        # Collected by the runner's own `invoke`, so they are passed exactly as it passes them.
        arguments: tuple[tuple[Any, ...], dict[str, Any]] = invoke(
            _arguments, wire.takes_request, wire.request(request), keyword
        )
        return arguments


@overload
def call(
    verb: Callable[..., Coroutine[Any, Any, R]],
    request: Any = None,
    *,
    config: Mapping[str, Any] = _EMPTY,
    secrets: Mapping[str, Any] = _EMPTY,
    fakes: Mapping[FakeKey, Callable[[Any], Any]] = _NO_FAKES,
) -> R: ...
@overload
def call(
    verb: Callable[..., R],
    request: Any = None,
    *,
    config: Mapping[str, Any] = _EMPTY,
    secrets: Mapping[str, Any] = _EMPTY,
    fakes: Mapping[FakeKey, Callable[[Any], Any]] = _NO_FAKES,
) -> R: ...
def call(
    verb: Callable[..., Any],
    request: Any = None,
    *,
    config: Mapping[str, Any] = _EMPTY,
    secrets: Mapping[str, Any] = _EMPTY,
    fakes: Mapping[FakeKey, Callable[[Any], Any]] = _NO_FAKES,
) -> Any:
    """Call a verb (sync or async) in-process and return its response.

    `config`/`secrets` are keyed by declared name; `fakes` replace other modules' verbs. From inside
    a running event loop, use `await call_async(...)` instead.
    """
    context = VerbContext(config, secrets, fakes)
    args, kwargs = context.arguments(verb, request)
    with context:
        result = verb(*args, **kwargs)
        if not inspect.isawaitable(result):
            return _wire_of(verb).response(result)
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return _wire_of(verb).response(asyncio.run(_awaited(result)))
        _close(result)
        raise TestingError("an event loop is already running here: use `await ftl.testing.call_async(...)`")


async def call_async(
    verb: Callable[..., Any],
    request: Any = None,
    *,
    config: Mapping[str, Any] = _EMPTY,
    secrets: Mapping[str, Any] = _EMPTY,
    fakes: Mapping[FakeKey, Callable[[Any], Any]] = _NO_FAKES,
) -> Any:
    """`call` for async tests: awaits an async verb, runs a sync one directly."""
    context = VerbContext(config, secrets, fakes)
    args, kwargs = context.arguments(verb, request)
    with context:
        result = verb(*args, **kwargs)
        if inspect.isawaitable(result):
            result = await result
        return _wire_of(verb).response(result)


async def _awaited(awaitable: Awaitable[R]) -> R:
    return await awaitable


def _arguments(*args: Any, **kwargs: Any) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """What a verb is called with, to be called with later."""
    return args, kwargs


# ---------------------------------------------------------------------------------------------
# The verb under test, as the runner sees it

_UNCHECKED: Any = object()  # the type of a value with no type hint: it is passed as it is
_JSON_DATA = (dict, list, str, int, float, bool, type(None))


@dataclass(frozen=True)
class _Wire:
    """A verb's FTL-JSON types, found as extraction finds them, and what the runner does with them."""

    module: str
    verb: str  # its name in the schema: `module.verb` is how the runner names it
    takes_request: bool
    request_type: Any
    response_type: Any
    declared: Mapping[str, Any]  # the type of each injected parameter
    decode_request: Callable[[bytes], Any]  # the runner's, for `request_type`
    encode_response: Callable[[Any], bytes]  # the runner's, for `response_type`

    def request(self, request: Any) -> Any:
        """The request as the verb receives it: the typed value, or its JSON form, decoded."""
        if self.request_type is _UNCHECKED:
            return request
        try:
            return received(self._sent_and_decoded, request)
        except EncodeError as exc:
            raise CallFailed("bad_request", f"request for {self.module}.{self.verb}: {exc}") from None

    def _sent_and_decoded(self, request: Any) -> Any:
        return _decoded(request, self.request_type, REQUEST_ROOT, self.decode_request)

    def response(self, result: Any) -> Any:
        """The verb's result as its caller receives it."""
        if self.response_type is _UNCHECKED:
            return result
        body = answered(self.encode_response, f"{self.module}.{self.verb}", result)
        return decode_response(self.module, self.verb, body, self.response_type)

    def setting(self, kind: str, name: str, value: Any, parameter: str) -> Any:
        """A config or secret value as the runner injects it (it stores them as JSON)."""
        declared = self.declared.get(parameter, _UNCHECKED)
        if declared is _UNCHECKED:
            return value
        try:
            return _decoded(value, declared, name, decoder(declared, root=name))
        except (EncodeError, DecodeError) as exc:
            raise TestingError(f"{kind} `{name}` of module {self.module} has the wrong type: {exc}") from None


def _decoded(value: Any, py_type: Any, root: str, decode_body: Callable[[bytes], Any]) -> Any:
    """`value` sent as `py_type` and received: a typed value round-trips through FTL-JSON bytes
    (`decode_body` decodes them); plain data that is not one (`{"userId": 7}`) is taken as the JSON
    form and decoded."""
    try:
        body = encode(value, py_type, root=root)
    except (EncodeError, TypeError):
        if not isinstance(value, _JSON_DATA):
            raise
        return from_json_value(value, py_type, root=root)
    return decode_body(body)


@functools.lru_cache(maxsize=1024)
def _wire_of(verb: Callable[..., Any]) -> _Wire:
    target = inspect.unwrap(verb)
    name = lower_camel(getattr(target, "__name__", "verb"))
    try:
        hints = typing.get_type_hints(target, include_extras=True)
        parameters = inspect.signature(target).parameters.values()
    except Exception as exc:
        raise TestingError(
            f"cannot evaluate the type hints of verb {name}: {type(exc).__name__}: {exc}"
        ) from None
    injected = injections_of(verb)
    request = next(
        (
            p
            for p in parameters
            if p.name not in injected and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
        ),
        None,
    )
    # Without a request parameter the runner still decodes the request: as Unit.
    request_type = type(None) if request is None else _python_type(hints.get(request.name, _UNCHECKED))
    try:
        source = inspect.getsourcefile(target) or ""
    except TypeError:  # not defined in a file
        source = ""
    module = _module_name(source, str(getattr(target, "__module__", "")).partition(".")[0])
    response_type = _python_type(hints.get("return", _UNCHECKED))
    return _Wire(
        module=module,
        verb=name,
        takes_request=request is not None,
        request_type=request_type,
        response_type=response_type,
        declared={p: _python_type(hints.get(p, _UNCHECKED)) for p in injected},
        decode_request=request_decoder(request_type),
        encode_response=response_encoder(response_type),
    )


def _python_type(hint: Any) -> Any:
    if hint is _UNCHECKED:
        return hint
    if typing.get_origin(hint) is Annotated:
        hint = typing.get_args(hint)[0]
    return type(None) if hint is None else hint


@functools.lru_cache(maxsize=256)
def _module_name(source: str, package: str) -> str:
    """The FTL module a source file belongs to (the `module` of the ftl.toml above it), else `package`."""
    from ftl.runtime.extract import MODULE_FILE, read_module_file

    for directory in Path(source).resolve().parents if source else ():
        if (directory / MODULE_FILE).is_file():
            with contextlib.suppress(FtlError, OSError):
                return read_module_file(directory).name
            break
        if (directory / PROJECT_FILE_NAME).is_file():
            break
    return package


def setup_project(start: Path | None = None) -> Project:
    """Make a project's modules and fresh client stubs importable (call it from a `conftest.py`).

    Builds the project (which regenerates `.ftl/stubs/`), puts the stubs and every module
    directory on `sys.path` and imports each module's package, so tests can `import <package>` and
    `from ftl_modules import <module>` (also under pytest's importlib mode, which would otherwise
    take a module directory of the same name for a namespace package). Errors are not raised here:
    the tests of a broken module fail on its import instead.
    """
    from ftl.build import build_project, scan_modules, stubs_dir

    project = load_project(find_project_file(start=start))
    build_project(project)
    modules, _ = scan_modules(project)
    for path in [str(stubs_dir(project.root)), *(str(m.directory) for m in modules)]:
        if path not in sys.path:
            sys.path.insert(0, path)
    for module in modules:
        with contextlib.suppress(Exception):
            importlib.import_module(module.package)
    return project
