"""Fuzzing the HTTP edge of a real gateway: valid and mutated ITMATT documents, signed.

Every answer is a status of the contract (the README's HTTP API) with a body of its media
type, signed by the gateway (PartnerClient verifies it), never a 5xx; a receipt (202/422)
lists every item of the message, and agrees with the offline validator on the items it rejects.
"""

from __future__ import annotations

import gzip
import itertools
import json
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.adapters.http.client import ITMATT_PATH, Answer
from gateway.entrypoints.validate import MAX_BYTES
from gateway.errors import MessageRejected
from gateway.formats.hardened import gunzip_bounded
from gateway.formats.itmatt import parse_itmatt
from tests.fuzz.budget import count, fuzz
from tests.fuzz.itmatt_gen import Doc, documents, mutated
from tests.fuzz.live import LiveGateway, live_gateway, post_partners

pytestmark = pytest.mark.slow
PARTNER, SENDER = "gb-royal-mail", "GBA"
SMALL_LIMIT = 256 * 1024  # gb-royal-mail's max_body_bytes here, so 413 is reachable
CONTRACT = {200, 202, 400, 403, 409, 413, 415, 422}
HISTORY_CODES = {"ITEM_ALREADY_ACCEPTED", "UNKNOWN_ITEM", "VERSION_STALE", "ITEM_CANCELLED"}
PROBLEM_JSON = "application/problem+json"
_ids = itertools.count(1)


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveGateway]:
    tmp = tmp_path_factory.mktemp("fuzz-itmatt")
    root = tmp / "partners"
    partners = post_partners(root)
    toml = root / PARTNER / "partner.toml"
    text = toml.read_text()
    toml.write_text(text.replace("[[keys]]", f"max_body_bytes = {SMALL_LIMIT}\n\n[[keys]]", 1))
    live = live_gateway(tmp, partners, root)
    yield live
    live.stop()


def media(answer: Answer) -> str:
    return answer.headers.get("Content-Type", "").split(";")[0].strip()


def check_problem(answer: Answer) -> dict[str, Any]:
    assert media(answer) == PROBLEM_JSON, answer
    doc: dict[str, Any] = json.loads(answer.body)
    assert doc["status"] == answer.status
    assert doc["type"]
    assert doc["title"]
    assert "detail" in doc
    for entry in doc.get("errors", []):
        assert entry["code"], entry
        assert entry["message"], entry
    return doc


def offline(body: bytes) -> list[list[str]] | None:
    """Each item's error codes by the offline stage (None: the message is refused)."""
    try:
        data = gunzip_bounded(body, MAX_BYTES) if body[:2] == b"\x1f\x8b" else body
        parsed = parse_itmatt(data)
    except MessageRejected:
        return None
    return [[f.code for f in i.findings if f.is_error] for i in parsed.items]


def check_answer(answer: Answer, document: bytes) -> None:
    assert answer.status in CONTRACT, (answer.status, answer.body[:2000])
    assert answer.verified_by, "every answer is signed by the gateway"
    if answer.status not in (200, 202, 422):
        check_problem(answer)
        return
    assert media(answer) == "application/json", answer
    receipt = json.loads(answer.body)
    expected = offline(document)
    assert expected is not None, "a receipt for a message the offline stage refuses"
    items = receipt["items"]
    assert len(items) == len(expected) == receipt["accepted"] + receipt["rejected"]
    assert (answer.status == 202) == (receipt["accepted"] > 0) or answer.status == 200
    for got, errors in zip(items, expected, strict=True):
        assert got["status"] in ("ACCEPTED", "REJECTED")
        codes = {f["code"] for f in got["findings"] if f["severity"] == "error"}
        assert set(errors) <= codes, (got, errors)
        assert codes - set(errors) <= HISTORY_CODES, (got, errors)
        assert (got["status"] == "REJECTED") == bool(codes), got
        for finding in got["findings"]:
            assert finding["code"], finding
            assert "line" in finding, finding
            assert finding.get("path"), finding


def submit(gateway: LiveGateway, document: bytes, how: str) -> Answer:
    headers = {"Content-Type": "text/xml" if how == "text/xml" else "application/xml"}
    body = document
    if how == "gzip":
        body = gzip.compress(document, mtime=0)
        headers["Content-Encoding"] = "gzip"
    elif how == "broken-gzip":
        body = gzip.compress(document, mtime=0)[:-9]
        headers["Content-Encoding"] = "gzip"
    elif how == "br":
        headers["Content-Encoding"] = "br"
    elif how == "json":
        headers["Content-Type"] = "application/json"
    return gateway.post(PARTNER, ITMATT_PATH, body, headers)


HOW = st.sampled_from(("plain", "plain", "plain", "gzip", "text/xml", "broken-gzip", "br", "json"))


@fuzz(40)
@given(doc=documents(sender=SENDER, max_items=4), how=st.sampled_from(("plain", "gzip")))
def test_valid_documents_get_a_receipt_listing_every_item(
    gateway: LiveGateway, doc: Doc, how: str
) -> None:
    count("test_valid_documents_get_a_receipt_listing_every_item")
    document = doc.bytes(f"FUZZ-V-{next(_ids)}")
    answer = submit(gateway, document, how)
    assert answer.status in (202, 422), (answer.status, answer.body[:2000])
    check_answer(answer, document)


@fuzz(150)
@given(doc=mutated(sender=SENDER, max_items=3), how=HOW)
def test_mutated_documents_get_a_contract_answer_never_a_5xx(
    gateway: LiveGateway, doc: Doc, how: str
) -> None:
    count("test_mutated_documents_get_a_contract_answer_never_a_5xx")
    document = doc.bytes(f"FUZZ-M-{next(_ids)}")
    answer = submit(gateway, document, how)
    if how in ("br", "json"):
        assert answer.status == 415, answer
    check_answer(answer, document if how in ("plain", "gzip", "text/xml") else b"")
