"""The composition root: what `build` wires, and the start/stop lifecycle of a Gateway."""

from __future__ import annotations

import socket
from dataclasses import replace
from pathlib import Path

import pytest

from gateway.config import GrpcSettings, HttpSettings
from gateway.services.itmatt_intake import InProcessCpu
from tests.fakes import FixedClock, InMemoryStore
from tests.rigs import NOW, gateway_for


async def test_build_wires_every_service_to_the_store_clock_and_runner_it_is_given(
    tmp_path: Path,
) -> None:
    store, clock = InMemoryStore(), FixedClock(NOW)
    gateway = gateway_for(tmp_path, store=store, clock=clock)
    assert gateway.store is store
    assert gateway.clock is clock
    assert isinstance(gateway.cpu, InProcessCpu)
    assert not store.is_open  # building opens nothing
    assert gateway.endpoints is None


async def test_start_and_stop_open_and_close_every_part_in_order(tmp_path: Path) -> None:
    store = InMemoryStore()
    gateway = gateway_for(tmp_path, store=store)
    endpoints = await gateway.start()
    try:
        assert store.is_open
        assert endpoints.http_url.startswith("http://127.0.0.1:")
        with pytest.raises(RuntimeError, match="running already"):
            await gateway.start()
    finally:
        await gateway.stop(grace=0.1)
    assert not store.is_open
    await gateway.stop()  # a second stop does nothing


async def test_a_start_that_fails_half_way_closes_what_it_opened(tmp_path: Path) -> None:
    """The HTTP port is taken: start raises, and the store, the gRPC server and the threads
    opened before it are closed again (nothing is left listening or open)."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        store = InMemoryStore()
        gateway = gateway_for(tmp_path, store=store)
        gateway.settings = replace(
            gateway.settings,
            http=HttpSettings(listen=f"127.0.0.1:{port}"),
            grpc=GrpcSettings(listen="127.0.0.1:0"),
        )
        with pytest.raises(OSError, match="in use"):
            await gateway.start()
    assert not store.is_open
    assert gateway.executor._shutdown
    await gateway.stop()  # nothing was left to stop
