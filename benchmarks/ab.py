"""Interleaved A/B: this checkout's gateway against another's, on one scenario, round by round.

    .venv/bin/python -m benchmarks.ab OTHER_CHECKOUT [--items 100] [--messages 400]
                                      [--rounds 3] [--concurrency 64]

The speed of a shared VM drifts (by a third within minutes on the one this project is measured
on), so two `make bench` runs taken minutes apart say little about a change. Here each round
starts a fresh SQLite gateway from each checkout in turn, and sends both the same load (the
bench's signing clients, `run_scenario`): drift then touches both sides of each round alike,
and the order alternates round by round (ABBA), so a drift that lasts the whole run favours
neither. Make the other checkout with `git worktree add /tmp/before <commit>`; both run on
this checkout's virtualenv and load generator.

Prints one line per gateway run (items/s, receipt p50/p99, the gateway's CPU per item, serving
process and workers, and the load generator's), then each side's range over the rounds.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
from dataclasses import dataclass
from pathlib import Path

from benchmarks.__main__ import (
    DEFAULT_CONCURRENCY,
    ProcessTree,
    Result,
    RssSampler,
    Scenario,
    Serial,
    documents,
    gateway_config,
    run_scenario,
    setup,
    start_gateways,
    stop_gateways,
)


@dataclass(frozen=True)
class Side:
    label: str
    source: Path


async def one_run(side: Side, scenario: Scenario, concurrency: int, tag: str) -> Result:
    """A fresh gateway from `side`'s checkout, a warm-up, then `scenario` (documents of their
    own, so no message is a resend)."""
    root = Path(tempfile.mkdtemp(prefix="aedgw-ab-"))
    key = setup(root, concurrency)
    config = gateway_config(root, side.label, None)
    serial = Serial()
    warm = documents(Scenario(10, 20), serial, f"{tag}-warm")
    docs = documents(scenario, serial, tag)
    gateways = start_gateways(config, 1, root / "log", source=side.source)
    try:
        urls = [url for _, url, _ in gateways]
        tree = ProcessTree([process.pid for process, _, _ in gateways])
        with RssSampler(tree) as rss:
            await run_scenario(urls, key, warm, Scenario(10, 20), tree=tree, rss=rss, concurrency=4)
            return await run_scenario(
                urls, key, docs, scenario, tree=tree, rss=rss, concurrency=concurrency
            )
    finally:
        stop_gateways([process for process, _, _ in gateways])


def line(label: str, r: Result) -> str:
    return (
        f"{label:<6} {r.items_per_s:>8,.0f} items/s  p50 {r.percentile(0.5):>7.0f}  "
        f"p99 {r.percentile(0.99):>7.0f} ms  gateway {r.per_item_us(r.cpu_seconds):>6,.0f} "
        f"µs/item (serving {r.per_item_us(r.main_cpu_seconds):,.0f})  "
        f"generator {r.per_item_us(r.generator_cpu_seconds):,.0f}"
    )


async def ab(sides: list[Side], scenario: Scenario, rounds: int, concurrency: int) -> None:
    results: dict[str, list[Result]] = {side.label: [] for side in sides}
    for n in range(rounds):
        # ABBA: a VM that drifts one way over the run would otherwise favour whichever side
        # always goes first.
        for side in sides if n % 2 == 0 else sides[::-1]:
            r = await one_run(side, scenario, concurrency, f"AB{n}-{side.label}")
            results[side.label].append(r)
            print(f"round {n + 1} " + line(side.label, r), flush=True)
    print(f"\n{scenario.items_per_message}-item messages, {rounds} rounds, range per side:")
    for label, runs in results.items():
        rates = sorted(r.items_per_s for r in runs)
        serving = sorted(r.per_item_us(r.main_cpu_seconds) for r in runs)
        total = sorted(r.per_item_us(r.cpu_seconds) for r in runs)
        print(
            f"  {label:<6} {rates[0]:,.0f} to {rates[-1]:,.0f} items/s, gateway "
            f"{total[0]:,.0f} to {total[-1]:,.0f} µs/item, serving process "
            f"{serving[0]:,.0f} to {serving[-1]:,.0f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("other", type=Path, help="the other checkout (its top folder)")
    parser.add_argument("--items", type=int, default=100, help="items per message")
    parser.add_argument("--messages", type=int, default=400, help="messages per run")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=DEFAULT_CONCURRENCY)
    args = parser.parse_args()
    if not (args.other / "gateway" / "cli.py").is_file():
        parser.error(
            f"{args.other} holds no gateway checkout (no gateway/entrypoints/cli/__init__.py)"
        )
    sides = [Side("other", args.other.resolve()), Side("this", Path(__file__).resolve().parents[1])]
    asyncio.run(ab(sides, Scenario(args.items, args.messages), args.rounds, args.concurrency))


if __name__ == "__main__":
    main()
