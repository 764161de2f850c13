"""The runner: the process that runs one deployment's user code.

It connects to the backplane's control port, imports the module (`load_module`), registers its
deployment key, extracted schema and the port it listens on, then serves verb calls from the
backplane and from other runners until the backplane says Stop or the control connection closes.
Each concept lives in a module of its own:

    _control.py        the control connection: route tables in, acknowledgements, events and published
                       topic events out, stop;
                       the lifeline that ends the runner with the backplane, whatever the loop is doing
    _serving.py        incoming verb calls: sync verbs on the threads that read them, async ones on the loop
    _verb_binding.py   config and secret values injected into each verb
    _wire.py           the wire steps of one call (decode the request, call the verb, encode the
                       response, and the caller's side), shared with `ftl.testing`
    _outgoing.py       calls the module makes, checked (`+calls`, depth) and sent peer to peer; and
                       `topic.publish(...)`, sent to the backplane
    _realm_calls.py    calls to verbs of external realms, over HTTP
    _call_errors.py    `CallFailed`, what a verb sees when one of its calls fails
    _in_flight.py      counting calls in flight, to wait until they are done
    _log_capture.py    logging and print() as timeline `log` events
    _event_queue.py    timeline events batched into `events` frames
    _load_failure.py   the diagnostics sent when the module does not import

The wire format is `protocol.py`, documented in docs/runner-protocol.md.
"""

from __future__ import annotations

import asyncio
import faulthandler
import os
import sys
import traceback
import typing
from pathlib import Path
from typing import Any

import msgspec

from ftl._sdk.calls import set_call_transport
from ftl.errors import FtlError
from ftl.runtime._control import Control, exit_with_backplane, sender_for_any_thread
from ftl.runtime._event_queue import EventQueue
from ftl.runtime._load_failure import import_failure, wire_diagnostics
from ftl.runtime._log_capture import capture_output
from ftl.runtime._outgoing import OutgoingCalls
from ftl.runtime._realm_calls import RealmCalls
from ftl.runtime._serving import CallServer
from ftl.runtime._verb_binding import bind_verbs
from ftl.runtime.loader import load_module
from ftl.runtime.protocol import (
    Connection,
    LoadFailed,
    Message,
    Register,
    WireDiagnostic,
    join_endpoint,
    split_endpoint,
)
from ftl.schema import to_json


class RunnerSpec(msgspec.Struct, frozen=True, kw_only=True):
    """Everything a runner needs, sent by the supervisor (through the zygote or argv)."""

    deployment: str
    module_dir: str
    control: str  # the backplane's control endpoint, host:port
    host: str = "127.0.0.1"  # where the runner listens for calls
    realm: str = ""
    project_root: str = ""
    stubs_dir: str = ""
    config: dict[str, Any] = {}
    secrets: dict[str, Any] = {}
    realm_endpoints: dict[str, str] = {}  # external realm -> base URL of its ingress


def run_and_exit(spec: RunnerSpec, lifeline: int | None = None) -> typing.NoReturn:
    """Run, then leave at once: worker threads still blocked in user code must not hold the exit.

    `lifeline` is the read end of the backplane's lifeline pipe: the runner exits when it closes.
    """
    if lifeline is not None:
        exit_with_backplane(lifeline)
    try:
        code = main(spec)
    except BaseException:
        traceback.print_exc(file=sys.__stderr__)
        code = 1
    for stream in (sys.__stdout__, sys.__stderr__):
        if stream is not None:
            stream.flush()
    os._exit(code)


def main(spec: RunnerSpec) -> int:
    """Run the deployment until stopped; returns the exit code. The caller should `os._exit` with it."""
    faulthandler.enable()
    events = EventQueue()
    capture_output(events)
    if spec.project_root:
        os.chdir(spec.project_root)
    return asyncio.run(_run(spec, events))


async def _run(spec: RunnerSpec, events: EventQueue) -> int:
    loop = asyncio.get_running_loop()
    control: Control | None = None
    lost = loop.create_future()

    def on_message(connection: Connection, message: Message) -> None:
        if control is not None:
            control.on_message(connection, message)

    def on_lost(connection: Connection, exc: Exception | None) -> None:
        if not lost.done():
            lost.set_result(None)
        if control is not None:
            control.on_lost()

    host, port = split_endpoint(spec.control)
    try:
        _, connection = await loop.create_connection(lambda: Connection(on_message, on_lost), host, port)
    except OSError as exc:
        print(f"ftl runner: cannot reach the backplane at {spec.control}: {exc}", file=sys.stderr)
        return 2
    try:
        loaded = load_module(Path(spec.module_dir), stubs=Path(spec.stubs_dir) if spec.stubs_dir else None)
    except FtlError as exc:
        return await _load_failed(connection, spec, wire_diagnostics(exc))
    except BaseException as exc:  # user code raised while being imported
        traceback.print_exc()
        return await _load_failed(connection, spec, [import_failure(exc)])
    if lost.done():
        return 0
    server = CallServer(loaded.name, bind_verbs(loaded, spec.config, spec.secrets), events)
    realm_calls = RealmCalls(spec.realm, spec.realm_endpoints, events=events)
    outgoing = OutgoingCalls(loaded.name, realm_calls, sender_for_any_thread(connection))
    control = Control(connection, server, outgoing, events)
    listener = await loop.create_server(server.connection, spec.host, 0)
    port = listener.sockets[0].getsockname()[1]
    set_call_transport(outgoing)
    connection.send(
        Register(spec.deployment, os.getpid(), join_endpoint(spec.host, port), to_json(loaded.schema))
    )
    events.start(loop, control.send_events)
    code = await control.stopped
    listener.close()
    return code


async def _load_failed(connection: Connection, spec: RunnerSpec, diagnostics: list[WireDiagnostic]) -> int:
    connection.send(LoadFailed(spec.deployment, os.getpid(), diagnostics))
    connection.close()
    await connection.wait_closed()
    return 1


if __name__ == "__main__":
    # python -m ftl.runtime.runner SPEC_JSON [LIFELINE_FD]
    run_and_exit(
        msgspec.json.decode(sys.argv[1], type=RunnerSpec), int(sys.argv[2]) if len(sys.argv) > 2 else None
    )
