"""Property tests: generated schemas survive print -> parse -> print; mutated text never crashes.

The strategies build only trees the text can express (no nested `?`, a `+retry` max only with a
min, ...) and avoid names that a preceding metadata item would take as its optional keyword
(a field named `manual` after `+fixture` reads as `+fixture manual`, as upstream).
"""

from __future__ import annotations

import string
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ftl.errors import FtlError
from ftl.schema import ast, parse_module, parse_schema, print_module, print_schema, validate_schema

_SETTINGS = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])

_GREEDY_KEYWORDS = {"catch", "manual", "lenient", "dirty", "executable", "deadletter"}
_PRIMITIVES = set(ast.PRIMITIVE_NAMES)
_KEYWORDS = [
    "data",
    "verb",
    "enum",
    "module",
    "realm",
    "export",
    "config",
    "topic",
    "database",
    "calls",
    "http",
]

names = st.one_of(
    st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,8}", fullmatch=True),
    st.sampled_from(_KEYWORDS),
).filter(lambda name: name not in _GREEDY_KEYWORDS and name not in _PRIMITIVES)
texts = st.text(max_size=12)
comments = st.lists(
    st.text(max_size=12).filter(lambda c: "\n" not in c and c == c.strip() and "Code generated" not in c),
    max_size=2,
).map(tuple)
hex64 = st.text("0123456789abcdef", min_size=64, max_size=64)
integers = st.integers(0, 2**63 - 1)
visibilities = st.sampled_from(list(ast.Visibility))


def refs(types: st.SearchStrategy[ast.Type] | None = None) -> st.SearchStrategy[ast.Ref]:
    args = st.lists(types, max_size=2).map(tuple) if types is not None else st.just(())
    return st.builds(ast.Ref, module=names, name=names, type_args=args, realm=st.one_of(st.just(""), names))


primitives = st.sampled_from(list(ast.PRIMITIVE_NAMES.values())).map(lambda cls: cls())
base_types: st.SearchStrategy[ast.Type] = st.recursive(
    st.one_of(primitives, refs()),
    lambda inner: st.one_of(
        st.builds(ast.Array, inner),
        st.builds(ast.Map, inner, inner),
        refs(inner),
    ),
    max_leaves=6,
)
types = st.one_of(base_types, base_types.map(ast.Optional))

path_components = st.one_of(
    st.builds(
        ast.IngressPathLiteral,
        st.text(string.ascii_letters + string.digits + "-._~%", min_size=1, max_size=6),
    ),
    st.builds(ast.IngressPathParameter, names),
)
cron_texts = (
    st.text(string.ascii_letters + string.digits + "*/,- ?#", min_size=1, max_size=20)
    .map(str.strip)
    .filter(bool)
)


def _retry(count: int | None, min_backoff: str, max_backoff: str, catch: ast.Ref | None) -> ast.MetadataRetry:
    return ast.MetadataRetry(count, min_backoff, max_backoff if min_backoff else "", catch)


durations = st.one_of(st.just(""), st.from_regex(r"[0-9]{1,3}[dhms]([0-9]{1,2}[ms])?", fullmatch=True))
ref_lists = st.lists(refs(), min_size=1, max_size=4).map(tuple)
metadata: st.SearchStrategy[ast.Metadata] = st.one_of(
    st.builds(ast.MetadataCalls, ref_lists),
    st.builds(ast.MetadataConfig, ref_lists),
    st.builds(ast.MetadataSecrets, ref_lists),
    st.builds(ast.MetadataPublisher, ref_lists),
    st.builds(ast.MetadataDatabases, ref_lists),
    st.builds(
        ast.MetadataIngress,
        st.sampled_from(["GET", "POST", "PUT", "DELETE"]),
        st.lists(path_components, max_size=3).map(tuple),
    ),
    st.builds(ast.MetadataAlias, st.sampled_from(list(ast.AliasKind)), texts),
    st.builds(_retry, st.one_of(st.none(), integers), durations, durations, st.one_of(st.none(), refs())),
    st.builds(ast.MetadataSubscriber, refs(), st.sampled_from(list(ast.FromOffset)), st.booleans()),
    st.builds(ast.MetadataTypeMap, st.sampled_from(["go", "kotlin", "java"]), texts),
    st.builds(ast.MetadataEncoding, lenient=st.booleans()),
    st.builds(ast.MetadataSQLMigration, hex64.map(lambda h: f"sha256:{h}")),
    st.builds(ast.MetadataArtefact, texts, hex64, st.booleans()),
    st.builds(ast.MetadataPartitions, integers),
    st.builds(ast.MetadataSQLQuery, names, texts),
    st.builds(ast.MetadataSQLColumn, texts, texts),
    st.builds(ast.MetadataGenerated),
    st.builds(ast.MetadataGit, texts, texts, st.booleans()),
    st.builds(ast.MetadataFixture, manual=st.booleans()),
    st.builds(ast.MetadataTransaction),
    st.builds(ast.MetadataEgress, st.lists(texts, min_size=1, max_size=3).map(tuple)),
    st.builds(ast.MetadataImage, texts, texts),
)
# `+cron` takes the rest of its line, so it may only be printed last on a line.
line_metadata = st.one_of(metadata, st.builds(ast.MetadataCronJob, cron_texts))
metadata_lines = st.lists(line_metadata, max_size=3).map(tuple)
inline_metadata = st.tuples(
    st.lists(metadata, max_size=2), st.lists(st.builds(ast.MetadataCronJob, cron_texts), max_size=1)
).map(lambda parts: (*parts[0], *parts[1]))

fields = st.builds(ast.Field, name=names, type=types, comments=comments, metadata=inline_metadata)
values = st.one_of(
    st.builds(ast.StringValue, texts), st.builds(ast.IntValue, integers), st.builds(ast.TypeValue, types)
)
decls: st.SearchStrategy[ast.Decl] = st.one_of(
    st.builds(
        ast.Data,
        name=names,
        fields=st.lists(fields, max_size=3).map(tuple),
        type_params=st.lists(st.builds(ast.TypeParameter, names), max_size=2).map(tuple),
        visibility=visibilities,
        comments=comments,
        metadata=metadata_lines,
    ),
    st.builds(
        ast.Verb,
        name=names,
        request=types,
        response=types,
        visibility=visibilities,
        comments=comments,
        metadata=metadata_lines,
    ),
    st.builds(
        ast.Enum,
        name=names,
        variants=st.lists(st.builds(ast.EnumVariant, names, values, comments), max_size=3).map(tuple),
        type=st.one_of(st.none(), types),
        visibility=visibilities,
        comments=comments,
    ),
    st.builds(
        ast.TypeAlias,
        name=names,
        type=types,
        visibility=visibilities,
        comments=comments,
        metadata=metadata_lines,
    ),
    st.builds(ast.Config, name=names, type=types, comments=comments),
    st.builds(ast.Secret, name=names, type=types, comments=comments),
    st.builds(
        ast.Database,
        name=names,
        engine=st.sampled_from(["postgres", "mysql"]),
        comments=comments,
        metadata=metadata_lines,
    ),
    st.builds(
        ast.Topic,
        name=names,
        event=types,
        visibility=visibilities,
        comments=comments,
        metadata=metadata_lines,
    ),
)
modules = st.builds(
    ast.Module,
    name=names,
    decls=st.lists(decls, max_size=4).map(tuple),
    builtin=st.booleans(),
    comments=comments,
    metadata=metadata_lines,
)
schemas = st.builds(
    ast.Schema,
    realms=st.lists(
        st.builds(
            ast.Realm, name=names, modules=st.lists(modules, max_size=2).map(tuple), external=st.booleans()
        ),
        max_size=2,
    ).map(tuple),
)


@_SETTINGS
@given(schemas)
def test_generated_schemas_survive_print_parse_print(schema: ast.Schema) -> None:
    printed = print_schema(schema)
    parsed = parse_schema(printed)
    assert parsed == schema
    assert print_schema(parsed) == printed


@_SETTINGS
@given(modules)
def test_generated_modules_survive_print_parse_print(module: ast.Module) -> None:
    printed = print_module(module)
    parsed = parse_module(printed)
    assert parsed == module
    assert print_module(parsed) == printed


# -- mutations of the valid conformance documents --------------------------------------------------

_CONFORMANCE = Path(__file__).resolve().parents[3] / "shared" / "conformance" / "schema"
_VALID = [
    path.read_text(encoding="utf-8").partition("\n")[2]
    for path in sorted(_CONFORMANCE.glob("valid_*.ftl"))
    if "ParseString (realms)" in path.read_text(encoding="utf-8").partition("\n")[0]
] or ["realm r { module m { data D { a Int } verb v(m.D) Unit +calls m.v } }"]
_ALPHABET = string.ascii_letters + string.digits + ' \t\n{}[]()<>,.:=?@+/"\\;é-*'


@st.composite
def mutated_documents(draw: st.DrawFn) -> str:
    text = draw(st.sampled_from(_VALID))
    for _ in range(draw(st.integers(1, 4))):
        position = draw(st.integers(0, len(text)))
        action = draw(st.sampled_from(["delete", "insert", "replace"]))
        piece = draw(st.text(_ALPHABET, min_size=1, max_size=4))
        if action == "delete":
            text = text[:position] + text[position + len(piece) :]
        elif action == "insert":
            text = text[:position] + piece + text[position:]
        else:
            text = text[:position] + piece + text[position + len(piece) :]
    return text


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_documents())
def test_mutated_documents_never_crash_the_parser_or_validator(text: str) -> None:
    try:
        schema = parse_schema(text, "m.ftl")
    except FtlError as exc:
        assert all(d.pos is not None and d.pos.filename == "m.ftl" for d in exc.diagnostics)
        return
    _, diagnostics = validate_schema(schema)
    assert all(isinstance(d.message, str) for d in diagnostics)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=60))
def test_any_text_gives_a_tree_or_a_positioned_error(text: str) -> None:
    for parse in (parse_schema, parse_module):
        try:
            parse(text, "t.ftl")
        except FtlError as exc:
            [diagnostic] = exc.diagnostics
            assert diagnostic.pos is not None and diagnostic.pos.line >= 1 and diagnostic.pos.column >= 1
