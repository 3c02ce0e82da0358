"""Suite-wide checks. Every share report any test builds must match the published schema, and
every property test draws the same examples on every run.

Hypothesis tests outside `tests/fuzz` (which sets its own budget) run derandomized with no
example database: a run's outcome depends on the code alone, never on the machine or on the
luck of the draw. `AEDGW_FUZZ_EXAMPLES=N` (a long run) gives every property test fresh
randomness, so a long run explores, and `--hypothesis-seed=N` repeats what it found.

`gateway.share.report.build_report` and `report_bytes` are wrapped once, when this file is
loaded (before any test module imports them by name, as `gateway.services.b5_reports` does), so
each report
document built in this process, by a unit test or by a running gateway, is validated against
docs/schemas/b5-report.schema.json. An invalid one is recorded, and the autouse fixture fails
the test during which it was built: the partner-facing contract cannot drift from the schema.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import pytest
from hypothesis import settings
from jsonschema import Draft202012Validator

from gateway.share import report as report_module
from tests.fuzz.budget import LONG

settings.register_profile("suite", derandomize=True, database=None)
settings.register_profile("explore", derandomize=False, database=None)
settings.load_profile("explore" if LONG else "suite")

REPORT_SCHEMA_FILE = Path(__file__).resolve().parents[1] / "docs/schemas/b5-report.schema.json"
REPORT_SCHEMA: dict[str, Any] = json.loads(REPORT_SCHEMA_FILE.read_text(encoding="utf-8"))
REPORT_VALIDATOR = Draft202012Validator(REPORT_SCHEMA)
_invalid_reports: list[str] = []
P = ParamSpec("P")
R = TypeVar("R")


def report_problems(doc: Mapping[str, object]) -> list[str]:
    """Why `doc` does not match the report schema: one line per error (none when it does)."""
    errors = REPORT_VALIDATOR.iter_errors(dict(doc))
    return [f"{'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}" for e in errors]


def _checked(
    function: Callable[P, R], document: Callable[[R, tuple[object, ...]], object]
) -> Callable[P, R]:
    """`function`, recording the problems of the report `document` picks from its result and
    arguments."""

    @functools.wraps(function)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        result = function(*args, **kwargs)  # what it refuses is refused before any check
        doc = document(result, args)
        if isinstance(doc, Mapping) and (problems := report_problems(doc)):
            _invalid_reports.append(f"{function.__name__}: " + "; ".join(problems[:5]))
        return result

    return wrapper


report_module.build_report = _checked(report_module.build_report, lambda doc, _: doc)
report_module.report_bytes = _checked(
    report_module.report_bytes, lambda _, args: args[0] if args else None
)


@pytest.fixture(autouse=True)
def reports_match_the_schema() -> Iterator[None]:
    """Fails the test during which a report that does not match the schema was built."""
    _invalid_reports.clear()
    yield
    invalid, _invalid_reports[:] = list(_invalid_reports), []
    if invalid:
        pytest.fail(
            "a report does not match docs/schemas/b5-report.schema.json:\n" + "\n".join(invalid)
        )
