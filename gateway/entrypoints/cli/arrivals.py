"""`gateway arrivals report`: report arrivals over gRPC as the domestic post, print outcomes.

Arrivals come as arguments `ITEM_ID@ARRIVED_AT[@OFFICE]` and/or from `--file`, one a line:
`ITEM_ID ARRIVED_AT [OFFICE]` (spaces or commas between; blank lines and `#` comments skipped).
ARRIVED_AT is ISO 8601 with its offset (`2026-12-02T10:00:00Z`); OFFICE defaults to
`--office`. All go in one Arrivals/Report call: the gateway stores them all or refuses them all.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from gateway.entrypoints.cli.common import AddCommand, commands, settings
from gateway.entrypoints.cli.consume import add_tls_options, client_tls

if TYPE_CHECKING:
    from gateway.wire import decisions_pb2

_SEPARATORS = re.compile(r"[\s,]+")


class ArrivalSyntaxError(ValueError):
    pass


def register(add: AddCommand) -> None:
    arrivals = commands(add("arrivals", help="arrivals at the office of exchange"), "ACTION")
    report = arrivals("report", help="report arrivals as the domestic post (gRPC)")
    report.add_argument("arrival", nargs="*", help="ITEM_ID@ARRIVED_AT[@OFFICE]")
    report.add_argument(
        "--file", type=Path, help="arrivals, one a line: ITEM_ID ARRIVED_AT [OFFICE]"
    )
    report.add_argument("--office", default="", help="office of exchange of arrivals naming none")
    report.add_argument("--consumer", required=True, help="the consumer allowed to report them")
    report.add_argument("--target", help="gRPC host:port (default: [grpc] listen)")
    add_tls_options(report)
    report.set_defaults(run=_report)


def parse_arrival(fields: list[str], office: str) -> tuple[str, datetime, str]:
    """(item id, arrival time, office) of one arrival's fields; ArrivalSyntaxError if bad."""
    if len(fields) not in {2, 3} or not fields[0]:
        raise ArrivalSyntaxError("an arrival is ITEM_ID ARRIVED_AT [OFFICE]")
    try:
        when = datetime.fromisoformat(fields[1])
    except ValueError:
        raise ArrivalSyntaxError(f"{fields[1]!r} is not an ISO 8601 time") from None
    if when.tzinfo is None:
        raise ArrivalSyntaxError(f"{fields[1]!r} has no UTC offset (add Z or +hh:mm)")
    return fields[0], when, fields[2] if len(fields) == 3 else office


def read_arrivals(
    args: Iterable[str], lines: Iterable[str], office: str
) -> list[tuple[str, datetime, str]]:
    found = [parse_arrival(arg.split("@"), office) for arg in args]
    for number, line in enumerate(lines, 1):
        text = line.split("#", 1)[0].strip()
        if text:
            try:
                found.append(parse_arrival(_SEPARATORS.split(text), office))
            except ArrivalSyntaxError as exc:
                raise ArrivalSyntaxError(f"line {number}: {exc}") from None
    return found


def request_of(
    consumer: str, arrivals: Iterable[tuple[str, datetime, str]]
) -> decisions_pb2.ReportArrivalsRequest:
    from google.protobuf.timestamp_pb2 import Timestamp

    from gateway.wire import decisions_pb2

    wire = []
    for item_id, when, office in arrivals:
        stamp = Timestamp()
        stamp.FromDatetime(when)
        wire.append(decisions_pb2.Arrival(item_id=item_id, arrived_at=stamp, office=office))
    return decisions_pb2.ReportArrivalsRequest(consumer=consumer, arrivals=wire)


def _report(args: argparse.Namespace) -> int:
    import grpc

    from gateway.adapters.grpc.client import report_arrivals

    loaded = settings(args)
    target = args.target or loaded.grpc.listen
    try:
        lines = args.file.read_text(encoding="utf-8").splitlines() if args.file else []
        arrivals = read_arrivals(args.arrival, lines, args.office)
    except (ArrivalSyntaxError, OSError) as exc:
        print(f"arrivals report: {exc}", file=sys.stderr)
        return 2
    if not arrivals:
        print("arrivals report: no arrivals given (arguments or --file)", file=sys.stderr)
        return 2
    request = request_of(args.consumer, arrivals)
    try:
        response = asyncio.run(report_arrivals(target, request, tls=client_tls(args)))
    except grpc.aio.AioRpcError as exc:
        print(f"arrivals report refused: {exc.code().name}: {exc.details()}", file=sys.stderr)
        return 1
    counts = {"with AED": 0, "NO_AED": 0, "replayed": 0}
    for (item_id, when, _), outcome in zip(arrivals, response.outcomes, strict=True):
        state = "with AED" if outcome.with_aed else "NO_AED"
        counts[state] += 1
        counts["replayed"] += outcome.replayed
        where = f"position {outcome.position}" if outcome.position else ""
        again = " (replayed)" if outcome.replayed else ""
        print(f"{item_id:<13} {when.isoformat()} {state:<8} {where}{again}".rstrip())
    summary = ", ".join(f"{n} {what}" for what, n in counts.items())
    print(f"{len(arrivals)} arrivals: {summary}", file=sys.stderr)
    return 0
