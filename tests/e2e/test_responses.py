"""Responses to posts end to end (docs/responses.md): decisions made over real gRPC, pulled by
the posts over signed HTTP and verified with the gateway's JWKS (bound to the request that
asked), pushed to a post's own endpoint from the outbox across a gateway restart, and never a
note, a detection or a consumer's name in any byte a post receives."""

from __future__ import annotations

import asyncio
import json
import socket
import tempfile
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from gateway.adapters.crypto.httpsig import RequestVerifier
from gateway.adapters.crypto.keys import write_private_key
from gateway.adapters.grpc.client import decide
from gateway.config import ShareSettings
from gateway.domain.decisions import DETECTION_CODES, DecisionCode, Detection
from gateway.domain.routing import Consumer, RoutingRule
from gateway.entrypoints.cli import main as cli_main
from gateway.formats.responses import NAMESPACE, SCHEMA
from gateway.wire import decisions_pb2 as pb
from tests.clocks import FrozenClock
from tests.e2e.conftest import PartnerKit, World, make_settings, running, write_partner
from tests.e2e.helpers import document, items

pytestmark = pytest.mark.slow

CONSUMERS = (Consumer("desk", RoutingRule(), may_decide=True), Consumer("analytics", RoutingRule()))
XSD = etree.XMLSchema(etree.parse(str(SCHEMA)))
NS = {"r": NAMESPACE}
NO_DETECTION = pb.DETECTION_UNSPECIFIED
FAST = ShareSettings(push_first_backoff_s=0.2, push_max_backoff_s=0.5, push_lease_s=2)


def _decision(
    item_id: str,
    decision_id: str,
    code: DecisionCode,
    *,
    consumer: str = "desk",
    note: str = "",
    detection: Detection | None = None,
    questions: Sequence[pb.Question] = (),
) -> pb.DecideRequest:
    return pb.DecideRequest(
        consumer=consumer,
        decision=pb.Decision(
            decision_id=decision_id, item_id=item_id, version=1,
            code=pb.DecisionCode.Value(code.value), note=note, questions=questions,
            detection=pb.Detection.Value(detection.value) if detection else NO_DETECTION,
        ),
    )  # fmt: skip


async def _submit(world: World, pid: str, message_id: str, n: int, seed: int) -> list[str]:
    kit = world.partners[pid]
    client = await world.client(pid)
    answer = await client.submit_itmatt(
        document(message_id, kit.operator_code, items(n, kit.country, seed=seed))
    )
    assert answer.status == 202, answer.json()
    return [i["itemId"] for i in answer.json()["items"] if i["status"] == "ACCEPTED"]


def _valid(xml: bytes) -> etree._Element:
    root = etree.fromstring(xml)
    XSD.assertValid(root)
    return root


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _with_responses_url(root: Path, pid: str, url: str) -> None:
    """Name `url` as the post's responses_url in its partner.toml (before its [[keys]])."""
    file = root / pid / "partner.toml"
    top, keys = file.read_text(encoding="utf-8").split("[[keys]]", 1)
    file.write_text(f'{top}responses_url = "{url}"\n\n[[keys]]{keys}', encoding="utf-8")


class PostEndpoint:
    """A post's response endpoint on loopback: keeps every request it receives."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.requests: list[tuple[str, dict[str, str], bytes]] = []
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/aed/responses"

    async def _handle(self, request: web.Request) -> web.Response:
        self.requests.append((str(request.url), dict(request.headers), await request.read()))
        return web.Response(status=204)

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/aed/responses", self._handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


@pytest.fixture
async def world(
    tmp_path: Path, partners_dir: tuple[Path, dict[str, PartnerKit]]
) -> AsyncIterator[World]:
    root, partners = partners_dir
    async with running(make_settings(tmp_path, root, consumers=CONSUMERS), partners) as w:
        yield w


async def test_a_post_pulls_its_own_responses_signed_bound_and_paged_in_xml_and_json(
    world: World,
) -> None:
    gb = await _submit(world, "gb-royal-mail", "GBA-R1", 6, seed=5)
    cn = await _submit(world, "cn-china-post", "CNA-R1", 2, seed=6)
    question = pb.Question(code="DESCRIPTION_TOO_VAGUE", path="/item[1]/content[1]")
    made = [
        await decide(world.grpc_target, req)
        for req in (
            _decision(gb[0], "g0", DecisionCode.REQUEST_INFORMATION, questions=[question],
                      note="ask the sender"),
            _decision(cn[0], "c0", DecisionCode.HOLD_FOR_INSPECTION),
            _decision(gb[1], "g1", DecisionCode.REFUSED, detection=Detection.WEAPONS),
            _decision(gb[2], "g2", DecisionCode.ASSESSMENT_COMPLETE),
        )
    ]  # fmt: skip
    client = await world.client("gb-royal-mail")

    xml = await client.responses(0)  # verified with the JWKS, bound to this request

    assert (xml.status, xml.headers["Content-Type"]) == (200, "application/xml")
    assert xml.verified_by == world.running.keyring.active.keyid
    root = _valid(xml.body)
    assert root.get("partner") == "gb-royal-mail"
    assert root.get("next") == str(made[3].position)
    pulled = root.findall("r:response", NS)
    assert [r.findtext("r:itemId", namespaces=NS) for r in pulled] == [gb[0], gb[1], gb[2]]
    assert [r.findtext("r:code", namespaces=NS) for r in pulled] == [
        "REQUEST_INFORMATION", "REFUSED", "ASSESSMENT_COMPLETE"
    ]  # fmt: skip
    first = pulled[0]
    assert first.findtext("r:messageId", namespaces=NS) == "GBA-R1"
    assert first.findtext("r:version", namespaces=NS) == "1"
    assert [
        (q.findtext("r:code", namespaces=NS), q.findtext("r:path", namespaces=NS))
        for q in first.iterfind("r:questions/r:question", NS)
    ] == [("DESCRIPTION_TOO_VAGUE", "/item[1]/content[1]")]
    for text in (b"ask the sender", b"WEAPONS", b"desk", b"detection", b"note"):
        assert text not in xml.body

    as_json = await client.responses(0, json=True)
    assert as_json.headers["Content-Type"] == "application/json"
    doc = as_json.json()
    assert doc["next"] == made[3].position
    ids = [r.findtext("r:responseId", namespaces=NS) for r in pulled]
    assert [r["responseId"] for r in doc["responses"]] == ids  # stable across formats
    assert doc["responses"][0]["questions"] == [
        {"code": "DESCRIPTION_TOO_VAGUE", "path": "/item[1]/content[1]"}
    ]
    assert "questions" not in doc["responses"][1]
    assert set(doc["responses"][1]) == {
        "responseId", "itemId", "version", "messageId", "code", "issuedAt"
    }  # fmt: skip
    assert datetime.fromisoformat(doc["responses"][1]["issuedAt"]).tzinfo is not None

    paged, after = [], 0
    while True:  # one response a page, following the cursor
        page = (await client.responses(after, 1, json=True)).json()
        if not page["responses"]:
            break
        paged += [r["responseId"] for r in page["responses"]]
        after = page["next"]
    assert paged == ids
    assert after == made[3].position

    china = (await (await world.client("cn-china-post")).responses(0, json=True)).json()
    assert [r["itemId"] for r in china["responses"]] == [cn[0]]
    assert china["partner"] == "cn-china-post"


async def test_the_responses_command_pulls_verifies_and_prints_json_lines(
    world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    gb = await _submit(world, "gb-royal-mail", "GBA-C1", 3, seed=3)
    for n, item in enumerate(gb):
        await decide(world.grpc_target, _decision(item, f"k{n}", DecisionCode.RELEASED))
    key = tmp_path / "gb.key.pem"  # the post's private key, as its own client holds it
    write_private_key(key, world.partners["gb-royal-mail"].key.private_key)
    folder = str(world.settings.partners_dir / "gb-royal-mail")
    argv = ["responses", "pull", "--partner", folder, "--key", str(key), "--limit", "2"]

    code = await asyncio.to_thread(cli_main, [*argv, world.http_url], clock=world.clock)

    assert code == 0
    printed = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["itemId"] for r in printed] == gb
    assert {r["code"] for r in printed} == {"RELEASED"}


async def test_a_pull_is_refused_unsigned_and_its_errors_are_bound_too(world: World) -> None:
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"{world.http_url}/v1/aed/responses") as response,
    ):
        assert response.status == 401
    client = await world.client("gb-royal-mail")
    bad = await client.get("/v1/aed/responses?after=x", bound=True)  # verified, bound
    assert bad.status == 400


async def test_a_post_endpoint_down_across_a_restart_receives_every_response_once_back(
    tmp_path: Path, partners_dir: tuple[Path, dict[str, PartnerKit]]
) -> None:
    root, partners = partners_dir
    endpoint = PostEndpoint(_free_port())
    _with_responses_url(root, "gb-royal-mail", endpoint.url)
    clock = FrozenClock(datetime.now(UTC))
    settings_ = make_settings(tmp_path, root, consumers=CONSUMERS, share=FAST)
    async with running(settings_, partners, clock) as world:
        gb = await _submit(world, "gb-royal-mail", "GBA-P1", 3, seed=9)
        cn = await _submit(world, "cn-china-post", "CNA-P1", 1, seed=10)
        for n, item in enumerate(gb):
            await decide(world.grpc_target, _decision(item, f"p{n}", DecisionCode.RELEASED))
        await decide(world.grpc_target, _decision(cn[0], "c0", DecisionCode.RELEASED))
        for _ in range(100):  # the pusher tries, and fails: nobody listens yet
            pending = await world.running.store.outbox()
            if len(pending) == len(gb) and all(d.attempts >= 1 for d in pending):
                break
            await asyncio.sleep(0.1)
        assert [d.response.item_id for d in pending] == gb  # the post without a URL: none
        assert all(d.attempts >= 1 for d in pending)
        pulled = (await (await world.client("gb-royal-mail")).responses(0, json=True)).json()

    await endpoint.start()
    clock.advance(hours=1)  # past every retry's backoff and every lease
    try:
        async with running(settings_, partners, clock) as restarted:
            for _ in range(100):
                if not await restarted.running.store.outbox():
                    break
                await asyncio.sleep(0.1)
            assert await restarted.running.store.outbox() == []
            keys = restarted.running.keyring.public_keys()
    finally:
        await endpoint.stop()

    bodies = [body for _, _, body in endpoint.requests]
    docs = [_valid(body) for body in bodies]
    assert {d.findtext("r:responseId", namespaces=NS) for d in docs} == {
        r["responseId"] for r in pulled["responses"]
    }
    assert {d.get("partner") for d in docs} == {"gb-royal-mail"}
    verifier = RequestVerifier(keys.get, window_s=300)
    for url, headers, body in endpoint.requests:  # each push is signed by the gateway
        assert headers["Content-Type"] == "application/xml"
        assert verifier.verify("POST", url, headers, body, clock.now()).owner == "gateway"


# -- nothing internal ever reaches a post -------------------------------------------------------

_NAME = st.text(alphabet="abcdefghijklmnopqrstuvwxyz", min_size=10, max_size=16)
_NOTE = st.text(min_size=1, max_size=80).map(lambda text: f"note:{text}")
_DECISION = st.tuples(
    st.integers(0, 2),  # which consumer
    st.sampled_from(sorted(DETECTION_CODES | {DecisionCode.ASSESSMENT_COMPLETE})),
    st.sampled_from([d for d in Detection if d is not Detection.NONE]),
    _NOTE,
)


@settings(
    max_examples=4, deadline=None, suppress_health_check=[HealthCheck.too_slow],
    derandomize=True,
)  # fmt: skip
@given(
    names=st.lists(_NAME, min_size=3, max_size=3, unique=True),
    decisions=st.lists(_DECISION, min_size=1, max_size=4),
)
def test_no_note_detection_or_consumer_name_reaches_a_post(
    names: list[str], decisions: list[tuple[int, DecisionCode, Detection, str]]
) -> None:
    asyncio.run(_nothing_internal_reaches_a_post(names, decisions))


async def _nothing_internal_reaches_a_post(
    names: list[str], decisions: list[tuple[int, DecisionCode, Detection, str]]
) -> None:
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        root = tmp / "partners"
        kit = write_partner(root, "gb-royal-mail", "GBA", "GB", "ed25519")
        endpoint = PostEndpoint(_free_port())
        _with_responses_url(root, "gb-royal-mail", endpoint.url)
        consumers = tuple(Consumer(n, RoutingRule(), may_decide=True) for n in names)
        settings_ = make_settings(tmp, root, consumers=consumers, share=FAST)
        await endpoint.start()
        try:
            async with running(settings_, {"gb-royal-mail": kit}) as world:
                received = await _decide_and_receive(world, endpoint, names, decisions)
        finally:
            await endpoint.stop()
    secrets = {*names, *(note for *_, note in decisions)}
    secrets |= {d.value for _, code, d, _ in decisions if code in DETECTION_CODES}
    for secret in secrets:
        forms = {secret.encode(), json.dumps(secret)[1:-1].encode()}
        forms |= {secret.replace("&", "&amp;").replace("<", "&lt;").encode()}
        for blob in received:
            assert not any(form in blob for form in forms), (secret, blob[:200])
    for blob in received:
        assert b"detection" not in blob.lower()
        assert b"consumer" not in blob.lower()


async def _decide_and_receive(
    world: World,
    endpoint: PostEndpoint,
    names: list[str],
    decisions: list[tuple[int, DecisionCode, Detection, str]],
) -> list[bytes]:
    """Decide, then every byte the post receives: pulls (XML and JSON, bodies and headers) and
    pushes (bodies and headers)."""
    gb = await _submit(world, "gb-royal-mail", "GBA-H1", len(decisions), seed=len(decisions))
    for n, (who, code, detection, note) in enumerate(decisions):
        found = detection if code in DETECTION_CODES else None
        req = _decision(gb[n], f"h{n}", code, consumer=names[who], note=note, detection=found)
        await decide(world.grpc_target, req)
    client = await world.client("gb-royal-mail")
    blobs: list[bytes] = []
    for as_json in (False, True):
        answer = await client.responses(0, json=as_json)
        assert answer.status == 200
        blobs += [answer.body, json.dumps(answer.headers).encode()]
    for _ in range(100):
        if len(endpoint.requests) >= len(decisions):
            break
        await asyncio.sleep(0.05)
    assert len(endpoint.requests) >= len(decisions)
    for url, headers, body in endpoint.requests:
        blobs += [url.encode(), json.dumps(headers).encode(), body]
    return blobs
