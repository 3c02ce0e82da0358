"""`gateway serve`: run the gateway (HTTP + gRPC) until SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import signal

from gateway.entrypoints.cli.common import AddCommand, settings


def register(add: AddCommand) -> None:
    add("serve", help="run the gateway (HTTP + gRPC) until SIGTERM").set_defaults(run=_serve)


def _serve(args: argparse.Namespace) -> int:
    from gateway.bootstrap import build
    from gateway.observability import configure_logging

    loaded = settings(args)
    configure_logging(loaded.log_level, json_lines=loaded.log_json)

    async def run() -> None:
        gateway = build(loaded, clock=args.clock)
        endpoints = await gateway.start()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        loop.add_signal_handler(signal.SIGHUP, gateway.reload_keys)
        # Printed last: whoever waits for this line may signal the process at once.
        print(f"gateway serving HTTP {endpoints.http_url} gRPC {endpoints.grpc_target}", flush=True)
        try:
            await stop.wait()
        finally:
            await gateway.stop()

    asyncio.run(run())
    return 0
