import asyncio
from typing import Any

import pytest

import ftl
from ftl._sdk.calls import using_transport


class Recorder:
    def __init__(self) -> None:
        self.seen: list[tuple[str, str, Any, Any, str | None]] = []

    def call(self, module: str, verb: str, request: Any, response_type: Any, realm: str | None) -> Any:
        self.seen.append((module, verb, request, response_type, realm))
        return f"sync {request}"

    async def call_async(
        self, module: str, verb: str, request: Any, response_type: Any, realm: str | None
    ) -> Any:
        self.seen.append((module, verb, request, response_type, realm))
        return f"async {request}"


def test_a_client_outside_ftl_says_to_use_ftl_testing() -> None:
    client: ftl.VerbClient[int, str] = ftl.VerbClient("time", "time", int, str)
    with pytest.raises(ftl.FtlCallError, match=r"time\.time was called outside FTL.*ftl\.testing"):
        client(1)


def test_clients_go_through_the_transport_in_context() -> None:
    transport = Recorder()
    client: ftl.VerbClient[int, str] = ftl.VerbClient("bank", "pay", int, str, realm="money")
    with using_transport(transport):
        assert client(1) == "sync 1"
        assert asyncio.run(client.call_async(2)) == "async 2"
    assert transport.seen == [("bank", "pay", 1, str, "money"), ("bank", "pay", 2, str, "money")]
    with pytest.raises(ftl.FtlCallError):
        client(3)


def test_the_process_transport_is_the_fallback() -> None:
    transport = Recorder()
    ftl.set_call_transport(transport)
    try:
        assert ftl.SourceClient("time", "now", None, str)() == "sync None"
    finally:
        ftl.set_call_transport(None)


def test_publishing_needs_a_transport_that_supports_topics() -> None:
    topic: ftl.Topic[int] = ftl.Topic("orders", int, module="shop")
    with using_transport(Recorder()), pytest.raises(ftl.FtlCallError, match="does not support topics"):
        topic.publish(1)
