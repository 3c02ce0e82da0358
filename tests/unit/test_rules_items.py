"""Each business rule of docs/itmatt.md on its own: it fires when it must, and only then."""

from __future__ import annotations

import pytest

from gateway.domain.findings import Finding, Severity
from gateway.rules.items import (
    RULES,
    ItemFacts,
    PieceFacts,
    check_item,
    country_rule,
    currency_mixed_rule,
    currency_rule,
    explanation_rule,
    facts_of,
    hs_format_rule,
    hs_required_rule,
    origin_required_rule,
    s10_rule,
    vague_rule,
    value_sum_rule,
    weight_sum_rule,
)
from gateway.wire.declaration_pb2 import Address, Declaration, Money, Party, Piece

PIECE = PieceFacts(
    description="Wool knitted scarf",
    net_weight="0.600",
    value="42.50",
    currency="GBP",
    hs_code="611710",
    origin_country="GB",
)
ITEM = ItemFacts(
    item_id="RB123456785GB",
    category="SALE_OF_GOODS",
    category_explanation="",
    gross_weight="0.850",
    total_value="42.50",
    currency="GBP",
    charges_currency=None,
    sender_country="GB",
    addressee_country="US",
    pieces=(PIECE,),
)


def locate(relpath: str) -> tuple[str, int | None]:
    return f"/item[1]/{relpath}", 7


def codes(findings: list[Finding]) -> list[str]:
    return [f.code for f in findings]


def with_piece(**changes: str) -> ItemFacts:
    return ITEM._replace(pieces=(PIECE._replace(**changes),))


def test_a_clean_item_has_no_findings() -> None:
    assert check_item(ITEM, locate) == []


def test_s10_findings_take_the_itemid_location() -> None:
    (finding,) = s10_rule(ITEM._replace(item_id="RB123456786GB"), locate)
    assert (finding.code, finding.path, finding.line) == ("S10_CHECK_DIGIT", "/item[1]/itemId", 7)
    assert s10_rule(ITEM, locate) == []


def test_s10_domestic_range_is_a_warning() -> None:
    (finding,) = s10_rule(ITEM._replace(item_id="BA123456785GB"), locate)
    assert (finding.code, finding.severity) == ("S10_DOMESTIC_RANGE", Severity.WARNING)


@pytest.mark.parametrize(
    ("item", "path"),
    [
        (ITEM._replace(sender_country="UK"), "/item[1]/sender/address/countryCode"),
        (ITEM._replace(addressee_country="XX"), "/item[1]/addressee/address/countryCode"),
        (with_piece(origin_country="EU"), "/item[1]/contents/piece[1]/originCountry"),
    ],
)
def test_country_unknown(item: ItemFacts, path: str) -> None:
    (finding,) = country_rule(item, locate)
    assert (finding.code, finding.severity, finding.path) == (
        "COUNTRY_UNKNOWN",
        Severity.ERROR,
        path,
    )


def test_known_and_absent_countries_pass() -> None:
    assert country_rule(with_piece(origin_country=""), locate) == []
    assert country_rule(ITEM._replace(sender_country="CN", addressee_country="US"), locate) == []


@pytest.mark.parametrize(
    ("item", "path"),
    [
        (ITEM._replace(currency="ZZZ"), "/item[1]/totalValue/@currency"),
        (ITEM._replace(charges_currency="GBX"), "/item[1]/postalCharges/@currency"),
        (with_piece(currency="DEM"), "/item[1]/contents/piece[1]/value/@currency"),
    ],
)
def test_currency_unknown(item: ItemFacts, path: str) -> None:
    (finding,) = currency_rule(item, locate)
    assert (finding.code, finding.severity, finding.path) == (
        "CURRENCY_UNKNOWN",
        Severity.ERROR,
        path,
    )


def test_active_currencies_pass() -> None:
    assert currency_rule(ITEM._replace(charges_currency="USD"), locate) == []


def test_currency_mixed_warns_per_piece() -> None:
    item = ITEM._replace(pieces=(PIECE, PIECE._replace(currency="EUR")))
    (finding,) = currency_mixed_rule(item, locate)
    assert (finding.code, finding.severity) == ("CURRENCY_MIXED", Severity.WARNING)
    assert finding.path == "/item[1]/contents/piece[2]/value/@currency"
    assert currency_mixed_rule(ITEM, locate) == []


@pytest.mark.parametrize(
    ("total", "pieces", "warns"),
    [
        ("42.50", ("42.50",), False),
        ("100.00", ("60.00", "40.99"), False),  # 0.99 % off
        ("100.00", ("60.00", "41.01"), True),  # 1.01 % off
        ("100.00", ("98.99",), True),
        ("0.00", ("0.00",), False),
        ("0.00", ("0.01",), True),
        ("12345678901234567890.00", ("12345678901234567890.00",), False),
    ],
)
def test_value_sum_mismatch_above_one_percent(
    total: str, pieces: tuple[str, ...], warns: bool
) -> None:
    item = ITEM._replace(total_value=total, pieces=tuple(PIECE._replace(value=v) for v in pieces))
    found = value_sum_rule(item, locate)
    assert codes(found) == (["VALUE_SUM_MISMATCH"] if warns else [])
    assert all(f.severity is Severity.WARNING for f in found)


def test_value_sum_is_not_checked_across_currencies() -> None:
    item = ITEM._replace(total_value="1.00", pieces=(PIECE._replace(currency="EUR"),))
    assert value_sum_rule(item, locate) == []


@pytest.mark.parametrize(
    ("gross", "nets", "fires"),
    [
        ("0.850", ("0.600",), False),
        ("1.200", ("0.600", "0.600"), False),
        ("1.200", ("0.600", "0.601"), True),
        ("0.001", ("0",), False),
    ],
)
def test_weight_sum_exceeds_gross(gross: str, nets: tuple[str, ...], fires: bool) -> None:
    item = ITEM._replace(
        gross_weight=gross, pieces=tuple(PIECE._replace(net_weight=n) for n in nets)
    )
    found = weight_sum_rule(item, locate)
    assert codes(found) == (["WEIGHT_SUM_EXCEEDS_GROSS"] if fires else [])
    assert all(f.is_error and f.path == "/item[1]/grossWeight" for f in found)


@pytest.mark.parametrize(
    ("category", "fires"),
    [
        ("SALE_OF_GOODS", True),
        ("COMMERCIAL_SAMPLE", True),
        ("GIFT", False),
        ("DOCUMENTS", False),
        ("RETURNED_GOODS", False),
        ("OTHER", False),
    ],
)
def test_hs_required_for_commercial_items(category: str, fires: bool) -> None:
    item = ITEM._replace(category=category, pieces=(PIECE, PIECE._replace(hs_code="")))
    found = hs_required_rule(item, locate)
    assert codes(found) == (["HS_REQUIRED"] if fires else [])
    assert all(f.path == "/item[1]/contents/piece[2]" for f in found)


@pytest.mark.parametrize(
    ("hs_code", "fires"),
    [
        ("611710", False),
        ("6117100000", False),
        ("61171", True),
        ("61171000001", True),
        ("771234", True),
        ("001234", True),
        ("", False),
    ],
)
def test_hs_format(hs_code: str, fires: bool) -> None:
    found = hs_format_rule(with_piece(hs_code=hs_code), locate)
    assert codes(found) == (["HS_FORMAT"] if fires else [])
    assert all(f.path == "/item[1]/contents/piece[1]/hsCode" for f in found)


@pytest.mark.parametrize(
    ("category", "fires"), [("SALE_OF_GOODS", True), ("COMMERCIAL_SAMPLE", True), ("GIFT", False)]
)
def test_origin_required_for_commercial_items(category: str, fires: bool) -> None:
    found = origin_required_rule(
        ITEM._replace(category=category, pieces=(PIECE._replace(origin_country=""),)), locate
    )
    assert codes(found) == (["ORIGIN_REQUIRED"] if fires else [])


@pytest.mark.parametrize(
    ("category", "explanation", "fires"),
    [
        ("OTHER", "", True),
        ("OTHER", "   ", True),
        ("OTHER", "Seeds for a fair", False),
        ("GIFT", "", False),
    ],
)
def test_explanation_required_for_other(category: str, explanation: str, fires: bool) -> None:
    item = ITEM._replace(category=category, category_explanation=explanation)
    found = explanation_rule(item, locate)
    assert codes(found) == (["EXPLANATION_REQUIRED"] if fires else [])
    assert all(f.path == "/item[1]/category" for f in found)


@pytest.mark.parametrize(
    ("description", "fires"),
    [
        ("Gift", True),
        ("  GOODS. ", True),
        ("spare   parts", True),
        ("stuff!", True),
        ("Gift: wool knitted scarf", False),
        ("Car parts: brake pads", False),
        ("Wool knitted scarf", False),
    ],
)
def test_description_vague(description: str, fires: bool) -> None:
    found = vague_rule(with_piece(description=description), locate)
    assert codes(found) == (["DESCRIPTION_VAGUE"] if fires else [])
    assert all(f.severity is Severity.WARNING for f in found)


def test_vague_terms_can_be_replaced() -> None:
    item = with_piece(description="Widgets")
    assert vague_rule(item, locate, frozenset({"widgets"})) != []
    assert vague_rule(with_piece(description="Gift"), locate, frozenset({"widgets"})) == []


def test_check_item_reports_every_rule_in_order() -> None:
    item = ITEM._replace(
        item_id="RB123456786GB",
        gross_weight="0.100",
        pieces=(PIECE._replace(description="Goods", hs_code="", origin_country=""),),
    )
    assert codes(check_item(item, locate)) == [
        "S10_CHECK_DIGIT",
        "WEIGHT_SUM_EXCEEDS_GROSS",
        "HS_REQUIRED",
        "ORIGIN_REQUIRED",
        "DESCRIPTION_VAGUE",
    ]


def test_locate_is_called_only_to_report() -> None:
    def refuse(relpath: str) -> tuple[str, int | None]:
        raise AssertionError(relpath)

    assert check_item(ITEM, refuse) == []


def test_facts_of_a_declaration() -> None:
    decl = Declaration(
        item_id="RB123456785GB",
        category="SALE_OF_GOODS",
        gross_weight_kg="0.850",
        total_value=Money(amount="42.50", currency="GBP"),
        sender=Party(address=Address(country_code="GB")),
        addressee=Party(address=Address(country_code="US")),
        pieces=[
            Piece(
                description="Wool knitted scarf",
                net_weight_kg="0.600",
                value=Money(amount="42.50", currency="GBP"),
                hs_code="611710",
                origin_country="GB",
            )
        ],
    )
    assert facts_of(decl) == ITEM
    decl.postal_charges.CopyFrom(Money(amount="3", currency="GBP"))
    assert facts_of(decl).charges_currency == "GBP"


CLEAN_PATH_VARIANTS = [
    ITEM,
    ITEM._replace(item_id="RB123456786GB"),
    ITEM._replace(item_id="RB12345678GB"),
    ITEM._replace(item_id="BB123456785GB"),
    ITEM._replace(sender_country="XX"),
    ITEM._replace(addressee_country="XX"),
    ITEM._replace(currency="ZZZ"),
    ITEM._replace(charges_currency="ZZZ"),
    ITEM._replace(charges_currency="GBP"),
    ITEM._replace(category="OTHER"),
    ITEM._replace(category="OTHER", category_explanation=" "),
    ITEM._replace(category="OTHER", category_explanation="Exhibition pieces"),
    ITEM._replace(category="GIFT"),
    ITEM._replace(total_value="30.00"),
    ITEM._replace(total_value="42.92"),
    ITEM._replace(total_value="not a number"),
    ITEM._replace(gross_weight="0.500"),
    ITEM._replace(gross_weight="0.600"),
    ITEM._replace(pieces=()),
    ITEM._replace(pieces=(PIECE, PIECE._replace(value="0.00", net_weight="0.100"))),
    with_piece(currency="EUR"),
    with_piece(currency="ZZZ"),
    with_piece(value="not a number", currency="EUR"),
    with_piece(origin_country=""),
    with_piece(origin_country="XX"),
    with_piece(hs_code=""),
    with_piece(hs_code="12"),
    with_piece(hs_code="771234"),
    with_piece(description=" Gift! "),
    ITEM._replace(category="GIFT", pieces=(PIECE._replace(hs_code="", origin_country=""),)),
]


@pytest.mark.parametrize("item", CLEAN_PATH_VARIANTS)
def test_check_item_equals_running_every_rule(item: ItemFacts) -> None:
    """check_item's clean-path shortcut never changes what the rules say."""
    try:
        expected: list[Finding] | type[Exception] = [
            finding for rule in RULES for finding in rule(item, locate)
        ] + vague_rule(item, locate)
    except ArithmeticError as exc:
        expected = type(exc)
    if isinstance(expected, list):
        assert check_item(item, locate) == expected
    else:
        with pytest.raises(expected):
            check_item(item, locate)
