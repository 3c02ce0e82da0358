"""`gateway demo`: the main job end to end on loopback, summarised (`make demo`)."""

from __future__ import annotations

import argparse
import asyncio
import sys

from gateway.config import config_path, load_settings
from gateway.entrypoints.cli.common import AddCommand
from gateway.errors import GatewayError


def register(add: AddCommand) -> None:
    add("demo", help="run the main job end to end on loopback and summarise").set_defaults(
        run=_demo
    )


def _demo(args: argparse.Namespace) -> int:
    from gateway.entrypoints.demo import DEMO_CONFIG, run_demo

    settings = load_settings(config_path(args.config) or DEMO_CONFIG)
    try:
        return asyncio.run(run_demo(settings, sys.stdout))
    except GatewayError as exc:
        print(f"demo failed: {exc}", file=sys.stderr)
        return 1
