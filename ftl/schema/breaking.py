"""Breaking-change checks between two versions of a type, or of a whole schema.

Type level (`type_changes`) follows upstream's `change.Breaking` (conformance/breaking.json), with
its bugs fixed: every problem is reported (not only the first, in map order), recursive types
terminate, type parameters are compared instead of failing to resolve, and a reference's type
arguments are compared too.

Schema level (`schema_changes`) is ours: it pairs modules and declarations by name and lists
every change, each marked breaking or not, as `module.decl: what`. Rules:
- breaking: a removed data/enum/typealias/verb/topic, a change of declaration kind, narrowed
  visibility, a removed or retyped field, changed type parameters, a changed verb request or
  response, any change to an enum's variants (as upstream), a required field added to a type
  that reaches a verb request;
- not breaking: additions, widened visibility, optional fields, removed config/secret/database,
  comments and metadata.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from ftl.errors import Position
from ftl.schema import ast
from ftl.schema.printer import print_type

_KIND_NAMES: dict[type, str] = {
    ast.String: "string",
    ast.Int: "int",
    ast.Float: "float",
    ast.Bool: "bool",
    ast.Bytes: "bytes",
    ast.Time: "time",
    ast.Any: "any",
    ast.Unit: "unit",
    ast.Optional: "optional",
    ast.Map: "map",
    ast.Array: "array",
    ast.Ref: "ref",
    ast.Data: "data",
    ast.Enum: "enum",
    ast.TypeAlias: "type alias",
}
Comparable = ast.Type | ast.TypeDecl


@dataclass(frozen=True)
class Finding:
    """One type-level problem, in upstream's wording (`R: a: type changed from int to string`)."""

    message: str
    pos: Position | None = None

    def __str__(self) -> str:
        return f"{self.pos}: {self.message}" if self.pos else self.message


@dataclass(frozen=True, order=True)
class Change:
    """One difference between two schemas; `str()` is `module.decl: what`."""

    module: str
    decl: str
    message: str
    breaking: bool = field(default=True, compare=False)
    pos: Position | None = field(default=None, compare=False)

    def __str__(self) -> str:
        return f"{self.module}.{self.decl}: {self.message}"


# ---------------------------------------------------------------------------------------------
# Resolving references


class Resolver:
    """Finds the declaration a reference names in one schema (or reports why it cannot)."""

    def __init__(self, schema: ast.Schema | None) -> None:
        self._schema = schema
        self._index: dict[tuple[str, str, str], list[ast.Decl]] = {}
        internal = {r.name for r in schema.internal_realms()} if schema else set()
        for realm in schema.realms if schema else ():
            for module in realm.modules:
                for decl in module.decls:
                    self._index.setdefault((realm.name, module.name, decl.name), []).append(decl)
                    if realm.name in internal:
                        self._index.setdefault(("", module.name, decl.name), []).append(decl)

    def resolve(self, ref: ast.Ref) -> ast.Decl | str:
        """The declaration, or an error message in upstream's wording."""
        if self._schema is None:
            return f"schema is not set, cannot resolve reference {print_type(ref)}"
        found = self._index.get((ref.realm, ref.module, ref.name), [])
        types = [d for d in found if isinstance(d, ast.TypeDecl)]
        if types or found:
            return (types or found)[0]
        return f"failed to resolve reference {print_type(ref)}"


# ---------------------------------------------------------------------------------------------
# Type level


def type_changes(
    old: Comparable,
    new: Comparable,
    *,
    old_schema: ast.Schema | None = None,
    new_schema: ast.Schema | None = None,
) -> list[Finding]:
    """Every breaking difference between two versions of a type (or a data/enum/typealias).

    References in `old` resolve in `old_schema` and those in `new` in `new_schema`; with no schema
    a reference that has to be followed is itself reported, as upstream does.
    """
    comparator = _TypeComparator(Resolver(old_schema), Resolver(new_schema), follow_refs=True)
    comparator.compare(old, new, "", _Scope(), _Scope())
    return comparator.findings


@dataclass(frozen=True)
class _Scope:
    """The type parameters in force while comparing the body of a generic data type."""

    params: tuple[str, ...] = ()

    def index(self, node: Comparable) -> int | None:
        if isinstance(node, ast.Ref) and not node.module and not node.realm and node.name in self.params:
            return self.params.index(node.name)
        return None


class _TypeComparator:
    """Compares two types structurally, collecting findings; `follow_refs=False` compares refs by
    name only (the schema-level check compares each declaration on its own)."""

    def __init__(
        self, old: Resolver, new: Resolver, *, follow_refs: bool, skip_generated: bool = True
    ) -> None:
        self.old = old
        self.new = new
        self.follow_refs = follow_refs
        self.skip_generated = skip_generated
        self.findings: list[Finding] = []
        self._seen: set[tuple[int, int]] = set()

    def report(self, message: str, pos: Position | None) -> None:
        self.findings.append(Finding(message, pos if pos and pos != ast.NO_POS else None))

    def compare(self, prev: Comparable, next_: Comparable, prefix: str, ps: _Scope, ns: _Scope) -> None:
        prev_param, next_param = ps.index(prev), ns.index(next_)
        if prev_param is not None or next_param is not None:
            if prev_param != next_param:
                self.report(
                    f"{prefix}type changed from {_describe(prev, ps)} to {_describe(next_, ns)}", next_.pos
                )
            return
        prev_kind, next_kind = _kind(prev), _kind(next_)
        if prev_kind != next_kind:
            self.report(f"{prefix}type changed from {prev_kind} to {next_kind}", next_.pos)
            return
        if isinstance(prev, ast.Array) and isinstance(next_, ast.Array):
            self.compare(prev.element, next_.element, prefix + "array: ", ps, ns)
        elif isinstance(prev, ast.Map) and isinstance(next_, ast.Map):
            self.compare(prev.key, next_.key, prefix + "map key: ", ps, ns)
            self.compare(prev.value, next_.value, prefix + "map value: ", ps, ns)
        elif isinstance(prev, ast.Optional) and isinstance(next_, ast.Optional):
            self.compare(prev.type, next_.type, prefix + "optional: ", ps, ns)
        elif isinstance(prev, ast.Ref) and isinstance(next_, ast.Ref):
            self._compare_refs(prev, next_, prefix, ps, ns)
        elif isinstance(prev, ast.Data) and isinstance(next_, ast.Data):
            self._compare_data(prev, next_, prefix)
        elif isinstance(prev, ast.Enum) and isinstance(next_, ast.Enum):
            self._compare_enums(prev, next_, prefix)
        elif isinstance(prev, ast.TypeAlias) and isinstance(next_, ast.TypeAlias):
            self._compare_aliases(prev, next_, prefix)

    def _compare_refs(self, prev: ast.Ref, next_: ast.Ref, prefix: str, ps: _Scope, ns: _Scope) -> None:
        if len(prev.type_args) != len(next_.type_args):
            self.report(
                f"{prefix}type changed from {_describe(prev, ps)} to {_describe(next_, ns)}", next_.pos
            )
            return
        for number, (a, b) in enumerate(zip(prev.type_args, next_.type_args, strict=True), start=1):
            self.compare(a, b, f"{prefix}{prev.name}: type argument {number}: ", ps, ns)
        if not self.follow_refs:
            if (prev.realm, prev.module, prev.name) != (next_.realm, next_.module, next_.name):
                self.report(f"{prefix}type changed from {print_type(prev)} to {print_type(next_)}", next_.pos)
            return
        prev_decl = self.old.resolve(prev)
        if isinstance(prev_decl, str):
            self.report(prefix + prev_decl, prev.pos)
            return
        next_decl = self.new.resolve(next_)
        if isinstance(next_decl, str):
            self.report(prefix + next_decl, next_.pos)
            return
        for ref, decl in ((prev, prev_decl), (next_, next_decl)):
            if not isinstance(decl, ast.TypeDecl):
                self.report(
                    f"{prefix}resolved reference {print_type(ref)} is a {decl.kind}, not a type", ref.pos
                )
                return
        assert isinstance(prev_decl, ast.TypeDecl) and isinstance(next_decl, ast.TypeDecl)
        key = (id(prev_decl), id(next_decl))
        if key in self._seen:
            return
        self._seen.add(key)
        self.compare(prev_decl, next_decl, prefix, _Scope(), _Scope())

    def _compare_data(self, prev: ast.Data, next_: ast.Data, prefix: str) -> None:
        if self.skip_generated and any(isinstance(m, ast.MetadataGenerated) for m in prev.metadata):
            return
        if prev.name != next_.name:
            self.report(f"{prefix}{prev.name}: data name changed from {prev.name} to {next_.name}", prev.pos)
            return
        self.compare_fields(prev, next_, f"{prefix}{prev.name}: ")

    def compare_fields(self, prev: ast.Data, next_: ast.Data, prefix: str) -> None:
        ps = _Scope(tuple(p.name for p in prev.type_params))
        ns = _Scope(tuple(p.name for p in next_.type_params))
        next_fields = {f.name: f for f in next_.fields}
        for old_field in prev.fields:
            new_field = next_fields.get(old_field.name)
            if new_field is None:
                self.report(f"{prefix}field {old_field.name} removed", old_field.pos)
            else:
                self.compare(old_field.type, new_field.type, f"{prefix}{old_field.name}: ", ps, ns)

    def _compare_enums(self, prev: ast.Enum, next_: ast.Enum, prefix: str) -> None:
        old_variants, new_variants = _variants(prev), _variants(next_)
        if old_variants == new_variants:
            return
        details = [f"variant {text} removed" for text in sorted(old_variants - new_variants)]
        details += [f"variant {text} added" for text in sorted(new_variants - old_variants)]
        self.report(f"{prefix}enum values changed: {', '.join(details)}", prev.pos)

    def _compare_aliases(self, prev: ast.TypeAlias, next_: ast.TypeAlias, prefix: str) -> None:
        if prev.name != next_.name:
            self.report(f"{prefix}typealias {prev.name}: type alias name changed to {next_.name}", prev.pos)
            return
        self.compare(prev.type, next_.type, f"{prefix}typealias {prev.name}: ", _Scope(), _Scope())


def _kind(node: Comparable) -> str:
    return _KIND_NAMES[type(node)]


def _variants(enum: ast.Enum) -> set[str]:
    return {f"{v.name} = {_value_text(v.value)}" for v in enum.variants}


def _value_text(value: ast.Value) -> str:
    if isinstance(value, ast.StringValue):
        return '"' + value.value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, ast.IntValue):
        return str(value.value)
    return print_type(value.value)


def _describe(node: Comparable, scope: _Scope) -> str:
    if scope.index(node) is not None:
        assert isinstance(node, ast.Ref)
        return f"type parameter {node.name}"
    if isinstance(node, ast.TypeDecl):
        return f"{node.kind} {node.name}"
    return print_type(node)


# ---------------------------------------------------------------------------------------------
# Schema level

_VISIBILITY_NAMES = {
    ast.Visibility.NONE: "private",
    ast.Visibility.MODULE: "export",
    ast.Visibility.REALM: "export realm",
}
_NON_BREAKING_REMOVALS = (ast.Config, ast.Secret, ast.Database)


def schema_changes(old: ast.Schema, new: ast.Schema) -> list[Change]:
    """Every difference between two schemas, declaration by declaration, breaking ones marked.

    Realms pair by name (or, when each side holds exactly one, with each other); builtin modules
    are skipped. Pass validated schemas so that references are qualified.
    """
    comparison = _SchemaComparison(old, new)
    for old_realm, new_realm in _pair_realms(old, new):
        comparison.compare_realms(old_realm, new_realm)
    return sorted(comparison.changes)


def breaking_changes(old: ast.Schema, new: ast.Schema) -> list[Change]:
    return [c for c in schema_changes(old, new) if c.breaking]


def _pair_realms(old: ast.Schema, new: ast.Schema) -> Iterator[tuple[ast.Realm | None, ast.Realm | None]]:
    if len(old.realms) == 1 and len(new.realms) == 1:
        yield old.realms[0], new.realms[0]
        return
    names = list(dict.fromkeys([r.name for r in old.realms] + [r.name for r in new.realms]))
    for name in names:
        yield old.realm(name), new.realm(name)


class _SchemaComparison:
    def __init__(self, old: ast.Schema, new: ast.Schema) -> None:
        self.old_resolver = Resolver(old)
        self.new_resolver = Resolver(new)
        self.changes: list[Change] = []
        self._request_types: set[tuple[str, str]] = set()

    def add(self, module: str, decl: str, message: str, *, breaking: bool, pos: Position | None) -> None:
        place = pos if pos and pos != ast.NO_POS else None
        self.changes.append(Change(module, decl, message, breaking=breaking, pos=place))

    def compare_realms(self, old: ast.Realm | None, new: ast.Realm | None) -> None:
        old_modules = {m.name: m for m in (old.modules if old else ()) if not m.builtin}
        new_modules = {m.name: m for m in (new.modules if new else ()) if not m.builtin}
        self._request_types = _request_types(new) if new else set()
        for name in sorted(old_modules.keys() | new_modules.keys()):
            self.compare_modules(name, old_modules.get(name), new_modules.get(name))

    def compare_modules(self, name: str, old: ast.Module | None, new: ast.Module | None) -> None:
        old_decls = {_decl_key(d): d for d in (old.decls if old else ())}
        new_decls = {_decl_key(d): d for d in (new.decls if new else ())}
        for key in old_decls.keys() - new_decls.keys():
            decl = old_decls[key]
            breaking = not isinstance(decl, _NON_BREAKING_REMOVALS)
            self.add(name, decl.name, f"{decl.kind} removed", breaking=breaking, pos=decl.pos)
        for key in new_decls.keys() - old_decls.keys():
            decl = new_decls[key]
            self.add(name, decl.name, f"{decl.kind} added", breaking=False, pos=decl.pos)
        for key in old_decls.keys() & new_decls.keys():
            self.compare_decls(name, old_decls[key], new_decls[key])

    def compare_decls(self, module: str, old: ast.Decl, new: ast.Decl) -> None:
        before = len(self.changes)
        if type(old) is not type(new):
            message = f"type changed from {_KIND_NAMES[type(old)]} to {_KIND_NAMES[type(new)]}"
            self.add(module, old.name, message, breaking=True, pos=new.pos)
            return
        self._compare_visibility(module, old, new)
        comparator = _TypeComparator(
            self.old_resolver, self.new_resolver, follow_refs=False, skip_generated=False
        )
        if isinstance(old, ast.Data) and isinstance(new, ast.Data):
            self._compare_data(module, old, new, comparator)
        elif isinstance(old, ast.Verb) and isinstance(new, ast.Verb):
            comparator.compare(old.request, new.request, "request: ", _Scope(), _Scope())
            comparator.compare(old.response, new.response, "response: ", _Scope(), _Scope())
        elif isinstance(old, ast.Enum) and isinstance(new, ast.Enum):
            self._compare_enum(module, old, new)
        elif isinstance(old, ast.TypeAlias) and isinstance(new, ast.TypeAlias):
            comparator.compare(old.type, new.type, "", _Scope(), _Scope())
        elif isinstance(old, ast.Topic) and isinstance(new, ast.Topic):
            comparator.compare(old.event, new.event, "event: ", _Scope(), _Scope())
        elif isinstance(old, ast.Config | ast.Secret) and isinstance(new, ast.Config | ast.Secret):
            comparator.compare(old.type, new.type, "", _Scope(), _Scope())
        for finding in comparator.findings:
            self.add(module, old.name, finding.message, breaking=True, pos=finding.pos)
        if len(self.changes) == before and old != new:
            self.add(module, old.name, _minor_change(old, new), breaking=False, pos=new.pos)

    def _compare_visibility(self, module: str, old: ast.Decl, new: ast.Decl) -> None:
        before, after = ast.visibility_of(old), ast.visibility_of(new)
        if before == after:
            return
        verb = "narrowed" if after < before else "widened"
        message = f"visibility {verb} from {_VISIBILITY_NAMES[before]} to {_VISIBILITY_NAMES[after]}"
        self.add(module, old.name, message, breaking=after < before, pos=new.pos)

    def _compare_data(self, module: str, old: ast.Data, new: ast.Data, comparator: _TypeComparator) -> None:
        old_params = [p.name for p in old.type_params]
        new_params = [p.name for p in new.type_params]
        if len(old_params) != len(new_params):
            message = f"type parameters changed from <{', '.join(old_params)}> to <{', '.join(new_params)}>"
            self.add(module, old.name, message, breaking=True, pos=new.pos)
            return
        comparator.compare_fields(old, new, "")
        old_fields = {f.name for f in old.fields}
        is_request = (module, old.name) in self._request_types
        for added in (f for f in new.fields if f.name not in old_fields):
            required = not isinstance(added.type, ast.Optional)
            if required and is_request:
                message = f"required field {added.name} added to a request type"
                self.add(module, old.name, message, breaking=True, pos=added.pos)
            else:
                kind = "required" if required else "optional"
                self.add(module, old.name, f"{kind} field {added.name} added", breaking=False, pos=added.pos)

    def _compare_enum(self, module: str, old: ast.Enum, new: ast.Enum) -> None:
        if (old.type is None) != (new.type is None):
            before, after = ("value", "type") if old.type is not None else ("type", "value")
            self.add(
                module,
                old.name,
                f"changed from a {before} enum to a {after} enum",
                breaking=True,
                pos=new.pos,
            )
            return
        if old.type is not None and new.type is not None and old.type != new.type:
            message = f"enum type changed from {print_type(old.type)} to {print_type(new.type)}"
            self.add(module, old.name, message, breaking=True, pos=new.pos)
        old_variants = {v.name: v for v in old.variants}
        new_variants = {v.name: v for v in new.variants}
        for name in sorted(old_variants.keys() - new_variants.keys()):
            self.add(module, old.name, f"enum variant {name} removed", breaking=True, pos=new.pos)
        for name in sorted(new_variants.keys() - old_variants.keys()):
            # As upstream: a consumer may not know what to do with a value it has never seen.
            variant = new_variants[name]
            self.add(module, old.name, f"enum variant {name} added", breaking=True, pos=variant.pos)
        for name in sorted(old_variants.keys() & new_variants.keys()):
            before_value, after_value = old_variants[name].value, new_variants[name].value
            if before_value != after_value:
                change = f"from {_value_text(before_value)} to {_value_text(after_value)}"
                message = f"enum variant {name} changed {change}"
                self.add(module, old.name, message, breaking=True, pos=new_variants[name].pos)


def _decl_key(decl: ast.Decl) -> tuple[str, str]:
    # data, enum and typealias share one namespace: turning one into another is a change of kind.
    category = "type" if isinstance(decl, ast.TypeDecl) else decl.kind
    return (category, decl.name)


def _minor_change(old: ast.Decl, new: ast.Decl) -> str:
    if getattr(old, "comments", ()) != getattr(new, "comments", ()):
        rest_old = ast.replace(old, comments=())
        rest_new = ast.replace(new, comments=())
        if rest_old == rest_new:
            return "comments changed"
    if getattr(old, "metadata", ()) != getattr(new, "metadata", ()):
        return "metadata changed"
    return "changed"


def _request_types(realm: ast.Realm) -> set[tuple[str, str]]:
    """(module, name) of every declaration that some verb's request reaches."""
    index = {(m.name, d.name): d for m in realm.modules for d in m.decls if isinstance(d, ast.TypeDecl)}
    found: set[tuple[str, str]] = set()
    pending: list[tuple[str, ast.Node]] = [(m.name, v.request) for m in realm.modules for v in m.verbs()]
    while pending:
        module, node = pending.pop()
        for ref in (n for n in ast.walk(node) if isinstance(n, ast.Ref) and not n.realm):
            key = (ref.module or module, ref.name)
            if key in found or key not in index:
                continue
            found.add(key)
            pending.append((key[0], index[key]))
    return found
