"""Sample ITMATT 1.5 documents for the demo, the tests and the benchmarks.

`generate_items` draws realistic, varied items from a seeded `random.Random`; every `bad_every`-th
item carries one known defect and names, in `ItemSpec.expect`, the error codes the gateway must
answer with. `build_itmatt` writes the document (docs/itmatt.md element order) as UTF-8 bytes.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from decimal import Decimal
from html import escape

from gateway.rules.s10 import check_digit

NAMESPACE = "urn:aedgw:itmatt:1.5"


@dataclass(frozen=True, slots=True)
class PieceSpec:
    """One `contents/piece`. `currency` None means the item's currency."""

    description: str = "Wool knitted scarf"
    quantity: str = "1"
    unit: str = "PCE"
    net_weight: str = "0.500"
    value: str = "20.00"
    currency: str | None = None
    hs_code: str | None = "6117.10"
    origin: str | None = "GB"


@dataclass(frozen=True, slots=True)
class ItemSpec:
    """One `item`. `total_value` None means the sum of the pieces' values.

    `expect` holds the error codes the gateway must report for this item (empty: accepted).
    """

    item_id: str
    category: str = "SALE_OF_GOODS"
    mail_class: str = "C"
    function: str | None = None
    version: int | None = None
    category_explanation: str | None = None
    posted_at: str | None = "2026-11-26T17:02:00Z"
    gross_weight: str = "1.000"
    currency: str = "GBP"
    total_value: str | None = None
    sender_name: str = "Ellen Marsh"
    sender_country: str = "GB"
    sender_city: str = "Leeds"
    addressee_name: str = "Jordan Reyes"
    addressee_country: str = "US"
    addressee_city: str = "Denver"
    pieces: tuple[PieceSpec, ...] = (PieceSpec(),)
    expect: frozenset[str] = field(default_factory=frozenset)

    def total(self) -> str:
        """totalValue as sent: the stated one, else the sum of the pieces (2 decimals)."""
        if self.total_value is not None:
            return self.total_value
        return f"{sum((Decimal(p.value) for p in self.pieces), Decimal(0)):.2f}"


def valid_s10(prefix: str, serial: int | str, country: str) -> str:
    """A valid S10 id: `prefix` (2 letters) + 8-digit serial + check digit + `country`."""
    digits = f"{int(serial):08d}"
    return f"{prefix}{digits}{check_digit(digits)}{country}"


def build_itmatt(
    message_id: str,
    sender: str,
    items: Iterable[ItemSpec],
    *,
    recipient: str = "USA",
    prepared_at: str = "2026-11-27T09:15:00Z",
    test: bool = False,
) -> bytes:
    """An ITMATT 1.5 document holding `items`, UTF-8 encoded, one element a line."""
    parts = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<message xmlns="{NAMESPACE}">',
        "  <msgheader>",
        _leaf("messageId", message_id, 4),
        _leaf("sender", sender, 4),
        _leaf("recipient", recipient, 4),
        _leaf("preparedAt", prepared_at, 4),
    ]
    if test:
        parts.append(_leaf("test", "true", 4))
    parts += ["  </msgheader>", "  <msgbody>", "    <itmatt_1_5_0>"]
    for item in items:
        parts.extend(_item_lines(item))
    parts += ["    </itmatt_1_5_0>", "  </msgbody>", "</message>", ""]
    return "\n".join(parts).encode("utf-8")


def _leaf(name: str, text: str, indent: int, **attributes: str) -> str:
    attrs = "".join(f' {key}="{escape(value)}"' for key, value in attributes.items())
    return f"{' ' * indent}<{name}{attrs}>{escape(text, quote=False)}</{name}>"


def _item_lines(item: ItemSpec) -> Iterator[str]:
    yield "      <item>"
    yield _leaf("itemId", item.item_id, 8)
    if item.function is not None:
        yield _leaf("function", item.function, 8)
    if item.version is not None:
        yield _leaf("version", str(item.version), 8)
    yield _leaf("mailClass", item.mail_class, 8)
    yield _leaf("category", item.category, 8)
    if item.category_explanation is not None:
        yield _leaf("categoryExplanation", item.category_explanation, 8)
    if item.posted_at is not None:
        yield _leaf("postedAt", item.posted_at, 8)
    yield _leaf("grossWeight", item.gross_weight, 8)
    yield _leaf("totalValue", item.total(), 8, currency=item.currency)
    yield from _party("sender", item.sender_name, item.sender_city, item.sender_country)
    yield from _party("addressee", item.addressee_name, item.addressee_city, item.addressee_country)
    yield "        <contents>"
    for piece in item.pieces:
        yield from _piece_lines(piece, item.currency)
    yield "        </contents>"
    yield "      </item>"


def _party(role: str, name: str, city: str, country: str) -> Iterator[str]:
    yield f"        <{role}>"
    yield _leaf("name", name, 10)
    yield "          <address>"
    yield _leaf("line", "12 High Street", 12)
    yield _leaf("city", city, 12)
    yield _leaf("countryCode", country, 12)
    yield "          </address>"
    yield f"        </{role}>"


def _piece_lines(piece: PieceSpec, currency: str) -> Iterator[str]:
    yield "          <piece>"
    yield _leaf("description", piece.description, 12)
    yield _leaf("quantity", piece.quantity, 12, unit=piece.unit)
    yield _leaf("netWeight", piece.net_weight, 12)
    yield _leaf("value", piece.value, 12, currency=piece.currency or currency)
    if piece.hs_code is not None:
        yield _leaf("hsCode", piece.hs_code, 12)
    if piece.origin is not None:
        yield _leaf("originCountry", piece.origin, 12)
    yield "          </piece>"


# -- generation ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Goods:
    description: str
    hs_code: str
    unit: str
    value_range: tuple[int, int]  # cents
    weight_range: tuple[int, int]  # grams


_CATALOGUE = (
    _Goods("Wool knitted scarf", "6117.10", "PCE", (1500, 6000), (150, 400)),
    _Goods("Cotton T-shirt, men's", "6109.10.00", "PCE", (800, 3500), (150, 300)),
    _Goods("Leather handbag", "4202.21", "PCE", (4000, 30000), (500, 1500)),
    _Goods("Running shoes, textile upper", "6404.11", "PR", (3000, 15000), (500, 1100)),
    _Goods("Smartphone protective case, silicone", "3926.90", "PCE", (300, 2500), (30, 90)),
    _Goods("Bluetooth headphones", "8518.30", "PCE", (1500, 20000), (150, 400)),
    _Goods("Paperback novel", "4901.99", "PCE", (500, 2500), (200, 600)),
    _Goods("Green tea, loose leaf", "0902.10", "KGM", (500, 4000), (100, 1000)),
    _Goods("Ceramic coffee mug", "6912.00", "PCE", (600, 3000), (300, 500)),
    _Goods("Stainless steel kitchen knife", "8211.91", "PCE", (1500, 12000), (150, 400)),
    _Goods("Children's wooden puzzle", "9503.00.61", "PCE", (800, 4000), (200, 700)),
    _Goods("Silver ring with zirconia", "7113.11", "PCE", (2000, 25000), (5, 30)),
    _Goods("Vitamin D3 tablets", "2106.90", "PCE", (500, 3000), (50, 200)),
    _Goods("USB-C charging cable", "8544.42", "PCE", (300, 2000), (30, 100)),
    _Goods("Acrylic paint set", "3213.10", "PCE", (1000, 6000), (300, 900)),
)

_CURRENCIES = {
    "GB": "GBP",
    "DE": "EUR",
    "FR": "EUR",
    "CN": "CNY",
    "JP": "JPY",
    "CA": "CAD",
    "AU": "AUD",
    "IN": "INR",
    "KR": "KRW",
    "CH": "CHF",
    "SE": "SEK",
    "BR": "BRL",
}
_CITIES = {
    "GB": "Leeds",
    "DE": "Köln",
    "FR": "Lyon",
    "CN": "Shenzhen",
    "JP": "Ōsaka",
    "CA": "Montréal",
    "AU": "Perth",
    "IN": "Pune",
    "KR": "Busan",
    "CH": "Zürich",
    "SE": "Göteborg",
    "BR": "São Paulo",
}
_ORIGINS = ("CN", "VN", "IT", "TR", "BD", "IN", "DE", "US", "PT", "MX")
_US_CITIES = ("Denver", "Austin", "Columbus", "Portland", "Tampa", "Omaha", "Boise")
_NAMES = (
    "Ellen Marsh",
    "Chen Wei",
    "Anna Schmidt",
    "Jean Dupont",
    "Sato Yui",
    "Priya Nair",
    "Jordan Reyes",
    "Maria Garcia",
    "Sam O'Neill",
    "Li Na & Co",
)
_SERVICE_INDICATORS = ("RR", "RB", "RX", "EE", "EA", "CP", "CX", "LX", "LY", "UA", "UM")
_CATEGORIES = ("SALE_OF_GOODS",) * 6 + (
    "GIFT",
    "GIFT",
    "COMMERCIAL_SAMPLE",
    "DOCUMENTS",
    "RETURNED_GOODS",
    "OTHER",
)
_DEFECTS = ("S10_CHECK_DIGIT", "HS_REQUIRED", "WEIGHT_SUM_EXCEEDS_GROSS", "CURRENCY_UNKNOWN")
_MAIL_CLASS = {"DOCUMENTS": "U"}


def generate_items(
    rng: random.Random, n: int, *, sender_country: str, bad_every: int = 0
) -> list[ItemSpec]:
    """`n` varied items with distinct S10 ids from `sender_country`.

    With `bad_every` > 0, items bad_every, 2·bad_every, … (1-based) each carry one defect in
    turn: a wrong S10 check digit, a SALE_OF_GOODS piece without hsCode, pieces heavier than
    grossWeight, an unknown currency; `expect` names the error code. The others are accepted
    without any finding.
    """
    serials = rng.sample(range(10**8), n)
    items: list[ItemSpec] = []
    for position, serial in enumerate(serials, 1):
        item = _random_item(rng, serial, sender_country)
        if bad_every and position % bad_every == 0:
            item = _spoil(item, _DEFECTS[(position // bad_every - 1) % len(_DEFECTS)])
        items.append(item)
    return items


def _random_item(rng: random.Random, serial: int, country: str) -> ItemSpec:
    category = rng.choice(_CATEGORIES)
    currency = _CURRENCIES.get(country, "USD") if rng.random() < 0.8 else "USD"
    pieces = _random_pieces(rng, category, country)
    net = sum((Decimal(p.net_weight) for p in pieces), Decimal(0))
    packaging = Decimal(rng.randint(20, 400)) / 1000
    prefix = "EE" if category == "DOCUMENTS" else rng.choice(_SERVICE_INDICATORS)
    return ItemSpec(
        item_id=valid_s10(prefix, serial, country),
        category=category,
        mail_class=_MAIL_CLASS.get(category, rng.choice("CCCE")),
        category_explanation="Handmade items for an exhibition" if category == "OTHER" else None,
        posted_at=f"2026-11-{rng.randint(20, 26):02d}T{rng.randint(0, 23):02d}:"
        f"{rng.randint(0, 59):02d}:00Z",
        gross_weight=f"{net + packaging:.3f}",
        currency=currency,
        sender_name=rng.choice(_NAMES),
        sender_country=country,
        sender_city=_CITIES.get(country, "Capital"),
        addressee_name=rng.choice(_NAMES),
        addressee_city=rng.choice(_US_CITIES),
        pieces=pieces,
    )


def _random_pieces(rng: random.Random, category: str, country: str) -> tuple[PieceSpec, ...]:
    if category == "DOCUMENTS":
        return (PieceSpec("Signed contract papers", "1", "PCE", "0.120", "0.00", None, None, None),)
    commercial = category in ("SALE_OF_GOODS", "COMMERCIAL_SAMPLE")
    pieces = []
    for _ in range(rng.choice((1, 1, 1, 2, 2, 3, 5))):
        goods = rng.choice(_CATALOGUE)
        quantity = rng.randint(1, 4)
        pieces.append(
            PieceSpec(
                description=goods.description,
                quantity=str(quantity),
                unit=goods.unit,
                net_weight=f"{Decimal(rng.randint(*goods.weight_range) * quantity) / 1000:.3f}",
                value=f"{Decimal(rng.randint(*goods.value_range) * quantity) / 100:.2f}",
                hs_code=goods.hs_code if commercial or rng.random() < 0.5 else None,
                origin=(country if rng.random() < 0.6 else rng.choice(_ORIGINS))
                if commercial or rng.random() < 0.5
                else None,
            )
        )
    return tuple(pieces)


def _spoil(item: ItemSpec, defect: str) -> ItemSpec:
    expect = frozenset({defect})
    if defect == "S10_CHECK_DIGIT":
        wrong = (int(item.item_id[10]) + 1) % 10
        item_id = f"{item.item_id[:10]}{wrong}{item.item_id[11:]}"
        return replace(item, item_id=item_id, expect=expect)
    if defect == "HS_REQUIRED":
        pieces = tuple(
            replace(p, hs_code=(p.hs_code or "4901.99") if i else None, origin=p.origin or "CN")
            for i, p in enumerate(item.pieces)
        )
        return replace(
            item, category="SALE_OF_GOODS", category_explanation=None, pieces=pieces, expect=expect
        )
    if defect == "WEIGHT_SUM_EXCEEDS_GROSS":
        first, *rest = item.pieces
        heavier = replace(first, net_weight=f"{Decimal(first.net_weight) + 1:.3f}")
        return replace(item, pieces=(heavier, *rest), expect=expect)
    pieces = tuple(replace(p, currency=None) for p in item.pieces)
    return replace(item, currency="ZZZ", pieces=pieces, expect=expect)
