from datetime import UTC, datetime

from echo import EchoRequest, UserPath, echo, echo_user, hello
from ftl_modules import time as time_mod

import ftl
from ftl.testing import call

NOON = {"time.time": lambda req: time_mod.TimeResponse(time=datetime(2025, 1, 1, 12, 0, tzinfo=UTC))}


def test_echo_says_the_name_and_the_time() -> None:
    response = call(echo, EchoRequest(name="Ada"), fakes=NOON)
    assert response.message == "Hello, Ada! It is 12:00:00 UTC."


def test_hello_route_greets_the_world() -> None:
    request = ftl.HttpRequest(
        method="GET", path="/echo/hello", path_parameters=None, query=None, headers={}, body=None
    )
    response = call(hello, request, fakes=NOON)
    assert response.status == 200
    assert response.body is not None and response.body.message.startswith("Hello, world!")


def test_unknown_user_is_404() -> None:
    request = ftl.HttpRequest(
        method="GET",
        path="/echo/users/0",
        path_parameters=UserPath(user_id=0),
        query=None,
        headers={},
        body=None,
    )
    response = call(echo_user, request, fakes=NOON)
    assert response.status == 404
