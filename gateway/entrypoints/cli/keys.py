"""`gateway keys list|generate|rotate`: the gateway's signing keys ([signing] key_dir)."""

from __future__ import annotations

import argparse
from datetime import timedelta
from typing import TYPE_CHECKING

from gateway.entrypoints.cli.common import AddCommand, commands, iso, settings

if TYPE_CHECKING:
    from gateway.adapters.crypto.keyring import Keyring


def register(add: AddCommand) -> None:
    keys = commands(add("keys", help="the gateway's signing keys"), "ACTION")
    keys("list", help="list keys").set_defaults(run=_keys_list)
    keys(
        "generate", help="make the first key, or publish a next one that does not sign yet"
    ).set_defaults(run=_keys_gen)
    rotate = keys(
        "rotate", help="make a new (or the given) key active; the old one stays published"
    )
    rotate.add_argument("--to", help="activate this already published key id")
    rotate.add_argument("--overlap-days", type=int, default=365)
    rotate.set_defaults(run=_keys_rotate)


def _keyring(args: argparse.Namespace) -> Keyring:
    from gateway.adapters.crypto.keyring import Keyring

    signing = settings(args).signing
    return Keyring.load_or_create(signing.key_dir, alg=signing.alg, clock=args.clock)


def _print_keys(keyring: Keyring) -> None:
    print(f"{'kid':<28} {'alg':<18} {'state':<8} {'not_before':<21} not_after")
    for info in keyring.list():
        state = "active" if info.active else "published"
        print(
            f"{info.kid:<28} {info.alg:<18} {state:<8} {iso(info.not_before):<21} "
            f"{iso(info.not_after)}"
        )
    print(f"signing gateways pick up changes on restart or SIGHUP ({keyring.key_dir})")


def _keys_list(args: argparse.Namespace) -> int:
    _print_keys(_keyring(args))
    return 0


def _keys_gen(args: argparse.Namespace) -> int:
    from gateway.adapters.crypto.keyring import INDEX

    first = not (settings(args).signing.key_dir / INDEX).exists()
    keyring = _keyring(args)
    if not first:  # the first key signs at once; later ones wait for `rotate --to`
        keyring.generate()
    _print_keys(keyring)
    return 0


def _keys_rotate(args: argparse.Namespace) -> int:
    keyring = _keyring(args)
    keyring.rotate(timedelta(days=args.overlap_days), to=args.to)
    _print_keys(keyring)
    return 0
