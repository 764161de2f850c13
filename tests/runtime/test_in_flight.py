"""Waiting until no call is in flight under given keys, with calls counted from any thread."""

from __future__ import annotations

import asyncio
import threading

import pytest

from ftl.runtime._in_flight import InFlight

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def test_idle_keys_do_not_wait_and_busy_ones_wait_for_their_last_call() -> None:
    in_flight = InFlight(asyncio.get_running_loop())
    await asyncio.wait_for(in_flight.wait_idle({"a"}), 5)
    in_flight.begin("a")
    in_flight.begin("a")
    in_flight.begin("b")
    await asyncio.wait_for(in_flight.wait_idle({"c"}), 5)

    waiting = asyncio.ensure_future(in_flight.wait_idle({"a"}))
    in_flight.end("b")
    in_flight.end("a")
    await asyncio.sleep(0)  # let the waiter look again: one call under "a" is still in flight
    assert not waiting.done()
    in_flight.end("a")
    await asyncio.wait_for(waiting, 5)


async def test_a_call_ending_on_another_thread_wakes_the_waiter() -> None:
    in_flight = InFlight(asyncio.get_running_loop())
    with in_flight.lock:
        in_flight.begin_locked("endpoint")
    waiting = asyncio.ensure_future(in_flight.wait_idle({"endpoint", "other"}))
    await asyncio.sleep(0)
    assert not waiting.done()
    threading.Thread(target=in_flight.end, args=("endpoint",)).start()
    await asyncio.wait_for(waiting, 5)
