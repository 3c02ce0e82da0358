"""What the PostgreSQL store makes of asyncpg's errors: a store that went away is StoreError
(503 with Retry-After at the edge, UNAVAILABLE over gRPC), never an unexpected exception."""

from __future__ import annotations

import asyncpg
import pytest

from gateway.adapters.store.postgres import _translated
from gateway.errors import StoreError


@pytest.mark.parametrize(
    "error",
    [
        asyncpg.exceptions.InternalClientError(
            "cannot switch to state 15; another operation (2) is in progress"
        ),
        asyncpg.InterfaceError(
            "cannot call Transaction.__aexit__(): the underlying connection is closed"
        ),
        asyncpg.exceptions.ConnectionDoesNotExistError("connection was closed in the middle"),
        ConnectionResetError(104, "Connection reset by peer"),
        TimeoutError(),
    ],
    ids=lambda e: type(e).__name__,
)
async def test_a_connection_lost_mid_operation_is_a_store_error(error: Exception) -> None:
    with pytest.raises(StoreError) as caught:
        async with _translated():
            raise error
    assert caught.value.retriable
    assert type(error).__name__ in str(caught.value)
