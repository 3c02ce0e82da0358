"""`gateway share build|list|push`: B5 share reports, run against the configured store."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from gateway.entrypoints.cli.common import AddCommand, commands, iso, settings

if TYPE_CHECKING:
    from gateway.bootstrap import Gateway


def register(add: AddCommand) -> None:
    share = commands(add("share", help="B5 share reports: build, list, push"), "ACTION")
    build = share("build", help="fold new items into cells, build week reports")
    build.add_argument("--week", help="ISO week like 2026-W47 (default: the last complete week)")
    build.add_argument("--partner", action="append", help="only this partner (repeatable)")
    build.set_defaults(run=_share_build)
    share("list", help="reports and their deliveries").set_defaults(run=_share_list)
    share("push", help="push due reports (and responses) now").set_defaults(run=_share_push)


def _offline(args: argparse.Namespace, work: Callable[[Gateway], Awaitable[int]]) -> int:
    """Run `work` against the configured store without serving anything."""
    from gateway.bootstrap import build

    async def run() -> int:
        async with build(settings(args), clock=args.clock).offline() as gateway:
            return await work(gateway)

    return asyncio.run(run())


def _share_build(args: argparse.Namespace) -> int:
    from gateway.domain.weeks import last_complete, monday

    if args.week is not None:
        try:
            monday(args.week)
        except ValueError as exc:
            print(f"share build: {exc}", file=sys.stderr)
            return 2

    async def work(gateway: Gateway) -> int:
        week = args.week or last_complete(gateway.clock.now().date())
        folded = await gateway.aggregator.catch_up()
        built = await gateway.share.build(week, args.partner)
        print(f"{folded} new journal records and decisions folded into cells")
        for b in built:
            if not b.fresh:
                state = "frozen: already reported"
            else:
                state = "queued for push" if b.queued else "pull only"
            print(f"{b.position:>6} {b.report.partner:<10} {week} {b.report.report_id} ({state})")
        refused = {p: why for (p, w), why in gateway.share.refusals.items() if w == week}
        for partner, why in sorted(refused.items()):
            print(f"{'-':>6} {partner:<10} {week} NOT PUBLISHED: {why}")
        return 1 if refused else 0

    return _offline(args, work)


def _share_list(args: argparse.Namespace) -> int:
    from gateway.domain.reports import OutboxKind

    async def work(gateway: Gateway) -> int:
        reports = (d for d in await gateway.store.outbox() if d.kind is OutboxKind.REPORT)
        pending = {d.position: d for d in reports}
        print(f"{'pos':>6} {'partner':<10} {'week':<9} {'created':<20} delivery")
        for partner in gateway.share.recipients():
            after = 0
            while rows := await gateway.store.reports_after(partner.id, after, 500):
                after = rows[-1].position
                for r in rows:
                    d = pending.get(r.position)
                    state = f"pending, {d.attempts} attempts" if d else "pull / delivered"
                    print(
                        f"{r.position:>6} {partner.id:<10} {r.report.week:<9} "
                        f"{iso(r.report.created_at):<20} {state}"
                    )
        return 0

    return _offline(args, work)


def _share_push(args: argparse.Namespace) -> int:
    import aiohttp

    async def work(gateway: Gateway) -> int:
        async with aiohttp.ClientSession() as session:
            delivered, failed = await gateway.pusher.push_due(session, limit=1000)
        print(f"{delivered} delivered, {failed} failed (retried later with backoff)")
        return 1 if failed else 0

    return _offline(args, work)
