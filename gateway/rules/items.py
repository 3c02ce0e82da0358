"""The business rules of one item (docs/itmatt.md, "What the gateway checks, and its answers").

Each rule is a pure function of an `ItemFacts` (the values of one item the rules read, as plain
strings) and a `Locate` callable, and returns its findings. A format builds the facts while it
translates (`facts_of` derives them from a finished Declaration instead). Rules name places by
ITMATT-relative paths (`contents/piece[2]/hsCode`, `totalValue/@currency`): the ITMATT element
names are the vocabulary of every format, and each format's `Locate` turns such a path into its
own full path and source line. Rules call `Locate` only when they report.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import replace
from decimal import MAX_EMAX, MAX_PREC, MIN_EMIN, Context, Decimal
from typing import NamedTuple

from gateway.domain.findings import Finding, error, warning
from gateway.rules.codes import countries, currencies
from gateway.rules.s10 import check_s10
from gateway.rules.vague import default_terms, normalise
from gateway.wire.declaration_pb2 import Declaration

Locate = Callable[[str], tuple[str, int | None]]
"""ITMATT-relative path -> (full path, source line)."""

ITMATT_ITEMS_PATH = "/message/msgbody/itmatt_1_5_0"

COMMERCIAL_CATEGORIES = frozenset({"SALE_OF_GOODS", "COMMERCIAL_SAMPLE"})
RESERVED_HS_CHAPTERS = frozenset({"00", "77"})

# Sums of wire decimals are exact: no rounding whatever the number of digits.
_EXACT = Context(prec=MAX_PREC, Emax=MAX_EMAX, Emin=MIN_EMIN)


class PieceFacts(NamedTuple):
    """One piece as the rules see it: decimals as strings, absent values as ""."""

    description: str
    net_weight: str
    value: str
    currency: str
    hs_code: str  # digits only
    origin_country: str


class ItemFacts(NamedTuple):
    """One item as the rules see it. `charges_currency` is None without postalCharges."""

    item_id: str
    category: str
    category_explanation: str
    gross_weight: str
    total_value: str
    currency: str
    charges_currency: str | None
    sender_country: str
    addressee_country: str
    pieces: tuple[PieceFacts, ...]


Rule = Callable[[ItemFacts, Locate], list[Finding]]


def facts_of(decl: Declaration) -> ItemFacts:
    """The facts of a canonical Declaration."""
    return ItemFacts(
        item_id=decl.item_id,
        category=decl.category,
        category_explanation=decl.category_explanation,
        gross_weight=decl.gross_weight_kg,
        total_value=decl.total_value.amount,
        currency=decl.total_value.currency,
        charges_currency=(
            decl.postal_charges.currency if decl.HasField("postal_charges") else None
        ),
        sender_country=decl.sender.address.country_code,
        addressee_country=decl.addressee.address.country_code,
        pieces=tuple(
            PieceFacts(
                p.description,
                p.net_weight_kg,
                p.value.amount,
                p.value.currency,
                p.hs_code,
                p.origin_country,
            )
            for p in decl.pieces
        ),
    )


def item_path(index: int) -> str:
    """The full path of the `index`-th (1-based) item of an ITMATT message."""
    return f"{ITMATT_ITEMS_PATH}/item[{index}]"


def piece_path(index: int, leaf: str = "") -> str:
    """The item-relative path of the `index`-th (0-based) piece, or of one of its elements."""
    base = f"contents/piece[{index + 1}]"
    return f"{base}/{leaf}" if leaf else base


def s10_rule(item: ItemFacts, locate: Locate) -> list[Finding]:
    """S10_FORMAT, S10_CHECK_DIGIT, S10_COUNTRY (errors), S10_DOMESTIC_RANGE (warning)."""
    found = check_s10(item.item_id)
    if not found:
        return found
    path, line = locate("itemId")
    return [replace(finding, path=path, line=line) for finding in found]


def country_rule(item: ItemFacts, locate: Locate) -> list[Finding]:
    """COUNTRY_UNKNOWN: a countryCode or originCountry that is no assigned ISO 3166-1 code."""
    known = countries()
    found = [
        error(
            "COUNTRY_UNKNOWN",
            f"{role} countryCode {code!r} is not an ISO 3166-1 alpha-2 code",
            *locate(f"{role}/address/countryCode"),
        )
        for role, code in (("sender", item.sender_country), ("addressee", item.addressee_country))
        if code not in known
    ]
    found.extend(
        error(
            "COUNTRY_UNKNOWN",
            f"originCountry {piece.origin_country!r} is not an ISO 3166-1 alpha-2 code",
            *locate(piece_path(index, "originCountry")),
        )
        for index, piece in enumerate(item.pieces)
        if piece.origin_country and piece.origin_country not in known
    )
    return found


def currency_rule(item: ItemFacts, locate: Locate) -> list[Finding]:
    """CURRENCY_UNKNOWN: a currency attribute that is no active ISO 4217 code."""
    amounts = [("totalValue", item.currency)]
    if item.charges_currency is not None:
        amounts.append(("postalCharges", item.charges_currency))
    amounts.extend(
        (piece_path(index, "value"), piece.currency) for index, piece in enumerate(item.pieces)
    )
    known = currencies()
    return [
        error(
            "CURRENCY_UNKNOWN",
            f"currency {code!r} is not an active ISO 4217 code",
            *locate(f"{relpath}/@currency"),
        )
        for relpath, code in amounts
        if code not in known
    ]


def currency_mixed_rule(item: ItemFacts, locate: Locate) -> list[Finding]:
    """CURRENCY_MIXED: a piece valued in another currency than totalValue."""
    return [
        warning(
            "CURRENCY_MIXED",
            f"piece {index + 1} is valued in {piece.currency}, totalValue in {item.currency}",
            *locate(piece_path(index, "value/@currency")),
        )
        for index, piece in enumerate(item.pieces)
        if piece.currency != item.currency
    ]


def value_sum_rule(item: ItemFacts, locate: Locate) -> list[Finding]:
    """VALUE_SUM_MISMATCH: Σ piece value differs from totalValue by more than 1%.

    Only when every piece is in the currency of totalValue (otherwise CURRENCY_MIXED speaks).
    """
    if any(piece.currency != item.currency for piece in item.pieces):
        return []
    mismatch = _value_mismatch(item)
    if mismatch is None:
        return []
    pieces, total = mismatch
    return [
        warning(
            "VALUE_SUM_MISMATCH",
            f"the pieces are worth {pieces} {item.currency}, "
            f"totalValue says {total} {item.currency}",
            *locate("totalValue"),
        )
    ]


def _value_mismatch(item: ItemFacts) -> tuple[Decimal, Decimal] | None:
    """(Σ piece value, totalValue) when they differ by more than 1% of totalValue, else None."""
    total = Decimal(item.total_value)
    pieces = _sum(piece.value for piece in item.pieces)
    if _EXACT.multiply(abs(_EXACT.subtract(pieces, total)), Decimal(100)) <= total:
        return None
    return pieces, total


def weight_sum_rule(item: ItemFacts, locate: Locate) -> list[Finding]:
    """WEIGHT_SUM_EXCEEDS_GROSS: Σ piece netWeight > grossWeight."""
    excess = _weight_excess(item)
    if excess is None:
        return []
    net, gross = excess
    return [
        error(
            "WEIGHT_SUM_EXCEEDS_GROSS",
            f"the pieces weigh {net} kg net, more than the grossWeight of {gross} kg",
            *locate("grossWeight"),
        )
    ]


def _weight_excess(item: ItemFacts) -> tuple[Decimal, Decimal] | None:
    """(Σ piece netWeight, grossWeight) when the pieces weigh more than the item, else None."""
    gross = Decimal(item.gross_weight)
    net = _sum(piece.net_weight for piece in item.pieces)
    return None if net <= gross else (net, gross)


def hs_required_rule(item: ItemFacts, locate: Locate) -> list[Finding]:
    """HS_REQUIRED: a commercial item with a piece that has no hsCode."""
    if item.category not in COMMERCIAL_CATEGORIES:
        return []
    return [
        error(
            "HS_REQUIRED",
            f"category {item.category} needs a 6- to 10-digit hsCode on every piece; "
            f"piece {index + 1} has none",
            *locate(piece_path(index)),
        )
        for index, piece in enumerate(item.pieces)
        if not piece.hs_code
    ]


def hs_problem(code: str) -> str | None:
    """Why a digits-only HS code is refused (HS_FORMAT), or None when it is acceptable."""
    if not (code.isascii() and code.isdigit() and 6 <= len(code) <= 10):
        return "is not 6 to 10 digits"
    if code[:2] in RESERVED_HS_CHAPTERS:
        return f"is in chapter {code[:2]}, which the HS does not use"
    return None


def hs_format_rule(item: ItemFacts, locate: Locate) -> list[Finding]:
    """HS_FORMAT: an hsCode that is not 6 to 10 digits, or is in chapter 00 or 77 (reserved)."""
    found = []
    for index, piece in enumerate(item.pieces):
        problem = hs_problem(piece.hs_code) if piece.hs_code else None
        if problem is not None:
            found.append(
                error(
                    "HS_FORMAT",
                    f"hsCode {piece.hs_code!r} {problem}",
                    *locate(piece_path(index, "hsCode")),
                )
            )
    return found


def origin_required_rule(item: ItemFacts, locate: Locate) -> list[Finding]:
    """ORIGIN_REQUIRED: a commercial item with a piece that has no originCountry."""
    if item.category not in COMMERCIAL_CATEGORIES:
        return []
    return [
        error(
            "ORIGIN_REQUIRED",
            f"category {item.category} needs an originCountry on every piece; "
            f"piece {index + 1} has none",
            *locate(piece_path(index)),
        )
        for index, piece in enumerate(item.pieces)
        if not piece.origin_country
    ]


def explanation_rule(item: ItemFacts, locate: Locate) -> list[Finding]:
    """EXPLANATION_REQUIRED: category OTHER without a categoryExplanation."""
    if item.category != "OTHER" or item.category_explanation.strip():
        return []
    return [
        error(
            "EXPLANATION_REQUIRED",
            "category OTHER needs a categoryExplanation",
            *locate("category"),
        )
    ]


def vague_rule(
    item: ItemFacts, locate: Locate, terms: frozenset[str] | None = None
) -> list[Finding]:
    """DESCRIPTION_VAGUE: a piece described only by a vague term (`terms`, default list)."""
    vague = default_terms() if terms is None else terms
    return [
        warning(
            "DESCRIPTION_VAGUE",
            f"description {piece.description!r} is too vague for customs; "
            "say what the goods are and what they are made of",
            *locate(piece_path(index, "description")),
        )
        for index, piece in enumerate(item.pieces)
        if normalise(piece.description) in vague
    ]


RULES: tuple[Rule, ...] = (
    s10_rule,
    country_rule,
    currency_rule,
    currency_mixed_rule,
    value_sum_rule,
    weight_sum_rule,
    hs_required_rule,
    hs_format_rule,
    origin_required_rule,
    explanation_rule,
)


def check_item(
    item: ItemFacts, locate: Locate, *, vague_terms: frozenset[str] | None = None
) -> list[Finding]:
    """Every business rule of one item, in the order of RULES, then DESCRIPTION_VAGUE."""
    vague = default_terms() if vague_terms is None else vague_terms
    if _is_clean(item, vague):
        return []
    findings: list[Finding] = []
    for rule in RULES:
        findings += rule(item, locate)
    findings += vague_rule(item, locate, vague)
    return findings


def _is_clean(item: ItemFacts, vague: frozenset[str]) -> bool:
    """True exactly when no rule of `check_item` has a finding: the common case, in one pass.

    When this is False (or cannot tell: a decimal that does not parse) the rules themselves
    run, so they alone word, place and order the findings.
    """
    known_countries = countries()
    currency = item.currency
    if (
        check_s10(item.item_id)
        or item.sender_country not in known_countries
        or item.addressee_country not in known_countries
        or currency not in currencies()
        or (item.charges_currency is not None and item.charges_currency not in currencies())
        or (item.category == "OTHER" and not item.category_explanation.strip())
    ):
        return False
    commercial = item.category in COMMERCIAL_CATEGORIES
    if not all(
        _piece_is_clean(piece, currency, vague, commercial=commercial) for piece in item.pieces
    ):
        return False
    try:
        return _value_mismatch(item) is None and _weight_excess(item) is None
    except ArithmeticError:  # decimal.InvalidOperation: let the rules raise it in their order
        return False


def _piece_is_clean(
    piece: PieceFacts, currency: str, vague: frozenset[str], *, commercial: bool
) -> bool:
    """No piece-level finding; `currency` is totalValue's, already known to be valid."""
    return (
        piece.currency == currency  # neither CURRENCY_MIXED nor CURRENCY_UNKNOWN
        and (piece.origin_country in countries() if piece.origin_country else not commercial)
        and (hs_problem(piece.hs_code) is None if piece.hs_code else not commercial)
        and normalise(piece.description) not in vague
    )


def _sum(amounts: Iterable[str]) -> Decimal:
    total = Decimal(0)
    for amount in amounts:
        total = _EXACT.add(total, Decimal(amount))
    return total
