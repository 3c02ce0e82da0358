"""De minimis rules as data (schemas/codes/de-minimis.toml): which rule is in force, and whether
an item falls under it. Thresholds and dates live in the data file, each rule with its source; the
file's header describes its keys.

    table = default_rules()                     # or load_rules(path)
    rule = table.rule_in_force("US", day, "POST")
    outcome(rule, value_in_rule_currency, category) -> Outcome(de_minimis, reason)
    table.last_rule_before_suspension("US", day)   # the 800 USD rule, for trend continuity

`de_minimis` means the item is free of customs duty under the rule (proto `Valuation.de_minimis`);
the reason says whether taxes are waived too where the rule distinguishes.
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from functools import cache
from pathlib import Path
from typing import Any

from gateway.errors import ConfigError
from gateway.rules.codes import CODES_DIR, is_country, is_currency

RULES_FILE = CODES_DIR / "de-minimis.toml"
ANY = "ANY"
CHANNELS = frozenset({"POST", "COURIER", ANY})
RATE_MISSING = "rate missing"
_KEYS = frozenset(
    {"id", "country", "description", "currency", "threshold", "tax_threshold", "gift_threshold",
     "suspension", "channel", "origins", "valid_from", "valid_to", "source"}
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Rule:
    """One row of the table: amounts in `currency`, dates inclusive, valid_to None = open."""

    id: str
    country: str
    description: str
    currency: str
    threshold: Decimal | None  # None only on a suspension
    tax_threshold: Decimal | None
    gift_threshold: Decimal | None
    suspension: bool
    channel: str  # POST | COURIER | ANY
    origins: frozenset[str]  # empty: goods shipped from any country
    valid_from: date
    valid_to: date | None
    source: str
    verdicts: _Verdicts = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "verdicts", _Verdicts.of(self))

    def in_force(self, day: date) -> bool:
        return self.valid_from <= day and (self.valid_to is None or day <= self.valid_to)

    def covers(self, channel: str, origin: str | None) -> bool:
        """The rule applies to goods by `channel` shipped from `origin` (None: not stated)."""
        return self.channel in (ANY, channel) and (not self.origins or origin in self.origins)


@dataclass(frozen=True, slots=True)
class Outcome:
    de_minimis: bool
    reason: str


UNKNOWN_VALUE = Outcome(de_minimis=False, reason=RATE_MISSING)


@dataclass(frozen=True, slots=True)
class _Verdicts:
    """Every outcome a rule can give, built once with the rule (`outcome` runs per item)."""

    suspended: Outcome
    gift_free: Outcome
    gift_over: Outcome
    tax_free: Outcome
    duty_free: Outcome
    over: Outcome

    @classmethod
    def of(cls, rule: Rule) -> _Verdicts:
        cur, gift, tax = rule.currency, rule.gift_threshold, rule.tax_threshold
        taxes = "" if tax is None else ": duty free, taxes due"
        return cls(
            suspended=_no(f"de minimis suspended ({rule.id})"),
            gift_free=_yes(f"bona fide gift <= {gift} {cur}"),
            gift_over=_no(f"gift over {gift} {cur}; de minimis suspended ({rule.id})"),
            tax_free=_yes(f"value <= {tax} {cur}: duty and tax free"),
            duty_free=_yes(f"value <= {rule.threshold} {cur}{taxes}"),
            over=_no(f"value > {rule.threshold} {cur}"),
        )


@dataclass(frozen=True, slots=True)
class DeMinimisTable:
    """The rules of a file, checked: no two rules of a country meet on a day (see `load_rules`)."""

    rules: tuple[Rule, ...]
    source_file: str = ""
    # per country, origin-specific rules first so that they take precedence over general ones
    _by_country: dict[str, tuple[Rule, ...]] = field(init=False, repr=False, compare=False)
    # memo of rule_before: pure in the (immutable) rules, so filling it concurrently is harmless
    _before: dict[tuple[str, str, str | None], Rule | None] = field(
        init=False, repr=False, compare=False, default_factory=dict
    )

    def __post_init__(self) -> None:
        by_country: dict[str, list[Rule]] = {}
        for rule in sorted(self.rules, key=lambda r: not r.origins):
            by_country.setdefault(rule.country, []).append(rule)
        object.__setattr__(self, "_by_country", {c: tuple(r) for c, r in by_country.items()})

    def rule_in_force(
        self, country: str, day: date, channel: str = "POST", origin: str | None = None
    ) -> Rule | None:
        """The rule of `country` in force on `day` for goods by `channel` from `origin`, or None
        when the table has none (e.g. before the first recorded rule)."""
        for rule in self._by_country.get(country, ()):
            if rule.in_force(day) and rule.covers(channel, origin):
                return rule
        return None

    def last_rule_before_suspension(
        self, country: str, day: date, channel: str = "POST", origin: str | None = None
    ) -> Rule | None:
        """When the rule in force on `day` is a suspension: the last non-suspension rule that
        covered the same goods before it began (trend continuity). Otherwise None."""
        current = self.rule_in_force(country, day, channel, origin)
        return None if current is None else self.rule_before(current, channel, origin)

    def rule_before(
        self, suspension: Rule, channel: str = "POST", origin: str | None = None
    ) -> Rule | None:
        """The last non-suspension rule of `suspension`'s country that covered goods by
        `channel` from `origin` and ended before `suspension` began; None when `suspension` is
        not a suspension or no such rule exists."""
        key = (suspension.id, channel, origin)
        if key not in self._before:
            self._before[key] = (
                self._find_before(suspension, channel, origin) if suspension.suspension else None
            )
        return self._before[key]

    def _find_before(self, suspension: Rule, channel: str, origin: str | None) -> Rule | None:
        return max(
            (r for r in self._by_country[suspension.country]
             if not r.suspension and r.covers(channel, origin)
             and r.valid_to is not None and r.valid_to < suspension.valid_from),
            key=lambda r: r.valid_from,
            default=None,
        )  # fmt: skip


def outcome(rule: Rule, value: Decimal | None, category: str) -> Outcome:
    """Whether an item of `value` (in `rule.currency`; None when it could not be converted) and
    ITMATT `category` falls under `rule`. An unknown value never qualifies: reason "rate missing",
    except where no value is needed (a non-gift under a suspension is dutiable whatever it is).
    """
    if category == "GIFT" and rule.gift_threshold is not None:
        return _gift(rule, rule.gift_threshold, value)
    if rule.suspension:
        return rule.verdicts.suspended
    return UNKNOWN_VALUE if value is None else _by_value(rule, value)


def _gift(rule: Rule, limit: Decimal, value: Decimal | None) -> Outcome:
    if value is None:
        return UNKNOWN_VALUE
    if value <= limit:
        return rule.verdicts.gift_free
    return rule.verdicts.gift_over if rule.suspension else _by_value(rule, value)


def _by_value(rule: Rule, value: Decimal) -> Outcome:
    assert rule.threshold is not None  # only a suspension has none (checked at load)
    if rule.tax_threshold is not None and value <= rule.tax_threshold:
        return rule.verdicts.tax_free
    return rule.verdicts.duty_free if value <= rule.threshold else rule.verdicts.over


def _yes(reason: str) -> Outcome:
    return Outcome(de_minimis=True, reason=reason)


def _no(reason: str) -> Outcome:
    return Outcome(de_minimis=False, reason=reason)


def load_rules(path: Path) -> DeMinimisTable:
    """Read and check a rules file. ConfigError names the file, the key and the fix."""
    raw = _read(path)
    if unknown := set(raw) - {"rules"}:
        raise ConfigError(str(path), min(unknown), "is not a rules-file key", "use [[rules]]")
    entries = raw.get("rules")
    if not isinstance(entries, list) or not entries:
        raise ConfigError(str(path), "rules", "is missing", "add [[rules]] entries")
    rules = tuple(_rule(path, f"rules[{i}]", entry) for i, entry in enumerate(entries))
    _check_ids(path, rules)
    _check_overlaps(path, rules)
    return DeMinimisTable(rules, str(path))


@cache
def default_rules() -> DeMinimisTable:
    """The shipped table (schemas/codes/de-minimis.toml), read once on first use."""
    return load_rules(RULES_FILE)


def _read(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(str(path), "-", f"unreadable: {exc}", "a UTF-8 TOML rules file") from exc


def _rule(path: Path, where: str, raw: object) -> Rule:
    if not isinstance(raw, dict):
        raise ConfigError(str(path), where, "is not a table", "use [[rules]]")
    if unknown := set(raw) - _KEYS:
        raise ConfigError(str(path), f"{where}.{min(unknown)}", "is not a rule key",
                          f"one of {sorted(_KEYS)}")  # fmt: skip
    f = _Fields(path, where, raw)
    rule = Rule(
        id=f.text("id"), country=f.code("country", is_country, "ISO 3166-1 alpha-2"),
        description=f.text("description", required=False),
        currency=f.code("currency", is_currency, "ISO 4217"),
        threshold=f.amount("threshold"), tax_threshold=f.amount("tax_threshold"),
        gift_threshold=f.amount("gift_threshold"), suspension=f.flag("suspension"),
        channel=f.channel(), origins=f.origins(), valid_from=f.day("valid_from"),
        valid_to=f.optional_day("valid_to"), source=f.text("source"),
    )  # fmt: skip
    _check_rule(path, where, rule)
    return rule


def _check_rule(path: Path, where: str, rule: Rule) -> None:
    """Relations between a rule's own fields."""
    if rule.threshold is None and not rule.suspension:
        raise ConfigError(str(path), f"{where}.threshold", "is missing",
                          'state it, e.g. threshold = "800", or set suspension = true')  # fmt: skip
    if rule.suspension and rule.threshold is not None:
        raise ConfigError(str(path), f"{where}.threshold", "is meaningless under a suspension",
                          "remove it; only gift_threshold applies")  # fmt: skip
    if rule.tax_threshold is not None and (rule.threshold is None
                                           or rule.tax_threshold > rule.threshold):  # fmt: skip
        raise ConfigError(str(path), f"{where}.tax_threshold", "exceeds threshold",
                          "taxes are waived at most where duty is")  # fmt: skip
    if rule.valid_to is not None and rule.valid_to < rule.valid_from:
        raise ConfigError(str(path), f"{where}.valid_to",
                          f"{rule.valid_to} is before valid_from {rule.valid_from}")  # fmt: skip


@dataclass(frozen=True, slots=True)
class _Fields:
    """Typed reads of one [[rules]] entry; each failure names its key and the fix."""

    path: Path
    where: str
    raw: dict[str, Any]

    def _fail(self, key: str, problem: str, fix: str = "") -> ConfigError:
        return ConfigError(str(self.path), f"{self.where}.{key}", problem, fix)

    def text(self, key: str, *, required: bool = True) -> str:
        value = self.raw.get(key, None if required else "")
        if not isinstance(value, str) or (required and not value.strip()):
            raise self._fail(key, "is missing or not a text", f'{key} = "…"')
        return value

    def code(self, key: str, known: Callable[[str], bool], kind: str) -> str:
        value = self.text(key)
        if not known(value):
            raise self._fail(key, f"{value!r} is not an {kind} code")
        return value

    def amount(self, key: str) -> Decimal | None:
        value = self.raw.get(key)
        if value is None:
            return None
        if not isinstance(value, str):
            raise self._fail(key, f"{value!r} is not a quoted decimal",
                             'quote it, e.g. "800": never a binary float')  # fmt: skip
        try:
            amount = Decimal(value)
        except InvalidOperation as exc:
            raise self._fail(key, f"{value!r} is not a decimal", 'e.g. "800"') from exc
        if not amount.is_finite() or amount < 0:
            raise self._fail(key, f"{value!r} must be a non-negative amount")
        return amount

    def flag(self, key: str) -> bool:
        value = self.raw.get(key, False)
        if not isinstance(value, bool):
            raise self._fail(key, f"{value!r} is not a boolean", f"{key} = true")
        return value

    def channel(self) -> str:
        value = self.raw.get("channel", ANY)
        if value not in CHANNELS:
            raise self._fail("channel", f"{value!r} is not a channel", f"one of {sorted(CHANNELS)}")
        return str(value)

    def origins(self) -> frozenset[str]:
        value = self.raw.get("origins", [])
        if not isinstance(value, list) or not all(isinstance(c, str) and is_country(c)
                                                  for c in value):  # fmt: skip
            raise self._fail("origins", f"{value!r} is not a list of ISO countries",
                             'e.g. origins = ["US", "MX"], or leave it out for any')  # fmt: skip
        return frozenset(value)

    def optional_day(self, key: str) -> date | None:
        return None if self.raw.get(key) is None else self.day(key)

    def day(self, key: str) -> date:
        value = self.raw.get(key)
        if not isinstance(value, date) or isinstance(value, datetime):
            raise self._fail(key, f"{value!r} is not a date", f"a TOML date: {key} = 2021-01-01")
        return value


def _check_ids(path: Path, rules: tuple[Rule, ...]) -> None:
    seen: set[str] = set()
    for i, rule in enumerate(rules):
        if rule.id in seen:
            raise ConfigError(str(path), f"rules[{i}].id", f"{rule.id} is used twice",
                              "give every rule its own id")  # fmt: skip
        seen.add(rule.id)


def _check_overlaps(path: Path, rules: tuple[Rule, ...]) -> None:
    """Two rules of one country may not both apply to the same goods on the same day: channels
    meet (ANY meets both) and origin scopes are equal in kind and meet (a rule for some origins
    refines a general one)."""
    for i, a in enumerate(rules):
        for j, b in enumerate(rules[i + 1 :], i + 1):
            if _meet(a, b):
                raise ConfigError(str(path), f"rules[{j}]", f"{b.id} overlaps {a.id}",
                                  "end one rule's validity before the next begins "
                                  "(valid_to is inclusive)")  # fmt: skip


def _meet(a: Rule, b: Rule) -> bool:
    if a.country != b.country or (ANY not in (a.channel, b.channel) and a.channel != b.channel):
        return False
    if bool(a.origins) != bool(b.origins) or (a.origins and not a.origins & b.origins):
        return False
    a_end, b_end = a.valid_to or date.max, b.valid_to or date.max
    return a.valid_from <= b_end and b.valid_from <= a_end
