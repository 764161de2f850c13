"""The runner as a real process: the test plays the backplane on a real control socket."""

from __future__ import annotations

import asyncio
import contextlib
import http.server
import json
import os
import signal
import sys
import textwrap
import threading
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import msgspec
import pytest

from ftl.runtime.context import MAX_CALL_DEPTH
from ftl.runtime.protocol import (
    CallClient,
    Connection,
    EventRecord,
    Events,
    LoadFailed,
    Message,
    Register,
    Reply,
    Routes,
    RoutesApplied,
    Stop,
    join_endpoint,
)
from ftl.runtime.runner import RunnerSpec

pytestmark = pytest.mark.anyio

SVC = """
import asyncio
import logging
import threading
from dataclasses import dataclass
from typing import Annotated

import ftl


@dataclass
class Req:
    text: str


@dataclass
class Resp:
    text: str


PEER = ftl.VerbClient("other", "echo", Req, Resp)
ASYNC_PEER = ftl.VerbClient("other", "aecho", Req, Resp)
SELF = ftl.VerbClient("svc", "recurse", Req, Resp)
BANK = ftl.VerbClient("balance", "get", Req, Resp, realm="bank")
_released = threading.Event()
_gate: asyncio.Event | None = None


@ftl.verb
def shout(req: Req) -> Resp:
    logging.getLogger("svc").info("shouting %s", req.text)
    print("printed", req.text)
    return Resp(req.text.upper())


@ftl.verb
def fail(req: Req) -> Resp:
    raise ValueError(f"cannot handle {req.text}")


@ftl.verb
def wait(req: Req) -> Resp:
    if not _released.wait(30):
        raise TimeoutError("never released")
    return Resp("released")


@ftl.verb
def release(req: Req) -> Resp:
    _released.set()
    return Resp("ok")


@ftl.verb
async def await_gate(req: Req) -> Resp:
    global _gate
    _gate = _gate or asyncio.Event()
    await _gate.wait()
    return Resp("opened")


@ftl.verb
async def open_gate(req: Req) -> Resp:
    global _gate
    _gate = _gate or asyncio.Event()
    _gate.set()
    return Resp("ok")


@ftl.verb
def configured(
    req: Req,
    greeting: Annotated[str, ftl.Config("greeting")],
    api_key: Annotated[str, ftl.Secret("apiKey")],
) -> Resp:
    return Resp(f"{greeting} {req.text} ({len(api_key)})")


@ftl.verb
def relay(req: Req) -> Resp:
    return PEER(req)


@ftl.verb
async def relay_async(req: Req) -> Resp:
    return await PEER.call_async(req)


@ftl.verb
def relay_to_async(req: Req) -> Resp:
    return ASYNC_PEER(req)


@ftl.verb
def recurse(req: Req) -> Resp:
    return SELF(req)


@ftl.verb
def bank(req: Req) -> Resp:
    return BANK(req)
"""

OTHER = """
from dataclasses import dataclass

import ftl


@dataclass
class Req:
    text: str


@dataclass
class Resp:
    text: str


@ftl.verb
def echo(req: Req) -> Resp:
    if req.text == "explode":
        raise RuntimeError("other exploded")
    return Resp(f"other:{req.text}")


@ftl.verb
async def aecho(req: Req) -> Resp:
    return Resp(f"async other:{req.text}")
"""

BROKEN = """
import ftl

VALUE = 1 / 0
"""


def write_module(root: Path, name: str, source: str) -> Path:
    directory = root / name
    (directory / name).mkdir(parents=True)
    (directory / "ftl.toml").write_text(f'module = "{name}"\nlanguage = "python"\n')
    (directory / name / "__init__.py").write_text(textwrap.dedent(source))
    return directory


class FakeBackplane:
    """The control side of the runner protocol, plus process bookkeeping."""

    def __init__(self) -> None:
        self.registrations: dict[str, asyncio.Future[Register | LoadFailed]] = {}
        self.controls: dict[str, Connection] = {}
        self.events: list[EventRecord] = []
        self.applied: dict[str, asyncio.Queue[int]] = {}
        self.processes: list[asyncio.subprocess.Process] = []
        self.endpoint = ""
        self._server: asyncio.Server | None = None
        self._event_added = asyncio.Event()

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(lambda: Connection(self._received), "127.0.0.1", 0)
        self.endpoint = join_endpoint("127.0.0.1", self._server.sockets[0].getsockname()[1])

    def _received(self, connection: Connection, message: Message) -> None:
        if isinstance(message, Register | LoadFailed):
            self.controls[message.deployment] = connection
            self.applied[message.deployment] = asyncio.Queue()
            self.registrations[message.deployment].set_result(message)
        elif isinstance(message, Events):
            self.events.extend(message.events)
            self._event_added.set()
        elif isinstance(message, RoutesApplied):
            deployment = next(d for d, c in self.controls.items() if c is connection)
            self.applied[deployment].put_nowait(message.version)

    async def spawn(self, module_dir: Path, **spec: Any) -> Register | LoadFailed:
        deployment = f"dpl-test-{module_dir.name}-{len(self.processes):010d}"
        runner_spec = RunnerSpec(
            deployment=deployment, module_dir=str(module_dir), control=self.endpoint, **spec
        )
        self.registrations[deployment] = asyncio.get_running_loop().create_future()
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "ftl.runtime.runner",
            msgspec.json.encode(runner_spec).decode(),
            start_new_session=True,
        )
        self.processes.append(process)
        return await asyncio.wait_for(self.registrations[deployment], 30)

    async def routes(self, registration: Register, routes: Routes) -> None:
        self.controls[registration.deployment].send(routes)
        while await asyncio.wait_for(self.applied[registration.deployment].get(), 10) < routes.version:
            pass

    async def wait_for_event(self, matches: Callable[[EventRecord], bool]) -> EventRecord:
        while True:
            found = next((e for e in self.events if matches(e)), None)
            if found is not None:
                return found
            self._event_added.clear()
            await asyncio.wait_for(self._event_added.wait(), 10)

    async def close(self) -> None:
        for process in self.processes:
            if process.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                await process.wait()
        if self._server is not None:
            self._server.close()


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def backplane() -> AsyncIterator[FakeBackplane]:
    fake = FakeBackplane()
    await fake.start()
    try:
        yield fake
    finally:
        await fake.close()


@pytest.fixture(scope="module")
def modules(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("modules")
    return {
        name: write_module(root, name, source)
        for name, source in (("svc", SVC), ("other", OTHER), ("broken", BROKEN))
    }


async def registered(backplane: FakeBackplane, module_dir: Path, **spec: Any) -> Register:
    registration = await backplane.spawn(module_dir, **spec)
    assert isinstance(registration, Register), registration
    return registration


async def call(
    client: CallClient, verb: str, text: str, module: str = "svc", request_id: str = "req-1"
) -> Reply:
    return await client.call(module, verb, json.dumps({"text": text}).encode(), request_id)


async def test_a_runner_registers_its_schema_and_serves_its_verbs(
    backplane: FakeBackplane, modules: dict[str, Path]
) -> None:
    registration = await registered(backplane, modules["svc"])
    assert registration.schema["module"]["name"] == "svc"
    client = await CallClient.connect(registration.endpoint)

    reply = await call(client, "shout", "hi", request_id="req-shout")
    assert (reply.body, reply.error_kind) == (b'{"text":"HI"}', "")

    bad = await client.call("svc", "shout", b'{"text": 5}', "req-bad")
    assert bad.error_kind == "bad_request"
    assert "text" in bad.error_message

    unknown = await call(client, "nope", "x")
    assert (unknown.error_kind, unknown.error_message) == ("not_found", "module svc has no verb nope")

    failed = await call(client, "fail", "this", request_id="req-fail")
    assert (failed.error_kind, failed.error_message) == ("verb_error", "cannot handle this")
    assert (await call(client, "shout", "still alive")).body == b'{"text":"STILL ALIVE"}'

    call_event = await backplane.wait_for_event(lambda e: e.kind == "call" and e.request_id == "req-fail")
    assert call_event.level == "error"
    assert "ValueError: cannot handle this" in call_event.data["traceback"]
    log = await backplane.wait_for_event(lambda e: e.kind == "log" and e.message == "shouting hi")
    assert (log.request_id, log.verb, log.level) == ("req-shout", "shout", "info")
    printed = await backplane.wait_for_event(lambda e: e.kind == "log" and e.message == "printed hi")
    assert printed.request_id == "req-shout"


async def test_sync_and_async_verbs_run_concurrently(
    backplane: FakeBackplane, modules: dict[str, Path]
) -> None:
    client = await CallClient.connect((await registered(backplane, modules["svc"])).endpoint)
    # Each waiting verb only returns once a later call releases it: serialised calls would hang.
    waiting = asyncio.ensure_future(call(client, "wait", ""))
    gated = asyncio.ensure_future(call(client, "await_gate", ""))
    assert (await call(client, "release", "")).body == b'{"text":"ok"}'
    assert (await call(client, "open_gate", "")).body == b'{"text":"ok"}'
    assert (await waiting).body == b'{"text":"released"}'
    assert (await gated).body == b'{"text":"opened"}'


async def test_config_and_secrets_are_injected(backplane: FakeBackplane, modules: dict[str, Path]) -> None:
    registration = await registered(
        backplane, modules["svc"], config={"greeting": "Hello"}, secrets={"apiKey": "s3cret"}
    )
    client = await CallClient.connect(registration.endpoint)
    assert (await call(client, "configured", "Ada")).body == b'{"text":"Hello Ada (6)"}'


async def test_a_missing_config_value_is_a_clear_error(
    backplane: FakeBackplane, modules: dict[str, Path]
) -> None:
    client = await CallClient.connect((await registered(backplane, modules["svc"])).endpoint)
    reply = await call(client, "configured", "Ada")
    assert reply.error_kind == "internal"
    assert "config `greeting` of module svc is not set" in reply.error_message
    assert "secret `apiKey` of module svc is not set" in reply.error_message


async def test_runners_call_each_other_directly_within_their_calls(
    backplane: FakeBackplane, modules: dict[str, Path]
) -> None:
    svc = await registered(backplane, modules["svc"])
    other = await registered(backplane, modules["other"])
    endpoints = {"svc": svc.endpoint, "other": other.endpoint}
    calls = {
        "relay": ["other.echo"],
        "relayAsync": ["other.echo"],
        "relayToAsync": ["other.aecho"],
        "recurse": ["svc.recurse"],
    }
    await backplane.routes(svc, Routes(1, endpoints, calls))
    await backplane.routes(other, Routes(1, endpoints, {"echo": []}))
    client = await CallClient.connect(svc.endpoint)

    assert (await call(client, "relay", "x", request_id="req-relay")).body == b'{"text":"other:x"}'
    reply = await call(client, "relay_async", "y")
    assert reply.body == b'{"text":"other:y"}', reply
    # A sync verb calling an async one: its blocking connection is answered from the callee's loop.
    for text in ("a", "b"):
        assert (await call(client, "relayToAsync", text)).body == f'{{"text":"async other:{text}"}}'.encode()
    remote = await backplane.wait_for_event(lambda e: e.kind == "call" and e.verb == "echo")
    assert (remote.request_id, remote.data["caller"]) == ("req-relay", "svc.relay")

    exploded = await call(client, "relay", "explode")
    assert (exploded.error_kind, exploded.error_message) == ("verb_error", "other exploded")

    looped = await call(client, "recurse", "")
    assert looped.error_kind == "loop"
    assert f"call depth limit {MAX_CALL_DEPTH} exceeded" in looped.error_message
    assert "svc.recurse → svc.recurse" in looped.error_message

    # A table without `+calls other.echo` for `relay`: the call is refused before it is sent.
    await backplane.routes(svc, Routes(2, endpoints, {}))
    denied = await call(client, "relay", "z")
    assert denied.error_kind == "denied"
    assert "svc.relay may not call other.echo" in denied.error_message
    # A module missing from the table is not live.
    await backplane.routes(svc, Routes(3, {"svc": svc.endpoint}, calls))
    gone = await call(client, "relay_async", "z")
    assert "module other is not live" in gone.error_message


async def test_external_realm_calls_go_over_http(backplane: FakeBackplane, modules: dict[str, Path]) -> None:
    seen: list[tuple[str, dict[str, str], bytes]] = []

    class Realm(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            seen.append((self.path, dict(self.headers), body))
            payload: dict[str, Any]
            if json.loads(body)["text"] == "poor":
                status, payload = 400, {"error": {"kind": "bad_request", "message": "insufficient funds"}}
            else:
                status, payload = 200, {"text": "balance 10"}
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Realm)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        base = f"http://127.0.0.1:{server.server_address[1]}"
        svc = await registered(backplane, modules["svc"], realm="shop", realm_endpoints={"bank": base})
        await backplane.routes(svc, Routes(1, {"svc": svc.endpoint}, {"bank": ["balance.get@bank"]}))
        client = await CallClient.connect(svc.endpoint)
        assert (await call(client, "bank", "rich", request_id="req-bank")).body == b'{"text":"balance 10"}'
        path, headers, _ = seen[0]
        assert path == "/_ftl/realm/balance/get"
        assert (headers["X-Ftl-Request-Id"], headers["X-Ftl-Caller-Realm"]) == ("req-bank", "shop")
        poor = await call(client, "bank", "poor")
        assert poor.error_message == "balance.get@bank: insufficient funds"
    finally:
        server.shutdown()


async def test_an_import_error_is_reported_at_the_users_line(
    backplane: FakeBackplane, modules: dict[str, Path]
) -> None:
    failure = await backplane.spawn(modules["broken"])
    assert isinstance(failure, LoadFailed)
    [diagnostic] = failure.diagnostics
    assert "ZeroDivisionError" in diagnostic.message
    assert (Path(diagnostic.file).name, diagnostic.line) == ("__init__.py", 4)


async def test_a_runner_exits_when_told_or_when_its_backplane_goes(
    backplane: FakeBackplane, modules: dict[str, Path]
) -> None:
    first = await registered(backplane, modules["other"])
    second = await registered(backplane, modules["other"])
    backplane.controls[first.deployment].send(Stop())
    backplane.controls[second.deployment].abort()
    codes = await asyncio.wait_for(asyncio.gather(*(p.wait() for p in backplane.processes)), 10)
    assert codes == [0, 0]
