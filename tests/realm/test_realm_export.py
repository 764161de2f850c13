from __future__ import annotations

from pathlib import Path

import pytest

from ftl.errors import FtlError
from ftl.project import load_project
from ftl.realm import check_public_schema, public_schema_text, write_public_schema
from ftl.schema import parse_schema

SCHEMA = """realm shop {
  module orders {
    export realm verb place(Unit) Unit
    verb hidden(Unit) Unit
  }
}
"""


def test_public_schema_text_is_the_canonical_public_realm() -> None:
    text = public_schema_text(parse_schema(SCHEMA), "shop")
    assert text == "realm shop {\n  module orders {\n    export realm verb place(Unit) Unit\n  }\n}\n"


def test_write_then_check(shop: Path) -> None:
    project = load_project(shop)
    schema = parse_schema(SCHEMA.replace("realm shop", "realm shop"))
    target = shop.parent / "ftl-public-schema.ftl"

    missing = check_public_schema(project, schema)
    assert (missing.path, missing.exists, missing.up_to_date) == (target, False, False)
    assert "+    export realm verb place(Unit) Unit" in missing.diff

    assert write_public_schema(project, schema)
    assert target.read_text() == public_schema_text(schema, "shop")
    assert not write_public_schema(project, schema)
    assert check_public_schema(project, schema).up_to_date

    target.write_text(target.read_text().replace("place", "placed"))
    stale = check_public_schema(project, schema)
    assert stale.exists and not stale.up_to_date
    assert "-    export realm verb placed(Unit) Unit" in stale.diff
    assert "+    export realm verb place(Unit) Unit" in stale.diff


def test_output_elsewhere(shop: Path, tmp_path: Path) -> None:
    project = load_project(shop)
    out = tmp_path / "out" / "public.ftl"
    assert write_public_schema(project, parse_schema(SCHEMA), out)
    assert out.is_file() and not (shop.parent / "ftl-public-schema.ftl").exists()
    assert check_public_schema(project, parse_schema(SCHEMA), out).up_to_date


def test_an_unreadable_public_schema_file_is_reported_plainly(shop: Path) -> None:
    (shop.parent / "ftl-public-schema.ftl").mkdir()
    with pytest.raises(FtlError) as caught:
        check_public_schema(load_project(shop), parse_schema(SCHEMA))
    assert str(caught.value) == "cannot read ftl-public-schema.ftl: Is a directory"
