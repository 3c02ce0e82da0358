"""`gateway demo`: the main job end to end on loopback, with a readable summary.

Starts a real gateway (HTTP + gRPC on ephemeral loopback ports, SQLite under the demo data
folder), signs and submits ITMATT messages as the two demo posts, lets every configured consumer
receive its routed records over gRPC and verify each signature with the keys the gateway
publishes in its JWKS, and checks that each consumer got exactly what its rule selects.

The demo runs on its own calendar (`DemoClock`): its sample items are posted in ISO weeks 2026-W47
and W48, so the gateway starts on Friday 2026-11-27 (W48) whatever today is, and moves to Monday
2026-11-30 to report W48. Each run starts from an empty store and new gateway keys under the demo
data folder, so it shows the same thing every time: a frozen week is never built twice.
"""

from __future__ import annotations

import asyncio
import json
import random
import shutil
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TextIO

import aiohttp
from google.protobuf.json_format import ParseDict
from google.protobuf.timestamp_pb2 import Timestamp
from lxml import etree

from gateway.adapters.crypto.dsse import verify_json_envelope
from gateway.adapters.crypto.jwk import keys_from_jwks
from gateway.adapters.crypto.keys import SigningKey, load_private_key
from gateway.adapters.grpc.client import decide_stream, report_arrivals
from gateway.adapters.http.client import Answer, PartnerClient
from gateway.bootstrap import Gateway, build
from gateway.config import PartnerConfig, Settings
from gateway.domain.partners import PartnerKind
from gateway.domain.routing import Consumer, RoutingRule
from gateway.domain.weeks import iso_week
from gateway.entrypoints.consumer import ConsumeResult, consume_verified
from gateway.formats.itmatt.samples import ItemSpec, build_itmatt, generate_items, valid_s10
from gateway.ports import Clock
from gateway.services.b5_reports import REPORT_TYPE
from gateway.share.disclosure import Audit
from gateway.wire import decisions_pb2, feed_pb2

DEMO_CONFIG = Path(__file__).resolve().parents[2] / "examples" / "demo.toml"
IDLE_S = 1.5
DEMO_START = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)  # Friday of W48: its items are arriving
DEMO_REPORT_DAY = datetime(2026, 11, 30, 6, 0, tzinfo=UTC)  # Monday: W48 is complete


class DemoClock:
    """The demo's calendar: it starts at `start` and runs at the machine's pace, and `move_to`
    jumps forward (never back)."""

    def __init__(self, start: datetime) -> None:
        self._offset = start - datetime.now(UTC)

    def now(self) -> datetime:
        return datetime.now(UTC) + self._offset

    def move_to(self, when: datetime) -> None:
        if when > self.now():
            self._offset = when - datetime.now(UTC)


def fresh_demo_state(settings: Settings) -> None:
    """Remove the demo's SQLite store and gateway keys from an earlier run (the demo folder
    only: the demo's own scratch data, never a configured gateway's)."""
    if settings.store.startswith("sqlite:///"):
        path = Path(settings.store.removeprefix("sqlite:///").partition("?")[0])
        for suffix in ("", "-wal", "-shm"):
            path.with_name(path.name + suffix).unlink(missing_ok=True)
    shutil.rmtree(settings.signing.key_dir, ignore_errors=True)


@dataclass
class Sent:
    partner: str
    message_id: str
    label: str
    items: int
    answer: Answer


@dataclass
class DemoRun:
    sent: list[Sent] = field(default_factory=list)
    accepted_ids: set[str] = field(default_factory=set)
    rejected: Counter[str] = field(default_factory=Counter)
    specs: dict[str, ItemSpec] = field(default_factory=dict)  # item id -> as first sent
    sender: dict[str, PartnerConfig] = field(default_factory=dict)  # item id -> its post


def demo_signer(pc: PartnerConfig) -> SigningKey:
    """The demo post's own signing key (made on first use by the gateway's start-up)."""
    spec = next(k for k in pc.keys if k.demo and k.private_key is not None)
    assert spec.private_key is not None
    return SigningKey(spec.keyid, spec.alg, load_private_key(spec.private_key, spec.alg))


async def run_demo(settings: Settings, out: TextIO) -> int:
    fresh_demo_state(settings)
    clock = DemoClock(DEMO_START)
    gateway = build(settings, clock=clock)
    endpoints = await gateway.start()
    out.write(
        f"AED gateway demo: HTTP {endpoints.http_url}, gRPC {endpoints.grpc_target}, "
        f"store {settings.store} (emptied first)\n"
        f"Demo calendar: {clock.now():%a %Y-%m-%d %H:%M} UTC, ISO week "
        f"{iso_week(clock.now().date())}\n\n"
    )
    try:
        posts = [
            pc
            for pc in gateway.partner_configs
            if pc.partner.kind is PartnerKind.POST and any(k.demo for k in pc.keys)
        ]
        if len(posts) < 2:
            out.write("the demo needs two demo posts (partner folders with demo = true keys)\n")
            return 1
        async with aiohttp.ClientSession() as session:
            run = await _submit_all(session, endpoints.http_url, posts[:2], clock)
        _write_submissions(run, out)
        results = await _consume_all(
            endpoints.grpc_target, settings.consumers, session_url=endpoints.http_url
        )
        expected = await _expected(gateway, settings.consumers, run.accepted_ids)
        ok = _write_deliveries(settings.consumers, results, expected, run.accepted_ids, out)
        ok = ok and all(s.answer.verified_by for s in run.sent)
        async with aiohttp.ClientSession() as session:
            ok = await _decisions(gateway, session, run, out, clock) and ok
        ok = await _arrivals(gateway, run, out, clock) and ok
        ok = await _b5(gateway, endpoints.http_url, out, clock) and ok
        out.write(f"\nresult: {'OK' if ok else 'FAILED'}\n")
        return 0 if ok else 1
    finally:
        await gateway.stop(grace=2)


async def _submit_all(
    session: aiohttp.ClientSession, url: str, posts: Sequence[PartnerConfig], clock: Clock
) -> DemoRun:
    run = DemoRun()
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    rng = random.Random(time.time_ns())  # noqa: S311 - fresh sample S10 serials, not secrets
    first, second = posts
    a = PartnerClient(session, url, demo_signer(first), clock=clock)
    b = PartnerClient(session, url, demo_signer(second), clock=clock)
    code_a, code_b = first.partner.operator_code or "", second.partner.operator_code or ""
    items_a = generate_items(rng, 400, sender_country=first.partner.country)
    items_b = generate_items(rng, 600, sender_country=second.partner.country, bad_every=6)
    for pc, specs in ((first, items_a), (second, items_b)):
        for spec in specs:
            run.specs[spec.item_id], run.sender[spec.item_id] = spec, pc

    async def send(
        client: PartnerClient,
        *,
        pid: str,
        mid: str,
        code: str,
        items: list[ItemSpec],
        label: str,
        test: bool = False,
        gzip: bool = False,
    ) -> Sent:
        doc = build_itmatt(mid, code, items, test=test)
        answer = await client.submit_itmatt(doc, compress=gzip)
        sent = Sent(pid, mid, label, len(items), answer)
        run.sent.append(sent)
        if answer.status in (202, 422) and not test:
            body = answer.json()
            for item in body["items"]:
                if item["status"] == "ACCEPTED":
                    run.accepted_ids.add(item["declarationId"])
                else:
                    run.rejected.update(
                        f["code"] for f in item["findings"] if f["severity"] == "error"
                    )
        return sent

    mid_a, mid_b = f"{code_a}-{stamp}-0001", f"{code_b}-{stamp}-0001"
    pid_a, pid_b = first.partner.id, second.partner.id
    await asyncio.gather(
        send(a, pid=pid_a, mid=mid_a, code=code_a, items=items_a, label="original"),
        send(
            b, pid=pid_b, mid=mid_b, code=code_b, items=items_b, label="some bad items", gzip=True
        ),
    )
    await send(b, pid=pid_b, mid=mid_b, code=code_b, items=items_b, label="same again", gzip=True)
    amended = replace(items_a[0], function="AMENDMENT", version=2, addressee_city="Boulder")
    cancelled = replace(items_a[1], function="CANCELLATION", version=2)
    mid = f"{code_a}-{stamp}-0002"
    await send(
        a, pid=pid_a, mid=mid, code=code_a, items=[amended, cancelled], label="amend + cancel"
    )
    stale = replace(items_a[0], function="AMENDMENT", version=2)
    mid = f"{code_a}-{stamp}-0003"
    await send(a, pid=pid_a, mid=mid, code=code_a, items=[stale], label="stale amendment")
    trial = generate_items(rng, 5, sender_country=first.partner.country)
    mid = f"{code_a}-{stamp}-T001"
    await send(a, pid=pid_a, mid=mid, code=code_a, items=trial, label="test message", test=True)
    return run


def _write_submissions(run: DemoRun, out: TextIO) -> None:
    out.write("Submissions (RFC 9421-signed; each answer's signature verified with the JWKS)\n")
    for s in run.sent:
        body = s.answer.json()
        status = body.get("status", body.get("title", ""))
        counts = (
            f"{body['accepted']:>3} accepted {body['rejected']:>3} rejected"
            if "accepted" in body
            else ""
        )
        note = "original receipt, byte for byte" if s.answer.status == 200 else counts
        out.write(
            f"  {s.partner:<15} {s.message_id:<26} {s.label:<26} {s.items:>3} items  "
            f"HTTP {s.answer.status} {status:<18} {note}\n"
        )
    out.write("\nRejected items by code\n")
    out.writelines(f"  {code:<26} {n}\n" for code, n in sorted(run.rejected.items()))


async def _consume_all(
    target: str, consumers: Sequence[Consumer], *, session_url: str
) -> dict[str, ConsumeResult]:
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"{session_url}/.well-known/jwks.json") as response,
    ):
        keys = keys_from_jwks(await response.json(content_type=None))
    results = await asyncio.gather(
        *(consume_verified(target, c.name, None, idle=IDLE_S, keys=keys) for c in consumers)
    )
    return {c.name: r for c, r in zip(consumers, results, strict=True)}


async def _expected(
    gateway: Gateway, consumers: Sequence[Consumer], ids: set[str]
) -> dict[str, set[str]]:
    """What each rule selects among this run's accepted records, read back from the journal."""
    expected: dict[str, set[str]] = {c.name: set() for c in consumers}
    after = 0
    while rows := await gateway.store.read_journal(after, 1000):
        after = rows[-1].position
        for row in rows:
            if row.entry.record_id in ids:
                for c in consumers:
                    if c.rule.matches(row.entry):
                        expected[c.name].add(row.entry.record_id)
    return expected


async def _decisions(
    gateway: Gateway,
    session: aiohttp.ClientSession,
    run: DemoRun,
    out: TextIO,
    clock: Clock,
) -> bool:
    """A targeting service holds items, asks a post for information, the post's amendment
    answers it, then a release and a refusal; every record verified on the feed."""
    endpoints = gateway.endpoints
    deciders = [c for c in gateway.settings.consumers if c.may_decide]
    if endpoints is None or not deciders:
        out.write("\nDecisions: no consumer may decide (may_decide = true): skipped\n")
        return True
    decider = deciders[0]
    ids = {row.entry.item_id: row.entry for row in await gateway.store.read_journal(0, 100_000)}
    routed = [
        item for item, entry in ids.items()
        if decider.rule.matches(entry) and entry.version == 1 and item in run.specs
    ]  # fmt: skip
    by_post: dict[str, list[str]] = {}
    for item in routed:
        by_post.setdefault(run.sender[item].partner.id, []).append(item)
    if len(by_post) < 2 or min(len(v) for v in by_post.values()) < 4:
        out.write("\nDecisions: too few routed items from two posts: skipped\n")
        return False
    first, second = (sorted(v) for v in by_post.values())
    held, asked = first[:3], second[0]
    question = "HS_CODE_MISSING:/item[1]/content[1]/hsTariffNumber"

    def ask(code: str, item: str, *, version: int = 1, **more: Any) -> dict[str, Any]:
        return {"decisionId": f"demo-{code.lower()}-{item}", "itemId": item, "version": version,
                "code": code, **more}  # fmt: skip

    steps: list[tuple[str, list[dict[str, Any]]]] = [
        ("hold three items", [ask("HOLD_FOR_INSPECTION", item) for item in held]),
        ("ask one post for information",
         [ask("REQUEST_INFORMATION", asked, questions=[
             {"code": question.split(":", maxsplit=1)[0], "path": question.split(":")[1]}])]),
        ("release a held item", [ask("RELEASED", held[0])]),
        ("refuse a held item", [ask("REFUSED", held[1], detection="IPR_COUNTERFEIT",
                                    note="counterfeit watches, seized")]),
    ]  # fmt: skip
    out.write(f"\nDecisions (gRPC DecideStream as {decider.name}; journaled and signed first)\n")
    ok = True
    for label, decisions in steps:
        outcomes = await _decide(endpoints.grpc_target, decider.name, decisions)
        for decision, outcome in zip(decisions, outcomes, strict=True):
            status = (
                outcome.response.item_status if not outcome.code else f"REFUSED {outcome.error}"
            )
            ok = ok and not outcome.code
            out.write(f"  {label:<30} {decision['itemId']:<14} {decision['code']:<20} "
                      f"item status {status}\n")  # fmt: skip
        if label.startswith("ask"):
            post = run.sender[asked]
            amended = replace(run.specs[asked], function="AMENDMENT", version=2,
                              category_explanation="Wristwatch, steel, HS 910211")  # fmt: skip
            client = PartnerClient(session, endpoints.http_url, demo_signer(post), clock=clock)
            mid = f"{post.partner.operator_code}-{datetime.now(UTC):%Y%m%dT%H%M%S}-AMD"
            answer = await client.submit_itmatt(build_itmatt(mid, post.partner.operator_code or "",
                                                             [amended]))  # fmt: skip
            ok = ok and answer.status == 202
            out.write(f"  {post.partner.id} amends {asked} (version 2): HTTP {answer.status}\n")
    answered = await _answered(gateway, decider.name, f"demo-request_information-{asked}")
    ok = ok and answered
    kinds: Counter[str] = Counter()
    seen = await consume_verified(
        endpoints.grpc_target, decider.name, None, idle=IDLE_S,
        on_event=lambda record, _payload: kinds.update([feed_pb2.RecordKind.Name(record.kind)]),
    )  # fmt: skip
    ok = ok and seen.failed == 0 and kinds["DECISION"] == 6 and kinds["ANSWER"] == 1
    out.write(f"  the request was answered by the amendment: {'yes' if answered else 'NO'}; "
              f"{decider.name} then received {kinds['DECISION']} decision and "
              f"{kinds['ANSWER']} answer record(s), {seen.failed} failing verification\n"
              )  # fmt: skip
    pulled = await _pull_responses(
        session, endpoints.http_url, run, [first[0], asked], out=out, clock=clock
    )
    return ok and pulled


async def _pull_responses(
    session: aiohttp.ClientSession,
    url: str,
    run: DemoRun,
    items: Sequence[str],
    *,
    out: TextIO,
    clock: Clock,
) -> bool:
    """Each post pulls its responses, signed and bound to its request, and sees only its own
    items and nothing internal (no note, detection or deciding service)."""
    ok = True
    for item in items:
        post = run.sender[item]
        client = PartnerClient(session, url, demo_signer(post), clock=clock)
        answer = await client.responses(0, 100)  # XML, the default; verified with the JWKS
        body = answer.body.decode()
        root = etree.fromstring(answer.body)
        codes = [e.text for e in root.iterfind("{*}response/{*}code")]
        clean = not any(word in body for word in ("counterfeit", "IPR_COUNTERFEIT", "targeting"))
        ok = ok and answer.status == 200 and bool(answer.verified_by) and clean
        out.write(f"  {post.partner.id} pulls its responses (XML, signed, bound to its request, "
                  f"verified): {', '.join(f'{c}' for c in codes)}; nothing internal in them: "
                  f"{'yes' if clean else 'NO'}\n")  # fmt: skip
    return ok


async def _decide(
    target: str, consumer: str, decisions: list[dict[str, Any]]
) -> list[decisions_pb2.DecideOutcome]:
    requests = [
        decisions_pb2.DecideRequest(
            consumer=consumer, decision=ParseDict(d, decisions_pb2.Decision())
        )
        for d in decisions
    ]
    return await decide_stream(target, requests)


async def _answered(gateway: Gateway, consumer: str, decision_id: str) -> bool:
    """Whether the request is answered, waiting a few seconds for the answer worker."""
    for _ in range(100):
        stored = await gateway.store.find_decision(consumer, decision_id)
        if stored is not None and stored.answered_by is not None:
            return True
        await asyncio.sleep(0.05)
    return False


async def _arrivals(gateway: Gateway, run: DemoRun, out: TextIO, clock: Clock) -> bool:
    """The domestic post reports arrivals: declared items (with AED), items never declared and
    items that arrived before their AED (NO_AED); then the AED coverage table."""
    endpoints = gateway.endpoints
    reporters = [c for c in gateway.settings.consumers if c.may_report_arrivals]
    if endpoints is None or not reporters:
        out.write("\nArrivals: no consumer may report arrivals: skipped\n")
        return True
    rows = await gateway.store.read_journal(0, 100_000)
    received = sorted({row.entry.item_id for row in rows if row.entry.item_id in run.specs})
    now = clock.now()
    before_aed = DEMO_START - timedelta(days=1)  # before any demo item was declared
    rng = random.Random(time.time_ns())  # noqa: S311 - fresh sample S10 serials
    undeclared = [valid_s10("LX", rng.randrange(10**8), country) for country in ("CN", "GB", "FR")]
    arrivals = [
        *((item, now) for item in received[:40]),
        *((item, before_aed) for item in received[40:43]),
        *((item, now) for item in undeclared),
    ]
    request = decisions_pb2.ReportArrivalsRequest(consumer=reporters[0].name)
    for item, when in arrivals:
        stamp = Timestamp()
        stamp.FromDatetime(when)
        request.arrivals.add(item_id=item, arrived_at=stamp, office="USJFKA")
    answer = await report_arrivals(endpoints.grpc_target, request)
    no_aed = [o for o in answer.outcomes if not o.with_aed]
    out.write(f"\nArrivals (gRPC Arrivals/Report as {reporters[0].name}): "
              f"{len(answer.outcomes)} reported, {len(answer.outcomes) - len(no_aed)} with AED, "
              f"{len(no_aed)} NO_AED events (3 arrived before their AED, 3 never declared)\n"
              )  # fmt: skip
    ok = len(no_aed) == 6
    out.write(f"  {'week':<9} {'origin post':<15} {'country':<7} {'arrived':>7} "
              f"{'with AED':>8} {'NO_AED':>6}  median lead time\n")  # fmt: skip
    for row in await gateway.arrivals.coverage():
        lead = str(row.median_lead).split(".")[0] if row.median_lead is not None else "-"
        out.write(f"  {row.week:<9} {row.partner or '(none)':<15} {row.origin_country:<7} "
                  f"{row.arrivals:>7} {row.with_aed:>8} {row.no_aed:>6}  {lead}\n")  # fmt: skip
    kinds: Counter[str] = Counter()
    seen = await consume_verified(
        endpoints.grpc_target, "analytics", None, idle=IDLE_S,
        on_event=lambda record, _payload: kinds.update([feed_pb2.RecordKind.Name(record.kind)]),
    )  # fmt: skip
    ok = ok and seen.failed == 0 and kinds["NO_AED"] == len(no_aed)
    out.write(f"  analytics received {kinds['NO_AED']} NO_AED record(s), each verified\n")
    return ok


def summarise_report(doc: dict[str, Any]) -> str:
    cells = doc["cells"]
    hidden = sum(1 for c in cells if c["suppressed"])
    total = doc["totals"]["grand"]
    combined = "with" if "combinedView" in doc else "without"
    trends = doc["trends"]
    late = ", ".join(
        f"{t['week']} {t['totals']['grand'].get('items', 'suppressed')} items"
        for t in doc["lateArrivals"]
    )
    coverage = doc.get("aedCoverage", {"cells": [], "totals": {"grand": {}}})
    grand = coverage["totals"]["grand"]
    aed = (f"AED coverage: {len(coverage['cells'])} origin countries, "
           f"{grand.get('items', 'suppressed')} arrivals, "
           f"{grand.get('itemsWithAed', 'suppressed')} with AED; ")  # fmt: skip
    return (f"{len(cells)} cells ({hidden} suppressed, k={doc['k']}), {aed}"
            f"{total.get('items', '?')} items in total; "
            f"trends: {len(trends['surges'])} surges, {len(trends['drops'])} drops, "
            f"{len(trends['insufficientHistory'])} pairs with insufficient history; "
            f"late arrivals: {late or 'none'}; {combined} the combined B5 view")  # fmt: skip


MEDIA = {".csv": "text/csv", ".jsonl": "application/x-ndjson", ".xml": "application/xml"}
SAMPLE_WEEK = "2026-W48"


async def _b5(gateway: Gateway, url: str, out: TextIO, clock: DemoClock) -> bool:
    """Feeds from the customs demo partners in, a week's reports built, pulled and verified."""
    customs = [pc for pc in gateway.partner_configs if pc.partner.kind is PartnerKind.CUSTOMS
               and any(k.demo for k in pc.keys)]  # fmt: skip
    out.write("\nB5 feeds (each partner's agreed layout, RFC 9421-signed)\n")
    ok = True
    async with aiohttp.ClientSession() as session:
        for pc in customs:
            for sample in sorted((pc.folder / "samples").glob(f"{SAMPLE_WEEK}.*")):
                client = PartnerClient(session, url, demo_signer(pc), clock=clock)
                answer = await client.post(
                    "/v1/b5/feeds", sample.read_bytes(), {"Content-Type": MEDIA[sample.suffix]}
                )
                body = answer.json()
                bad = ", ".join(
                    f"row {r['row']}: {r['findings'][0]['code']}"
                    for r in body.get("rows", [])
                    if r["status"] == "REJECTED"
                )
                out.write(f"  {pc.partner.id:<8} {sample.name:<17} HTTP {answer.status} "
                          f"{body.get('accepted', 0):>2} rows accepted  {bad}\n")  # fmt: skip
                ok = ok and answer.status in (200, 202) and bool(answer.verified_by)
        await gateway.aggregator.catch_up()
        position = await gateway.store.aggregation_position()
        cells = await gateway.store.cells(["2026-W47", SAMPLE_WEEK])
        detections = sum(c.detections for c in cells.values())
        detected = [k for k, c in cells.items() if c.detections]
        where = ", ".join(
            f"{k.week} {k.origin_country}/{k.hs_chapter}/{k.category}/{k.value_band} "
            f"({cells[k].items} items)"
            for k in detected
        )
        out.write(f"\nB5 detections folded from decisions into the agency's cells: {detections} "
                  f"(the refusal with IPR_COUNTERFEIT; the release counts none), in {where}: "
                  "shared only where its cell is not suppressed\n")  # fmt: skip
        ok = ok and detections == 1
        clock.move_to(DEMO_REPORT_DAY)
        built = await gateway.share.build(SAMPLE_WEEK)
        fresh = sum(1 for b in built if b.fresh)
        out.write(f"\nReports for {SAMPLE_WEEK}, built on {clock.now():%a %Y-%m-%d} (the week "
                  f"frozen with the journal up to position {position}; "
                  f"{fresh} reports signed)\n")  # fmt: skip
        again = await gateway.share.build(SAMPLE_WEEK)
        ok = ok and fresh == len(customs) and not any(b.fresh for b in again)
        out.write(f"  building {SAMPLE_WEEK} again adds nothing: "
                  f"{'frozen' if not any(b.fresh for b in again) else 'REBUILT'}\n")  # fmt: skip
        for pc in customs:
            client = PartnerClient(session, url, demo_signer(pc), clock=clock)
            keys = await client.gateway_keys()
            pulled = await client.get("/v1/b5/reports?after=0")
            reports = [r for r in pulled.json()["reports"] if r["week"] == SAMPLE_WEEK]
            kind, payload = verify_json_envelope(reports[-1]["envelope"], keys)
            ok = ok and bool(pulled.verified_by) and kind == REPORT_TYPE and len(reports) == 1
            out.write(f"  {pc.partner.id:<8} pulled {len(reports)} report(s), signature verified; "
                      f"{summarise_report(json.loads(payload))}\n")  # fmt: skip
            audits = gateway.share.audits.get((pc.partner.id, SAMPLE_WEEK), [])
            ok = ok and bool(audits) and all(a.ok for a in audits)
            out.write(f"           {summarise_audits(audits)}\n")
    return ok


def summarise_audits(audits: Sequence[Audit]) -> str:
    """What the disclosure audit proved of a report's tables (the operator's view)."""
    if not audits:
        return "audit: MISSING"
    numbers = sum(len(a.bounds) for a in audits)
    narrowest = audits[0].narrowest
    verdict = "proved" if all(a.ok for a in audits) else "FAILED"
    return (f"audit {verdict}: {sum(a.nodes for a in audits)} suppressed cells and totals, "
            f"{numbers} numbers, {sum(a.programmes for a in audits)} linear programmes; "
            f"narrowest: {narrowest or 'nothing suppressed'}")  # fmt: skip


def _describe(rule: RoutingRule) -> str:
    parts = [
        f"{name}={','.join(sorted(values))}"
        for name, values in (
            ("categories", rule.categories),
            ("hs", rule.hs_chapters),
            ("origins", rule.origin_countries),
            ("partners", rule.partners),
        )
        if values
    ]
    if rule.min_value is not None:
        parts.append(f"min={rule.min_value} {rule.min_value_currency}")
    return " ".join(parts) or "everything"


def _write_deliveries(
    consumers: Sequence[Consumer],
    results: dict[str, ConsumeResult],
    expected: dict[str, set[str]],
    ids: set[str],
    out: TextIO,
) -> bool:
    out.write("\nDelivered over gRPC (each record's DSSE signature verified with the JWKS)\n")
    out.write(
        f"  {'consumer':<14} {'rule':<42} {'expected':>8} {'received':>8} {'verified':>8}  check\n"
    )
    ok = True
    for c in consumers:
        r = results[c.name]
        got = {rid for rid in r.record_ids if rid in ids}
        good = got == expected[c.name] and r.failed == 0
        ok = ok and good
        earlier = len(set(r.record_ids) - ids)
        extra = f" (+{earlier} from earlier runs)" if earlier else ""
        out.write(
            f"  {c.name:<14} {_describe(c.rule):<42} {len(expected[c.name]):>8} "
            f"{len(got):>8} {r.verified:>8}  {'exact' if good else 'MISMATCH'}{extra}\n"
        )
    return ok
