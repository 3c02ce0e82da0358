"""The backends the Store contract suite runs against: one fixture param each.

A `Backend` opens store handles over ONE set of data: `reopen()` closes a handle and opens a
new one over the same data (for SQLite: the same file), as a restarted gateway would.
PostgreSQL joins as another param when its adapter lands.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from gateway.adapters.store.sqlite import SqliteStore
from gateway.ports import Store
from tests.fakes import InMemoryStore


class Backend:
    def __init__(self, name: str, make: Callable[[], Store]) -> None:
        self.name, self._make = name, make
        self._open: list[Store] = []

    async def open(self) -> Store:
        store = self._make()
        await store.open()
        self._open.append(store)
        return store

    async def reopen(self, store: Store) -> Store:
        await store.close()
        return await self.open()

    async def close_all(self) -> None:
        for store in self._open:
            await store.close()


def _sqlite(tmp_path: Path) -> Backend:
    path = tmp_path / "gateway.db"
    return Backend("sqlite", lambda: SqliteStore(path))


def _memory(tmp_path: Path) -> Backend:
    shared = InMemoryStore()
    return Backend("memory", lambda: shared)


BACKENDS: dict[str, Callable[[Path], Backend]] = {"sqlite": _sqlite, "memory": _memory}


@pytest.fixture(params=sorted(BACKENDS))
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    made = BACKENDS[request.param](tmp_path)
    yield made
    await made.close_all()


@pytest.fixture
async def store(backend: Backend) -> Store:
    return await backend.open()
