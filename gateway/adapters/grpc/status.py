"""The one table from the gateway's error tree (`gateway.errors`) to gRPC status codes.

Servicers translate at the boundary: a `GatewayError` raised below them ends the RPC with the
code of its most specific class in `STATUS_CODES`, its message as details and, for retriable
errors, the trailing metadata `retriable: true`. Errors that are not `GatewayError`s are bugs
and reach grpc as such (UNKNOWN).
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, NoReturn, TypeVar

import grpc

from gateway.errors import (
    AuthError,
    ConfigError,
    DecisionConflict,
    DuplicateMessage,
    Forbidden,
    GatewayError,
    InputError,
    MessageConflict,
    NotFound,
    Overloaded,
    PayloadTooLarge,
    RateLimited,
    SignatureError,
    StaleVersion,
    StoreError,
)

STATUS_CODES: Mapping[type[GatewayError], grpc.StatusCode] = {
    GatewayError: grpc.StatusCode.INTERNAL,
    ConfigError: grpc.StatusCode.FAILED_PRECONDITION,
    InputError: grpc.StatusCode.INVALID_ARGUMENT,
    PayloadTooLarge: grpc.StatusCode.RESOURCE_EXHAUSTED,
    MessageConflict: grpc.StatusCode.ALREADY_EXISTS,
    AuthError: grpc.StatusCode.PERMISSION_DENIED,
    SignatureError: grpc.StatusCode.UNAUTHENTICATED,
    Forbidden: grpc.StatusCode.PERMISSION_DENIED,
    RateLimited: grpc.StatusCode.RESOURCE_EXHAUSTED,
    Overloaded: grpc.StatusCode.UNAVAILABLE,
    StoreError: grpc.StatusCode.UNAVAILABLE,
    DuplicateMessage: grpc.StatusCode.ALREADY_EXISTS,
    NotFound: grpc.StatusCode.NOT_FOUND,
    DecisionConflict: grpc.StatusCode.ALREADY_EXISTS,
    StaleVersion: grpc.StatusCode.FAILED_PRECONDITION,
}

RETRIABLE_KEY = "retriable"

_Servicer = TypeVar("_Servicer")
_Request = TypeVar("_Request")
_Response = TypeVar("_Response")


def status_code(error: GatewayError) -> grpc.StatusCode:
    """The code of the most specific class of `error` that the table names."""
    for cls in type(error).__mro__:
        code = STATUS_CODES.get(cls)
        if code is not None:
            return code
    return grpc.StatusCode.INTERNAL  # unreachable: GatewayError is in the table


async def abort_with(context: grpc.aio.ServicerContext, error: GatewayError) -> NoReturn:
    """End the RPC with the status `error` maps to; always raises (grpc's abort exception)."""
    if error.retriable:
        context.set_trailing_metadata(((RETRIABLE_KEY, "true"),))
    await context.abort(status_code(error), str(error))
    raise AssertionError("context.abort returned")  # pragma: no cover


def translate_errors(
    method: Callable[[_Servicer, _Request, Any], Awaitable[_Response]],
) -> Callable[[_Servicer, _Request, Any], Awaitable[_Response]]:
    """Decorate a unary servicer method so a `GatewayError` ends the RPC with its mapped status."""

    @functools.wraps(method)
    async def wrapper(self: _Servicer, request: _Request, context: Any) -> _Response:
        try:
            return await method(self, request, context)
        except GatewayError as exc:
            await abort_with(context, exc)

    return wrapper
