"""What every command shares: the common options (`--config`), the settings they name, and the
subcommand table through which each command accepts those options after its own name."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from datetime import datetime
from typing import Any

from gateway.config import Settings, config_path, load_settings

CONFIG_HELP = "TOML configuration file (default: $AEDGW_CONFIG)"

AddCommand = Callable[..., argparse.ArgumentParser]
"""add(name, help=…) -> the new command's parser, which accepts the common options."""


def common_options() -> argparse.ArgumentParser:
    """The options every command accepts after its name too (`gateway serve --config f`).

    Their default is SUPPRESS: given after no command, they keep the value given before it (the
    top-level parser's, default None), since argparse copies only what a subparser parsed."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", default=argparse.SUPPRESS, help=CONFIG_HELP)
    return common


_COMMON = common_options()


def commands(parser: argparse.ArgumentParser, metavar: str) -> AddCommand:
    """`parser`'s subcommands (one required): each one made by the returned `add` takes the
    common options through `parents=`."""
    sub = parser.add_subparsers(required=True, metavar=metavar)

    def add(name: str, **kwargs: Any) -> argparse.ArgumentParser:
        return sub.add_parser(name, parents=[_COMMON], **kwargs)

    return add


def settings(args: argparse.Namespace) -> Settings:
    """The settings of --config, else $AEDGW_CONFIG, else the defaults."""
    return load_settings(config_path(args.config))


def iso(when: datetime | None) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ") if when else "-"
