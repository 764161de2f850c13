"""Module dependency cycles (validate/cycles.py)."""

from __future__ import annotations

from validate_support import errors, validated

from ftl.schema.validate.cycles import find_cycle

_MODULE = "module {name} {{ export verb {name}(Unit) Unit +calls {target}.{target} }}\n"


def test_a_cycle_has_no_position() -> None:
    text = (
        "realm r {\n"
        + "".join(
            _MODULE.format(name=name, target=target)
            for name, target in [("one", "two"), ("two", "three"), ("three", "one")]
        )
        + "}\n"
    )
    assert errors(text) == ["found cycle in dependencies: two -> three -> one -> two"]


def test_type_references_count_as_edges() -> None:
    text = """
    realm r {
      module a { export data A { b b.B } }
      module b { export data B { a a.A } }
    }
    """
    assert errors(text) == ["found cycle in dependencies: b -> a -> b"]


def test_self_references_and_chains_are_not_cycles() -> None:
    validated("realm r { module c { verb a(Unit) Unit +calls c.b  verb b(Unit) Unit +calls c.a } }")
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) == []
    assert find_cycle({"a": {"a", "missing"}}) == []
