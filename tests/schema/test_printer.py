"""`ftl.schema.printer`: canonical text (§12 without trailing whitespace), round trips, idempotence."""

from __future__ import annotations

from pathlib import Path

from ftl.schema import (
    ast,
    parse_module,
    parse_schema,
    parse_type,
    print_decl,
    print_metadata,
    print_module,
    print_schema,
    print_type,
)


def _documents(conformance_dir: Path) -> list[tuple[str, bool, str]]:
    out = []
    for path in sorted((conformance_dir / "schema").glob("*.ftl")):
        header, _, text = path.read_text(encoding="utf-8").partition("\n")
        if "expect: OK" in header:
            out.append((path.name, "ParseModuleString" in header, text))
    return out


def test_upstream_printer_output_is_canonical_apart_from_trailing_whitespace(conformance_dir: Path) -> None:
    text = (conformance_dir / "schema" / "valid_01_ftl_schema_get_output.ftl").read_text().partition("\n")[2]
    expected = "\n".join(line.rstrip() for line in text.rstrip("\n").split("\n")) + "\n"
    assert print_schema(parse_schema(text)) == expected


def test_valid_documents_round_trip_and_print_idempotently(conformance_dir: Path) -> None:
    for name, module_mode, text in _documents(conformance_dir):
        if module_mode:
            module = parse_module(text)
            printed = print_module(module) + "\n"
            assert parse_module(printed) == module, name
            assert print_module(parse_module(printed)) + "\n" == printed, name
        else:
            schema = parse_schema(text)
            printed = print_schema(schema)
            assert parse_schema(printed) == schema, name
            assert print_schema(parse_schema(printed)) == printed, name
        assert all(line == line.rstrip() for line in printed.split("\n")), name


def test_schema_layout() -> None:
    schema = parse_schema(
        "realm a { module m { config c Int secret s Int database postgres d database mysql e "
        "topic t Int topic u Int typealias A Int typealias B Int data D {} data E {} verb v(Unit) Unit "
        "+calls m.v } }  external realm b {}"
    )
    assert print_schema(schema) == (
        "realm a {\n"
        "  module m {\n"
        "    config c Int\n"
        "    secret s Int\n"
        "\n"
        "    database postgres d\n"
        "    database mysql e\n"
        "\n"
        "    topic t Int\n"
        "    topic u Int\n"
        "\n"
        "    typealias A Int\n"
        "    typealias B Int\n"
        "\n"
        "    data D {\n"
        "    }\n"
        "\n"
        "    data E {\n"
        "    }\n"
        "\n"
        "    verb v(Unit) Unit\n"
        "      +calls m.v\n"
        "  }\n"
        "}\n"
        "\n"
        "external realm b {}\n"
    )
    assert print_schema(ast.Schema()) == ""


def test_module_metadata_is_all_printed() -> None:
    text = (
        "// doc\n"
        "builtin module builtin {\n"
        '  +git "https://x/y" "abc" dirty\n'
        '  +artefact "bin" "8cc04c75ab7967eb2ec82e11e886831e00b7cb00507e9a8ecf400bdc599eccfd" executable\n'
        '  +image "img":"sha256:1"\n'
        "}"
    )
    assert print_module(parse_module(text)) == text


def test_declarations() -> None:
    text = (
        "// A\n"
        "//\n"
        "export realm data D<T, U> {\n"
        "  +generated\n"
        "  // f\n"
        '  a {String: [T]}? +alias json "a" +sql column "my table".id\n'
        "}"
    )
    assert print_decl(parse_module(f"module m {{ {text} }}").decls[0]) == text
    enums = 'export enum E: String {\n  // v\n  A = "a\\n"\n}\n\nenum S {\n  A m.D<Int>?\n  B [String]\n}'
    module = parse_module(f"module m {{ {enums} }}")
    assert "\n\n".join(print_decl(d) for d in module.decls) == enums


def test_metadata_forms() -> None:
    cases = {
        "+retry": "+retry",
        "+retry 0 catch m.c": "+retry 0 catch m.c",
        "+retry 1m5s 1h": "+retry 1m5s 1h",
        "+subscribe m.t from = latest": "+subscribe m.t from=latest",
        "+ingress GET /": "+ingress http GET /",
        "+encoding json": "+encoding json",
        '+egress "a" , "b"': '+egress "a", "b"',
        "+fixture": "+fixture",
        "+cron  Mon ": "+cron Mon",
        '+sql query many "SELECT 1"': '+sql query many "SELECT 1"',
        '+typemap kotlin "x\\ty"': '+typemap kotlin "x\\ty"',
        "+database uses m.a": "+database uses m.a",
    }
    for source, expected in cases.items():
        verb = parse_module(f"module m {{ verb v(Unit) Unit\n {source}\n}}").decls[0]
        assert isinstance(verb, ast.Verb)
        assert print_metadata(verb.metadata[0]) == expected


def test_long_reference_lists_wrap_without_trailing_spaces() -> None:
    refs = ", ".join(f"module{i}.someLongVerbName{i}" for i in range(6))
    verb = parse_module(f"module m {{ verb v(Unit) Unit +calls {refs} }}").decls[0]
    assert isinstance(verb, ast.Verb)
    printed = print_decl(verb)
    assert printed == (
        "verb v(Unit) Unit\n"
        "  +calls module0.someLongVerbName0, module1.someLongVerbName1,\n"
        "        module2.someLongVerbName2, module3.someLongVerbName3,\n"
        "        module4.someLongVerbName4, module5.someLongVerbName5"
    )
    assert parse_module(f"module m {{ {printed} }}").decls[0] == verb


def test_generated_code_marker_is_dropped() -> None:
    module = parse_module("// Code generated by FTL. DO NOT EDIT.\n// kept\nmodule m {}")
    assert print_module(module) == "// kept\nmodule m {\n}"


def test_strings_are_quoted_go_style() -> None:
    values = ['a"b', "tab\there", "new\nline", "uni é ☃", "\x00\x7f", "\u00a0", "\U0001f600", "\\"]
    for value in values:
        module = ast.Module(name="m", metadata=(ast.MetadataGit(value, value),))
        printed = print_module(module)
        assert parse_module(printed) == module, printed
    assert print_metadata(ast.MetadataEgress(("${x}", 'q"'))) == '+egress "${x}", "q\\""'


def test_types() -> None:
    for text in ["Int", "[Int]", "{String: [m.D<Int, T>]}?", "bank.Receipt<Bytes>@bank", "Any?"]:
        assert print_type(parse_type(text)) == text
