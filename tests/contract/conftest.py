"""The backends the Store contract suite runs against: one fixture param each.

A `Backend` opens store handles over ONE set of data: `reopen()` closes a handle and opens a
new one over the same data (for SQLite: the same file; for PostgreSQL: the same schema), as a
restarted gateway would. Each PostgreSQL backend gets a schema of its own, dropped afterwards
(see tests/pg.py for the server and the skip rule).

A test that needs a backend built with other options (a small rejection bound) asks for
`make_backend` and calls it with `StoreOptions`; each call gets its own data.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from gateway.adapters.store.postgres import PostgresStore
from gateway.adapters.store.rejections import DEFAULT_MAX_REJECTIONS
from gateway.adapters.store.sqlite import SqliteStore
from gateway.ports import Store
from tests import pg
from tests.fakes import InMemoryStore


@dataclass(frozen=True, slots=True)
class StoreOptions:
    """Constructor options every backend takes."""

    max_rejections: int = DEFAULT_MAX_REJECTIONS


class Backend:
    def __init__(
        self,
        name: str,
        make: Callable[[], Store],
        cleanup: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.name, self._make, self._cleanup = name, make, cleanup
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
        if self._cleanup is not None:
            await self._cleanup()


def _sqlite(directory: Path, options: StoreOptions) -> Backend:
    path = directory / "gateway.db"
    return Backend("sqlite", lambda: SqliteStore(path, max_rejections=options.max_rejections))


def _memory(directory: Path, options: StoreOptions) -> Backend:
    shared = InMemoryStore(max_rejections=options.max_rejections)
    return Backend("memory", lambda: shared)


def _postgresql(directory: Path, options: StoreOptions) -> Backend:
    pg.require_postgres()
    schema = pg.new_schema()
    return Backend(
        "postgresql",
        lambda: PostgresStore(pg.DSN, schema=schema, max_rejections=options.max_rejections),
        lambda: pg.drop_schema(schema),
    )


BACKENDS: dict[str, Callable[[Path, StoreOptions], Backend]] = {
    "sqlite": _sqlite,
    "memory": _memory,
    "postgresql": _postgresql,
}

MakeBackend = Callable[[StoreOptions], Backend]


@pytest.fixture(params=sorted(BACKENDS))
async def make_backend(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[MakeBackend]:
    """Build backends of this param's kind, each over its own data; all closed at teardown."""
    made: list[Backend] = []

    def make(options: StoreOptions) -> Backend:
        directory = tmp_path / f"backend-{len(made)}"
        directory.mkdir()
        backend = BACKENDS[request.param](directory, options)
        made.append(backend)
        return backend

    yield make
    for backend in made:
        await backend.close_all()


@pytest.fixture
def backend(make_backend: MakeBackend) -> Backend:
    return make_backend(StoreOptions())


@pytest.fixture
async def store(backend: Backend) -> Store:
    return await backend.open()
