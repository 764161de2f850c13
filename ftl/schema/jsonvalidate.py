"""Checking decoded JSON against a schema type: FTL-JSON as the ingress, `ftl call` and config see it.

`validate_json` answers "does this value fit this type?" with every problem, each naming its field
path (`req.items[2].qty has wrong type, expected Int found string`). `normalize_json` does the same
and also returns the value with `+alias json` names turned back into schema names; `alias_json`
goes the other way for values leaving the system.

The rules follow upstream FTL's `jsonvalidate.go`: Int accepts whole numbers and decimal strings,
Float accepts numeric strings, Bool accepts `strconv.ParseBool` strings, Bytes is padded standard
base64, Time is RFC 3339 with upper-case `T`/`Z`, Unit is `{}`. A data field may be missing when
its type is optional, Any, an array, a map, Bytes or Unit. Those scalar rules are public here
(`json_int`, ...) because `ftl.runtime.encoding` applies exactly the same ones when it decodes.

Deliberate differences from upstream: an aliased key whose value is `null` still counts as that
field (upstream reports the field missing), and messages never contain Go formatting artefacts.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
import threading
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, Final

from ftl.schema import ast
from ftl.schema.printer import print_type

__all__ = [
    "alias_json",
    "json_alias",
    "json_bool",
    "json_bytes",
    "json_float",
    "json_int",
    "json_int_mismatch",
    "json_kind",
    "json_time",
    "json_type_name",
    "normalize_json",
    "validate_json",
]

INT64_MIN: Final = -(2**63)
INT64_MAX: Final = 2**63 - 1
INT_OUT_OF_RANGE: Final = "integer out of range for Int (64-bit)"
_INT64_DIGITS: Final = len(str(INT64_MAX))

# ---------------------------------------------------------------------------------------------
# Scalars: each returns the Python value, or None when the JSON value does not fit.

_INT_TEXT = re.compile(r"[+-]?[0-9]+")
_FLOAT_TEXT = re.compile(
    r"[+-]?(?:(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|inf|infinity|nan)", re.IGNORECASE
)
_FLOAT_SPECIAL = re.compile(r"[+-]?(?:inf|infinity|nan)", re.IGNORECASE)
_BOOL_TEXT: Final = {
    "1": True, "t": True, "T": True, "TRUE": True, "true": True, "True": True,
    "0": False, "f": False, "F": False, "FALSE": False, "false": False, "False": False,
}  # fmt: skip
_RFC3339 = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]+))?"
    r"(?:Z|([+-])([0-9]{2}):([0-9]{2}))"
)


def json_int(value: Any) -> int | None:
    """An Int: a JSON integer, a whole float (`10.0`), or a decimal string (`"+42"`), in int64 range."""
    number = _whole_number(value)
    return number if number is not None and INT64_MIN <= number <= INT64_MAX else None


def json_int_mismatch(value: Any) -> str:
    """Why `json_int` rejected `value`: a whole number too big for an Int, or not a whole number."""
    if _whole_number(value) is not None:
        return INT_OUT_OF_RANGE
    return f"expected Int, got {json_type_name(value)}"


def _whole_number(value: Any) -> int | None:
    """The whole number `value` spells as an Int would (any size), or None if it spells none."""
    if type(value) is int:
        return value
    if type(value) is float:
        return int(value) if value.is_integer() else None
    if type(value) is str and _INT_TEXT.fullmatch(value):
        if len(value.lstrip("+-").lstrip("0")) > _INT64_DIGITS:
            # Out of range whatever its digits; a stand-in, as Python refuses very long digit strings.
            return (INT64_MIN if value.startswith("-") else INT64_MAX) * 2
        return int(value)
    return None


def json_float(value: Any) -> float | None:
    """A Float: a JSON number or a numeric string (including `"NaN"` and `"-Infinity"`, as Go parses)."""
    if type(value) is float:
        return value
    if type(value) is int:
        return float(value)
    if type(value) is str and _FLOAT_TEXT.fullmatch(value):
        number = float(value)
        if math.isinf(number) and not _FLOAT_SPECIAL.fullmatch(value):
            return None  # out of range, which Go's ParseFloat rejects
        return number
    return None


def json_bool(value: Any) -> bool | None:
    """A Bool: true/false, or one of the strings Go's `strconv.ParseBool` accepts (`"1"`, `"F"`, ...)."""
    if type(value) is bool:
        return value
    if type(value) is str:
        return _BOOL_TEXT.get(value)
    return None


def json_bytes(value: Any) -> bytes | None:
    """Bytes: a standard, padded base64 string."""
    if type(value) is not str:
        return None
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return None


def json_time(value: Any) -> datetime | None:
    """A Time: an RFC 3339 string with an offset (`Z` or `+01:00`), always timezone-aware.

    Python keeps microseconds, so digits beyond the sixth fractional digit are dropped.
    """
    if type(value) is not str:
        return None
    match = _RFC3339.fullmatch(value)
    if match is None:
        return None
    year, month, day, hour, minute, second, fraction, sign, off_hours, off_minutes = match.groups()
    if sign is None:
        tz = UTC
    else:
        offset = timedelta(hours=int(off_hours), minutes=int(off_minutes))
        if int(off_hours) > 23 or int(off_minutes) > 59:
            return None
        tz = timezone(-offset if sign == "-" else offset)
    micros = int((fraction or "0")[:6].ljust(6, "0"))
    try:
        return datetime(
            int(year), int(month), int(day), int(hour), int(minute), int(second), micros, tzinfo=tz
        )
    except ValueError:
        return None


def json_kind(value: Any) -> str:
    """What a decoded JSON value is, in words for messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def json_type_name(value: Any) -> str:
    """What a decoded JSON value is, as FTL names types, for `expected Int, got String` messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "Bool"
    if isinstance(value, int):
        return "Int"
    if isinstance(value, float):
        return "Float"
    if isinstance(value, str):
        return "String"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


# ---------------------------------------------------------------------------------------------
# Public entry points


def validate_json(
    value: Any, type_: ast.Type, schema: ast.Schema, path: str = "", *, lenient: bool = False
) -> list[str]:
    """Every way `value` (decoded JSON) does not fit `type_`, resolved in `schema`; [] when it fits.

    `path` is the label messages start from (`req` gives `req.name is required`). `lenient`
    accepts unknown fields in data values (`+encoding json lenient`).
    """
    return normalize_json(value, type_, schema, path, lenient=lenient)[1]


def normalize_json(
    value: Any, type_: ast.Type, schema: ast.Schema, path: str = "", *, lenient: bool = False
) -> tuple[Any, list[str]]:
    """Validate like `validate_json`, and return `value` with JSON aliases replaced by field names."""
    checker = _Checker(_index(schema), lenient)
    normalized = checker.check(value, type_, path, _ROOT_SCOPE)
    return normalized, checker.errors


def alias_json(value: Any, type_: ast.Type, schema: ast.Schema) -> Any:
    """`value` with data field names replaced by their `+alias json` names, at every level.

    Values that do not fit `type_` are passed through unchanged (validation is not this function's job).
    """
    return _Checker(_index(schema), lenient=True).alias(value, type_, _ROOT_SCOPE)


# ---------------------------------------------------------------------------------------------
# Resolving references


@dataclass(frozen=True)
class _Scope:
    """Where a type was written: its realm ("" = internal) and module, and bound type parameters."""

    realm: str = ""
    module: str = ""
    params: Mapping[str, tuple[ast.Type, _Scope]] = field(default_factory=dict)


_ROOT_SCOPE = _Scope()


@dataclass
class _Index:
    # (realm or "", module, name) → a data/enum/typealias with the scope it was declared in
    types: dict[tuple[str, str, str], tuple[ast.TypeDecl, _Scope]]
    others: dict[tuple[str, str, str], ast.Decl]  # any other declaration kind, for clear errors
    modules: set[tuple[str, str]]


_INDEX_CACHE: OrderedDict[int, tuple[ast.Schema, _Index]] = OrderedDict()
_INDEX_CACHE_SIZE = 8
_INDEX_LOCK = threading.Lock()


def _index(schema: ast.Schema) -> _Index:
    # Keyed by identity: hashing a whole schema costs more than indexing it. The cache holds the
    # schema itself, so an id is never reused while its entry lives.
    with _INDEX_LOCK:
        cached = _INDEX_CACHE.get(id(schema))
        if cached is not None and cached[0] is schema:
            _INDEX_CACHE.move_to_end(id(schema))
            return cached[1]
    index = _Index(types={}, others={}, modules=set())
    for realm in schema.realms:
        realm_key = realm.name if realm.external else ""
        for module in realm.modules:
            index.modules.add((realm_key, module.name))
            scope = _Scope(realm_key, module.name)
            for decl in module.decls:
                key = (realm_key, module.name, decl.name)
                if isinstance(decl, ast.TypeDecl):
                    index.types.setdefault(key, (decl, scope))
                else:
                    index.others.setdefault(key, decl)
    with _INDEX_LOCK:
        _INDEX_CACHE[id(schema)] = (schema, index)
        if len(_INDEX_CACHE) > _INDEX_CACHE_SIZE:
            _INDEX_CACHE.popitem(last=False)
    return index


_MAY_BE_MISSING = (ast.Optional, ast.Any, ast.Array, ast.Map, ast.Bytes, ast.Unit)


class _Checker:
    def __init__(self, index: _Index, lenient: bool) -> None:
        self.index = index
        self.lenient = lenient
        self.errors: list[str] = []

    # -- resolution --------------------------------------------------------------------------

    def resolve(self, ref: ast.Ref, scope: _Scope) -> tuple[ast.TypeDecl | ast.Type, _Scope] | str:
        """A type parameter's binding, the declaration a ref names (with its scope), or an error."""
        if not ref.module and ref.name in scope.params:
            return scope.params[ref.name]
        realm = ref.realm or scope.realm
        if ref.module:
            candidates = [(ref.module, ref.name)]
        elif (realm, ref.name) in self.index.modules:
            return f'invalid reference "{ref.name}": it names a module'
        else:
            candidates = [("builtin", ref.name), (scope.module, ref.name)]
        for module, name in candidates:
            found = self.index.types.get((realm, module, name))
            if found is not None:
                return found
        for module, name in candidates:
            other = self.index.others.get((realm, module, name))
            if other is not None:
                return f"{print_type(ref)} is a {other.kind}, not a type"
        return f"unknown reference {print_type(ref)}"

    def bind(self, data: ast.Data, ref: ast.Ref, decl_scope: _Scope, use_scope: _Scope) -> _Scope | str:
        if len(ref.type_args) != len(data.type_params):
            return (
                f"reference to data structure {data.name} has {len(ref.type_args)} type parameters, "
                f"but {len(data.type_params)} were expected"
            )
        if not data.type_params:
            return decl_scope
        params = {p.name: (arg, use_scope) for p, arg in zip(data.type_params, ref.type_args, strict=True)}
        return _Scope(decl_scope.realm, decl_scope.module, params)

    # -- validation --------------------------------------------------------------------------

    def fail(self, message: str) -> None:
        self.errors.append(message)

    def wrong_type(self, path: str, expected: str, value: Any) -> None:
        # The SDK spec's wording, as the runtime decoder's: `req.items[2].qty: expected Int, got String`.
        message = f"expected {expected}, got {json_type_name(value)}"
        self.fail(f"{path}: {message}" if path else message)

    def check(self, value: Any, type_: ast.Type, path: str, scope: _Scope) -> Any:
        """Validate `value` against `type_`; return it with aliases undone."""
        match type_:
            case ast.Int():
                if json_int(value) is None:
                    message = json_int_mismatch(value)
                    self.fail(f"{path}: {message}" if path else message)
            case ast.Float():
                if json_float(value) is None:
                    self.wrong_type(path, "Float", value)
            case ast.String():
                if type(value) is not str:
                    self.wrong_type(path, "String", value)
            case ast.Bool():
                if json_bool(value) is None:
                    self.wrong_type(path, "Bool", value)
            case ast.Bytes():
                if type(value) is not str:
                    self.wrong_type(path, "Bytes", value)
                elif json_bytes(value) is None:
                    self.fail(f"{path or 'value'} is not a valid base64 string")
            case ast.Time():
                if json_time(value) is None:
                    self.fail(f"{path or 'value'} must be an RFC3339 formatted string, found {_short(value)}")
            case ast.Unit():
                if not (type(value) is dict and not value):
                    self.fail(f"{path or 'value'} must be an empty map ({{}}), found {_short(value)}")
            case ast.Any():
                pass
            case ast.Optional(type=inner):
                return None if value is None else self.check(value, inner, path, scope)
            case ast.Array(element=element):
                if type(value) is not list:
                    self.wrong_type(path, print_type(type_), value)
                    return value
                return [self.check(item, element, f"{path}[{i}]", scope) for i, item in enumerate(value)]
            case ast.Map(key=key_type, value=value_type):
                if type(value) is not dict:
                    self.wrong_type(path, print_type(type_), value)
                    return value
                result = {}
                for key, item in value.items():
                    item_path = f"{path}[{json.dumps(key)}]"
                    self.check(key, key_type, item_path, scope)
                    result[key] = self.check(item, value_type, item_path, scope)
                return result
            case ast.Ref():
                return self.check_ref(value, type_, path, scope)
        return value

    def check_ref(self, value: Any, ref: ast.Ref, path: str, scope: _Scope) -> Any:
        resolved = self.resolve(ref, scope)
        if isinstance(resolved, str):
            self.fail(f"{path or 'value'}: {resolved}")
            return value
        target, target_scope = resolved
        if isinstance(target, ast.Data):
            bound = self.bind(target, ref, target_scope, scope)
            if isinstance(bound, str):
                self.fail(f"{path or 'value'}: {bound}")
                return value
            return self.check_data(value, target, ref, path, bound)
        if isinstance(target, ast.Enum):
            return self.check_enum(value, target, path, target_scope)
        if isinstance(target, ast.TypeAlias):
            return self.check(value, target.type, path, target_scope)
        # A type parameter, bound to a type written where the generic data was referenced.
        return self.check(value, target, path, target_scope)

    def check_data(self, value: Any, data: ast.Data, ref: ast.Ref, path: str, scope: _Scope) -> Any:
        if type(value) is not dict:
            self.wrong_type(path, print_type(ref), value)
            return value
        prefix = f"{path}." if path else ""
        consumed: set[str] = set()
        result: dict[str, Any] = {}
        for data_field in data.fields:
            alias = json_alias(data_field)
            if data_field.name in value:
                key = data_field.name
            elif alias is not None and alias in value:
                key = alias
            else:
                if not isinstance(data_field.type, _MAY_BE_MISSING):
                    self.fail(f"{prefix}{data_field.name} is required")
                continue
            consumed.add(key)
            result[data_field.name] = self.check(value[key], data_field.type, prefix + data_field.name, scope)
        for key, item in value.items():
            if key in consumed:
                continue
            if self.lenient:
                result[key] = item
            else:
                self.fail(f"{prefix}{key} is not a valid field")
        return result

    def check_enum(self, value: Any, enum: ast.Enum, path: str, scope: _Scope) -> Any:
        at = f"{path}: " if path else ""
        if enum.type is not None:
            if not any(_variant_matches(v.value, value) for v in enum.variants):
                shown = value if type(value) is str else json.dumps(value)
                wanted = _enum_value_kind(enum)
                hint = (
                    f" (found {json_kind(value)}, its values are {wanted}s)"
                    if wanted != json_kind(value)
                    else ""
                )
                self.fail(f"{at}{shown} is not a valid variant of enum {enum.name}{hint}")
            return value
        if type(value) is not dict:
            self.fail(f"{at}malformed enum type {enum.name}, expected map, got {json_kind(value)}")
            return value
        if "name" not in value:
            self.fail(
                f'{at}missing name field in enum type {enum.name}: expected {{"name": <variant name>, '
                f'"value": <variant value>}}'
            )
            return value
        name = value["name"]
        if type(name) is not str:
            self.fail(f"{at}expected 'name' field to be a string, got {json_kind(name)}")
            return value
        variant = next((v for v in enum.variants if v.name == name), None)
        if variant is None:
            self.fail(f"{at}{json.dumps(name)} is not a valid variant of enum {enum.name}")
            return value
        if "value" not in value:
            self.fail(f"{at}missing value field in enum type {enum.name}")
            return value
        if not isinstance(variant.value, ast.TypeValue):
            self.fail(f"{at}variant {name} of enum {enum.name} has no type")
            return value
        return {"name": name, "value": self.check(value["value"], variant.value.value, path, scope)}

    # -- aliasing ------------------------------------------------------------------------------

    def alias(self, value: Any, type_: ast.Type, scope: _Scope) -> Any:
        match type_:
            case ast.Optional(type=inner):
                return None if value is None else self.alias(value, inner, scope)
            case ast.Array(element=element) if type(value) is list:
                return [self.alias(item, element, scope) for item in value]
            case ast.Map(value=value_type) if type(value) is dict:
                return {key: self.alias(item, value_type, scope) for key, item in value.items()}
            case ast.Ref():
                return self.alias_ref(value, type_, scope)
        return value

    def alias_ref(self, value: Any, ref: ast.Ref, scope: _Scope) -> Any:
        resolved = self.resolve(ref, scope)
        if isinstance(resolved, str):
            return value
        target, target_scope = resolved
        if isinstance(target, ast.Data):
            bound = self.bind(target, ref, target_scope, scope)
            if type(value) is not dict or isinstance(bound, str):
                return value
            fields = {f.name: f for f in target.fields}
            result = {}
            for key, item in value.items():
                data_field = fields.get(key)
                if data_field is None:
                    result[key] = item
                else:
                    result[json_alias(data_field) or key] = self.alias(item, data_field.type, bound)
            return result
        if isinstance(target, ast.Enum):
            if target.type is not None or type(value) is not dict or "value" not in value:
                return value
            variant = next((v for v in target.variants if v.name == value.get("name")), None)
            if variant is None or not isinstance(variant.value, ast.TypeValue):
                return value
            return {**value, "value": self.alias(value["value"], variant.value.value, target_scope)}
        if isinstance(target, ast.TypeAlias):
            return self.alias(value, target.type, target_scope)
        return self.alias(value, target, target_scope)


def json_alias(data_field: ast.Field) -> str | None:
    """The field's name in FTL-JSON when it has a `+alias json`, else None."""
    for item in data_field.metadata:
        if isinstance(item, ast.MetadataAlias) and item.alias_kind == ast.AliasKind.JSON:
            return item.alias
    return None


def _variant_matches(variant: ast.Value, value: Any) -> bool:
    if isinstance(variant, ast.StringValue):
        return type(value) is str and value == variant.value
    if isinstance(variant, ast.IntValue):
        # Value enums match on the JSON number only: no numeric strings, unlike plain Int.
        return type(value) in (int, float) and value == variant.value
    return False


def _enum_value_kind(enum: ast.Enum) -> str:
    """How a value enum's values look in JSON: "string" or "number"."""
    if any(isinstance(v.value, ast.IntValue) for v in enum.variants):
        return "number"
    return "string"


def _short(value: Any) -> str:
    """A decoded JSON value as JSON text, cut short for messages."""
    text = json.dumps(value, default=repr)
    return text if len(text) <= 60 else text[:57] + "..."
