"""The zygote: a pre-warmed process that forks one runner per deployment.

Importing the FTL runtime, msgspec, asyncio and the schema library costs far more than the hot
reload budget, so the supervisor starts this process once; it imports all of that and then waits.
Each request forks a child that already has everything loaded and only has to import the user's
module. The zygote stays single-threaded, so forking it is safe.

    python -P -m ftl.runtime.zygote LIFELINE_FD

It talks to the supervisor in JSON lines over its stdin/stdout:

    → {"id": 1, "spec": {RunnerSpec...}, "log": "/tmp/.../dpl-....log"}
    ← {"ready": true, "pid": 4242}              once, when warm
    ← {"id": 1, "pid": 4243}                    the forked runner (or {"id": 1, "error": "..."})
    ← {"exited": 4243, "status": 1}             a runner ended (status: exit code, or -signal)

Runners stay in the zygote's process group, so the supervisor can stop everything at once.

Nothing started here outlives the backplane, however it ends. LIFELINE_FD is the read end of a
pipe whose only write end the backplane holds: the kernel closes it when the backplane dies, even
by SIGKILL. The zygote exits when its stdin or the lifeline closes, and on Linux the moment its
parent dies (`PR_SET_PDEATHSIG`), even while still warming up. Every runner inherits the lifeline
and exits when it closes (`ftl.runtime._control.exit_with_backplane`): runners are tied to the
backplane, not to the zygote, so a zygote that dies leaves them serving.
"""

from __future__ import annotations

import ctypes
import os
import select
import selectors
import signal
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import msgspec

if TYPE_CHECKING:
    from ftl.runtime.runner import RunnerSpec

PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>


class ForkRequest(msgspec.Struct, frozen=True):
    id: int
    spec: msgspec.Raw  # a RunnerSpec, decoded with the runtime main() imports
    log: str


class Zygote:
    def __init__(self, lifeline: int) -> None:
        self._lifeline = lifeline
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
        self._selector.register(self._lifeline, selectors.EVENT_READ)  # readable only once closed
        self._send({"ready": True, "pid": os.getpid()})
        while True:
            for key, _ in self._selector.select():
                if key.fd == self._wake_read:
                    self._drain_wakeups()
                    self._reap()
                elif key.fd == self._lifeline or not self._read_requests():
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
        from ftl.runtime.runner import RunnerSpec  # imported (warm) by main() before serving

        try:
            request = msgspec.json.decode(line, type=ForkRequest)
        except msgspec.DecodeError as exc:
            self._send({"id": 0, "error": f"bad request: {exc}"})
            return
        try:
            spec = msgspec.json.decode(request.spec, type=RunnerSpec)
        except msgspec.DecodeError as exc:
            self._send({"id": request.id, "error": f"bad runner spec: {exc}"})
            return
        try:
            pid = self._fork(spec, request.log)
        except OSError as exc:
            self._send({"id": request.id, "error": f"fork failed: {exc}"})
            return
        self._send({"id": request.id, "pid": pid})

    def _fork(self, spec: RunnerSpec, log_path: str) -> int:
        from ftl.runtime.runner import run_and_exit

        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid:
            return pid
        try:
            self._become_child(log_path)
            run_and_exit(spec, self._lifeline)
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


def die_with_parent() -> bool:
    """Have the kernel send this process SIGTERM when its parent dies; False where it cannot (not Linux).

    The parent is the thread that started this process, so the backplane must start the zygote from
    a thread that lives as long as it does (its event loop's).
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return False
    return bool(prctl(PR_SET_PDEATHSIG, ctypes.c_ulong(signal.SIGTERM), 0, 0, 0) == 0)


def is_closed(lifeline: int) -> bool:
    """Whether the lifeline pipe reached its end (nobody ever writes to it, so readable means closed)."""
    readable, _, _ = select.select([lifeline], [], [], 0)
    return bool(readable)


def main(argv: Sequence[str]) -> int:
    if len(argv) != 1 or not argv[0].isdigit():
        print("usage: python -m ftl.runtime.zygote LIFELINE_FD", file=sys.stderr)
        return 2
    lifeline = int(argv[0])
    die_with_parent()
    try:
        if is_closed(lifeline):
            return 0  # the backplane died before the line above could tie this process to it
    except OSError as exc:
        print(f"ftl zygote: no lifeline pipe on descriptor {lifeline}: {exc}", file=sys.stderr)
        return 2
    # The warm-up: everything a runner needs, imported once here instead of in every child, and
    # only now, so that a backplane that dies meanwhile takes the zygote along.
    import ftl.runtime.runner  # noqa: F401

    return Zygote(lifeline).serve()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
