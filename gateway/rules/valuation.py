"""Valuation of an accepted item: its USD value and band, and its de minimis outcome under the
home country's rule in force on its posting day, plus the pre-suspension outcome (continuity)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date
from decimal import ROUND_HALF_EVEN, Decimal

from gateway.rules.bands import value_band
from gateway.rules.deminimis import DeMinimisTable, Rule, default_rules, outcome
from gateway.rules.rates import RateTable, default_rates
from gateway.wire.declaration_pb2 import Declaration, Valuation

__all__ = ["default_rates", "default_rules", "value_declaration", "valuer"]
CENTS = Decimal("0.01")
CHANNEL = "POST"  # every ITMATT item comes by post


def valuation_day(decl: Declaration, received_day: date) -> date:
    """The posting day (UTC) when the item states one, else the day it was received."""
    return decl.posted_at.ToDatetime(UTC).date() if decl.has_posted_at else received_day


def value_declaration(
    decl: Declaration,
    *,
    home_country: str,
    received_day: date,
    rates: RateTable,
    rules: DeMinimisTable,
) -> None:
    """Fill `decl.valuation`. A missing rate leaves value and band empty (rate_missing)."""
    day = valuation_day(decl, received_day)
    v: Valuation = decl.valuation
    v.Clear()
    v.home_country, v.valued_on = home_country, day.isoformat()
    money = decl.total_value
    rate = rates.usd_per_unit(money.currency, day)
    usd = None if rate is None else (Decimal(money.amount) * rate).quantize(CENTS, ROUND_HALF_EVEN)
    if usd is None:
        v.rate_missing = True
    else:
        v.value_usd, v.value_band = str(usd), value_band(usd)
        v.rate, v.rate_date = str(rate), day.isoformat()
    rule = rules.rule_in_force(home_country, day, CHANNEL)
    if rule is not None:
        v.rule_id = rule.id
        result = outcome(rule, _in(rule, decl, usd, rates, day), decl.category)
        v.de_minimis, v.reason = result.de_minimis, result.reason
    before = rules.last_rule_before_suspension(home_country, day, CHANNEL)
    if before is not None:
        v.pre_suspension_rule_id = before.id
        value = _in(before, decl, usd, rates, day)
        v.pre_suspension_de_minimis = outcome(before, value, decl.category).de_minimis


def _in(
    rule: Rule, decl: Declaration, usd: Decimal | None, rates: RateTable, day: date
) -> Decimal | None:
    """The item's value in the rule's currency: as declared when it is the same currency, else
    converted from USD at the day's rate of the rule's currency."""
    if decl.total_value.currency == rule.currency:
        return Decimal(decl.total_value.amount)
    if usd is None:
        return None
    per_unit = rates.usd_per_unit(rule.currency, day)
    return None if per_unit is None else usd / per_unit


def valuer(
    home_country: str, rates: RateTable | None = None, rules: DeMinimisTable | None = None
) -> Callable[[Declaration, date], None]:
    """The pipeline's valuation step with its tables bound (defaults: the shipped data)."""
    rate_table, rule_table = rates or default_rates(), rules or default_rules()

    def value(decl: Declaration, received_day: date) -> None:
        value_declaration(decl, home_country=home_country, received_day=received_day,
                          rates=rate_table, rules=rule_table)  # fmt: skip

    return value
