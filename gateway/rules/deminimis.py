"""De minimis rules as data (schemas/codes/de-minimis.toml): which rule is in force, and whether
an item falls under it. Thresholds and dates live in the data file, each with its source."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from functools import cache
from pathlib import Path
from typing import Any

from gateway.errors import ConfigError
from gateway.rules.codes import CODES_DIR, is_country, is_currency

RULES_FILE = CODES_DIR / "de-minimis.toml"
CHANNELS = frozenset({"POST", "COURIER"})
_KEYS = frozenset(
    {"id", "country", "description", "currency", "threshold", "gift_threshold", "suspension",
     "channels", "origins", "valid_from", "valid_to", "source"}
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Rule:
    id: str
    country: str
    description: str
    currency: str
    threshold: Decimal
    gift_threshold: Decimal | None
    suspension: bool
    channels: frozenset[str]
    origins: frozenset[str]  # empty: any origin
    valid_from: date
    valid_to: date | None
    source: str

    def in_force(self, day: date) -> bool:
        return self.valid_from <= day and (self.valid_to is None or day <= self.valid_to)

    def covers(self, channel: str, origin: str | None) -> bool:
        return channel in self.channels and (not self.origins or origin in self.origins)


@dataclass(frozen=True, slots=True)
class Outcome:
    de_minimis: bool
    reason: str


@dataclass(frozen=True, slots=True)
class DeMinimisTable:
    rules: tuple[Rule, ...]

    def rule_in_force(
        self, country: str, day: date, channel: str = "POST", origin: str | None = None
    ) -> Rule | None:
        return next(
            (r for r in self.rules
             if r.country == country and r.in_force(day) and r.covers(channel, origin)),
            None,
        )  # fmt: skip

    def last_rule_before_suspension(
        self, country: str, day: date, channel: str = "POST", origin: str | None = None
    ) -> Rule | None:
        """Under a suspension: the last rule that applied before it (trend continuity)."""
        current = self.rule_in_force(country, day, channel, origin)
        if current is None or not current.suspension:
            return None
        earlier = [r for r in self.rules if r.country == country and not r.suspension
                   and r.covers(channel, origin) and r.valid_to is not None
                   and r.valid_to < current.valid_from]  # fmt: skip
        return max(earlier, key=lambda r: r.valid_from, default=None)


def outcome(rule: Rule, value: Decimal | None, category: str) -> Outcome:
    """Whether an item of `value` (in the rule's currency; None when unknown) falls under `rule`."""
    gift = category == "GIFT" and rule.gift_threshold is not None
    if rule.suspension and not gift:
        return Outcome(de_minimis=False, reason=f"{rule.id}: de minimis suspended")
    if value is None:
        return Outcome(de_minimis=False, reason="rate missing: value unknown")
    if gift and rule.gift_threshold is not None and value <= rule.gift_threshold:
        return Outcome(
            de_minimis=True, reason=f"bona fide gift <= {rule.gift_threshold} {rule.currency}"
        )
    if rule.suspension:
        return Outcome(
            de_minimis=False, reason=f"{rule.id}: gift over {rule.gift_threshold} {rule.currency}"
        )
    if value <= rule.threshold:
        return Outcome(de_minimis=True, reason=f"value <= {rule.threshold} {rule.currency}")
    return Outcome(de_minimis=False, reason=f"value > {rule.threshold} {rule.currency}")


def load_rules(path: Path) -> DeMinimisTable:
    """Read and check a rules file: ConfigError names the file, the rule and the fix."""
    try:
        raw: dict[str, Any] = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(str(path), "-", f"unreadable: {exc}", "a TOML rules file") from exc
    rules = tuple(_rule(path, i, r) for i, r in enumerate(raw.get("rules", [])))
    _check_overlaps(path, rules)
    return DeMinimisTable(rules)


def _rule(path: Path, i: int, r: dict[str, Any]) -> Rule:
    where = f"rules[{i}]"
    if unknown := set(r) - _KEYS:
        raise ConfigError(str(path), f"{where}.{min(unknown)}", "is not a rule key",
                          f"one of {sorted(_KEYS)}")  # fmt: skip
    for key in ("id", "country", "currency", "threshold", "valid_from", "source"):
        if key not in r:
            raise ConfigError(str(path), f"{where}.{key}", "is missing", "every rule cites it")
    if not is_country(r["country"]) or not is_currency(r["currency"]):
        raise ConfigError(str(path), where, "country or currency is not an ISO code")
    channels = frozenset(r.get("channels", ["POST", "COURIER"]))
    if not channels or channels - CHANNELS:
        raise ConfigError(str(path), f"{where}.channels", f"must be among {sorted(CHANNELS)}")
    valid_to = r.get("valid_to")
    if valid_to is not None and valid_to < r["valid_from"]:
        raise ConfigError(str(path), f"{where}.valid_to", "is before valid_from")
    return Rule(
        id=str(r["id"]), country=r["country"], description=str(r.get("description", "")),
        currency=r["currency"], threshold=_amount(path, f"{where}.threshold", r["threshold"]),
        gift_threshold=_amount(path, f"{where}.gift_threshold", r["gift_threshold"])
        if "gift_threshold" in r else None,
        suspension=bool(r.get("suspension", False)), channels=channels,
        origins=frozenset(r.get("origins", [])), valid_from=r["valid_from"], valid_to=valid_to,
        source=str(r["source"]),
    )  # fmt: skip


def _amount(path: Path, key: str, value: object) -> Decimal:
    try:
        amount = Decimal(str(value))
    except InvalidOperation as exc:
        raise ConfigError(str(path), key, f"{value!r} is not a decimal", 'e.g. "800"') from exc
    if not amount.is_finite() or amount < 0:
        raise ConfigError(str(path), key, f"{value!r} must be a non-negative amount")
    return amount


def _check_overlaps(path: Path, rules: tuple[Rule, ...]) -> None:
    """Two rules of one country may not both cover a channel and origin on the same day."""
    for i, a in enumerate(rules):
        for b in rules[i + 1 :]:
            if a.country != b.country or not (a.channels & b.channels):
                continue
            if a.origins and b.origins and not (a.origins & b.origins):
                continue
            if bool(a.origins) != bool(b.origins):
                continue  # a rule for some origins refines the general one
            a_end, b_end = a.valid_to or date.max, b.valid_to or date.max
            if a.valid_from <= b_end and b.valid_from <= a_end:
                raise ConfigError(str(path), f"rules.{b.id}", f"overlaps {a.id}",
                                  "end one rule's validity before the next begins")  # fmt: skip


@cache
def default_rules() -> DeMinimisTable:
    return load_rules(RULES_FILE)
