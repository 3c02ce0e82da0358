"""Receipts: the JSON document a partner gets for one message, as the README's HTTP API shows it."""

from __future__ import annotations

import json
import random
import re
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from gateway.domain.findings import Finding, error, warning
from gateway.domain.messages import ItemFunction, ItemOutcome
from gateway.domain.receipts import Receipt, ReceiptStatus, build_receipt, rfc3339_millis
from gateway.formats.itmatt import parse_itmatt
from gateway.formats.itmatt.samples import build_itmatt, generate_items
from gateway.wire.declaration_pb2 import Declaration

RECEIVED = datetime(2026, 11, 27, 9, 15, 2, 114567, tzinfo=UTC)
ITEM_PATH = "/message/msgbody/itmatt_1_5_0/item[1]"
# The receipt's keys in the order of the README's HTTP API; beyond the base contract it adds
# `test` to the receipt and `function` and `line` to items, and nothing else.
SPEC_TOP_KEYS = [
    "receiptId",
    "partner",
    "messageId",
    "contentDigest",
    "receivedAt",
    "status",
    "accepted",
    "rejected",
    "items",
]
ADDED_TOP_KEYS = {"test"}
SPEC_ITEM_KEYS = ["itemId", "version", "status", "declarationId", "findings"]
ADDED_ITEM_KEYS = {"function", "line"}
SPEC_FINDING_KEYS = {"code", "severity", "path", "line", "message"}


def outcome(
    index: int,
    item_id: str,
    *findings: Finding,
    translated: bool = True,
    version: int = 1,
    function: ItemFunction = ItemFunction.ORIGINAL,
) -> ItemOutcome:
    declaration = Declaration(item_id=item_id) if translated else None
    return ItemOutcome(index, 10 * index, item_id, version, function, findings, declaration)


def receipt_for(*items: ItemOutcome, test: bool = False) -> Receipt:
    return build_receipt(
        receipt_id="rcpt-1",
        partner="gb-royal-mail",
        message_id="GBA-20261127-0001",
        content_digest="sha-256=:abc=:",
        received_at=RECEIVED,
        items=items,
        declaration_ids={i.index: f"decl-{i.index}" for i in items},
        test=test,
    )


def body(receipt: Receipt) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(receipt.body)
    return doc


GOOD = outcome(1, "RB123456785GB", warning("DESCRIPTION_VAGUE", "vague", f"{ITEM_PATH}/x", 31))
BAD = outcome(2, "RB123456786US", error("S10_CHECK_DIGIT", "wrong check digit", "/p", 40))


def test_receipt_has_the_spec_fields_with_their_values() -> None:
    doc = body(receipt_for(GOOD))
    assert [key for key in doc if key not in ADDED_TOP_KEYS] == SPEC_TOP_KEYS
    assert doc["test"] is False
    assert doc["receiptId"] == "rcpt-1"
    assert doc["partner"] == "gb-royal-mail"
    assert doc["messageId"] == "GBA-20261127-0001"
    assert doc["contentDigest"] == "sha-256=:abc=:"
    assert doc["receivedAt"] == "2026-11-27T09:15:02.114Z"
    assert (doc["status"], doc["accepted"], doc["rejected"]) == ("ACCEPTED", 1, 0)
    assert isinstance(doc["items"], list)


def test_item_entry_has_the_spec_fields() -> None:
    [item] = body(receipt_for(GOOD))["items"]
    assert [key for key in item if key not in ADDED_ITEM_KEYS] == SPEC_ITEM_KEYS
    assert (item["function"], item["line"]) == ("ORIGINAL", 10)
    assert (item["itemId"], item["version"], item["status"]) == ("RB123456785GB", 1, "ACCEPTED")
    assert item["declarationId"] == "decl-1"


def test_finding_carries_code_severity_path_line_and_message() -> None:
    [item] = body(receipt_for(GOOD))["items"]
    assert item["findings"] == [
        {
            "code": "DESCRIPTION_VAGUE",
            "severity": "warning",
            "path": f"{ITEM_PATH}/x",
            "line": 31,
            "message": "vague",
        }
    ]
    assert set(item["findings"][0]) == SPEC_FINDING_KEYS


def test_finding_without_path_or_line_leaves_them_out() -> None:
    item = outcome(1, "RB123456785GB", warning("CURRENCY_MIXED", "mixed"))
    [entry] = body(receipt_for(item))["items"]
    assert entry["findings"] == [
        {"code": "CURRENCY_MIXED", "severity": "warning", "message": "mixed"}
    ]


def test_declaration_id_only_on_accepted_items() -> None:
    untranslated = outcome(3, "RB1", error("XSD", "bad element"), translated=False)
    items = body(receipt_for(GOOD, BAD, untranslated))["items"]
    assert [i["status"] for i in items] == ["ACCEPTED", "REJECTED", "REJECTED"]
    assert ["declarationId" in i for i in items] == [True, False, False]


@pytest.mark.parametrize(
    ("items", "status", "http_status", "counts"),
    [
        ((GOOD,), ReceiptStatus.ACCEPTED, 202, (1, 0)),
        ((GOOD, BAD), ReceiptStatus.PARTIALLY_ACCEPTED, 202, (1, 1)),
        ((BAD,), ReceiptStatus.REJECTED, 422, (0, 1)),
    ],
    ids=["all-accepted", "some-accepted", "none-accepted"],
)
def test_status_and_counts_follow_the_items(
    items: tuple[ItemOutcome, ...],
    status: ReceiptStatus,
    http_status: int,
    counts: tuple[int, int],
) -> None:
    receipt = receipt_for(*items)
    doc = body(receipt)
    assert (receipt.status, receipt.http_status) == (status, http_status)
    assert (receipt.accepted, receipt.rejected) == counts
    assert (doc["status"], doc["accepted"], doc["rejected"]) == (status.value, *counts)


def test_status_values_are_the_three_of_the_spec() -> None:
    assert {s.value for s in ReceiptStatus} == {"ACCEPTED", "PARTIALLY_ACCEPTED", "REJECTED"}


def test_items_keep_message_order_with_versions() -> None:
    amended = outcome(2, "EE473124829US", version=3, function=ItemFunction.AMENDMENT)
    items = body(receipt_for(GOOD, amended))["items"]
    assert [(i["itemId"], i["version"]) for i in items] == [
        ("RB123456785GB", 1),
        ("EE473124829US", 3),
    ]


def test_receipt_body_is_compact_utf8_json() -> None:
    item = outcome(1, "RB123456785GB", warning("DESCRIPTION_VAGUE", "« cadeau »"))
    raw = receipt_for(item).body
    assert "« cadeau »".encode() in raw
    assert b": " not in raw
    assert b", " not in raw


def test_the_same_inputs_give_byte_identical_receipts() -> None:
    assert receipt_for(GOOD, BAD).body == receipt_for(GOOD, BAD).body


@pytest.mark.parametrize(
    ("when", "expected"),
    [
        (datetime(2026, 11, 27, 9, 15, 2, 114999, tzinfo=UTC), "2026-11-27T09:15:02.114Z"),
        (datetime(2026, 11, 27, 9, 15, 2, tzinfo=UTC), "2026-11-27T09:15:02.000Z"),
        (datetime(2026, 11, 27, 9, 15, 2, 1000, tzinfo=UTC), "2026-11-27T09:15:02.001Z"),
        (
            datetime(2026, 11, 27, 10, 15, 2, 500000, tzinfo=timezone(timedelta(hours=1))),
            "2026-11-27T09:15:02.500Z",
        ),
    ],
    ids=["truncated-not-rounded", "whole-second", "one-milli", "converted-to-utc"],
)
def test_timestamps_are_rfc3339_utc_with_milliseconds(when: datetime, expected: str) -> None:
    assert rfc3339_millis(when) == expected
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", expected)


def test_receipt_of_a_test_message_says_so() -> None:
    assert body(receipt_for(GOOD, test=True))["test"] is True
    assert body(receipt_for(GOOD))["test"] is False


@pytest.mark.parametrize(("n", "bad_every"), [(0, 0), (1, 0), (30, 4), (512, 0), (1100, 9)])
def test_the_items_are_encoded_in_batches_into_exactly_the_json_of_the_whole(
    n: int, bad_every: int
) -> None:
    specs = generate_items(random.Random(n), n, sender_country="GB", bad_every=bad_every)
    items = parse_itmatt(build_itmatt("GBA-R-1", "GBA", specs)).items if n else ()
    ids = {i.index: f"décl-{i.index}" for i in items if i.accepted}  # non-ASCII kept as is
    receipt = build_receipt(
        receipt_id="r-1", partner="gb-royal-mail", message_id="GBA-R-1", content_digest="d",
        received_at=datetime(2026, 11, 29, tzinfo=UTC), items=items, declaration_ids=ids,
    )  # fmt: skip
    whole = json.loads(receipt.body)
    assert receipt.body == json.dumps(whole, ensure_ascii=False, separators=(",", ":")).encode()
    assert len(whole["items"]) == n
    assert list(whole)[-1] == "items"
