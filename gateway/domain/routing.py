"""Routing rules: which journal records a consumer receives."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from gateway.domain.journal import JournalEntry


@dataclass(frozen=True, slots=True)
class RoutingRule:
    """Every non-empty criterion must hold; within one criterion any listed value matches.

    An empty rule selects every record. `origin_countries` matches the sender's country or any
    piece's origin country. `min_value` compares the item's totalValue when it is stated in
    `min_value_currency`; an item in another currency is routed (a screening consumer sees more,
    never less, until a rates table converts it).
    """

    categories: frozenset[str] = frozenset()
    hs_chapters: frozenset[str] = frozenset()
    origin_countries: frozenset[str] = frozenset()
    partners: frozenset[str] = frozenset()
    min_value: Decimal | None = None
    min_value_currency: str = "USD"

    def matches(self, entry: JournalEntry) -> bool:
        if self.categories and entry.category not in self.categories:
            return False
        if self.partners and entry.partner not in self.partners:
            return False
        if self.hs_chapters and self.hs_chapters.isdisjoint(entry.hs_chapters):
            return False
        if self.origin_countries and self.origin_countries.isdisjoint(entry.origin_countries):
            return False
        return not (
            self.min_value is not None
            and entry.value_currency == self.min_value_currency
            and entry.value_amount < self.min_value
        )


@dataclass(frozen=True, slots=True)
class Consumer:
    name: str
    rule: RoutingRule
