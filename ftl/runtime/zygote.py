"""The zygote: a pre-warmed process that forks one runner per deployment.

Importing the FTL runtime, msgspec, asyncio and the schema library costs far more than the hot
reload budget, so the supervisor starts this process once; it imports all of that and then waits.
Each request forks a child that already has everything loaded and only has to import the user's
module. The zygote stays single-threaded, so forking it is safe.

It talks to the supervisor in JSON lines over its stdin/stdout:

    → {"id": 1, "spec": {RunnerSpec...}, "log": "/tmp/.../dpl-....log"}
    ← {"ready": true, "pid": 4242}              once, when warm
    ← {"id": 1, "pid": 4243}                    the forked runner (or {"id": 1, "error": "..."})
    ← {"exited": 4243, "status": 1}             a runner ended (status: exit code, or -signal)

Runners stay in the zygote's process group, so the supervisor can stop everything at once; the
zygote exits when its stdin closes.
"""

from __future__ import annotations

import os
import selectors
import signal
import sys
from typing import Any

import msgspec

# The warm-up: everything a runner needs, imported once here instead of in every child.
from ftl.runtime import runner


class ForkRequest(msgspec.Struct, frozen=True):
    id: int
    spec: runner.RunnerSpec
    log: str


class Zygote:
    def __init__(self) -> None:
        self._out = sys.stdout.buffer
        self._wake_read, self._wake_write = os.pipe()
        for fd in (self._wake_read, self._wake_write):
            os.set_blocking(fd, False)
        self._selector = selectors.DefaultSelector()
        self._pending = b""

    def serve(self) -> int:
        # A Python-level handler makes the interpreter write SIGCHLD to the wakeup pipe.
        signal.signal(signal.SIGCHLD, lambda signum, frame: None)
        signal.set_wakeup_fd(self._wake_write)
        self._selector.register(0, selectors.EVENT_READ)
        self._selector.register(self._wake_read, selectors.EVENT_READ)
        self._send({"ready": True, "pid": os.getpid()})
        while True:
            for key, _ in self._selector.select():
                if key.fd == self._wake_read:
                    self._drain_wakeups()
                    self._reap()
                elif not self._read_requests():
                    return 0

    def _read_requests(self) -> bool:
        data = os.read(0, 65536)
        if not data:
            return False
        *lines, self._pending = (self._pending + data).split(b"\n")
        for line in lines:
            if line.strip():
                self._handle(line)
        return True

    def _handle(self, line: bytes) -> None:
        try:
            request = msgspec.json.decode(line, type=ForkRequest)
        except msgspec.DecodeError as exc:
            self._send({"id": 0, "error": f"bad request: {exc}"})
            return
        try:
            pid = self._fork(request)
        except OSError as exc:
            self._send({"id": request.id, "error": f"fork failed: {exc}"})
            return
        self._send({"id": request.id, "pid": pid})

    def _fork(self, request: ForkRequest) -> int:
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid:
            return pid
        try:
            self._become_child(request.log)
            runner.run_and_exit(request.spec)
        finally:
            os._exit(70)

    def _become_child(self, log_path: str) -> None:
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        self._selector.close()
        os.close(self._wake_read)
        os.close(self._wake_write)
        log = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(log, 1)
        os.dup2(log, 2)
        os.close(log)
        os.close(null)

    def _drain_wakeups(self) -> None:
        try:
            while os.read(self._wake_read, 512):
                pass
        except BlockingIOError:
            pass

    def _reap(self) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            self._send({"exited": pid, "status": os.waitstatus_to_exitcode(status)})

    def _send(self, message: dict[str, Any]) -> None:
        self._out.write(msgspec.json.encode(message) + b"\n")
        self._out.flush()


def main() -> int:
    return Zygote().serve()


if __name__ == "__main__":
    sys.exit(main())
