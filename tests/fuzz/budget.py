"""How much fuzzing a run does, and a tally of the cases each fuzz test ran.

The normal suite runs a small, derandomized budget (the same cases on every machine, no example
database), so it is reproducible and stays well under a minute. `AEDGW_FUZZ_EXAMPLES=5000` runs
that many examples per fuzz test with fresh randomness (`--hypothesis-seed=N` makes such a run
repeatable); every test's count of cases and time are printed at the end of the session.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable
from typing import Any, TypeVar

from hypothesis import HealthCheck, settings

F = TypeVar("F", bound=Callable[..., Any])

_LONG_RUN = os.environ.get("AEDGW_FUZZ_EXAMPLES", "").strip()
LONG = bool(_LONG_RUN)

CASES: Counter[str] = Counter()


def examples(default: int) -> int:
    """The number of examples of a test: its default in the normal suite, else the env's."""
    return int(_LONG_RUN) if LONG else default


def fuzz(default: int) -> Callable[[F], F]:
    """Hypothesis settings of a fuzz test whose normal budget is `default` examples."""
    return settings(
        max_examples=examples(default),
        deadline=None,
        derandomize=not LONG,
        database=None,
        print_blob=True,
        suppress_health_check=[
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
            HealthCheck.filter_too_much,
            HealthCheck.large_base_example,
        ],
    )


def count(test: str) -> None:
    """One more case run by `test` (called from inside each example)."""
    CASES[test] += 1
