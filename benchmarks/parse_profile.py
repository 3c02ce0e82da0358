"""Per-item cost of `parse_itmatt`, by stage (µs/item, median of several runs).

    .venv/bin/python benchmarks/parse_profile.py [--runs 7] [--profile]

Stages: `hardened` (parse_xml: checks, libxml2 parse, tree checks), `xsd` (one schema pass),
`rules` (check_item over every item's facts), `translate` (the rest of parse_itmatt: items to
Declarations, outcomes, duplicates). `total` is parse_itmatt end to end. Documents come from
gateway.formats.itmatt.samples (seeded), with one defect every 50 items. CPU time of this process
(time.process_time), so that other work on a shared machine disturbs it less.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import random
import statistics
import time
from collections.abc import Callable
from typing import Any

from gateway.formats import itmatt
from gateway.formats.hardened import parse_xml
from gateway.formats.itmatt.samples import build_itmatt, generate_items
from gateway.rules.items import ItemFacts, check_item


def document(n: int) -> bytes:
    rng = random.Random(20261127)
    return build_itmatt("BENCH-1", "GBA", generate_items(rng, n, sender_country="GB", bad_every=50))


def median_us(fn: Callable[[], object], runs: int, per: int) -> float:
    samples = []
    for _ in range(runs):
        start = time.process_time()
        fn()
        samples.append(time.process_time() - start)
    return statistics.median(samples) * 1e6 / per


def collect_facts(data: bytes) -> list[tuple[ItemFacts, Any]]:
    """The (facts, locate) pairs parse_itmatt hands to check_item, captured once."""
    seen: list[tuple[ItemFacts, Any]] = []
    original = itmatt.translate.check_item  # type: ignore[attr-defined]

    def spy(facts: ItemFacts, locate: Any, **kw: Any) -> list[Any]:
        seen.append((facts, locate))
        return original(facts, locate, **kw)

    itmatt.translate.check_item = spy  # type: ignore[attr-defined,assignment]
    try:
        itmatt.parse_itmatt(data)
    finally:
        itmatt.translate.check_item = original  # type: ignore[attr-defined]
    return seen


def stages(n: int, runs: int) -> dict[str, float]:
    data = document(n)
    itmatt.parse_itmatt(data)  # warm caches (schema, code lists)
    tree = parse_xml(data)
    schema = itmatt.itmatt_schema()
    facts = collect_facts(data)

    def rules() -> None:
        for item, locate in facts:
            check_item(item, locate)

    out = {
        "total": median_us(lambda: itmatt.parse_itmatt(data), runs, n),
        "hardened": median_us(lambda: parse_xml(data), runs, n),
        "xsd": median_us(lambda: schema.validate(tree), runs, n),
        "rules": median_us(rules, runs, n),
    }
    out["translate"] = out["total"] - out["hardened"] - out["xsd"] - out["rules"]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 100])
    parser.add_argument("--profile", action="store_true", help="cProfile the 1000-item parse")
    args = parser.parse_args()
    names = ("total", "hardened", "xsd", "translate", "rules")
    print(itmatt.__file__)
    print(f"{'items':>6} " + " ".join(f"{name:>10}" for name in names) + "   (µs/item)")
    for n in args.sizes:
        result = stages(n, args.runs * (1 if n >= 1000 else 5))
        print(f"{n:>6} " + " ".join(f"{result[name]:>10.1f}" for name in names))
    if args.profile:
        data = document(1000)
        profile = cProfile.Profile()
        profile.enable()
        for _ in range(5):
            itmatt.parse_itmatt(data)
        profile.disable()
        pstats.Stats(profile).sort_stats("tottime").print_stats(30)


if __name__ == "__main__":
    main()
