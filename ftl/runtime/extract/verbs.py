"""Verbs: a decorated function -> `verb name(Request) Response` with its metadata.

The first positional parameter is the request; every other parameter must be injected through
`Annotated[T, ftl.Config(...)]` / `Annotated[T, ftl.Secret(...)]`. `+calls` and `+publish` come
from what the code uses; the rest of the metadata from the decorators.
"""

from __future__ import annotations

import ast as pyast
import inspect
import re
import sys
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ftl._sdk.calls import VerbClient
from ftl._sdk.decorators import (
    CronSpec,
    FixtureSpec,
    IngressSpec,
    MetadataSpec,
    RetrySpec,
    SubscribeSpec,
    VerbSpec,
    verb_spec,
)
from ftl._sdk.markers import Config, Injection, Secret
from ftl._sdk.topics import Topic
from ftl.errors import Position
from ftl.names import is_identifier, lower_camel, wire_name_problem
from ftl.runtime.extract.decls import ModuleDecls, Settings, doc_lines
from ftl.runtime.extract.resolver import Where, stub_origin
from ftl.runtime.extract.source import SourceFile, source_of
from ftl.runtime.extract.typenodes import ObjectNode, Scope, SourceNode, TypeNode, Unresolvable, unquote
from ftl.runtime.extract.usage import MissingName, UsageFinder
from ftl.schema import ast
from ftl.schema.printer import print_type

HTTP_METHODS = ("GET", "POST", "PUT", "DELETE")
_PATH_PARAMETER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
_PATH_LITERAL = re.compile(r"[^\s/{}]+")
# The order the validator prints verb metadata in (a subset: what Python code can declare).
_METADATA_ORDER = (
    "ingress",
    "calls",
    "secrets",
    "config",
    "cron",
    "publish",
    "subscribe",
    "retry",
    "fixture",
)
_DECORATOR_KINDS: dict[type, str] = {
    IngressSpec: "ingress",
    CronSpec: "cron",
    SubscribeSpec: "subscribe",
    RetrySpec: "retry",
    FixtureSpec: "fixture",
}


@dataclass(frozen=True)
class VerbHandle:
    """A verb as the runner calls it: the function, its Python types and what to inject."""

    name: str
    python_name: str
    func: Callable[..., Any]
    is_async: bool
    request_type: Any
    response_type: Any
    injections: Mapping[str, Injection]


@dataclass
class _Signature:
    request: ast.Type
    response: ast.Type
    request_type: Any
    response_type: Any
    injections: dict[str, Injection]
    configs: list[ast.Ref]
    secrets: list[ast.Ref]


class VerbExtractor:
    def __init__(self, decls: ModuleDecls, settings: Settings, usage: UsageFinder) -> None:
        self.decls = decls
        self.settings = settings
        self.usage = usage

    @property
    def module(self) -> str:
        return self.decls.name

    def error(self, message: str, pos: Position) -> None:
        self.decls.error(message, pos)

    def extract(self, func: Callable[..., Any]) -> tuple[ast.Verb, VerbHandle] | None:
        spec = verb_spec(func)
        target = inspect.unwrap(func)
        source = source_of(target)
        definition = (
            source.find_function(target) if source and isinstance(target, types.FunctionType) else None
        )
        if spec is None or source is None or definition is None or not isinstance(target, types.FunctionType):
            filename = getattr(getattr(target, "__code__", None), "co_filename", "") or str(target)
            self.error(
                f"cannot find the source of the verb {getattr(target, '__name__', target)!r}",
                Position(filename, 1, 1),
            )
            return None
        where = source.name_pos(definition)
        problem = wire_name_problem(target.__name__)
        if problem:
            self.error(f"verb {problem}", where)
            return None
        name = lower_camel(target.__name__)
        if inspect.isasyncgenfunction(target) or inspect.isgeneratorfunction(target):
            self.error(f"verb {name} must return its response, not yield values", where)
            return None
        signature = self._signature(name, target, source, definition, where)
        if signature is None:
            return None
        metadata = self._metadata(name, spec, signature, source, definition, func)
        visibility = {True: ast.Visibility.MODULE, "realm": ast.Visibility.REALM}.get(
            spec.export, ast.Visibility.NONE
        )
        if any(isinstance(m, ast.MetadataIngress) for m in metadata):
            visibility = max(visibility, ast.Visibility.MODULE)
        verb = ast.Verb(
            name,
            signature.request,
            signature.response,
            visibility=visibility,
            comments=doc_lines(definition),
            metadata=tuple(metadata),
            pos=where,
        )
        handle = VerbHandle(
            name=name,
            python_name=target.__name__,
            func=func,
            is_async=inspect.iscoroutinefunction(target),
            request_type=signature.request_type,
            response_type=signature.response_type,
            injections=signature.injections,
        )
        return verb, handle

    # -- signature ------------------------------------------------------------------------------

    def _signature(
        self,
        name: str,
        func: types.FunctionType,
        source: SourceFile,
        definition: pyast.FunctionDef | pyast.AsyncFunctionDef,
        where: Position,
    ) -> _Signature | None:
        scope = Scope(sys.modules[func.__module__], source)
        try:
            hints = typing.get_type_hints(func, include_extras=True)
        except Exception as exc:
            self.error(f"cannot evaluate the type hints of verb {name}: {type(exc).__name__}: {exc}", where)
            return None
        arguments = definition.args
        every = (
            *arguments.posonlyargs,
            *arguments.args,
            arguments.vararg,
            *arguments.kwonlyargs,
            arguments.kwarg,
        )
        nodes = {a.arg: a for a in every if a is not None}
        result = _Signature(ast.Unit(pos=where), ast.Unit(pos=where), type(None), type(None), {}, [], [])
        ok = True
        has_request = False
        for index, param in enumerate(inspect.signature(func).parameters.values()):
            node = nodes.get(param.name)
            pos = source.pos(node) if node else where
            if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
                stars = "*" if param.kind is param.VAR_POSITIONAL else "**"
                self.error(
                    f"verb {name}: remove `{stars}{param.name}`; a verb takes one request parameter "
                    "and injects the others with Annotated[T, ftl.Config(...)]",
                    pos,
                )
                ok = False
                continue
            is_request_slot = index == 0 and param.kind is not param.KEYWORD_ONLY
            if param.name not in hints:
                hint = "<RequestType>" if is_request_slot else 'Annotated[T, ftl.Config("name")]'
                self.error(
                    f"parameter {param.name} of verb {name} has no type hint: write `{param.name}: {hint}`",
                    pos,
                )
                ok = False
                continue
            hint_value = hints[param.name]
            annotation: TypeNode = (
                SourceNode(node.annotation, source)
                if node and node.annotation
                else ObjectNode(hint_value, pos)
            )
            marker = _marker(hint_value)
            if marker is not None:
                ok = (
                    self._injection(name, param.name, marker, hint_value, annotation, scope, pos, result)
                    and ok
                )
                continue
            if is_request_slot:
                has_request = True
                request = self.decls.resolver.resolve(annotation, scope, Where(unit=True))
                if request is None:
                    ok = False
                else:
                    result.request = request
                    result.request_type = _python_type(hint_value)
                continue
            self.error(
                f"parameter {param.name} of verb {name} is neither the request (the first parameter) nor "
                f'injected: declare it `{param.name}: Annotated[T, ftl.Config("name")]` (or ftl.Secret)',
                pos,
            )
            ok = False
        if "return" not in hints:
            self.error(f"verb {name} has no return type hint: add `-> <ResponseType>` (or `-> None`)", where)
            return None
        returns: TypeNode = (
            SourceNode(definition.returns, source)
            if definition.returns
            else ObjectNode(hints["return"], where)
        )
        response = self.decls.resolver.resolve(returns, scope, Where(unit=True))
        if response is None or not ok:
            return None
        result.response = response
        result.response_type = _python_type(hints["return"])
        if not has_request:
            result.request = ast.Unit(pos=where)
        return result

    def _injection(
        self,
        verb: str,
        parameter: str,
        marker: Injection,
        hint: Any,
        annotation: TypeNode,
        scope: Scope,
        pos: Position,
        result: _Signature,
    ) -> bool:
        kind: typing.Literal["config", "secret"] = "config" if isinstance(marker, Config) else "secret"
        declared = marker.name or lower_camel(parameter)
        if not is_identifier(declared):
            self.error(f"{kind} name {declared!r} is invalid: use letters, digits and underscores", pos)
            return False
        inner = _annotated_inner(annotation, hint, pos)
        type_ = self.decls.resolver.resolve(inner, scope, Where())
        if type_ is None:
            return False
        ref = self.settings.declare(kind, declared, type_, pos)
        (result.configs if kind == "config" else result.secrets).append(ref)
        result.injections[parameter] = Config(declared) if kind == "config" else Secret(declared)
        return True

    # -- metadata -------------------------------------------------------------------------------

    def _metadata(
        self,
        name: str,
        spec: VerbSpec,
        signature: _Signature,
        source: SourceFile,
        definition: pyast.FunctionDef | pyast.AsyncFunctionDef,
        func: Callable[..., Any],
    ) -> list[ast.Metadata]:
        places = _decorator_places(spec, source, definition)
        decorated: dict[str, ast.Metadata] = {}
        for item, pos in zip(spec.metadata, places, strict=True):
            kind = _DECORATOR_KINDS[type(item)]
            if kind in decorated:
                self.error(f"verb {name} has more than one @ftl.{kind}: keep one", pos)
                continue
            converted = self._decorated(name, item, pos, signature)
            if converted is not None:
                decorated[kind] = converted
        calls, publishes = self._uses(func)
        derived: dict[str, ast.Metadata] = {}
        if calls:
            derived["calls"] = ast.MetadataCalls(calls, pos=calls[0].pos)
        if signature.secrets:
            secrets = _sorted_refs(signature.secrets)
            derived["secrets"] = ast.MetadataSecrets(secrets, pos=signature.secrets[0].pos)
        if signature.configs:
            derived["config"] = ast.MetadataConfig(
                _sorted_refs(signature.configs), pos=signature.configs[0].pos
            )
        if publishes:
            derived["publish"] = ast.MetadataPublisher(publishes, pos=publishes[0].pos)
        found = decorated | derived
        return [found[kind] for kind in _METADATA_ORDER if kind in found]

    def _decorated(
        self, name: str, item: MetadataSpec, pos: Position, signature: _Signature
    ) -> ast.Metadata | None:
        if isinstance(item, IngressSpec):
            return self._ingress(name, item, pos, signature)
        if isinstance(item, CronSpec):
            if not isinstance(item.schedule, str) or not item.schedule.strip() or "\n" in item.schedule:
                self.error('the cron schedule must be one line of text, like "0 * * * *" or "5m"', pos)
                return None
            problem = _interval_problem(item.schedule.strip())
            if problem:
                self.error(problem, pos)
                return None
            return ast.MetadataCronJob(item.schedule.strip(), pos=pos)
        if isinstance(item, SubscribeSpec):
            return self._subscribe(item, pos)
        if isinstance(item, RetrySpec):
            return self._retry(item, pos)
        return ast.MetadataFixture(item.manual, pos=pos)

    def _uses(self, func: Callable[..., Any]) -> tuple[tuple[ast.Ref, ...], tuple[ast.Ref, ...]]:
        calls: dict[tuple[str, str, str], ast.Ref] = {}
        publishes: dict[str, ast.Ref] = {}
        for use in self.usage.uses(func):
            if isinstance(use, MissingName):
                self.error(use.message, use.pos)
                continue
            target = use.target
            if isinstance(target, VerbClient):
                key = (target.module, target.verb, target.realm or "")
                calls.setdefault(
                    key, ast.Ref(target.module, target.verb, realm=target.realm or "", pos=use.pos)
                )
            elif self.decls.is_local(target.python_module):
                publishes.setdefault(target.name, ast.Ref(self.module, target.name, pos=use.pos))
            elif target.module and target.module != self.module:
                self.error(
                    f"topic {target.module}.{target.name} belongs to module {target.module}: only it can "
                    f"publish there (call a verb of {target.module} that publishes)",
                    use.pos,
                )
        return _sorted_refs(list(calls.values())), _sorted_refs(list(publishes.values()))

    def _ingress(
        self, name: str, ingress: IngressSpec, pos: Position, signature: _Signature
    ) -> ast.MetadataIngress | None:
        method = ingress.method.upper() if isinstance(ingress.method, str) else ""
        if method not in HTTP_METHODS:
            self.error(
                f"ingress method {ingress.method!r} is not supported: use one of {', '.join(HTTP_METHODS)}",
                pos,
            )
            return None
        path = self._ingress_path(ingress.path, pos)
        if path is None:
            return None
        ok = True
        if not _is_builtin(signature.request, "HttpRequest"):
            self.error(
                f"ingress verb {name} takes `ftl.HttpRequest[Body, PathParams, Query]` (None for none), "
                f"not {print_type(signature.request)}",
                signature.request.pos,
            )
            ok = False
        if not _is_builtin(signature.response, "HttpResponse"):
            self.error(
                f"ingress verb {name} returns `ftl.HttpResponse[Body, Error]`, "
                f"not {print_type(signature.response)}",
                signature.response.pos,
            )
            ok = False
        if ok and not self._path_parameters_have_a_type(name, ingress.path, signature.request):
            ok = False
        return ast.MetadataIngress(method, path, pos=pos) if ok else None

    def _path_parameters_have_a_type(self, verb: str, path: str, request: ast.Type) -> bool:
        """Whether the path's parameters reach the verb: with no path type they would be dropped."""
        assert isinstance(request, ast.Ref)
        parameters = _PATH_PARAMETER.findall(path)
        path_type = request.type_args[1] if len(request.type_args) == 3 else None
        if not parameters or not isinstance(path_type, ast.Unit):
            return True
        named = ", ".join(parameters)
        class_name = f"{verb[:1].upper()}{verb[1:]}Path"
        fields = "; ".join(f"{p}: str" for p in parameters)
        self.error(
            f"ingress path {path} has the parameter{'s' if len(parameters) > 1 else ''} {named}, but the "
            "path type of ftl.HttpRequest is None, so the verb would never see "
            f"{'them' if len(parameters) > 1 else 'it'}: declare a path dataclass with the "
            f"field{'s' if len(parameters) > 1 else ''} {named} (`@dataclass class {class_name}: {fields}`) "
            f"and take `ftl.HttpRequest[Body, {class_name}, Query]`",
            path_type.pos,
        )
        return False

    def _ingress_path(self, path: object, pos: Position) -> tuple[ast.IngressPathComponent, ...] | None:
        if not isinstance(path, str) or not path.startswith("/"):
            self.error(f"ingress path {path!r} must start with `/`", pos)
            return None
        if path == "/":
            return ()
        components: list[ast.IngressPathComponent] = []
        for part in path[1:].split("/"):
            parameter = _PATH_PARAMETER.fullmatch(part)
            if parameter:
                problem = wire_name_problem(parameter[1])
                if problem:
                    self.error(f"path parameter {problem}", pos)
                    return None
                components.append(ast.IngressPathParameter(lower_camel(parameter[1]), pos=pos))
            elif _PATH_LITERAL.fullmatch(part):
                components.append(ast.IngressPathLiteral(part, pos=pos))
            else:
                self.error(
                    f"ingress path {path!r} has an invalid segment {part!r}: segments are literal text or "
                    "`{name}`, separated by single slashes, with no trailing slash",
                    pos,
                )
                return None
        return tuple(components)

    def _subscribe(self, subscribe: SubscribeSpec, pos: Position) -> ast.MetadataSubscriber | None:
        topic = self._topic_ref(subscribe.topic, pos)
        if topic is None:
            return None
        if subscribe.from_offset not in ("beginning", "latest"):
            self.error(f'from_ must be "beginning" or "latest", not {subscribe.from_offset!r}', pos)
            return None
        return ast.MetadataSubscriber(
            topic, ast.FromOffset(subscribe.from_offset), subscribe.dead_letter, pos=pos
        )

    def _topic_ref(self, topic: object, pos: Position) -> ast.Ref | None:
        if isinstance(topic, Topic):
            if self.decls.is_local(topic.python_module):
                return ast.Ref(self.module, topic.name, pos=pos)
            origin = stub_origin(topic.python_module)
            module = topic.module or (origin[0] if origin else "")
            if module:
                return ast.Ref(module, topic.name, realm=topic.realm or "", pos=pos)
        self.error(
            "subscribe to a topic declared with ftl.topic(...) in this package, "
            "or to one from ftl_modules.<module>",
            pos,
        )
        return None

    def _retry(self, retry: RetrySpec, pos: Position) -> ast.MetadataRetry | None:
        if retry.count is not None and (not isinstance(retry.count, int) or retry.count < 0):
            self.error(f"retry count must be a non-negative int, not {retry.count!r}", pos)
            return None
        for value in (retry.min_backoff, retry.max_backoff):
            if not isinstance(value, str) or not re.fullmatch(r"(\d+[a-z]+)*", value):
                self.error(f'retry backoff {value!r} must be a duration like "5s", "1m" or "1h30m"', pos)
                return None
        if retry.max_backoff and not retry.min_backoff:
            self.error("a retry with max_backoff needs min_backoff too", pos)
            return None
        catch: ast.Ref | None = None
        if retry.catch is not None:
            catch = self._catch_ref(retry.catch, pos)
            if catch is None:
                return None
        return ast.MetadataRetry(retry.count, retry.min_backoff, retry.max_backoff, catch, pos=pos)

    def _catch_ref(self, catch: object, pos: Position) -> ast.Ref | None:
        if isinstance(catch, VerbClient):
            return ast.Ref(catch.module, catch.verb, realm=catch.realm or "", pos=pos)
        target = inspect.unwrap(catch) if callable(catch) else catch
        is_verb = verb_spec(catch) is not None and isinstance(target, types.FunctionType)
        if is_verb and isinstance(target, types.FunctionType) and self.decls.is_local(target.__module__):
            return ast.Ref(self.module, lower_camel(target.__name__), pos=pos)
        self.error(
            "catch must be a verb of this module (decorated with @ftl.verb) or a client from ftl_modules", pos
        )
        return None


def _marker(hint: Any) -> Injection | None:
    if typing.get_origin(hint) is not typing.Annotated:
        return None
    return next((m for m in hint.__metadata__ if isinstance(m, Config | Secret)), None)


def _annotated_inner(annotation: TypeNode, hint: Any, pos: Position) -> TypeNode:
    if isinstance(annotation, SourceNode):
        try:
            node = unquote(annotation)
        except Unresolvable:
            node = annotation
        if isinstance(node.expr, pyast.Subscript):
            items = node.expr.slice
            return node.child(items.elts[0] if isinstance(items, pyast.Tuple) else items)
    return ObjectNode(typing.get_args(hint)[0], pos)


def _python_type(hint: Any) -> Any:
    if typing.get_origin(hint) is typing.Annotated:
        hint = typing.get_args(hint)[0]
    return type(None) if hint is None else hint


def _is_builtin(type_: ast.Type, name: str) -> bool:
    return isinstance(type_, ast.Ref) and type_.module == "builtin" and type_.name == name


def _sorted_refs(refs: list[ast.Ref]) -> tuple[ast.Ref, ...]:
    return tuple(sorted(refs, key=lambda r: (r.realm, r.module, r.name)))


def _decorator_places(
    spec: VerbSpec, source: SourceFile, definition: pyast.FunctionDef | pyast.AsyncFunctionDef
) -> list[Position]:
    """The position of each metadata decorator in `spec.metadata` (applied bottom-up)."""
    by_kind: dict[str, list[Position]] = {}
    for decorator in reversed(definition.decorator_list):
        kind = _decorator_name(decorator)
        by_kind.setdefault(kind, []).append(source.pos(decorator))
    places: list[Position] = []
    taken: dict[str, int] = {}
    fallback = source.name_pos(definition)
    for item in spec.metadata:
        kind = _DECORATOR_KINDS[type(item)]
        index = taken.get(kind, 0)
        taken[kind] = index + 1
        candidates = by_kind.get(kind, [])
        places.append(candidates[index] if index < len(candidates) else fallback)
    return places


def _decorator_name(decorator: pyast.expr) -> str:
    node = decorator.func if isinstance(decorator, pyast.Call) else decorator
    if isinstance(node, pyast.Attribute):
        return node.attr
    return node.id if isinstance(node, pyast.Name) else ""


_INTERVAL = re.compile(r"(\d+)([smh])")
_INTERVAL_LIMITS = {"s": (60, "1m", "minute"), "m": (60, "1h", "hour"), "h": (24, '"0 0 * * *"', "day")}


def _interval_problem(schedule: str) -> str | None:
    """What is wrong with an interval shorthand (`5m`) that the schema would read otherwise."""
    match = _INTERVAL.fullmatch(schedule)
    if match is None:
        return None
    count, unit = int(match[1]), match[2]
    limit, instead, period = _INTERVAL_LIMITS[unit]
    if count == 0:
        return f'the cron interval "{schedule}" never repeats: use at least 1{unit}'
    if count >= limit:
        return (
            f'the cron interval "{schedule}" is too long: steps restart every {period}, so at most '
            f"{limit - 1}{unit}; for every {period} write {instead}"
        )
    return None
