"""An example JSON value for a schema type: what the verb form is prefilled with.

Values follow FTL-JSON (lowerCamel field names as the schema spells them, RFC 3339 times, sum
types as `{"name", "value"}`), so a prefilled form can be sent as is. Optional fields are left
out rather than set to null, to keep the example short; recursion stops at the first repeat.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

from ftl.schema import ast

__all__ = ["sample_json", "sample_request"]

SAMPLE_TIME: Final = "2024-01-01T00:00:00Z"
MAX_DEPTH: Final = 8

_Key = tuple[str, str, str]  # (realm, module, name)


@dataclass(frozen=True, slots=True)
class _Scope:
    realm: str
    module: str
    params: dict[str, ast.Type] = field(default_factory=dict)


def sample_json(type_: ast.Type, schema: ast.Schema, *, realm: str = "", module: str = "") -> Any:
    """An example value of `type_` as referenced from `module` of `realm` ("" = the internal realm)."""
    decls: dict[_Key, ast.Decl] = {}
    for each in schema.realms:
        realm_key = each.name if each.external else ""
        for mod in each.modules:
            for decl in mod.decls:
                decls.setdefault((realm_key, mod.name, decl.name), decl)
    return _Sampler(decls).value(type_, _Scope(realm, module), ())


def sample_request(verb: ast.Verb, schema: ast.Schema, *, module: str) -> Any:
    """An example request for `verb`; an HTTP ingress verb's also gets its route's method and path."""
    value = sample_json(verb.request, schema, module=module)
    route = next((m for m in verb.metadata if isinstance(m, ast.MetadataIngress)), None)
    if route is not None and isinstance(value, dict) and "method" in value and "path" in value:
        value["method"] = route.method
        value["path"] = route.path_text
    return value


class _Sampler:
    def __init__(self, decls: dict[_Key, ast.Decl]) -> None:
        self._decls = decls

    def value(self, type_: ast.Type, scope: _Scope, seen: tuple[_Key, ...]) -> Any:
        match type_:
            case ast.Int():
                return 0
            case ast.Float():
                return 0.0
            case ast.String() | ast.Bytes():
                return ""
            case ast.Bool():
                return False
            case ast.Time():
                return SAMPLE_TIME
            case ast.Unit():
                return {}
            case ast.Any() | ast.Optional():
                return None
            case ast.Array(element=element):
                item = self.value(element, scope, seen)
                return [] if item is None else [item]
            case ast.Map():
                return {}
            case ast.Ref():
                return self.ref(type_, scope, seen)
        return None

    def ref(self, ref: ast.Ref, scope: _Scope, seen: tuple[_Key, ...]) -> Any:
        if not ref.module and ref.name in scope.params:
            return self.value(scope.params[ref.name], scope, seen)
        realm = ref.realm or scope.realm
        module = ref.module or scope.module
        key = (realm, module, ref.name)
        decl = self._decls.get(key) or self._decls.get((realm, "builtin", ref.name))
        if decl is None or key in seen or len(seen) >= MAX_DEPTH:
            return None
        inner = (*seen, key)
        declared_in = _Scope(realm, module)
        if isinstance(decl, ast.Data):
            params = {p.name: arg for p, arg in zip(decl.type_params, ref.type_args, strict=False)}
            # Type arguments were written where the data was referenced: sample them from there.
            bound = {name: self._resolved(arg, scope) for name, arg in params.items()}
            data_scope = _Scope(realm, module, bound)
            return {
                f.name: self.value(f.type, data_scope, inner)
                for f in decl.fields
                if not isinstance(f.type, ast.Optional)
            }
        if isinstance(decl, ast.Enum):
            return self.enum(decl, declared_in, inner)
        if isinstance(decl, ast.TypeAlias):
            return self.value(decl.type, declared_in, inner)
        return None

    def _resolved(self, type_: ast.Type, scope: _Scope) -> ast.Type:
        """A type argument with its own realm and module made explicit, so it samples anywhere."""
        if isinstance(type_, ast.Ref):
            if not type_.module and type_.name in scope.params:
                return scope.params[type_.name]
            return ast.Ref(
                type_.module or scope.module,
                type_.name,
                tuple(self._resolved(arg, scope) for arg in type_.type_args),
                type_.realm or scope.realm,
            )
        return type_

    def enum(self, enum: ast.Enum, scope: _Scope, seen: tuple[_Key, ...]) -> Any:
        if not enum.variants:
            return None
        first = enum.variants[0]
        if enum.type is not None:
            value = first.value
            return value.value if isinstance(value, ast.StringValue | ast.IntValue) else None
        variant_type = first.value.value if isinstance(first.value, ast.TypeValue) else ast.Unit()
        return {"name": first.name, "value": self.value(variant_type, scope, seen)}
