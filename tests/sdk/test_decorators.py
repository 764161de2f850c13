import pytest

import ftl
from ftl._sdk.decorators import CronSpec, FixtureSpec, IngressSpec, RetrySpec, SubscribeSpec, verb_spec
from ftl._sdk.registry import declared_in


def test_verb_returns_the_function_itself_and_records_a_spec() -> None:
    def plain(req: int) -> int:
        return req + 1

    assert ftl.verb(plain) is plain
    assert plain(1) == 2
    spec = verb_spec(plain)
    assert spec is not None and spec.explicit and spec.export is False
    assert plain in declared_in(__name__)


def test_export_levels() -> None:
    @ftl.verb(export="realm")
    def shared(req: int) -> int:
        return req

    spec = verb_spec(shared)
    assert spec is not None and spec.export == "realm"
    with pytest.raises(TypeError, match="export must be"):
        ftl.verb(export="everyone")  # type: ignore[call-overload]


def test_metadata_decorators_stack_in_application_order() -> None:
    orders = ftl.topic("orders", int)

    @ftl.fixture(manual=True)
    @ftl.retry(3, "1s", catch=None)
    @ftl.subscribe(orders, from_="beginning", dead_letter=True)
    @ftl.cron("5m")
    @ftl.ingress("GET", "/x")
    def handler() -> None: ...

    spec = verb_spec(handler)
    assert spec is not None and not spec.explicit
    assert spec.metadata == [
        IngressSpec("GET", "/x"),
        CronSpec("5m"),
        SubscribeSpec(orders, "beginning", True),
        RetrySpec(3, "1s", "", None),
        FixtureSpec(True),
    ]


def test_decorating_a_class_is_a_clear_type_error() -> None:
    with pytest.raises(TypeError, match="decorates a function"):
        ftl.verb(int)


def test_topic_remembers_where_it_was_declared() -> None:
    topic = ftl.topic("events", str, partitions=2)
    assert (topic.name, topic.event, topic.partitions, topic.python_module) == ("events", str, 2, __name__)
    assert topic.line > 0
    assert topic in declared_in(__name__)


def test_enum_marks_only_the_base_class() -> None:
    from ftl._sdk.decorators import is_sum_type_base

    @ftl.enum
    class Shape: ...

    class Circle(Shape): ...

    assert is_sum_type_base(Shape) and not is_sum_type_base(Circle)


def test_public_api_is_exported() -> None:
    for name in ftl.__all__:
        assert hasattr(ftl, name), name
