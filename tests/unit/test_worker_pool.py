"""The event-loop-driven worker pool under the CPU stages: answers, order, frames, failures."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import signal
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from gateway.adapters.worker_pool import DEPTH, WorkerPool
from gateway.errors import PoolBroken, RemoteTraceback

pytestmark = pytest.mark.slow


@pytest.fixture
async def pool() -> AsyncIterator[WorkerPool]:
    workers = WorkerPool(2, multiprocessing.get_context("forkserver"), name="test-pool")
    yield workers
    await asyncio.to_thread(workers.close)


async def test_every_task_gets_its_own_answer_beyond_what_the_workers_hold(
    pool: WorkerPool,
) -> None:
    many = 5 * DEPTH * 2  # more than the two workers hold at once: the rest wait in the pool
    answers = await asyncio.gather(*(pool.submit(pow, n, 2) for n in range(many)))
    assert answers == [n * n for n in range(many)]


async def test_frames_larger_than_a_socket_buffer_cross_both_ways(pool: WorkerPool) -> None:
    body = os.urandom(3 << 20)
    echoed, made = await asyncio.gather(pool.submit(bytes, body), pool.submit(bytes, 5 << 20))
    assert echoed == body
    assert made == bytes(5 << 20)


async def test_a_tasks_exception_is_raised_with_the_workers_traceback(pool: WorkerPool) -> None:
    with pytest.raises(ValueError, match="invalid literal") as caught:
        await pool.submit(int, "not a number")
    assert isinstance(caught.value.__cause__, RemoteTraceback)
    assert "ValueError" in str(caught.value.__cause__)
    assert await pool.submit(int, "42") == 42  # the worker goes on


class Picky(Exception):
    """An exception that pickles but does not unpickle (its constructor wants two arguments)."""

    def __init__(self, first: str, second: str) -> None:
        super().__init__(f"{first} {second}")


def raise_picky() -> None:
    raise Picky("one", "two")


async def test_an_answer_that_does_not_unpickle_fails_its_task_alone(pool: WorkerPool) -> None:
    with pytest.raises(TypeError, match="second"):
        await asyncio.wait_for(pool.submit(raise_picky), 10)
    assert pool.broken is None
    assert await pool.submit(str, 5) == "5"


async def test_a_cancelled_tasks_answer_is_dropped_and_the_next_one_still_matches(
    pool: WorkerPool,
) -> None:
    slow = [pool.submit(time.sleep, 0.2) for _ in range(2)]  # one per worker
    queued = [pool.submit(str, n) for n in range(4)]
    queued[0].cancel()
    await asyncio.gather(*slow)
    assert await asyncio.gather(*queued[1:]) == ["1", "2", "3"]


async def test_a_dying_worker_fails_every_task_in_flight_and_breaks_the_pool(
    pool: WorkerPool,
) -> None:
    death = pool.submit(os._exit, 1)  # the first worker
    busy = [pool.submit(time.sleep, 2) for _ in range(3)]  # the other, the first (behind death)
    waiting = [pool.submit(str, n) for n in range(6)]
    for future in [death, *busy, *waiting]:
        with pytest.raises(PoolBroken, match="exit code"):
            await future
    assert pool.broken is not None
    with pytest.raises(PoolBroken):
        await pool.submit(str, 1)


async def test_a_worker_found_dead_when_writing_to_it_is_named_with_its_exit_code(
    pool: WorkerPool,
) -> None:
    """The pool may learn of a death by writing (a broken pipe) before it reads the end of the
    stream: it names the worker and its exit code either way."""
    victim = pool.processes[0]
    assert victim.pid is not None
    os.kill(victim.pid, signal.SIGKILL)
    victim.join(10)  # blocking, so the loop has not read the dead worker's end of stream yet
    tasks = [pool.submit(str, n) for n in range(2 * DEPTH)]  # some are written to the victim
    for task in tasks:
        with pytest.raises(PoolBroken, match=rf"\(pid {victim.pid}\) ended, exit code -9"):
            await task


async def test_kill_ends_a_stuck_worker_and_fails_its_task(pool: WorkerPool) -> None:
    stuck = pool.submit(time.sleep, 60)
    await asyncio.sleep(0.1)
    pool.kill()
    with pytest.raises(PoolBroken):
        await stuck
    for process in pool.processes:
        await asyncio.to_thread(process.join, 10)
        assert not process.is_alive()


async def test_close_ends_the_workers_once_their_task_is_done() -> None:
    workers = WorkerPool(1, multiprocessing.get_context("forkserver"), name="test-close")
    assert await workers.submit(str, 7) == "7"
    await asyncio.to_thread(workers.close)
    (process,) = workers.processes
    assert process.exitcode == 0  # it returned at the end of its stream: not killed (-9)
    with pytest.raises(PoolBroken, match="closed"):
        await workers.submit(str, 1)


class FailingSecond:
    """A multiprocessing context whose second Process cannot start (out of memory, say)."""

    def __init__(self) -> None:
        self.real = multiprocessing.get_context("forkserver")
        self.started: list[multiprocessing.process.BaseProcess] = []

    def Process(self, **kwargs: Any) -> multiprocessing.process.BaseProcess:  # noqa: N802
        if self.started:
            raise OSError("cannot start a second worker")
        process: multiprocessing.process.BaseProcess = self.real.Process(**kwargs)
        self.started.append(process)
        return process


async def test_a_pool_that_cannot_start_every_worker_leaves_none_running() -> None:
    context = FailingSecond()
    with pytest.raises(OSError, match="second worker"):
        WorkerPool(2, context, name="test-half")  # type: ignore[arg-type]
    (first,) = context.started
    await asyncio.to_thread(first.join, 10)
    assert not first.is_alive()
