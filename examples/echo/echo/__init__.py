"""The echo module: says your name back, stamped with the time from the `time` module."""

from dataclasses import dataclass

from ftl_modules import time as time_mod

import ftl


@dataclass
class EchoRequest:
    name: str


@dataclass
class EchoResponse:
    message: str


@dataclass
class UserPath:
    user_id: int


@ftl.verb(export=True)
def echo(req: EchoRequest) -> EchoResponse:
    """Echo the name back with the current time."""
    now = time_mod.time(time_mod.TimeRequest())
    return EchoResponse(message=f"Hello, {req.name}! It is {now.time:%H:%M:%S} UTC.")


@ftl.ingress("GET", "/echo/hello")
def hello(req: ftl.HttpRequest[None, None, None]) -> ftl.HttpResponse[EchoResponse, str]:
    """curl http://127.0.0.1:8891/echo/hello"""
    return ftl.HttpResponse(body=echo(EchoRequest(name="world")))


@ftl.ingress("POST", "/echo")
def echo_json(req: ftl.HttpRequest[EchoRequest, None, None]) -> ftl.HttpResponse[EchoResponse, str]:
    """curl -d '{"name": "Ada"}' http://127.0.0.1:8891/echo"""
    return ftl.HttpResponse(body=echo(req.body))


@ftl.ingress("GET", "/echo/users/{user_id}")
def echo_user(req: ftl.HttpRequest[None, UserPath, None]) -> ftl.HttpResponse[EchoResponse, str]:
    """curl http://127.0.0.1:8891/echo/users/42"""
    if req.path_parameters.user_id <= 0:
        return ftl.HttpResponse(status=404, error="no such user")
    return ftl.HttpResponse(body=echo(EchoRequest(name=f"user {req.path_parameters.user_id}")))
