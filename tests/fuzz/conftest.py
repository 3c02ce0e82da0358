"""Fuzz fixtures: the case tally printed at the end, and one real gateway per test module."""

from __future__ import annotations

import time
from collections.abc import Generator

import pytest

from tests.fuzz.budget import CASES, LONG

_SECONDS: dict[str, float] = {}


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, object, object]:
    start = time.perf_counter()
    try:
        return (yield)
    finally:
        _SECONDS[item.name] = time.perf_counter() - start


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not CASES:
        return
    mode = "long run (AEDGW_FUZZ_EXAMPLES)" if LONG else "normal budget, derandomized"
    terminalreporter.write_sep("-", f"fuzz cases run ({mode})")
    for name, n in sorted(CASES.items()):
        seconds = _SECONDS.get(name, 0.0)
        terminalreporter.write_line(f"{name:<60} {n:>6} cases {seconds:7.1f} s")
    terminalreporter.write_line(f"{'total':<60} {sum(CASES.values()):>6} cases")
