"""`ftl.schema.parser`: the grammar, contextual keywords, whitespace rules, positions, errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from ftl.errors import FtlError, Position
from ftl.schema import ast, parse_module, parse_ref, parse_schema, parse_type


def _error(text: str, parse: object = parse_schema) -> str:
    with pytest.raises(FtlError) as caught:
        parse(text, "f.ftl")  # type: ignore[operator]
    [diagnostic] = caught.value.diagnostics
    assert diagnostic.pos is not None
    return str(diagnostic)


def _module(body: str) -> ast.Module:
    return parse_module(f"module m {{\n{body}\n}}")


# -- conformance documents ------------------------------------------------------------------------


def _documents(conformance_dir: Path) -> list[tuple[str, str, str]]:
    out = []
    for path in sorted((conformance_dir / "schema").glob("*.ftl")):
        header, _, text = path.read_text(encoding="utf-8").partition("\n")
        out.append((path.name, header, text))
    return out


def test_every_conformance_document_parses_or_fails_as_its_header_says(conformance_dir: Path) -> None:
    for name, header, text in _documents(conformance_dir):
        parse = parse_module if "ParseModuleString" in header else parse_schema
        if "unexpected token" in header:
            expected = header.split("expect errors: ", 1)[1].strip()
            with pytest.raises(FtlError) as caught:
                parse(text, name)
            [diagnostic] = caught.value.diagnostics
            assert str(diagnostic).removeprefix(f"{name}:") == expected, name
        else:
            parse(text, name)


def test_nested_optional_is_reported_at_the_question_mark(conformance_dir: Path) -> None:
    text = (conformance_dir / "schema" / "invalid_15_nested_optional_parse_error.ftl").read_text()
    assert _error(text.partition("\n")[2]) == 'f.ftl:4:19: unexpected token "?" (expected "]")'


# -- structure ------------------------------------------------------------------------------------


def test_empty_document_is_an_empty_schema() -> None:
    assert parse_schema("") == ast.Schema()
    assert parse_schema("  \n\t\n") == ast.Schema()


def test_realms_external_and_builtin_module() -> None:
    schema = parse_schema("external realm a { builtin module builtin {} }\nrealm b { module m {} }")
    assert schema == ast.Schema(
        realms=(
            ast.Realm(name="a", external=True, modules=(ast.Module(name="builtin", builtin=True),)),
            ast.Realm(name="b", modules=(ast.Module(name="m"),)),
        )
    )


def test_every_keyword_can_be_a_name() -> None:
    # §1.3: there are no reserved words.
    text = """realm realm { module module {
      data data { data String  export Int  realm Bool  verb Int?  module [Int] }
      verb verb(module.data) Unit
      enum enum { enum String }
      typealias typealias Int
      config config Int
      secret secret Int
      topic topic module.data
      database postgres database
    } }"""
    [realm] = parse_schema(text).realms
    [module] = realm.modules
    assert (realm.name, module.name) == ("realm", "module")
    assert [(d.kind, d.name) for d in module.decls] == [
        ("data", "data"),
        ("verb", "verb"),
        ("enum", "enum"),
        ("typealias", "typealias"),
        ("config", "config"),
        ("secret", "secret"),
        ("topic", "topic"),
        ("database", "database"),
    ]
    data = module.decls[0]
    assert isinstance(data, ast.Data)
    assert [f.name for f in data.fields] == ["data", "export", "realm", "verb", "module"]
    assert module.decls[1] == ast.Verb(name="verb", request=ast.Ref("module", "data"), response=ast.Unit())


def test_metadata_words_are_names_outside_metadata() -> None:
    module = _module("data D { catch Int  manual String  from Bool  lenient Int }")
    data = module.decls[0]
    assert isinstance(data, ast.Data)
    assert [f.name for f in data.fields] == ["catch", "manual", "from", "lenient"]


def test_a_primitive_in_type_position_is_always_the_primitive() -> None:
    assert parse_type("String") == ast.String()
    assert parse_type("m.String") == ast.Ref("m", "String")


def test_declarations_of_every_kind() -> None:
    module = _module(
        """
  // doc
  export realm data D<T, U> {
    +generated
    // field doc
    a [T]? +alias json "x" +sql column "users"."id"
  }
  export verb v(builtin.HttpRequest<Unit, Unit, Unit>) builtin.HttpResponse<String, String>
    +ingress http GET /a/{b}
  enum Color: String { Red = "red"  Blue = "blue" }
  export enum Sum { A String  B [Int]  C m.D<Int>? }
  enum Num: Int { One = 1 }
  typealias T Any +typemap go "x.Y"
  config c String
  secret s {String: Int}
  database mysql db +migration sha256:8cc04c75ab7967eb2ec82e11e886831e00b7cb00507e9a8ecf400bdc599eccfd
  export topic t m.D<String>
    +partitions 4
"""
    )
    data, verb, color, sum_enum, num, alias, config, secret, database, topic = module.decls
    assert data == ast.Data(
        name="D",
        type_params=(ast.TypeParameter("T"), ast.TypeParameter("U")),
        visibility=ast.Visibility.REALM,
        comments=("doc",),
        metadata=(ast.MetadataGenerated(),),
        fields=(
            ast.Field(
                name="a",
                type=ast.Optional(ast.Array(ast.Ref("", "T"))),
                comments=("field doc",),
                metadata=(ast.MetadataAlias(ast.AliasKind.JSON, "x"), ast.MetadataSQLColumn("users", "id")),
            ),
        ),
    )
    assert isinstance(verb, ast.Verb) and verb.visibility is ast.Visibility.MODULE
    assert verb.request == ast.Ref("builtin", "HttpRequest", (ast.Unit(), ast.Unit(), ast.Unit()))
    assert color == ast.Enum(
        name="Color",
        type=ast.String(),
        variants=(
            ast.EnumVariant("Red", ast.StringValue("red")),
            ast.EnumVariant("Blue", ast.StringValue("blue")),
        ),
    )
    assert isinstance(sum_enum, ast.Enum) and sum_enum.type is None
    assert [v.value for v in sum_enum.variants] == [
        ast.TypeValue(ast.String()),
        ast.TypeValue(ast.Array(ast.Int())),
        ast.TypeValue(ast.Optional(ast.Ref("m", "D", (ast.Int(),)))),
    ]
    assert num == ast.Enum(name="Num", type=ast.Int(), variants=(ast.EnumVariant("One", ast.IntValue(1)),))
    assert alias == ast.TypeAlias(name="T", type=ast.Any(), metadata=(ast.MetadataTypeMap("go", "x.Y"),))
    assert config == ast.Config(name="c", type=ast.String())
    assert secret == ast.Secret(name="s", type=ast.Map(ast.String(), ast.Int()))
    assert database == ast.Database(
        name="db",
        engine="mysql",
        metadata=(
            ast.MetadataSQLMigration(
                "sha256:8cc04c75ab7967eb2ec82e11e886831e00b7cb00507e9a8ecf400bdc599eccfd"
            ),
        ),
    )
    assert topic == ast.Topic(
        name="t",
        event=ast.Ref("m", "D", (ast.String(),)),
        visibility=ast.Visibility.MODULE,
        metadata=(ast.MetadataPartitions(4),),
    )


def test_every_metadata_kind() -> None:
    module = parse_module(
        """module m {
  +git "https://github.com/a/b" "abc" dirty
  +artefact "bin" "8cc04c75ab7967eb2ec82e11e886831e00b7cb00507e9a8ecf400bdc599eccfd" executable
  +image "img" : "sha"
  verb v(Unit) Unit
    +calls m.a, m.b
    +config m.c
    +secrets m.s
    +publish m.t
    +database uses m.db
    +ingress POST /
    +cron 0 * * * *
    +retry 10 5s 1m catch m.c
    +subscribe m.t from = beginning deadletter
    +encoding json lenient
    +sql query one "SELECT \\"x\\""
    +generated
    +fixture manual
    +transaction
    +egress "https://${host}/x", "b"
}"""
    )
    assert module.metadata == (
        ast.MetadataGit("https://github.com/a/b", "abc", dirty=True),
        ast.MetadataArtefact("bin", "8cc04c75ab7967eb2ec82e11e886831e00b7cb00507e9a8ecf400bdc599eccfd", True),
        ast.MetadataImage("img", "sha"),
    )
    verb = module.decls[0]
    assert isinstance(verb, ast.Verb)
    assert verb.metadata == (
        ast.MetadataCalls((ast.Ref("m", "a"), ast.Ref("m", "b"))),
        ast.MetadataConfig((ast.Ref("m", "c"),)),
        ast.MetadataSecrets((ast.Ref("m", "s"),)),
        ast.MetadataPublisher((ast.Ref("m", "t"),)),
        ast.MetadataDatabases((ast.Ref("m", "db"),)),
        ast.MetadataIngress("POST", ()),
        ast.MetadataCronJob("0 * * * *"),
        ast.MetadataRetry(10, "5s", "1m", ast.Ref("m", "c")),
        ast.MetadataSubscriber(ast.Ref("m", "t"), ast.FromOffset.BEGINNING, dead_letter=True),
        ast.MetadataEncoding(lenient=True),
        ast.MetadataSQLQuery("one", 'SELECT "x"'),
        ast.MetadataGenerated(),
        ast.MetadataFixture(manual=True),
        ast.MetadataTransaction(),
        ast.MetadataEgress(("https://${host}/x", "b")),
    )


def test_type_variants_may_be_written_with_an_equals_sign() -> None:
    enum = _module("enum E { A = String  B [Int] }").decls[0]
    assert isinstance(enum, ast.Enum)
    assert [v.value for v in enum.variants] == [
        ast.TypeValue(ast.String()),
        ast.TypeValue(ast.Array(ast.Int())),
    ]


def test_metadata_items_need_no_separators() -> None:
    # §1.6.6: `+ calls` and several items on one line.
    verb = _module("verb a(Unit)Unit + calls a.b +secrets a.s +config a.c").decls[0]
    assert isinstance(verb, ast.Verb)
    assert [m.kind for m in verb.metadata] == ["calls", "secrets", "config"]


def test_realm_references() -> None:
    assert parse_ref("bank.Receipt@bank") == ast.Ref("bank", "Receipt", realm="bank")
    assert parse_type("bank.Page<Int, m.D@x>@bank?") == ast.Optional(
        ast.Ref("bank", "Page", (ast.Int(), ast.Ref("m", "D", realm="x")), realm="bank")
    )
    verb = _module("verb v(Unit) Unit +calls balance.withdraw@bank").decls[0]
    assert isinstance(verb, ast.Verb)
    assert verb.metadata == (ast.MetadataCalls((ast.Ref("balance", "withdraw", realm="bank"),)),)


def test_references_with_spaces_around_the_dot() -> None:
    assert parse_type("m . D") == ast.Ref("m", "D")
    assert parse_ref("m.D") == parse_ref("m .D") == ast.Ref("m", "D")


def test_types() -> None:
    assert parse_type("{String: [m.D<Int>]}?") == ast.Optional(
        ast.Map(ast.String(), ast.Array(ast.Ref("m", "D", (ast.Int(),))))
    )
    for name, node in ast.PRIMITIVE_NAMES.items():
        assert parse_type(name) == node()


@pytest.mark.parametrize("text", ["[String?]", "{String: Int?}", "m.G<String?>", "String??"])
def test_only_the_outermost_type_is_optional(text: str) -> None:
    assert 'unexpected token "?"' in _error(text, parse_type)


# -- whitespace-sensitive places (§1.6, §11) -------------------------------------------------------


def test_export_realm_needs_exactly_one_space() -> None:
    verb = _module("export realm verb v(Unit) Unit").decls[0]
    assert isinstance(verb, ast.Verb) and verb.visibility is ast.Visibility.REALM
    assert _error("module m { export  realm verb v(Unit) Unit }", parse_module).startswith(
        'f.ftl:1:20: unexpected token "realm"'
    )
    assert "unexpected token" in _error("module m { export\trealm verb v(Unit) Unit }", parse_module)


def test_cron_takes_the_rest_of_the_line_trimmed() -> None:
    module = _module(
        'verb a(Unit) Unit\n  +cron */10  * * 1-10,11-31 * * *   \nverb b(Unit) Unit +cron "0 * * * *"'
    )
    crons = [v.metadata[0] for v in module.decls if isinstance(v, ast.Verb)]
    assert crons == [ast.MetadataCronJob("*/10  * * 1-10,11-31 * * *"), ast.MetadataCronJob("0 * * * *")]


def test_cron_does_not_swallow_the_next_line() -> None:
    module = _module("verb a(Unit) Unit\n  +cron 5m \n  verb b(Unit) Unit")
    assert [d.name for d in module.decls] == ["a", "b"]


def test_cron_without_an_expression_is_an_error() -> None:
    assert "expected a cron expression" in _error("module m { verb a(Unit) Unit +cron\n}", parse_module)


def test_ingress_paths() -> None:
    verb = _module("verb v(Unit) Unit +ingress http GET /a/{id}/987-Your_File.txt%7E").decls[0]
    assert isinstance(verb, ast.Verb)
    [ingress] = verb.metadata
    assert isinstance(ingress, ast.MetadataIngress)
    assert ingress.path == (
        ast.IngressPathLiteral("a"),
        ast.IngressPathParameter("id"),
        ast.IngressPathLiteral("987-Your_File.txt%7E"),
    )
    assert ingress.path_text == "/a/{id}/987-Your_File.txt%7E"


@pytest.mark.parametrize("path", ["/a/", "/x{id}", "/a//b", "/{id}x"])
def test_bad_ingress_paths_are_errors(path: str) -> None:
    assert "invalid ingress path" in _error(
        f"module m {{ verb v(Unit) Unit +ingress GET {path} }}", parse_module
    )


def test_ingress_methods_are_uppercase_and_known() -> None:
    for method in ("PATCH", "get"):
        assert "unexpected token" in _error(
            f"module m {{ verb v(Unit) Unit +ingress {method} /a }}", parse_module
        )


def test_retry_durations_are_glued_and_the_count_stands_alone() -> None:
    verb = _module("verb v(Unit) Unit +retry 1m5s 1h catch catchesAny").decls[0]
    assert isinstance(verb, ast.Verb)
    assert verb.metadata == (ast.MetadataRetry(None, "1m5s", "1h", ast.Ref("", "catchesAny")),)
    verb = _module("verb v(Unit) Unit +retry 0 catch m.c").decls[0]
    assert isinstance(verb, ast.Verb)
    assert verb.metadata == (ast.MetadataRetry(0, catch=ast.Ref("m", "c")),)
    assert 'unexpected token "5"' in _error("module m { verb v(Unit) Unit +retry 10 5 s }", parse_module)


def test_migration_digest_is_sha256_and_64_hex_digits() -> None:
    assert "unexpected token" in _error(
        "module m { database postgres d +migration sha256:abc }", parse_module
    )


# -- comments --------------------------------------------------------------------------------------


def test_doc_comments_attach_to_the_next_node() -> None:
    module = parse_module(
        "// a\n//\n// Code generated\nmodule m {\n  data D {\n    a Int // about b\n    b Int\n  }\n}"
    )
    assert module.comments == ("a", "", "Code generated")
    data = module.decls[0]
    assert isinstance(data, ast.Data)
    assert data.fields[1].comments == ("about b",)


@pytest.mark.parametrize(
    "text",
    [
        "// hi\nrealm r {}",
        "realm r { module m { data D { a Int // trailing\n } } }",
        "realm r { module m { verb v(Unit) Unit\n // between\n +calls m.v } }",
        "realm r { module m { export // x\n data D {} } }",
        "realm r { module m { data D {}\n // last\n } }",
        "realm r { module m { verb v(\n// in\nUnit) Unit } }",
    ],
)
def test_comments_anywhere_else_are_errors(text: str) -> None:
    # A comment is a doc comment of what follows: where nothing may follow, the error is there.
    assert "unexpected token" in _error(text)


# -- positions ------------------------------------------------------------------------------------


def test_positions_are_first_tokens_with_the_file_name() -> None:
    text = (
        "realm r {\n"
        "  module m {\n"
        "    // doc\n"
        "    export data D {\n"
        '      a m.E<Int>? +alias json "x"\n'
        "    }\n"
        "\tverb v([Int]) Unit\n"
        "  }\n"
        "}"
    )
    [realm] = parse_schema(text, "s.ftl").realms
    [module] = realm.modules
    data, verb = module.decls
    assert isinstance(data, ast.Data) and isinstance(verb, ast.Verb)
    assert realm.pos == Position("s.ftl", 1, 1)
    assert module.pos == Position("s.ftl", 2, 3)
    assert data.pos == Position("s.ftl", 3, 5)  # the doc comment
    field = data.fields[0]
    assert field.pos == Position("s.ftl", 5, 7)
    assert isinstance(field.type, ast.Optional)
    assert field.type.pos == field.type.type.pos == Position("s.ftl", 5, 9)
    assert field.metadata[0].pos == Position("s.ftl", 5, 19)
    assert verb.pos == Position("s.ftl", 7, 2)  # a tab is one column
    assert verb.request.pos == Position("s.ftl", 7, 9)


def test_positions_after_optional_whitespace_sensitive_parts() -> None:
    text = "module m {\n verb v(Unit) Unit\n  +retry\n  +ingress GET\n /a\n  +calls m.x\n}"
    verb = parse_module(text).decls[0]
    assert isinstance(verb, ast.Verb)
    assert [(m.pos.line, m.pos.column) for m in verb.metadata] == [(3, 3), (4, 3), (6, 3)]
    ingress = verb.metadata[1]
    assert isinstance(ingress, ast.MetadataIngress)
    assert (ingress.path[0].pos.line, ingress.path[0].pos.column) == (5, 3)


def test_ingress_parameter_positions(conformance_dir: Path) -> None:
    # invalid_02 reports path parameters at their "{" (16:31 and 16:41).
    text = (conformance_dir / "schema" / "invalid_02_ingress_body_and_path_types.ftl").read_text()
    module = parse_schema(text.partition("\n")[2]).realms[0].modules[0]
    verb = next(d for d in module.decls if d.name == "pathInvalid")
    assert isinstance(verb, ast.Verb) and isinstance(verb.metadata[0], ast.MetadataIngress)
    assert [(c.pos.line, c.pos.column) for c in verb.metadata[0].path] == [(16, 26), (16, 31), (16, 41)]


# -- errors ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("realm r { module m { data D { a Int; } } }", 'f.ftl:1:36: invalid input text "; } } }"'),
        ("realm r { module m { data D { ä Int } } }", "f.ftl:1:31: invalid input text"),
        ('realm r { module m { enum E: String { A = "abc } } }', "f.ftl:1:43: string literal not terminated"),
        ('realm r { module m { enum E: String { A = "a\\qb" } } }', 'f.ftl:1:45: invalid escape "\\\\q"'),
        ("realm r { module m { enum E: Int { A = 99999999999999999999 } } }", "f.ftl:1:40: integer 99"),
        ("realm r { module m { enum E: Int { A = 1.5 } } }", 'f.ftl:1:41: unexpected token "."'),
        ("realm r { module m { enum E: Int { A = -1 } } }", 'f.ftl:1:40: invalid input text "-1'),
        ("realm r { module m { data D { a Int } ", "f.ftl:1:38: unexpected end of input"),
        (
            'realm r { module m { data D { a Int +alias yaml "x" } } }',
            'f.ftl:1:44: unknown alias kind "yaml"',
        ),
        ('module m { +artefact "a" "xyz" }', "f.ftl:1:26: artefact digest must be 64 hex digits"),
        ("realm r { module m { data D { a a.b.c } } }", 'f.ftl:1:36: unexpected token "."'),
    ],
)
def test_errors_are_positioned(text: str, expected: str) -> None:
    parse = parse_module if text.startswith("module") else parse_schema
    assert _error(text, parse).startswith(expected)


def test_expected_tokens_exclude_merged_lookaheads() -> None:
    assert _error("String??", parse_type) == 'f.ftl:1:8: unexpected token "?" (expected the end of the input)'


def test_nesting_is_bounded() -> None:
    text = "realm r { module m { data D { a " + "[" * 100 + "Int" + "]" * 100 + " } } }"
    assert "nesting deeper than" in _error(text)


def test_module_mode_needs_exactly_one_module() -> None:
    assert "unexpected end of input" in _error("", parse_module)
    assert "unexpected token" in _error("module a {} module b {}", parse_module)
    assert "unexpected token" in _error("realm r {}", parse_module)


def test_parsing_is_thread_safe() -> None:
    from concurrent.futures import ThreadPoolExecutor

    texts = [f"realm r{i} {{ module m {{ data D{i} {{ a Int }} }} }}" for i in range(20)]
    with ThreadPoolExecutor(4) as pool:
        schemas = list(pool.map(lambda t: parse_schema(t, t[6:9]), texts))
    for i, schema in enumerate(schemas):
        assert schema.realms[0].name == f"r{i}"
        assert schema.realms[0].pos.filename == texts[i][6:9]
