"""What every command shares: the common options (`--config`), the settings they name, and the
subcommand table through which each command accepts those options after its own name."""

from __future__ import annotations

import argparse
import tomllib
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gateway.config import Settings, config_path, load_settings
from gateway.errors import ConfigError

if TYPE_CHECKING:
    from gateway.adapters.crypto.keys import SigningKey

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


def partner_key(folder: Path, private_key: Path, keyid: str | None) -> SigningKey:
    """A partner's signing key, as its own client holds it: the private key (PEM) of the key
    `keyid` (default: the first) that the partner folder's partner.toml names."""
    from gateway.adapters.crypto.keys import SigningKey, load_private_key

    partner_file = folder / "partner.toml"
    partner = tomllib.loads(partner_file.read_text(encoding="utf-8"))
    key_tables = partner.get("keys", [])
    table = next((k for k in key_tables if keyid in (None, k.get("id"))), None)
    if table is None:
        raise ConfigError(str(partner_file), "keys", f"no key {keyid!r}", "pass --keyid")
    return SigningKey(table["id"], table["alg"], load_private_key(private_key, table["alg"]))
