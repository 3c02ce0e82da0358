"""`gateway decide`: report decisions on items as a consumer (an operator, a script, a test).

One decision from the options, or many from a JSON-lines file (`--file`, one object per line
with the keys of aedgw.v1.Decision in JSON form: decisionId, itemId, partner, version, code,
questions [{code, path}], detection, note) sent on one DecideStream. Each outcome is printed as
a JSON line; the exit status is 1 when any decision was refused.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gateway.domain.decisions import QUESTION_CODES, DecisionCode, Detection
from gateway.entrypoints.cli.common import AddCommand, settings
from gateway.entrypoints.cli.consume import add_tls_options, client_tls
from gateway.errors import ConfigError

if TYPE_CHECKING:
    from gateway.wire import decisions_pb2


def register(add: AddCommand) -> None:
    decide = add("decide", help="report decisions on items as a consumer (gRPC Decisions)")
    decide.add_argument("--consumer", required=True, help="the deciding consumer")
    decide.add_argument("--target", help="gRPC host:port (default: [grpc] listen)")
    decide.add_argument("--file", type=Path, help="decisions as JSON lines, sent on one stream")
    decide.add_argument("--item", help="the item's S10 id")
    decide.add_argument("--version", type=int, help="the item version decided on (the latest)")
    decide.add_argument("--code", choices=[c.value for c in DecisionCode])
    decide.add_argument("--partner", default="", help="the sending post, if the id is ambiguous")
    decide.add_argument("--id", help="the decision id (default: a new UUID)")
    decide.add_argument(
        "--question",
        action="append",
        default=[],
        metavar="CODE[:PATH]",
        help=f"with REQUEST_INFORMATION/REQUEST_SCREENING; CODE one of {', '.join(QUESTION_CODES)}",
    )
    decide.add_argument("--detection", choices=[d.value for d in Detection])
    decide.add_argument("--note", default="", help="for colleagues; never sent to the post")
    add_tls_options(decide)
    decide.set_defaults(run=_decide)


def _decide(args: argparse.Namespace) -> int:
    import grpc
    from google.protobuf.json_format import MessageToDict

    from gateway.adapters.grpc.client import decide_stream, using_tls

    loaded = settings(args)
    target = args.target or loaded.grpc.listen
    requests = _requests(args)
    with using_tls(client_tls(args)):
        try:
            outcomes = asyncio.run(decide_stream(target, requests))
        except grpc.aio.AioRpcError as exc:
            print(f"decide failed: {exc.code().name}: {exc.details()}", file=sys.stderr)
            return 1
    refused = 0
    for outcome in outcomes:
        line: dict[str, Any] = {"decisionId": outcome.decision_id}
        if outcome.code:
            refused += 1
            name = next(c.name for c in grpc.StatusCode if c.value[0] == outcome.code)
            line |= {"refused": name, "error": outcome.error}
        else:
            line |= MessageToDict(outcome.response)
        print(json.dumps(line, ensure_ascii=False))
    print(f"{len(outcomes) - refused} decided, {refused} refused", file=sys.stderr)
    return 1 if refused else 0


def _requests(args: argparse.Namespace) -> list[decisions_pb2.DecideRequest]:
    from google.protobuf.json_format import ParseDict, ParseError

    from gateway.wire import decisions_pb2

    if args.file is not None:
        requests = []
        lines = args.file.read_text(encoding="utf-8").splitlines()
        for number, text in enumerate(lines, 1):
            if not text.strip():
                continue
            try:
                decision = ParseDict(json.loads(text), decisions_pb2.Decision())
            except (ValueError, ParseError) as exc:
                raise ConfigError(str(args.file), f"line {number}", str(exc)) from exc
            if not decision.decision_id:
                decision.decision_id = str(uuid.uuid4())
            requests.append(decisions_pb2.DecideRequest(consumer=args.consumer, decision=decision))
        return requests
    missing = [f"--{n}" for n in ("item", "version", "code") if getattr(args, n) is None]
    if missing:
        raise ConfigError("command line", missing[0], "is required without --file", "add it")
    decision = decisions_pb2.Decision(
        decision_id=args.id or str(uuid.uuid4()),
        item_id=args.item,
        partner=args.partner,
        version=args.version,
        code=decisions_pb2.DecisionCode.Value(args.code),
        note=args.note,
    )
    if args.detection:
        decision.detection = decisions_pb2.Detection.Value(args.detection)
    for question in args.question:
        code, _, path = question.partition(":")
        decision.questions.add(code=code, path=path)
    return [decisions_pb2.DecideRequest(consumer=args.consumer, decision=decision)]
