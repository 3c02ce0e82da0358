"""`gateway coverage`: AED coverage of arrived items per ISO week and origin post, from the
configured store (docs/arrivals.md)."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from datetime import timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from gateway.entrypoints.cli.common import AddCommand, settings

if TYPE_CHECKING:
    from gateway.domain.arrivals import Coverage


def register(add: AddCommand) -> None:
    coverage = add("coverage", help="AED coverage of arrived items per week and origin post")
    coverage.add_argument("--week", help="only this ISO week of arrival, like 2026-W49")
    coverage.add_argument(
        "--partner", help='only this origin post (its partner id; "" for countries with none)'
    )
    coverage.add_argument("--json", action="store_true", help="one JSON document on stdout")
    coverage.set_defaults(run=_coverage)


def _coverage(args: argparse.Namespace) -> int:
    from gateway.bootstrap import build
    from gateway.domain.weeks import monday

    if args.week is not None:
        try:
            monday(args.week)
        except ValueError as exc:
            print(f"coverage: {exc}", file=sys.stderr)
            return 2

    async def run() -> list[Coverage]:
        async with build(settings(args), clock=args.clock).offline() as gateway:
            return await gateway.arrivals.coverage(args.week, args.partner)

    rows = asyncio.run(run())
    if args.json:
        print(json.dumps({"coverage": [as_json(row) for row in rows]}, indent=2))
        return 0
    print(
        f"{'week':<9} {'partner':<16} {'cc':<2} {'arrived':>8} {'with AED':>8} {'NO_AED':>7}"
        f" {'covered':>8} median lead"
    )
    for row in rows:
        median = "-" if row.median_lead is None else str(row.median_lead)
        print(
            f"{row.week:<9} {row.partner or '-':<16} {row.origin_country or '-':<2}"
            f" {row.arrivals:>8} {row.with_aed:>8} {row.no_aed:>7}"
            f" {share(row.with_aed, row.arrivals):>7}% {median}"
        )
    return 0


def share(part: int, whole: int) -> str:
    """`part` of `whole` in percent, to one decimal (exact decimal arithmetic)."""
    return str((Decimal(100 * part) / Decimal(whole)).quantize(Decimal("0.1")))


def seconds(lead: timedelta) -> str:
    """A lead time in seconds, exactly (to the microsecond)."""
    return str(Decimal(lead // timedelta(microseconds=1)).scaleb(-6))


def as_json(row: Coverage) -> dict[str, Any]:
    return {
        "week": row.week,
        "partner": row.partner,
        "originCountry": row.origin_country,
        "arrivals": row.arrivals,
        "withAed": row.with_aed,
        "noAed": row.no_aed,
        "medianLeadSeconds": None if row.median_lead is None else seconds(row.median_lead),
    }
