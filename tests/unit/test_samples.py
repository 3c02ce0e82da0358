"""The sample generator: valid documents, and bad items whose codes are known in advance."""

from __future__ import annotations

import random

from lxml import etree

from gateway.formats.itmatt import itmatt_schema, parse_itmatt
from gateway.formats.itmatt.samples import (
    ItemSpec,
    PieceSpec,
    build_itmatt,
    generate_items,
    valid_s10,
)
from gateway.rules.s10 import is_valid_s10


def test_valid_s10_builds_the_spec_examples() -> None:
    assert valid_s10("RB", 12345678, "GB") == "RB123456785GB"
    assert valid_s10("RR", "10000014", "AU") == "RR100000140AU"
    assert valid_s10("CP", 0, "CN") == "CP000000005CN"


def test_generated_items_are_valid_and_varied() -> None:
    items = generate_items(random.Random(1), 300, sender_country="DE")
    assert len({item.item_id for item in items}) == 300
    assert all(is_valid_s10(item.item_id) and item.item_id.endswith("DE") for item in items)
    assert all(not item.expect for item in items)
    assert len({item.category for item in items}) >= 5
    assert len({p.hs_code[:2] for item in items for p in item.pieces if p.hs_code}) >= 8
    assert len({item.currency for item in items}) >= 2
    assert len({p.origin for item in items for p in item.pieces if p.origin}) >= 5
    doc = build_itmatt("DEA-1", "DEA", items)
    assert itmatt_schema().validate(etree.fromstring(doc))
    message = parse_itmatt(doc)
    assert all(item.accepted and item.findings == () for item in message.items)


def test_generation_is_deterministic_per_seed() -> None:
    first = generate_items(random.Random(9), 50, sender_country="GB")
    assert first == generate_items(random.Random(9), 50, sender_country="GB")
    assert first != generate_items(random.Random(10), 50, sender_country="GB")


def test_bad_items_get_exactly_their_expected_errors() -> None:
    items = generate_items(random.Random(3), 200, sender_country="CN", bad_every=5)
    bad = [item for item in items if item.expect]
    assert len(bad) == 40
    assert {code for item in bad for code in item.expect} == {
        "S10_CHECK_DIGIT",
        "HS_REQUIRED",
        "WEIGHT_SUM_EXCEEDS_GROSS",
        "CURRENCY_UNKNOWN",
    }
    message = parse_itmatt(build_itmatt("CNA-7", "CNA", items))
    for spec, item in zip(items, message.items, strict=True):
        errors = {f.code for f in item.findings if f.is_error}
        assert errors == spec.expect, (spec, item.findings)
        assert item.accepted == (not spec.expect)


def test_build_itmatt_header_and_escaping() -> None:
    item = ItemSpec(
        item_id=valid_s10("EE", 42, "FR"),
        sender_name='Dupont & Fils <"SARL">',
        sender_country="FR",
        currency="EUR",
        pieces=(PieceSpec(description="Crème & brûlée <set>", currency="EUR", origin="FR"),),
    )
    doc = build_itmatt(
        "FRA-1", "FRA", [item], recipient="USA", prepared_at="2026-01-02T03:04:05+01:00", test=True
    )
    message = parse_itmatt(doc)
    assert message.header.test
    assert (message.header.message_id, message.header.sender) == ("FRA-1", "FRA")
    decl = message.items[0].declaration
    assert decl is not None
    assert decl.sender.name == 'Dupont & Fils <"SARL">'
    assert decl.pieces[0].description == "Crème & brûlée <set>"
    assert decl.total_value.amount == "20.00"
