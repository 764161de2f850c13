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
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import inspect
import sys
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar, overload

from ftl._sdk.calls import FtlCallError, VerbClient, using_transport
from ftl._sdk.decorators import verb_spec
from ftl._sdk.markers import Config, injections_of
from ftl.names import lower_camel
from ftl.project import Project, find_project_file, load_project

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
        result = self._fake(module, verb, request, realm)(request)
        if inspect.isawaitable(result):
            _close(result)
            raise TestingError(
                f"the fake for {_key(module, verb, realm)} is async, but the verb calls it synchronously"
            )
        return result

    async def call_async(
        self, module: str, verb: str, request: Any, response_type: Any, realm: str | None
    ) -> Any:
        result = self._fake(module, verb, request, realm)(request)
        return await result if inspect.isawaitable(result) else result

    def publish(self, module: str, topic: str, event: Any, event_type: Any) -> None:
        self.published.append(Published(module, topic, event))


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
        """The positional and keyword arguments to call `verb` with."""
        name = getattr(verb, "__name__", repr(verb))
        if verb_spec(verb) is None:
            raise TestingError(
                f"{name} is not a verb: decorate it with @ftl.verb (or @ftl.ingress, @ftl.cron, ...)"
            )
        injections = injections_of(verb)
        keyword: dict[str, Any] = {}
        for parameter, injection in injections.items():
            kind, values = (
                ("config", self.config) if isinstance(injection, Config) else ("secret", self.secrets)
            )
            if injection.name not in values:
                argument = "secrets" if kind == "secret" else "config"
                wanted = f"{argument}={{{injection.name!r}: ...}}"
                raise TestingError(f"verb {name} needs {kind} {injection.name!r}: pass {wanted}")
            keyword[parameter] = values[injection.name]
        takes_request = any(
            p.name not in injections and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
            for p in inspect.signature(verb).parameters.values()
        )
        return ((request,) if takes_request else ()), keyword


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
            return result
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run(_awaited(result))
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
        return await result if inspect.isawaitable(result) else result


async def _awaited(awaitable: Awaitable[R]) -> R:
    return await awaitable


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
