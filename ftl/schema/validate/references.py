"""Reference resolution: every ref is checked and qualified (R4-R7, M5, M6 and `@realm` refs).

A bare name means, in this order: a type parameter of the enclosing data, a module (an error), a
builtin declaration, a declaration of the same module. Resolved bare names are rewritten as
`module.Name`, so the normalised schema always qualifies its refs. The modules a module refers to
are collected for the cycle check. Nodes are rebuilt only where a ref changed.

Deliberate fixes (spec section 8.4): where kinds share a name the ref takes the declaration of the
kind its place expects, and a ref must name a declaration of that kind (a type names data, an
enum or a type alias; `+calls` a verb; `+config` a config; `+secrets` a secret; `+publish` a
topic; `+database uses` a database).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from ftl.schema import ast
from ftl.schema.builtin import BUILTIN_MODULE
from ftl.schema.printer import print_type
from ftl.schema.validate._context import RealmIndex, Report
from ftl.schema.validate.realms import resolve_realm_ref

__all__ = ["References"]

_NO_PARAMS: frozenset[str] = frozenset()
_VERB = (ast.Verb,)
_TOPIC = (ast.Topic,)
# What each ref-list metadata names: the kind preferred and required.
_LIST_KINDS: dict[type, tuple[str, type]] = {
    ast.MetadataCalls: ("calls", ast.Verb),
    ast.MetadataConfig: ("config", ast.Config),
    ast.MetadataSecrets: ("secrets", ast.Secret),
    ast.MetadataPublisher: ("topics", ast.Topic),
    ast.MetadataDatabases: ("uses", ast.Database),
}

_REF_METADATA: frozenset[type] = frozenset({*_LIST_KINDS, ast.MetadataSubscriber, ast.MetadataRetry})


class References:
    """Resolves and qualifies the refs of the modules of one realm (or of one module alone).

    In module mode (`realm_wide=False`) only the module and the builtins are known: refs into
    other modules are left as written and not reported when unknown (upstream reports unknown refs
    only in a realm). A bare ref, or one qualified with the module's own name or `builtin`, can
    only mean a type parameter, a builtin or the module's own declaration, so an unknown one is an
    error in module mode too: a deliberate fix, or a typo (`Strin`, `m.Strin`) would pass
    `ftl schema validate` of a lone module.
    """

    def __init__(
        self,
        index: RealmIndex,
        realms: Mapping[str, RealmIndex],
        report: Report,
        realm_wide: bool = True,
    ) -> None:
        self.index = index
        self.realms = realms
        self.report = report
        self.realm_wide = realm_wide
        self.builtins = index.decls.get(BUILTIN_MODULE, {})
        self.module_name = ""
        self.dependencies: dict[str, set[str]] = {}
        self._deps: set[str] = set()

    # -- modules and declarations ------------------------------------------------------------------

    def module(self, module: ast.Module) -> ast.Module:
        self.module_name = module.name
        self._deps = self.dependencies.setdefault(module.name, set())
        decls = tuple(self.decl(decl) for decl in module.decls)
        metadata = self.metadata_list(module.metadata)
        if metadata is module.metadata and all(
            new is old for new, old in zip(decls, module.decls, strict=True)
        ):
            return module
        return replace(module, decls=decls, metadata=metadata)

    def decl(self, decl: ast.Decl) -> ast.Decl:
        if isinstance(decl, ast.Data):
            return self.data(decl)
        if isinstance(decl, ast.Verb):
            request = self.type_of(decl.request, _NO_PARAMS)
            response = self.type_of(decl.response, _NO_PARAMS)
            metadata = self.metadata_list(decl.metadata)
            if request is decl.request and response is decl.response and metadata is decl.metadata:
                return decl
            return replace(decl, request=request, response=response, metadata=metadata)
        if isinstance(decl, ast.Enum):
            return self.enum(decl)
        if isinstance(decl, ast.TypeAlias | ast.Config | ast.Secret):
            type_ = self.type_of(decl.type, _NO_PARAMS)
            metadata = self.metadata_list(getattr(decl, "metadata", ()))
            if type_ is decl.type and metadata is getattr(decl, "metadata", ()):
                return decl
            if isinstance(decl, ast.TypeAlias):
                return replace(decl, type=type_, metadata=metadata)
            return replace(decl, type=type_)
        if isinstance(decl, ast.Topic):
            event = self.type_of(decl.event, _NO_PARAMS)
            metadata = self.metadata_list(decl.metadata)
            if event is decl.event and metadata is decl.metadata:
                return decl
            return replace(decl, event=event, metadata=metadata)
        metadata = self.metadata_list(decl.metadata)
        return decl if metadata is decl.metadata else replace(decl, metadata=metadata)

    def data(self, data: ast.Data) -> ast.Data:
        params = frozenset(p.name for p in data.type_params) if data.type_params else _NO_PARAMS
        changed = False
        fields = []
        for field in data.fields:
            type_ = field.type
            if type(type_) not in ast.PRIMITIVE_TYPES:  # most fields: spare them the call
                type_ = self.type_of(type_, params)
            metadata = self.metadata_list(field.metadata, params) if field.metadata else field.metadata
            if type_ is not field.type or metadata is not field.metadata:
                field = replace(field, type=type_, metadata=metadata)
                changed = True
            fields.append(field)
        metadata = self.metadata_list(data.metadata, params)
        if not changed and metadata is data.metadata:
            return data
        return replace(data, fields=tuple(fields), metadata=metadata)

    def enum(self, enum: ast.Enum) -> ast.Enum:
        base = self.type_of(enum.type, _NO_PARAMS) if enum.type is not None else None
        changed = base is not enum.type
        variants = []
        for variant in enum.variants:
            if isinstance(variant.value, ast.TypeValue):
                type_ = self.type_of(variant.value.value, _NO_PARAMS)
                if type_ is not variant.value.value:
                    variant = replace(variant, value=replace(variant.value, value=type_))
                    changed = True
            variants.append(variant)
        return replace(enum, type=base, variants=tuple(variants)) if changed else enum

    # -- metadata ----------------------------------------------------------------------------------

    def metadata_list(
        self, metadata: tuple[ast.Metadata, ...], params: frozenset[str] = _NO_PARAMS
    ) -> tuple[ast.Metadata, ...]:
        if not any(type(md) in _REF_METADATA for md in metadata):
            return metadata
        resolved = tuple(self.metadata(md, params) for md in metadata)
        return metadata if all(new is old for new, old in zip(resolved, metadata, strict=True)) else resolved

    def metadata(self, md: ast.Metadata, params: frozenset[str]) -> ast.Metadata:
        listed = _LIST_KINDS.get(type(md))
        if listed is not None:
            attribute, kind = listed
            refs: tuple[ast.Ref, ...] = getattr(md, attribute)
            resolved = tuple(self.ref(ref, params, (kind,), kind) for ref in refs)
            if all(new is old for new, old in zip(resolved, refs, strict=True)):
                return md
            return _with_refs(md, attribute, resolved)
        if isinstance(md, ast.MetadataSubscriber):
            topic = self.ref(md.topic, params, _TOPIC)
            return md if topic is md.topic else replace(md, topic=topic)
        if isinstance(md, ast.MetadataRetry) and md.catch is not None:
            catch = self.ref(md.catch, params, _VERB)
            return md if catch is md.catch else replace(md, catch=catch)
        return md

    # -- types and refs ----------------------------------------------------------------------------

    def type_of(self, type_: ast.Type, params: frozenset[str]) -> ast.Type:
        if type(type_) in ast.PRIMITIVE_TYPES:
            return type_
        if isinstance(type_, ast.Ref):
            return self.ref(type_, params, ast.TYPE_DECLS, ast.Data)
        if isinstance(type_, ast.Optional):
            inner = self.type_of(type_.type, params)
            return type_ if inner is type_.type else ast.Optional(inner, pos=type_.pos)
        if isinstance(type_, ast.Array):
            element = self.type_of(type_.element, params)
            return type_ if element is type_.element else ast.Array(element, pos=type_.pos)
        if isinstance(type_, ast.Map):
            key = self.type_of(type_.key, params)
            value = self.type_of(type_.value, params)
            if key is type_.key and value is type_.value:
                return type_
            return ast.Map(key, value, pos=type_.pos)
        return type_

    def ref(
        self,
        ref: ast.Ref,
        params: frozenset[str],
        prefer: tuple[type, ...],
        required: type | None = None,
    ) -> ast.Ref:
        """`ref` checked and qualified; `required` is the kind its place demands (`ast.Data`: any type)."""
        if ref.type_args:
            args = tuple(self.type_of(arg, params) for arg in ref.type_args)
            if any(new is not old for new, old in zip(args, ref.type_args, strict=True)):
                ref = replace(ref, type_args=args)
        if ref.realm:
            decl = resolve_realm_ref(ref, self.index, self.realms, prefer, self.report)
            if decl is not None:
                self.check_use(ref, decl, required)
            return ref
        if not ref.module:
            return self.bare(ref, params, prefer, required)
        decl = self.index.lookup(ref.module, ref.name, prefer)
        if decl is None:
            if self.realm_wide or ref.module in self.index.modules:
                self.unknown(ref)
            return ref
        if ref.module != self.module_name:
            if ref.module != BUILTIN_MODULE:
                self._deps.add(ref.module)
            if self.realm_wide and ast.visibility_of(decl) == ast.Visibility.NONE:
                self.report.error(f'{decl.kind} "{ref.module}.{ref.name}" must be exported', ref.pos)
        self.check_use(ref, decl, required)
        return ref

    def bare(
        self, ref: ast.Ref, params: frozenset[str], prefer: tuple[type, ...], required: type | None
    ) -> ast.Ref:
        name = ref.name
        if name in params:
            if ref.type_args:
                self.report.error(
                    f'reference to type parameter "{name}" cannot have type parameters', ref.pos
                )
            return ref
        if name in self.index.modules and self.realm_wide:
            self.report.error(f'invalid reference "{name}": "{name}" is a module, not a declaration', ref.pos)
            return ref
        module = BUILTIN_MODULE if name in self.builtins else self.module_name
        decl = self.index.lookup(module, name, prefer)
        if decl is None:
            self.unknown(ref)
            return ref
        self.check_use(ref, decl, required)
        return replace(ref, module=module)

    def check_use(self, ref: ast.Ref, decl: ast.Decl, required: type | None) -> None:
        if isinstance(decl, ast.Data):
            if len(ref.type_args) != len(decl.type_params):
                self.report.error(
                    f"reference to data structure {decl.name} has {len(ref.type_args)} type parameters, "
                    f"but {len(decl.type_params)} were expected",
                    ref.pos,
                )
        elif ref.type_args:
            self.report.error(f'reference to {decl.kind} "{decl.name}" cannot have type parameters', ref.pos)
        if required is ast.Data:
            if not isinstance(decl, ast.TypeDecl):
                self.report.error(f'{decl.kind} "{_name(ref)}" is not a type', ref.pos)
        elif required is not None and not isinstance(decl, required):
            expected = getattr(required, "kind", required.__name__)
            self.report.error(f'expected {expected}, got {decl.kind} "{_name(ref)}"', ref.pos)

    def unknown(self, ref: ast.Ref) -> None:
        self.report.error(
            f'unknown reference "{print_type(ref)}", is the type annotated and exported?', ref.pos
        )


def _name(ref: ast.Ref) -> str:
    name = f"{ref.module}.{ref.name}" if ref.module else ref.name
    return f"{name}@{ref.realm}" if ref.realm else name


def _with_refs(md: ast.Metadata, attribute: str, refs: tuple[ast.Ref, ...]) -> ast.Metadata:
    changed: ast.Metadata = replace(md, **{attribute: refs})  # type: ignore[arg-type]
    return changed
