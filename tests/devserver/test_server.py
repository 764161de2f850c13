"""Binding addresses for `ftl serve`: flags, environment, defaults, port 0."""

from __future__ import annotations

import socket

import pytest

from ftl.devserver.server import (
    DEFAULT_ADMIN_BIND,
    DEFAULT_INGRESS_BIND,
    ServeOptions,
    bind_socket,
    parse_bind,
    socket_url,
)
from ftl.errors import FtlError


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("http://127.0.0.1:8891", ("127.0.0.1", 8891)),
        ("127.0.0.1:0", ("127.0.0.1", 0)),
        ("localhost:9000", ("localhost", 9000)),
        ("http://0.0.0.0:80/", ("0.0.0.0", 80)),
        (":0", ("127.0.0.1", 0)),
    ],
)
def test_parse_bind(text: str, expected: tuple[str, int]) -> None:
    assert parse_bind(text) == expected


@pytest.mark.parametrize(
    "text", ["8891", "https://127.0.0.1:1", "127.0.0.1", "http://h:99999", "http://h:1/x"]
)
def test_bad_bind_addresses_are_clear_errors(text: str) -> None:
    with pytest.raises(FtlError, match="bad bind address"):
        parse_bind(text)


def test_flags_win_over_environment_over_defaults() -> None:
    env = {"FTL_INGRESS_BIND": "127.0.0.1:1", "FTL_BIND": "127.0.0.1:2"}
    assert ServeOptions.from_flags(environ={}) == ServeOptions(DEFAULT_INGRESS_BIND, DEFAULT_ADMIN_BIND)
    from_env = ServeOptions.from_flags(environ=env)
    assert (from_env.ingress_bind, from_env.admin_bind) == ("127.0.0.1:1", "127.0.0.1:2")
    from_flags = ServeOptions.from_flags("127.0.0.1:3", "127.0.0.1:4", environ=env)
    assert (from_flags.ingress_bind, from_flags.admin_bind) == ("127.0.0.1:3", "127.0.0.1:4")


def test_port_zero_picks_a_free_port_and_a_taken_one_is_an_error() -> None:
    sock = bind_socket("127.0.0.1:0")
    try:
        url = socket_url(sock)
        port = int(url.rsplit(":", 1)[1])
        assert url.startswith("http://127.0.0.1:") and port > 0
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
        with pytest.raises(FtlError, match=f"cannot listen on 127.0.0.1:{port}"):
            bind_socket(url)
    finally:
        sock.close()
