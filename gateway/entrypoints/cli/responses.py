"""`gateway responses pull`: a post's client for the responses to its items (docs/responses.md).

Signs each request with the post's private key, follows the cursor until a page comes back
empty, checks every answer's signature with the gateway's published keys (its JWKS), including
that the answer is bound to the very request that asked (RFC 9421 `req`), and prints each
response as one JSON line. Exit 1 when an answer is refused or does not verify.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path

from gateway.entrypoints.cli.common import AddCommand, commands, partner_key


def register(add: AddCommand) -> None:
    responses = commands(add("responses", help="a post's responses: pull"), "ACTION")
    pull = responses("pull", help="pull, verify and print the responses to a post's items")
    pull.add_argument("--partner", required=True, type=Path, help="the post's partner folder")
    pull.add_argument("--key", required=True, type=Path, help="the post's private key (PEM)")
    pull.add_argument("--keyid", help="key id (default: the partner's first key)")
    pull.add_argument("--after", type=int, default=0, help="the cursor to start after (0)")
    pull.add_argument("--limit", type=int, default=100, help="responses a page (at most 500)")
    pull.add_argument("url", help="the gateway's base URL, e.g. http://127.0.0.1:8080")
    pull.set_defaults(run=_pull)


def _pull(args: argparse.Namespace) -> int:
    import aiohttp

    from gateway.adapters.http.client import PartnerClient
    from gateway.errors import SignatureError

    key = partner_key(args.partner, args.key, args.keyid)

    async def run() -> int:
        after = args.after
        async with aiohttp.ClientSession() as session:
            client = PartnerClient(session, args.url, key, clock=args.clock)
            while True:
                try:
                    answer = await client.responses(after, args.limit, json=True)
                except SignatureError as exc:
                    print(f"responses pull: the answer does not verify: {exc}", file=sys.stderr)
                    return 1
                if answer.status != 200:
                    print(
                        f"responses pull: HTTP {answer.status}: {answer.body.decode()}",
                        file=sys.stderr,
                    )
                    return 1
                page = answer.json()
                for response in page["responses"]:
                    print(json.dumps(response, ensure_ascii=False, separators=(",", ":")))
                if not page["responses"]:
                    print(f"next cursor: {page['next']}", file=sys.stderr)
                    return 0
                after = int(page["next"])

    return asyncio.run(run())
