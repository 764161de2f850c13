"""The validator never raises, whatever tree it gets (parsed or built by the extractor)."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ftl.schema import ast
from ftl.schema.validate import validate_module, validate_schema

_NAMES = st.sampled_from(["a", "b", "m", "T", "Int", "builtin", "Empty", "HttpRequest", "x y", "", "aFailed"])
_MODULES = st.sampled_from(["", "m", "n", "builtin", "missing"])
_REALMS = st.sampled_from(["", "", "", "r", "e", "nowhere"])

_types: st.SearchStrategy[ast.Type] = st.deferred(
    lambda: st.one_of(
        st.sampled_from([ast.Int(), ast.String(), ast.Unit(), ast.Any(), ast.Time(), ast.Bytes()]),
        st.builds(ast.Array, _types),
        st.builds(ast.Map, _types, _types),
        st.builds(ast.Optional, _types),
        st.builds(ast.Ref, _MODULES, _NAMES, st.lists(_types, max_size=3).map(tuple), _REALMS),
    )
)
_refs = st.builds(ast.Ref, _MODULES, _NAMES, st.just(()), _REALMS)
_ref_lists = st.lists(_refs, max_size=2).map(tuple)
_path = st.lists(
    st.one_of(st.builds(ast.IngressPathLiteral, _NAMES), st.builds(ast.IngressPathParameter, _NAMES)),
    max_size=3,
).map(tuple)
_metadata = st.one_of(
    st.builds(ast.MetadataCalls, _ref_lists),
    st.builds(ast.MetadataConfig, _ref_lists),
    st.builds(ast.MetadataSecrets, _ref_lists),
    st.builds(ast.MetadataPublisher, _ref_lists),
    st.builds(ast.MetadataDatabases, _ref_lists),
    st.builds(ast.MetadataIngress, st.sampled_from(["GET", "POST"]), _path),
    st.builds(ast.MetadataCronJob, st.sampled_from(["5m", "* * *", "Mon", "", "0 0 30 2 *"])),
    st.builds(
        ast.MetadataRetry,
        st.one_of(st.none(), st.integers(-1, 3)),
        st.sampled_from(["", "1s", "5m", "1x", "2d"]),
        st.sampled_from(["", "1h", "1s"]),
        st.one_of(st.none(), _refs),
    ),
    st.builds(ast.MetadataSubscriber, _refs, st.sampled_from(list(ast.FromOffset)), st.booleans()),
    st.builds(ast.MetadataEgress, st.lists(st.sampled_from(["${a}", "x", "${}"]), max_size=2).map(tuple)),
    st.builds(ast.MetadataSQLQuery, st.just("one"), st.just("SELECT 1")),
    st.builds(ast.MetadataSQLColumn, st.just("t"), st.just("c")),
    st.builds(ast.MetadataSQLMigration, st.just("sha256:" + "0" * 64)),
    st.just(ast.MetadataTransaction()),
    st.just(ast.MetadataGenerated()),
    st.builds(ast.MetadataTypeMap, st.just("go"), st.just("x.Y")),
)
_metadata_lists = st.lists(_metadata, max_size=3).map(tuple)
_visibility = st.sampled_from(list(ast.Visibility))
_values = st.one_of(
    st.builds(ast.StringValue, st.text(max_size=2)),
    st.builds(ast.IntValue, st.integers(0, 3)),
    st.builds(ast.TypeValue, _types),
)
_decls = st.one_of(
    st.builds(
        ast.Data,
        _NAMES,
        st.lists(st.builds(ast.Field, _NAMES, _types, metadata=_metadata_lists), max_size=3).map(tuple),
        st.lists(st.builds(ast.TypeParameter, _NAMES), max_size=2).map(tuple),
        _visibility,
        metadata=_metadata_lists,
    ),
    st.builds(ast.Verb, _NAMES, _types, _types, _visibility, metadata=_metadata_lists),
    st.builds(
        ast.Enum,
        _NAMES,
        st.lists(st.builds(ast.EnumVariant, _NAMES, _values), max_size=3).map(tuple),
        st.one_of(st.none(), _types),
        _visibility,
    ),
    st.builds(ast.TypeAlias, _NAMES, _types, _visibility, metadata=_metadata_lists),
    st.builds(ast.Config, _NAMES, _types),
    st.builds(ast.Secret, _NAMES, _types),
    st.builds(ast.Database, _NAMES, st.just("postgres"), metadata=_metadata_lists),
    st.builds(ast.Topic, _NAMES, _types, _visibility, metadata=_metadata_lists),
)
_modules = st.builds(
    ast.Module,
    st.sampled_from(["m", "n", "builtin", "map"]),
    st.lists(_decls, max_size=6).map(tuple),
    st.booleans(),
    metadata=_metadata_lists,
)
_schemas = st.builds(
    ast.Schema,
    st.lists(
        st.builds(
            ast.Realm, st.sampled_from(["r", "e"]), st.lists(_modules, max_size=3).map(tuple), st.booleans()
        ),
        max_size=2,
    ).map(tuple),
)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_schemas)
def test_any_schema_gives_a_result_and_a_valid_one_is_a_fixed_point(schema: ast.Schema) -> None:
    normalised, diagnostics = validate_schema(schema)
    if not diagnostics:
        assert validate_schema(normalised) == (normalised, [])


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_modules)
def test_any_module_gives_a_result(module: ast.Module) -> None:
    normalised, diagnostics = validate_module(module)
    if not diagnostics:
        assert validate_module(normalised) == (normalised, [])


def test_alias_cycles_terminate() -> None:
    module = ast.Module(
        "m",
        (
            ast.TypeAlias("A", ast.Ref("m", "B")),
            ast.TypeAlias("B", ast.Ref("m", "A")),
            ast.Enum("E", (ast.EnumVariant("X", ast.StringValue("x")),), type=ast.Ref("m", "A")),
            ast.Verb(
                "v",
                ast.Ref("m", "A"),
                ast.Ref("m", "B"),
                metadata=(ast.MetadataIngress("POST", ()),),
            ),
        ),
    )
    _, diagnostics = validate_schema(ast.Schema((ast.Realm("r", (module,)),)))
    assert [d.message for d in diagnostics] == [
        "ingress verb v: request type m.A must be builtin.HttpRequest",
        "ingress verb v: response type m.B must be builtin.HttpResponse",
    ]
    assert all(d.pos is None for d in diagnostics)  # nothing has a position in a built tree
