import pytest

from ftl.names import lower_camel, module_name_problem, python_name, snake_case, wire_name_problem


@pytest.mark.parametrize(
    ("python", "schema"),
    [
        ("get_user", "getUser"),
        ("user_id", "userId"),
        ("name", "name"),
        ("address_line_2", "addressLine2"),
        ("getUser", "getUser"),
        ("from_", "from"),
    ],
)
def test_lower_camel(python: str, schema: str) -> None:
    assert lower_camel(python) == schema


@pytest.mark.parametrize(
    ("schema", "python"),
    [("getUser", "get_user"), ("userId", "user_id"), ("getHTTPStatus", "get_http_status"), ("name", "name")],
)
def test_snake_case(schema: str, python: str) -> None:
    assert snake_case(schema) == python


@pytest.mark.parametrize(
    ("schema", "python"),
    [("getUser", "get_user"), ("userID", "userID"), ("from", "from_"), ("addressLine2", "address_line2")],
)
def test_python_name_round_trips_to_the_schema_name(schema: str, python: str) -> None:
    assert python_name(schema) == python
    assert lower_camel(python_name(schema)) == schema


@pytest.mark.parametrize("name", ["user_id", "name", "userId", "line_2"])
def test_clean_names(name: str) -> None:
    assert wire_name_problem(name) is None


@pytest.mark.parametrize("name", ["_hidden", "user__id", "trailing_", "User", "user_ID"])
def test_names_without_a_clean_wire_form(name: str) -> None:
    problem = wire_name_problem(name)
    assert problem is not None and "snake_case" in problem


@pytest.mark.parametrize(
    ("name", "ok"),
    [("echo", True), ("map", False), ("builtin", False), ("a-b", False), ("class", False), ("match", True)],
)
def test_module_names_follow_schema_rules(name: str, ok: bool) -> None:
    assert (module_name_problem(name) is None) is ok


def test_a_python_keyword_is_no_module_name() -> None:
    # `ftl_modules/class.py` would be generated, but no Python code could import it.
    assert module_name_problem("class") == (
        "module name 'class' is a Python keyword: choose another name "
        "(Python code could not import its client, `ftl_modules.class`)"
    )
