"""Worker processes driven by the event loop itself, one socket pair each (no helper thread).

`concurrent.futures.ProcessPoolExecutor` hands each task to its workers through two queues, a
feeder thread and a manager thread, and each result back through `call_soon_threadsafe`: with
the GIL, those threads wake and contend with the event loop for every task. Measured side by
side on the 2-core machine the gateway is benchmarked on (64 trivial tasks in flight on two
workers), a task cost the serving process ~285 µs of CPU that way, against ~115 µs here, where
the loop writes the pickled call straight into a non-blocking socket and a reader callback
unpickles the answer.

Each worker runs one task at a time, in the order given, and holds at most `DEPTH` (its current
task and the next, so it never idles waiting for the serving process to send one); further
tasks wait here for the least busy worker. Frames are an 8-byte big-endian length, then a
pickle (protocol 5): `(callable, args)` one way, `(True, result)` or `(False, exception,
traceback text)` the other.

A worker that dies (killed, out of memory, `os._exit`) breaks the pool: every task in flight
or waiting fails with `PoolBroken`, and the owner starts a fresh pool (as a broken
`ProcessPoolExecutor` would be replaced). The owner decides when a task has hung and `kill`s
the pool.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import pickle
import socket
import struct
import threading
import traceback
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.context import BaseContext
from multiprocessing.process import BaseProcess
from typing import Any

from gateway.errors import PoolBroken, RemoteTraceback

__all__ = ["DEPTH", "WorkerPool"]

DEPTH = 2  # tasks handed to one worker at a time: its current one and the next
_FRAME = struct.Struct("!Q")
_READ = 1 << 20
_EXIT_WAIT_S = 0.5  # how long a broken pool waits for a lost worker's exit code (on the loop)

# -- the worker side ---------------------------------------------------------------------------


def _serve(
    sock: socket.socket, initializer: Callable[..., None] | None, initargs: tuple[Any, ...]
) -> None:
    """A worker: run the initializer, then each task read from `sock` until it is closed."""
    if initializer is not None:
        initializer(*initargs)
    with sock:
        while (header := _receive(sock, _FRAME.size)) is not None:
            call = _receive(sock, _FRAME.unpack(header)[0])
            if call is None:
                return
            task, args = pickle.loads(call)  # noqa: S301 - from the serving process that made us
            try:
                answer = pickle.dumps((True, task(*args)), protocol=5)
            except BaseException as exc:  # noqa: BLE001 - every failure goes back to the caller
                answer = _failure(exc)
            del call, task, args
            try:
                sock.sendall(_FRAME.pack(len(answer)))
                sock.sendall(answer)
            except OSError:  # the serving process closed the pool meanwhile
                return


def _failure(exc: BaseException) -> bytes:
    text = "".join(traceback.format_exception(exc))
    try:
        return pickle.dumps((False, exc, text), protocol=5)
    except Exception:  # noqa: BLE001 - an exception that does not pickle
        return pickle.dumps((False, RuntimeError(f"{type(exc).__name__}: {exc}"), text))


def _receive(sock: socket.socket, size: int) -> bytearray | None:
    """Exactly `size` bytes from `sock`; None at end of stream."""
    buffer = bytearray(size)
    view = memoryview(buffer)
    got = 0
    while got < size:
        n = sock.recv_into(view[got:])
        if n == 0:
            return None
        got += n
    return buffer


# -- the serving-process side ------------------------------------------------------------------


@dataclass(eq=False)
class _Slot:
    """One worker: its process, our end of its socket pair, the tasks it holds (oldest first),
    the bytes still to write to it and the bytes of an answer read so far."""

    process: BaseProcess
    sock: socket.socket
    waiting: deque[asyncio.Future[Any]] = field(default_factory=deque)
    out: deque[memoryview] = field(default_factory=deque)
    writing: bool = False
    inbox: bytearray = field(default_factory=bytearray)


class WorkerPool:
    """`size` worker processes from `context`, each running `initializer(*initargs)` once.

    Use from one event loop (the one running when it is made); `close` and `kill` may be called
    from any thread."""

    def __init__(
        self,
        size: int,
        context: BaseContext | None = None,
        *,
        initializer: Callable[..., None] | None = None,
        initargs: tuple[Any, ...] = (),
        name: str = "worker",
    ) -> None:
        if size < 1:
            raise ValueError("a worker pool needs at least one worker")
        self._loop = asyncio.get_running_loop()
        self._context = context or multiprocessing.get_context()
        self._initializer, self._initargs, self._name = initializer, initargs, name
        self._backlog: deque[tuple[bytes, asyncio.Future[Any]]] = deque()
        self.broken: str | None = None  # why, once a worker died
        self._closed = False
        self._slots: list[_Slot] = []
        try:
            for n in range(size):
                self._slots.append(self._spawn(n))
        except BaseException:
            self.kill()  # the workers started so far: none is left running
            self.close(timeout=1.0)
            raise

    @property
    def processes(self) -> list[BaseProcess]:
        return [slot.process for slot in self._slots]

    def _spawn(self, n: int) -> _Slot:
        ours, theirs = socket.socketpair()
        try:
            process = self._context.Process(  # type: ignore[attr-defined]
                target=_serve,
                args=(theirs, self._initializer, self._initargs),
                name=f"{self._name}-{n + 1}",
                daemon=True,
            )
            process.start()
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()  # the worker has its own copy
        ours.settimeout(0.0)  # non-blocking
        slot = _Slot(process, ours)
        self._loop.add_reader(ours.fileno(), self._readable, slot)
        return slot

    def submit(self, task: Callable[..., Any], *args: Any) -> asyncio.Future[Any]:
        """Run `task(*args)` on a worker; the future gets its result or exception, or
        PoolBroken. Cancelling the future only drops the answer: the worker still runs it."""
        future: asyncio.Future[Any] = self._loop.create_future()
        if self.broken is not None or self._closed:
            future.set_exception(PoolBroken(self.broken or "the pool is closed"))
            return future
        call = pickle.dumps((task, args), protocol=5)
        slot = min(self._slots, key=lambda s: len(s.waiting))
        if len(slot.waiting) < DEPTH:
            self._send(slot, call, future)
        else:
            self._backlog.append((call, future))
        return future

    def _send(self, slot: _Slot, call: bytes, future: asyncio.Future[Any]) -> None:
        slot.waiting.append(future)
        slot.out.append(memoryview(_FRAME.pack(len(call))))
        slot.out.append(memoryview(call))
        self._flush(slot)

    def _flush(self, slot: _Slot) -> None:
        """Write what the socket takes now; the rest when it is writable again."""
        while slot.out:
            try:
                n = slot.sock.send(slot.out[0])
            except BlockingIOError:
                break
            except OSError as exc:
                self._lost(slot, f" (writing to it: {exc})")
                return
            if n == len(slot.out[0]):
                slot.out.popleft()
            else:
                slot.out[0] = slot.out[0][n:]
        if slot.out and not slot.writing:
            self._loop.add_writer(slot.sock.fileno(), self._flush, slot)
            slot.writing = True
        elif not slot.out and slot.writing:
            self._loop.remove_writer(slot.sock.fileno())
            slot.writing = False

    def _readable(self, slot: _Slot) -> None:
        try:
            chunk = slot.sock.recv(_READ)
        except BlockingIOError:
            return
        except OSError:
            chunk = b""
        if not chunk:
            self._lost(slot)
            return
        inbox = slot.inbox
        inbox += chunk
        while len(inbox) >= _FRAME.size:
            end = _FRAME.size + _FRAME.unpack_from(inbox)[0]
            if len(inbox) < end:
                return
            with memoryview(inbox) as view, view[_FRAME.size : end] as frame:
                answer = _unpickled(frame)
            del inbox[:end]
            self._answer(slot.waiting.popleft(), answer)
            if self._backlog and self.broken is None:
                self._send(slot, *self._backlog.popleft())
            if self.broken is not None:  # a callback above, or that send, broke the pool
                return

    @staticmethod
    def _answer(future: asyncio.Future[Any], answer: tuple[Any, ...]) -> None:
        if future.done():  # cancelled (the caller timed out)
            return
        if answer[0]:
            future.set_result(answer[1])
        else:
            exc = answer[1]
            exc.__cause__ = RemoteTraceback(answer[2])
            future.set_exception(exc)

    def _lost(self, slot: _Slot, how: str = "") -> None:
        """`slot`'s socket closed or failed: its worker is ending. Break the pool, naming the
        worker and its exit code (waited for briefly: a worker closes its socket as it exits,
        and which of its two sockets' ends notices first is a race)."""
        process = slot.process
        process.join(_EXIT_WAIT_S)
        code = "not known yet" if process.exitcode is None else process.exitcode
        self._break(f"{process.name} (pid {process.pid}) ended, exit code {code}{how}")

    def _break(self, why: str) -> None:
        """A worker is gone: fail everything in flight and stop reading and writing."""
        if self.broken is not None:
            return
        self.broken = why
        for slot in self._slots:
            self._detach(slot)
            while slot.waiting:
                _fail(slot.waiting.popleft(), why)
        while self._backlog:
            _fail(self._backlog.popleft()[1], why)

    def _detach(self, slot: _Slot) -> None:
        fd = slot.sock.fileno()
        if fd < 0:
            return
        self._loop.remove_reader(fd)
        if slot.writing:
            self._loop.remove_writer(fd)
            slot.writing = False

    def kill(self) -> None:
        """SIGKILL every worker (a hung one cannot be told apart, nor stopped alone); the tasks
        in flight fail with PoolBroken."""
        for slot in self._slots:
            with contextlib.suppress(OSError, ValueError, AssertionError):
                slot.process.kill()
        self._on_loop(lambda: self._break("the workers were killed"))

    def close(self, timeout: float = 10.0) -> None:
        """Let each worker finish the task it runs, then end it (SIGKILL after `timeout`)."""
        if self._closed:
            return
        self._closed = True
        self._on_loop(lambda: self._break("the pool is closed"))
        for slot in self._slots:
            slot.sock.close()  # the worker reads the end of its stream and returns
        for slot in self._slots:
            slot.process.join(timeout)
            if slot.process.is_alive():
                slot.process.kill()
                slot.process.join(timeout)

    def _on_loop(self, call: Callable[[], None]) -> None:
        """Run `call` on the pool's loop now: directly from the loop's own thread, else handed
        to it and waited for (skipped when the loop is no longer running)."""
        try:
            here = asyncio.get_running_loop() is self._loop
        except RuntimeError:
            here = False
        if here or self._loop.is_closed() or not self._loop.is_running():
            call()
            return
        done = threading.Event()

        def run() -> None:
            try:
                call()
            finally:
                done.set()

        self._loop.call_soon_threadsafe(run)
        done.wait(5.0)


def _unpickled(frame: memoryview) -> tuple[Any, ...]:
    """A worker's answer; one that does not unpickle here (an exception class whose constructor
    wants other arguments than its args, say) becomes that failure, for its caller alone."""
    try:
        answer: tuple[Any, ...] = pickle.loads(frame)  # noqa: S301 - from our own worker
    except Exception as exc:  # noqa: BLE001 - the caller gets it, the pool goes on
        return (False, exc, "".join(traceback.format_exception(exc)))
    return answer


def _fail(future: asyncio.Future[Any], why: str) -> None:
    if not future.done():
        future.set_exception(PoolBroken(why))
