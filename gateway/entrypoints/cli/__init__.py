"""The `gateway` command: serve, validate, submit, responses, consume, decide, arrivals,
coverage, keys, share, db, demo.

One module per command group registers its commands (`register(add)`) and runs them; this one
assembles the parser and maps errors to exit codes. A command imports what it uses when it runs,
so `gateway validate` starts without grpc or aiohttp. Every command accepts the common options
(`--config`) before or after its name (common.commands: argparse `parents=`).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from gateway.entrypoints.cli import (
    arrivals,
    consume,
    coverage,
    db,
    decide,
    demo,
    keys,
    responses,
    serve,
    share,
    submit,
    validate,
)
from gateway.entrypoints.cli.common import CONFIG_HELP, commands
from gateway.errors import ConfigError, StoreError

if TYPE_CHECKING:
    from gateway.ports import Clock

# In the order `gateway --help` lists them.
_GROUPS = (
    serve,
    validate,
    submit,
    responses,
    consume,
    decide,
    arrivals,
    coverage,
    keys,
    share,
    db,
    demo,
)


def main(argv: Sequence[str] | None = None, *, clock: Clock | None = None) -> int:
    """Run one command; `clock` (the system clock by default) is what the commands that read
    the time (serve, share build without --week, keys generate/rotate) take as now."""
    args = parser().parse_args(argv)
    args.clock = clock
    try:
        code: int = args.run(args)
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    except StoreError as exc:
        print(f"store error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return code


def parser() -> argparse.ArgumentParser:
    """The whole command line: each command sets `run`, a function of the parsed arguments."""
    top = argparse.ArgumentParser(prog="gateway", description=__doc__.split("\n", 1)[0])
    top.add_argument("--config", help=CONFIG_HELP)
    add = commands(top, "COMMAND")
    for group in _GROUPS:
        group.register(add)
    return top
