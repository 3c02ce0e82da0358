"""Valuation of an accepted item: its USD value and band, its de minimis outcome under the home
country's rule in force on its valuation day, and the outcome under the last rule before a
suspension (trend continuity). Pure: the rate and rule tables are handed in.

Currency choices:
- value_usd is totalValue x the day's USD-per-unit rate of its currency, rounded to the cent
  (ROUND_HALF_EVEN). The band is taken from that rounded figure.
- A rule stated in the item's own currency is compared with the declared amount itself, never a
  round trip through USD. A rule in another currency is compared with the *unrounded* USD value
  converted into the rule's currency at that day's rate, rounded to the cent (ROUND_HALF_EVEN): one
  rounding, in the currency the threshold is stated in, as a customs officer would value it.
- No rate for either currency on the day: the comparison value is unknown and the item falls
  under no threshold (reason "rate missing"); only a suspension decides without a value.
- Amounts have no upper bound on the wire: conversions run in a context wide enough for the
  operands (`_wide`), so a product is exact and rounding to the cent never overflows it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from decimal import MAX_EMAX, MIN_EMIN, ROUND_HALF_EVEN, Context, Decimal

from gateway.rules.bands import value_band
from gateway.rules.deminimis import DeMinimisTable, default_rules, outcome
from gateway.rules.rates import RateTable, default_rates
from gateway.wire.declaration_pb2 import Declaration, Valuation

__all__ = [
    "CHANNEL",
    "NO_RULE",
    "default_rates",
    "default_rules",
    "valuation_day",
    "value_declaration",
    "valuer",
]
CENTS = Decimal("0.01")
CHANNEL = "POST"  # every ITMATT item comes by post
NO_RULE = "no de minimis rule in force"
_UNIX_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
_MIN_ORDINAL, _MAX_ORDINAL = date.min.toordinal(), date.max.toordinal()
_SECONDS_PER_DAY = 86_400


def valuation_day(decl: Declaration, received_day: date) -> date:
    """The posting day (the UTC date of posted_at) when the item states one, else `received_day`.

    A posting instant whose UTC day is no date (before 0001-01-01 or after 9999-12-31: a local
    time at either end of xs:dateTime's years with a zone offset) is valued on `received_day`.
    """
    if not decl.has_posted_at:
        return received_day
    ordinal = _UNIX_EPOCH_ORDINAL + decl.posted_at.seconds // _SECONDS_PER_DAY
    if not _MIN_ORDINAL <= ordinal <= _MAX_ORDINAL:
        return received_day
    return date.fromordinal(ordinal)


def _wide(*numbers: Decimal) -> Context:
    """A context in which the product of `numbers` is exact and any quotient keeps 40 digits
    past its integer part, so quantizing either to the cent cannot exceed its precision."""
    digits = sum(len(format(abs(n), "f")) for n in numbers) + 40
    return Context(prec=digits, rounding=ROUND_HALF_EVEN, Emax=MAX_EMAX, Emin=MIN_EMIN)


def value_declaration(
    decl: Declaration,
    *,
    home_country: str,
    received_day: date,
    rates: RateTable,
    rules: DeMinimisTable,
) -> None:
    """Replace `decl.valuation` with every field filled for `home_country`'s rules (channel POST).

    A missing rate sets rate_missing and leaves value_usd, value_band, rate and rate_date empty.
    `decl.total_value.amount` must be a decimal string (the XSD guarantees it for accepted items).
    """
    day = valuation_day(decl, received_day)
    v = decl.valuation
    v.Clear()
    v.home_country, v.valued_on = home_country, day.isoformat()
    item = _Item(Decimal(decl.total_value.amount), decl.total_value.currency, day)
    rate = rates.usd_per_unit(item.currency, day)
    if rate is None:
        v.rate_missing = True
    else:
        context = _wide(item.amount, rate)
        item.usd = context.multiply(item.amount, rate)
        cents = item.usd.quantize(CENTS, ROUND_HALF_EVEN, context)
        v.value_usd, v.value_band = str(cents), value_band(cents)
        v.rate, v.rate_date = str(rate), v.valued_on
    _decide(v, item, decl.category, rates, rules)


def _decide(
    v: Valuation, item: _Item, category: str, rates: RateTable, rules: DeMinimisTable
) -> None:
    """The de minimis fields of `v`: under the rule in force, and the last one before it."""
    rule = rules.rule_in_force(v.home_country, item.day, CHANNEL)
    if rule is None:
        v.reason = NO_RULE
        return
    now = outcome(rule, item.value_in(rule.currency, rates), category)
    v.rule_id, v.de_minimis, v.reason = rule.id, now.de_minimis, now.reason
    before = rules.rule_before(rule, CHANNEL)
    if before is not None:
        then = outcome(before, item.value_in(before.currency, rates), category)
        v.pre_suspension_rule_id, v.pre_suspension_de_minimis = before.id, then.de_minimis


@dataclass(slots=True)
class _Item:
    """The declared value of one item on its valuation day; `usd` unrounded, None without rate."""

    amount: Decimal
    currency: str
    day: date
    usd: Decimal | None = None

    def value_in(self, currency: str, rates: RateTable) -> Decimal | None:
        """The value in `currency` (module docstring); None when it cannot be known."""
        if currency == self.currency:
            return self.amount
        if self.usd is None:
            return None
        per_unit = rates.usd_per_unit(currency, self.day)
        if per_unit is None:
            return None
        context = _wide(self.usd, per_unit)
        return context.divide(self.usd, per_unit).quantize(CENTS, ROUND_HALF_EVEN, context)


def valuer(
    home_country: str, rates: RateTable | None = None, rules: DeMinimisTable | None = None
) -> Callable[[Declaration, date], None]:
    """The pipeline's valuation step with its tables bound (defaults: the shipped data)."""
    rate_table = default_rates() if rates is None else rates
    rule_table = default_rules() if rules is None else rules

    def value(decl: Declaration, received_day: date) -> None:
        value_declaration(decl, home_country=home_country, received_day=received_day,
                          rates=rate_table, rules=rule_table)  # fmt: skip

    return value
