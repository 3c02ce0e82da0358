"""`gateway submit`: sign and submit ITMATT files as a partner (exit 1 on a refused one)."""

from __future__ import annotations

import argparse
import asyncio
import json
from pathlib import Path

from gateway.entrypoints.cli.common import AddCommand, partner_key


def register(add: AddCommand) -> None:
    submit = add("submit", help="sign and submit ITMATT files as a partner")
    submit.add_argument("--partner", required=True, type=Path, help="the partner's folder")
    submit.add_argument("--key", required=True, type=Path, help="the partner's private key (PEM)")
    submit.add_argument("--keyid", help="key id (default: the partner's first key)")
    submit.add_argument("--gzip", action="store_true", help="send with Content-Encoding: gzip")
    submit.add_argument("url", help="the gateway's base URL, e.g. http://127.0.0.1:8080")
    submit.add_argument("files", nargs="+", type=Path)
    submit.set_defaults(run=_submit)


def _submit(args: argparse.Namespace) -> int:
    import aiohttp

    from gateway.adapters.http.client import PartnerClient

    key = partner_key(args.partner, args.key, args.keyid)

    async def run() -> int:
        failures = 0
        async with aiohttp.ClientSession() as session:
            client = PartnerClient(session, args.url, key)
            for path in args.files:
                answer = await client.submit_itmatt(path.read_bytes(), compress=args.gzip)
                failures += answer.status >= 300
                print(f"{path}: HTTP {answer.status} (response signed by {answer.verified_by})")
                print(json.dumps(answer.json(), indent=2, ensure_ascii=False))
        return 1 if failures else 0

    return asyncio.run(run())
