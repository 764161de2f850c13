"""HTTP ⇄ `builtin.HttpRequest` / `builtin.HttpResponse`, compiled once per route.

`RequestBinder.bind` turns the parts of an HTTP request into the JSON the verb receives
(`{"method", "path", "pathParameters", "query", "headers", "body"}` with schema field names) or
raises `BindError` with the reason for a 400. `ResponseRenderer.render` turns the verb's
`HttpResponse` JSON into a status, headers and body, or raises `RenderError` with the reason it
cannot be sent (the ingress answers 500 and records why). Both are built when the route table changes:
the shapes of `Body`, `Path` and `Query` are resolved then, so a request only runs the closures
chosen for its route, and the FTL-JSON validator runs only for parts that need it.

The rules are upstream FTL's ingress rules (../shared/conformance/ingress.json), with the fixes its
README lists as likely bugs: bodies are read for every method, `@json` is decoded once, Bool path
and query values follow `strconv.ParseBool` (garbage is a 400), Time query values bind, and a
header name the verb sends in lower case is sent once, canonicalised. A route whose query type is
Unit ignores the query string (upstream answers 400), as HTTP clients and proxies expect. A
response with neither body nor error is the status and headers alone, as `HttpResponse(status=204)`
and redirects are written in Python (upstream answers 500), and 204 and 304 never carry a body.
Messages name what failed by its path from the verb's request: `req.body.items[2].qty ...`.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, Final, TypeVar
from urllib.parse import parse_qsl

import msgspec

from ftl.devserver.ingress.shapes import JSON_SHAPES, Resolved, Shape, TypeIndex
from ftl.runtime._wire import REQUEST_ROOT
from ftl.schema import ast, print_type
from ftl.schema.jsonvalidate import (
    alias_json,
    json_alias,
    json_bool,
    json_float,
    json_int,
    normalize_json,
    validate_json,
)

TEXT_PLAIN: Final = b"text/plain; charset=utf-8"
APPLICATION_JSON: Final = b"application/json; charset=utf-8"
OCTET_STREAM: Final = b"application/octet-stream"

T = TypeVar("T")

_INT_TEXT = re.compile(r"[+-]?[0-9]+")
_COMPLEX_CHARS = frozenset("[]{}")
_json_decode = msgspec.json.decode
_json_encode = msgspec.json.encode


class BindError(Exception):
    """The request does not fit the verb: answered with 400 and this message."""


class NotHttpVerb(Exception):
    """The verb's request or response is not `builtin.HttpRequest` / `builtin.HttpResponse`."""


# ---------------------------------------------------------------------------------------------
# Headers


_CANONICAL_CACHE: dict[bytes, str] = {}
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")


def canonical_header_name(name: str) -> str:
    """Go's MIME canonical form: `x-custom-header` → `X-Custom-Header` (non-token names unchanged)."""
    if not _TOKEN.fullmatch(name):
        return name
    return "-".join(part[:1].upper() + part[1:].lower() for part in name.split("-"))


def request_headers(raw: Iterable[tuple[bytes, bytes]]) -> dict[str, list[str]]:
    """ASGI headers as `{Canonical-Name: [values in order]}`."""
    headers: dict[str, list[str]] = {}
    for raw_name, raw_value in raw:
        name = _CANONICAL_CACHE.get(raw_name)
        if name is None:
            name = canonical_header_name(raw_name.decode("latin-1"))
            if len(_CANONICAL_CACHE) < 4096:
                _CANONICAL_CACHE[raw_name] = name
        values = headers.get(name)
        if values is None:
            headers[name] = [raw_value.decode("latin-1")]
        else:
            values.append(raw_value.decode("latin-1"))
    return headers


# ---------------------------------------------------------------------------------------------
# Scalars from text (path segments, query values, text bodies)


class _ScalarError(Exception):
    pass


def _parse_int(text: str) -> int:
    if _INT_TEXT.fullmatch(text):
        number = json_int(text)
        if number is not None:
            return number
        raise _ScalarError(f"value out of range: {text!r}")
    raise _ScalarError(f"invalid syntax: {text!r}")


def _parse_float(text: str) -> float:
    number = json_float(text)
    if number is None:
        raise _ScalarError(f"invalid syntax: {text!r}")
    return number


def _parse_bool(text: str) -> bool:
    value = json_bool(text)
    if value is None:
        raise _ScalarError(f"invalid syntax: {text!r}")
    return value


def _keep(text: str) -> str:
    return text


_SCALAR_PARSERS: dict[Shape, Callable[[str], Any]] = {
    Shape.INT: _parse_int,
    Shape.FLOAT: _parse_float,
    Shape.BOOL: _parse_bool,
    Shape.STRING: _keep,
    Shape.TIME: _keep,
    Shape.BYTES: _keep,
}


def _scalar_parser(resolved: Resolved) -> Callable[[str], Any] | None:
    """How to read one text value into `resolved`, or None when it is not read from text."""
    shape = resolved.scalar if resolved.shape is Shape.VALUE_ENUM else resolved.shape
    return _SCALAR_PARSERS.get(shape)


# ---------------------------------------------------------------------------------------------
# Request binding
#
# Messages name what failed by its path from the verb's request, `req.body.items[2].qty ...`, as
# the runner's do (`REQUEST_ROOT`).


@dataclass(frozen=True, slots=True)
class _Check:
    """One of body / pathParameters / query that must be validated once bound."""

    label: str
    type: ast.Type
    empty_ok: bool  # `{}` is known to be valid: the common "no query at all" case skips the validator
    path: str  # where its problems are, for messages (`req.body`)


class RequestBinder:
    """Builds the `HttpRequest` JSON for one ingress verb."""

    def __init__(
        self, schema: ast.Schema, index: TypeIndex, module: str, verb: ast.Verb, lenient: bool
    ) -> None:
        request = index.resolve(verb.request, module)
        if not _is_builtin(request, "HttpRequest", 3):
            raise NotHttpVerb(f"{module}.{verb.name}: request type is not builtin.HttpRequest")
        assert isinstance(request.type, ast.Ref)
        body_type, path_type, query_type = request.type.type_args
        self.schema = schema
        self.lenient = lenient
        self._body, body_check = _body_binder(index.resolve(body_type, module), body_type)
        self._path, path_check = _path_binder(index.resolve(path_type, module), index, module)
        self._query, query_check = _query_binder(index.resolve(query_type, module), index, module)
        self._checks = tuple(
            _Check(
                label,
                type_,
                not validate_json({}, type_, schema, lenient=lenient),
                f"{REQUEST_ROOT}.{label}",
            )
            for label, type_, check in (
                ("pathParameters", path_type, path_check),
                ("query", query_type, query_check),
                ("body", body_type, body_check),
            )
            if check
        )

    def bind(
        self,
        method: str,
        path: str,
        path_params: Mapping[str, str],
        query_string: str,
        headers: Iterable[tuple[bytes, bytes]],
        body: bytes,
    ) -> dict[str, Any]:
        """The verb's request as JSON-able builtins, or BindError."""
        request: dict[str, Any] = {
            "method": method,
            "path": path,
            "pathParameters": self._path(path_params),
            "query": self._query(query_string),
            "headers": request_headers(headers),
            "body": self._body(body),
        }
        errors: list[str] = []
        for check in self._checks:
            value = request[check.label]
            if check.empty_ok and value == {}:
                continue
            value, problems = normalize_json(value, check.type, self.schema, check.path, lenient=self.lenient)
            request[check.label] = value
            errors.extend(problems)
        if errors:
            raise BindError("\n".join(errors))
        return request


def _is_builtin(resolved: Resolved, name: str, arity: int) -> bool:
    ref = resolved.type
    return (
        resolved.shape is Shape.DATA
        and isinstance(ref, ast.Ref)
        and ref.module == "builtin"
        and ref.name == name
        and not ref.realm
        and len(ref.type_args) == arity
    )


def _empty(_: Any) -> dict[str, Any]:
    return {}


def _body_binder(resolved: Resolved, body_type: ast.Type) -> tuple[Callable[[bytes], Any], bool]:
    shape = resolved.shape
    bind: Callable[[bytes], Any]
    if shape is Shape.UNIT:
        return _empty, False
    if shape is Shape.BYTES:
        bind = _body_bytes
    elif shape in JSON_SHAPES:
        bind = _json_body(body_type)
    else:
        bind = _text_body(shape)
    validate = shape in JSON_SHAPES or shape is Shape.TIME
    if resolved.optional:
        inner = bind

        def bind(body: bytes) -> Any:
            return None if not body else inner(body)

    return bind, validate


def _body_bytes(body: bytes) -> str:
    return base64.b64encode(body).decode("ascii")


def _json_body(body_type: ast.Type) -> Callable[[bytes], Any]:
    def bind(body: bytes) -> Any:
        try:
            return _json_decode(body)
        except msgspec.DecodeError:
            # Only a failure looks at why: the success path stays a single decode.
            if not body.strip():
                raise BindError(f"request body is empty; expected a JSON {print_type(body_type)}") from None
            raise BindError("HTTP request body is not valid JSON") from None

    return bind


_BODY_SCALAR_NAMES = {Shape.INT: "integer", Shape.FLOAT: "float", Shape.BOOL: "boolean"}


def _text_body(shape: Shape) -> Callable[[bytes], Any]:
    parse = _SCALAR_PARSERS.get(shape, _keep)
    what = _BODY_SCALAR_NAMES.get(shape)

    def bind(body: bytes) -> Any:
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            raise BindError("HTTP request body is not valid UTF-8 text") from None
        try:
            return parse(text)
        except _ScalarError as problem:
            raise BindError(f"failed to parse {what} from request body: {problem}") from None

    return bind


def _path_binder(
    resolved: Resolved, index: TypeIndex, module: str
) -> tuple[Callable[[Mapping[str, str]], Any], bool]:
    shape = resolved.shape
    if shape is Shape.UNIT:
        return _empty, False
    if shape is Shape.MAP:
        assert isinstance(resolved.type, ast.Map)
        parse = _scalar_parser(index.resolve(resolved.type.value, module)) or _keep

        def bind_map(params: Mapping[str, str]) -> Any:
            try:
                return {name: parse(value) for name, value in params.items()}
            except _ScalarError as problem:
                raise BindError(f"failed to parse path parameter: {problem}") from None

        return bind_map, parse is not _keep
    if shape is Shape.DATA:
        parsers = _field_parsers(resolved, index, module)

        def bind_data(params: Mapping[str, str]) -> Any:
            bound: dict[str, Any] = {}
            for name, value in params.items():
                parse = parsers.get(name, _keep)
                try:
                    bound[name] = parse(value)
                except _ScalarError as problem:
                    raise BindError(f'failed to parse path parameter "{name}": {problem}') from None
            return bound

        return bind_data, True
    scalar = _scalar_parser(resolved)
    if scalar is None:
        return dict, True
    what = (resolved.scalar if shape is Shape.VALUE_ENUM else shape).value.lower()

    def bind_scalar(params: Mapping[str, str]) -> Any:
        if not params:
            raise BindError("path parameter missing")
        value = next(iter(params.values()))
        try:
            return scalar(value)
        except _ScalarError as problem:
            raise BindError(f"failed to parse {what} from path parameter: {problem}") from None

    return bind_scalar, shape is Shape.VALUE_ENUM


def _decl_module(resolved: Resolved, module: str) -> str:
    """The module a resolved data type's field types are written in."""
    ref = resolved.type
    return ref.module if isinstance(ref, ast.Ref) and ref.module else module


def _by_field_name(resolved: Resolved, read: Callable[[ast.Field], T]) -> dict[str, T]:
    """For a data type: `read(field)` by field name and by JSON alias (a name wins over an alias)."""
    table: dict[str, T] = {}
    for field in resolved.fields:
        value = read(field)
        alias = json_alias(field)
        if alias is not None:
            table.setdefault(alias, value)
        table[field.name] = value
    return table


def _field_parsers(resolved: Resolved, index: TypeIndex, module: str) -> dict[str, Callable[[str], Any]]:
    """For a data type: how to read each field (by name or alias) from one text value."""
    scope = _decl_module(resolved, module)
    return _by_field_name(resolved, lambda field: _scalar_parser(index.resolve(field.type, scope)) or _keep)


# -- query ----------------------------------------------------------------------------------------


def _parse_query(query_string: str) -> dict[str, list[str]]:
    values: dict[str, list[str]] = {}
    for key, value in parse_qsl(query_string, keep_blank_values=True):
        values.setdefault(key, []).append(value)
    for key in values:
        if not _COMPLEX_CHARS.isdisjoint(key):
            raise BindError(f"complex key \"{key}\" is not supported, use '@json=' instead")
    return values


def _json_query(values: dict[str, list[str]]) -> Any:
    if len(values) > 1:
        raise BindError("only '@json' parameter is allowed, but other parameters were found")
    texts = values["@json"]
    if len(texts) != 1:
        raise BindError("'@json' parameter must be provided exactly once")
    if not texts[0]:
        raise BindError("failed to parse '@json' query parameter: unexpected end of JSON input")
    try:
        decoded = _json_decode(texts[0].encode())
    except msgspec.DecodeError as problem:
        raise BindError(f"failed to parse '@json' query parameter: {problem}") from None
    if type(decoded) is not dict:
        raise BindError("failed to parse '@json' query parameter: it must be a JSON object")
    return decoded


@dataclass(frozen=True, slots=True)
class _QueryField:
    parse: Callable[[str], Any] | None  # one value read as a scalar; None: the raw list of strings
    many: bool  # an array: every value, each read with `parse`


def _query_field(resolved: Resolved, index: TypeIndex, module: str) -> _QueryField:
    if resolved.shape is Shape.ARRAY:
        assert isinstance(resolved.type, ast.Array)
        return _QueryField(_scalar_parser(index.resolve(resolved.type.element, module)), many=True)
    return _QueryField(_scalar_parser(resolved), many=False)


def _query_value(key: str, field: _QueryField, values: list[str]) -> Any:
    try:
        if field.parse is None:
            return values
        if field.many:
            for value in values:
                _check_simple(value)
            return [field.parse(value) for value in values]
        if len(values) > 1:
            raise _ScalarError("multiple values are not supported")
        _check_simple(values[0])
        return field.parse(values[0])
    except _ScalarError as problem:
        raise BindError(f'failed to parse query parameter "{key}": {problem}') from None


def _check_simple(value: str) -> None:
    if not _COMPLEX_CHARS.isdisjoint(value):
        raise _ScalarError(f"complex value \"{value}\" is not supported, use '@json=' instead")


def _query_binder(resolved: Resolved, index: TypeIndex, module: str) -> tuple[Callable[[str], Any], bool]:
    shape = resolved.shape
    if shape is Shape.UNIT:
        # A route that declares no query ignores whatever query string a client or proxy adds.
        return _empty, False
    if shape is Shape.DATA:
        scope = _decl_module(resolved, module)
        fields = _by_field_name(
            resolved, lambda field: _query_field(index.resolve(field.type, scope), index, scope)
        )
        raw = _QueryField(None, many=False)

        def read(values: dict[str, list[str]]) -> Any:
            return {key: _query_value(key, fields.get(key, raw), texts) for key, texts in values.items()}

    elif shape is Shape.MAP:
        assert isinstance(resolved.type, ast.Map)
        value_field = _query_field(index.resolve(resolved.type.value, module), index, module)
        # A map of scalars takes each key's first value; a map of arrays takes them all.
        first = _QueryField(value_field.parse, many=False) if not value_field.many else value_field

        def read(values: dict[str, list[str]]) -> Any:
            if first.many:
                return {key: _query_value(key, first, texts) for key, texts in values.items()}
            return {key: _query_value(key, first, texts[:1]) for key, texts in values.items()}

    else:

        def read(values: dict[str, list[str]]) -> Any:
            return values

    def bind(query_string: str) -> Any:
        if not query_string:
            return {}
        values = _parse_query(query_string)
        if "@json" in values:
            return _json_query(values)
        return read(values)

    # Even a map of strings is checked: an `@json` query can hold anything.
    return bind, True


# ---------------------------------------------------------------------------------------------
# Response rendering


@dataclass(frozen=True, slots=True)
class HttpReply:
    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes


INTERNAL_ERROR: Final = HttpReply(500, [(b"content-type", TEXT_PLAIN)], b"Internal Server Error\n")

# Statuses that never carry a body (RFC 9110 15.3.5, 15.4.5): no body, Content-Type or Content-Length.
BODYLESS_STATUSES: Final = frozenset({204, 304})
# Informational (1xx) statuses are not final answers: a verb cannot end a request with one.
_FINAL_STATUSES: Final = range(200, 1000)
# The ingress frames the body itself; a verb's own framing headers could only contradict it.
_FRAMING_HEADERS: Final = frozenset({"content-length", "transfer-encoding"})
_HEADER_VALUE_FORBIDDEN = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
_SHOWN_CHARS: Final = 80


class RenderError(Exception):
    """The verb's `HttpResponse` cannot be sent; the message says why (for the timeline, not the client)."""


def text_reply(status: int, message: str, headers: Iterable[tuple[bytes, bytes]] = ()) -> HttpReply:
    """An answer of the ingress itself: the message and a newline, as plain text."""
    return HttpReply(status, [(b"content-type", TEXT_PLAIN), *headers], (message + "\n").encode())


class ResponseRenderer:
    """Turns the `HttpResponse` JSON one ingress verb returns into an HTTP answer."""

    def __init__(self, schema: ast.Schema, index: TypeIndex, module: str, verb: ast.Verb) -> None:
        response = index.resolve(verb.response, module)
        if not _is_builtin(response, "HttpResponse", 2):
            raise NotHttpVerb(f"{module}.{verb.name}: response type is not builtin.HttpResponse")
        assert isinstance(response.type, ast.Ref)
        body_type, error_type = response.type.type_args
        self._body = _part_renderer(schema, index, module, body_type)
        self._error = _part_renderer(schema, index, module, error_type)

    def render(self, data: bytes) -> HttpReply:
        """The HTTP answer, or RenderError saying why the response cannot be sent."""
        try:
            response = _json_decode(data)
        except msgspec.DecodeError as problem:
            raise RenderError(f"response is not JSON: {problem}") from None
        if type(response) is not dict:
            raise RenderError(f"response must be a JSON object, got {shown(response)}")
        return self._render(response)

    def _render(self, response: dict[str, Any]) -> HttpReply:
        status = response.get("status") or 200
        if type(status) is float and status.is_integer():
            status = int(status)
        if type(status) is not int or status not in _FINAL_STATUSES:
            raise RenderError(f"status must be a final HTTP status (200 to 999), got {shown(status)}")
        body, error = response.get("body"), response.get("error")
        if body is not None and error is not None:
            raise RenderError("both body and error are set; set one of them")
        headers = _response_headers(response.get("headers"))
        if status in BODYLESS_STATUSES:
            return HttpReply(status, [h for h in headers if h[0] != b"content-type"], b"")
        if body is None and error is None:
            # Nothing to send but the status and headers: a 201 without content, a redirect.
            return HttpReply(status, headers, b"")
        try:
            content, content_type = self._body(body) if error is None else self._error(error)
        except RenderError as problem:
            raise RenderError(f"{'body' if error is None else 'error'} {problem}") from None
        if content_type is not None and b"content-type" not in (name for name, _ in headers):
            headers.append((b"content-type", content_type))
        return HttpReply(status, headers, content)


def shown(value: Any) -> str:
    """A JSON value as a message shows it: its JSON text, cut short."""
    try:
        text = _json_encode(value).decode()
    except (TypeError, ValueError, OverflowError):
        text = repr(value)
    return text if len(text) <= _SHOWN_CHARS else text[: _SHOWN_CHARS - 3] + "..."


def _response_headers(value: Any) -> list[tuple[bytes, bytes]]:
    if value is None:
        return []
    if type(value) is not dict:
        raise RenderError(f"headers must be an object of lists of strings, got {shown(value)}")
    merged: dict[str, list[str]] = {}
    for name, values in value.items():
        items = [values] if type(values) is str else values
        if type(items) is not list or any(type(v) is not str for v in items):
            raise RenderError(f"header {name!r} must be a list of strings, got {shown(values)}")
        if not _TOKEN.fullmatch(name):
            raise RenderError(f"header name {name!r} is not a valid HTTP header name")
        if name.lower() in _FRAMING_HEADERS:
            continue
        kept = merged.setdefault(canonical_header_name(name), [])
        for item in items:
            if _HEADER_VALUE_FORBIDDEN.search(item):
                raise RenderError(f"header {name!r} has a control character in its value {item!r}")
            # Whitespace around a value is not part of it (RFC 9110 5.5), and HTTP/1.1 cannot send it.
            kept.append(item.strip(" \t"))
    try:
        return [(n.lower().encode("latin-1"), v.encode("latin-1")) for n, vs in merged.items() for v in vs]
    except UnicodeEncodeError:
        raise RenderError("header values must be latin-1 text") from None


_Rendered = tuple[bytes, bytes | None]


def _part_renderer(
    schema: ast.Schema, index: TypeIndex, module: str, type_: ast.Type
) -> Callable[[Any], _Rendered]:
    resolved = index.resolve(type_, module)
    shape = resolved.shape
    if shape in JSON_SHAPES:
        aliased = _has_aliases(type_, index, module)

        def render_json(value: Any) -> _Rendered:
            if aliased:
                value = alias_json(value, type_, schema)
            return json_text(value), APPLICATION_JSON

        return render_json
    return _SCALAR_RENDERERS[shape]


def json_text(value: Any) -> bytes:
    """Compact JSON, keys sorted, with `<`, `>` and `&` escaped as Go's encoder does."""
    try:
        text = _json_encode(value, order="sorted")
    except (TypeError, ValueError, OverflowError):
        raise RenderError("is not JSON-encodable") from None
    if b"<" in text or b">" in text or b"&" in text:
        text = text.replace(b"<", b"\\u003c").replace(b">", b"\\u003e").replace(b"&", b"\\u0026")
    return text


def _render_unit(_: Any) -> _Rendered:
    return b"", None


def _render_string(value: Any) -> _Rendered:
    if type(value) is not str:
        raise RenderError(f"must be a string, got {shown(value)}")
    return value.encode("utf-8"), TEXT_PLAIN


def _render_int(value: Any) -> _Rendered:
    if type(value) is float and value.is_integer():
        value = int(value)
    if type(value) is not int:
        raise RenderError(f"must be an integer, got {shown(value)}")
    return str(value).encode(), TEXT_PLAIN


def _render_float(value: Any) -> _Rendered:
    if type(value) not in (int, float):
        raise RenderError(f"must be a number, got {shown(value)}")
    return float_text(float(value)).encode(), TEXT_PLAIN


def float_text(value: float) -> str:
    """The shortest decimal that reads back as `value`, never with an exponent (Go's 'f', -1)."""
    try:
        text = format(Decimal(repr(value)).normalize(), "f")
    except InvalidOperation:
        return repr(value)
    return text


def _render_bool(value: Any) -> _Rendered:
    if type(value) is not bool:
        raise RenderError(f"must be a boolean, got {shown(value)}")
    return (b"true" if value else b"false"), TEXT_PLAIN


def _render_bytes(value: Any) -> _Rendered:
    if type(value) is not str:
        raise RenderError(f"must be base64 text, got {shown(value)}")
    try:
        return base64.b64decode(value, validate=True), OCTET_STREAM
    except (binascii.Error, ValueError):
        raise RenderError(f"is not valid base64: {shown(value)}") from None


_SCALAR_RENDERERS: dict[Shape, Callable[[Any], _Rendered]] = {
    Shape.UNIT: _render_unit,
    Shape.STRING: _render_string,
    Shape.TIME: _render_string,
    Shape.INT: _render_int,
    Shape.FLOAT: _render_float,
    Shape.BOOL: _render_bool,
    Shape.BYTES: _render_bytes,
}


def _has_aliases(type_: ast.Type, index: TypeIndex, module: str) -> bool:
    """Whether any data reachable from `type_` renames a field for JSON (else no aliasing pass)."""
    seen: set[tuple[str, str, str]] = set()
    stack: list[tuple[ast.Type, str]] = [(type_, module)]
    while stack:
        current, scope = stack.pop()
        match current:
            case ast.Array(element=element):
                stack.append((element, scope))
            case ast.Map(key=key_type, value=value_type):
                stack.extend(((key_type, scope), (value_type, scope)))
            case ast.Optional(type=inner):
                stack.append((inner, scope))
            case ast.Ref():
                stack.extend((arg, scope) for arg in current.type_args)
                key = (current.realm, current.module or scope, current.name)
                decl = index.decl(current, scope)
                if decl is None or key in seen:
                    continue
                seen.add(key)
                inner_scope = current.module or scope
                if isinstance(decl, ast.Data):
                    for field in decl.fields:
                        if json_alias(field) is not None:
                            return True
                        stack.append((field.type, inner_scope))
                elif isinstance(decl, ast.TypeAlias):
                    stack.append((decl.type, inner_scope))
                elif isinstance(decl, ast.Enum):
                    variants = (v.value for v in decl.variants)
                    stack.extend((v.value, inner_scope) for v in variants if isinstance(v, ast.TypeValue))
    return False
