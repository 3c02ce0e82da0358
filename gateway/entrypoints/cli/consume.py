"""`gateway consume`: receive a consumer's feed, verifying each record (exit 1 on a bad one)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from gateway.entrypoints.cli.common import AddCommand, settings
from gateway.errors import ConfigError

if TYPE_CHECKING:
    from gateway.adapters.grpc.tls import ClientTls


def register(add: AddCommand) -> None:
    consume = add("consume", help="receive a consumer's feed, verifying each record")
    consume.add_argument("--consumer", required=True)
    consume.add_argument("--target", help="gRPC host:port (default: [grpc] listen)")
    consume.add_argument("--out", type=Path, help="append JSON lines here instead of stdout")
    consume.add_argument("--max", type=int, help="stop after this many records")
    consume.add_argument("--idle", type=float, help="stop after this many idle seconds")
    add_tls_options(consume)
    consume.set_defaults(run=_consume)


def add_tls_options(command: argparse.ArgumentParser) -> None:
    """--cert, --key, --ca, --server-name: a consumer's mTLS material (see `client_tls`)."""
    command.add_argument("--cert", type=Path, help="mTLS: this consumer's client certificate (PEM)")
    command.add_argument("--key", type=Path, help="mTLS: the client certificate's private key")
    command.add_argument("--ca", type=Path, help="mTLS: the CA of the gateway's server certificate")
    command.add_argument(
        "--server-name", help="mTLS: the name the server certificate is checked against"
    )


def _consume(args: argparse.Namespace) -> int:
    import grpc

    from gateway.adapters.grpc.client import using_tls
    from gateway.entrypoints.consumer import consume_verified

    loaded = settings(args)  # read even with --target: a broken configuration is reported
    target = args.target or loaded.grpc.listen
    with contextlib.ExitStack() as stack:
        stack.enter_context(using_tls(client_tls(args)))
        out: TextIO = (
            stack.enter_context(args.out.open("a", encoding="utf-8")) if args.out else sys.stdout
        )
        try:
            result = asyncio.run(
                consume_verified(target, args.consumer, out, max_records=args.max, idle=args.idle)
            )
        except grpc.aio.AioRpcError as exc:  # refused (PERMISSION_DENIED, a failed handshake …)
            print(f"consume failed: {exc.code().name}: {exc.details()}", file=sys.stderr)
            return 1
    print(
        f"{result.received} records, {result.verified} verified, {result.failed} failed",
        file=sys.stderr,
    )
    return 1 if result.failed else 0


def client_tls(args: argparse.Namespace) -> ClientTls | None:
    """The consumer's mTLS material from --cert, --key and --ca (all three), or None."""
    from gateway.adapters.grpc.tls import load_client_tls

    given = {"cert": args.cert, "key": args.key, "ca": args.ca}
    if not any(given.values()):
        return None
    if missing := [f"--{name}" for name, path in given.items() if path is None]:
        raise ConfigError(
            "command line",
            missing[0],
            "--cert, --key and --ca go together (mTLS)",
            f"add {' '.join(missing)}",
        )
    return load_client_tls(args.ca, args.cert, args.key, args.server_name)
