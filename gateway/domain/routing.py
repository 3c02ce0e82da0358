"""Routing rules: which journal records a consumer receives."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

from gateway.domain.decisions import EventEntry, EventKind
from gateway.domain.journal import JournalEntry


class Routed(Protocol):
    """What a rule selects on: a journal entry, or an event carrying its item's attributes."""

    @property
    def category(self) -> str: ...
    @property
    def partner(self) -> str: ...
    @property
    def hs_chapters(self) -> tuple[str, ...]: ...
    @property
    def origin_countries(self) -> tuple[str, ...]: ...
    @property
    def value_amount(self) -> Decimal: ...
    @property
    def value_currency(self) -> str: ...


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

    def matches(self, entry: Routed) -> bool:
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

    def takes_country(self, entry: Routed) -> bool:
        """Whether the rule takes items from the entry's countries and post: what a NO_AED
        event (an arrival with no item data) is routed by."""
        if self.partners and entry.partner not in self.partners:
            return False
        return not (
            self.origin_countries and self.origin_countries.isdisjoint(entry.origin_countries)
        )


@dataclass(frozen=True, slots=True)
class Consumer:
    name: str
    rule: RoutingRule
    may_decide: bool = False  # may report decisions on the item versions routed to it
    may_report_arrivals: bool = False  # the domestic post: may report arrivals

    def receives(self, entry: JournalEntry | EventEntry) -> bool:
        """Whether a feed record goes to this consumer: an entry or decision its rule matches,
        an answer addressed to it, a NO_AED event from countries its rule takes."""
        if isinstance(entry, EventEntry):
            if entry.addressee:
                return entry.addressee == self.name
            if entry.kind is EventKind.NO_AED:
                return self.rule.takes_country(entry)
        return self.rule.matches(entry)
