"""docs/b5.md and docs/schemas/b5-report.schema.json say what the code does.

The finding codes table lists exactly the codes of `FINDING_CODES`, and every code the feed
readers can emit is in it; the report schema is a valid draft 2020-12 schema that accepts the
reports the gateway builds (tests/conftest.py checks every report the suite builds) and refuses
what a report must never hold.
"""

from __future__ import annotations

import copy
import re
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

import gateway.services.b5_reports
from gateway.domain.cells import CellCounts, CellKey
from gateway.domain.partners import ShareAgreement
from gateway.domain.weeks import trailing
from gateway.formats.b5.codes import FINDING_CODES
from gateway.share import report as report_module
from gateway.share.report import build_report
from gateway.wire.b5_pb2 import TrendObservation
from tests import conftest
from tests.conftest import REPORT_SCHEMA, report_problems

REPO = Path(__file__).resolve().parents[2]
DOC = REPO / "docs" / "b5.md"
_ROW = re.compile(r"^\| `([A-Z0-9_]+)` \|", re.MULTILINE)
_EMITTED = re.compile(r'"((?:B5|XML|GZIP)_[A-Z0-9_]+|XSD(?:_[A-Z0-9_]+)?)"')


def documented_codes() -> list[str]:
    text = DOC.read_text(encoding="utf-8")
    section = text.split("\n## Finding codes\n", 1)[1].split("\n## ", 1)[0]
    return _ROW.findall(section)


def test_the_docs_table_lists_each_finding_code_once_and_no_other() -> None:
    documented = documented_codes()
    assert len(documented) == len(set(documented)), "a code is listed twice"
    assert sorted(documented) == sorted(FINDING_CODES)


def test_every_code_a_feed_reader_can_emit_is_in_the_code_table() -> None:
    sources = [
        *sorted((REPO / "gateway/formats/b5").glob("*.py")),
        REPO / "gateway/formats/hardened.py",
    ]
    emitted = {code for path in sources for code in _EMITTED.findall(path.read_text())}
    assert emitted, "the pattern finds the codes"
    assert emitted - set(FINDING_CODES) == set()


def test_the_docs_refer_to_nothing_outside_the_repository() -> None:
    text = DOC.read_text(encoding="utf-8")
    assert "spec/" not in text
    for target in re.findall(r"\]\(([^)#]+)\)", text):
        assert (DOC.parent / target).is_file(), target
    assert "(docs/b5.md)" in (REPO / "README.md").read_text(encoding="utf-8")


def test_the_report_schema_is_a_valid_draft_2020_12_schema() -> None:
    Draft202012Validator.check_schema(REPORT_SCHEMA)
    assert REPORT_SCHEMA["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert "lateArrivals" in REPORT_SCHEMA["required"]
    trends = REPORT_SCHEMA["properties"]["trends"]
    assert {"minHistoryWeeks", "insufficientHistory"} <= set(trends["required"])


def test_every_report_the_gateway_builds_passes_through_the_schema_check() -> None:
    for module in (report_module, gateway.services.b5_reports):
        assert getattr(module.build_report, "__wrapped__", None) is not None
        assert getattr(module.report_bytes, "__wrapped__", None) is not None


def test_a_report_that_does_not_match_is_recorded_against_the_test_that_built_it() -> None:
    doc = full_report()
    doc["k"] = 0
    report_module.report_bytes(doc)
    recorded, conftest._invalid_reports[:] = list(conftest._invalid_reports), []
    assert len(recorded) == 1
    assert recorded[0].startswith("report_bytes: k: ")


def cell(week: str, origin: str, chapter: str, band: str = "0-20") -> CellKey:
    return CellKey(week, "POST", origin, chapter, "SALE_OF_GOODS", band)


def counts(items: int, usd: str) -> CellCounts:
    return CellCounts(items, Decimal(usd), items // 2, items, 0, 0)


def observation(reporter: str, items: int) -> TrendObservation:
    return TrendObservation(
        reporter=reporter, period="2026-W47", channel="POST", origin_country="CN",
        hs_chapter="61", category="SALE_OF_GOODS", value_band="0-20", items=items,
        declared_value_usd="100.00", de_minimis_items=items, detections=1,
    )  # fmt: skip


def full_report() -> dict[str, Any]:
    """A report with every section: suppressed and published cells, trends (a surge and a
    drop against a flat history), the combined view with a suppressed partner."""
    week = "2026-W47"
    cells = {
        cell(week, "CN", "61"): counts(400, "612.50"),
        cell(week, "CN", "61", "20-40"): counts(3, "90"),
        cell(week, "VN", "95"): counts(25, "300.10"),
        cell(week, "VN", "95", "20-40"): counts(12, "400"),
        cell(week, "GB", "42"): counts(30, "55.50"),
    }
    baseline: dict[str, dict[tuple[str, str], int | None]] = {
        w: {("CN", "61"): 20, ("VN", "95"): 300} for w in trailing(week, 8)
    }
    return build_report(
        partner="gb-bf",
        agreement=ShareAgreement(k=10, combined_view=True),
        week=week,
        home_country="US",
        cells=cells,
        baseline=baseline,
        observations=[observation("AU", 7), observation("CA", 30)],
        generated_at=datetime(2026, 11, 30, 6, 0, tzinfo=UTC),
        report_id="r-1",
        coverage={"CN": (40, 31), "VN": (12, 12), "FR": (3, 0)},
    )


def test_a_full_report_matches_the_schema() -> None:
    doc = full_report()
    assert {"combinedView", "trends", "cells", "aedCoverage"} <= set(doc)
    assert doc["trends"]["surges"]
    assert doc["trends"]["drops"]
    assert any(c["suppressed"] for c in doc["cells"])
    assert any(not c["suppressed"] for c in doc["cells"])
    assert report_problems(doc) == []


def late_arrivals(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """A late-arrivals section built from the report's own cells and totals, negated."""
    cells = copy.deepcopy([c for c in doc["cells"] if not c["suppressed"]])
    for cell in cells:
        cell["items"] = -cell["items"]
        cell["declaredValueUsd"] = "-" + cell["declaredValueUsd"]
        cell["week"] = "2026-W46"
    return [{"week": "2026-W46", "cells": cells, "totals": copy.deepcopy(doc["totals"])}]


def test_late_arrivals_and_the_history_a_trend_needs_are_always_present() -> None:
    doc = full_report()
    assert doc["lateArrivals"] == []
    assert doc["trends"]["minHistoryWeeks"] == 4
    assert doc["trends"]["insufficientHistory"] == []
    doc["lateArrivals"] = late_arrivals(doc)
    doc["trends"]["insufficientHistory"] = [{"originCountry": "VN", "hsChapter": "95"}]
    assert report_problems(doc) == []


def _published_cell(doc: dict[str, Any]) -> dict[str, Any]:
    return next(c for c in doc["cells"] if not c["suppressed"])


def _suppressed_cell(doc: dict[str, Any]) -> dict[str, Any]:
    return next(c for c in doc["cells"] if c["suppressed"])


@pytest.mark.parametrize(
    "spoil",
    [
        lambda d: _published_cell(d).update(declaredValueUsd=12.5),  # a float
        lambda d: _published_cell(d).update(declaredValueUsd="12.5"),  # not two places
        lambda d: _published_cell(d).update(items=-1),  # a negative count outside lateArrivals
        lambda d: _published_cell(d).pop("detections"),  # a measure missing
        lambda d: _suppressed_cell(d).update(items=3),  # a suppressed cell with a measure
        lambda d: _published_cell(d).update(email="a@b.example"),  # a field not in the schema
        lambda d: d["trends"]["surges"].append(
            {"originCountry": "CN", "hsChapter": "61", "direction": "UP", "suppressed": True}
        ),
        lambda d: d["trends"]["surges"].append(  # a flagged pair without its numbers
            {"originCountry": "CN", "hsChapter": "61", "direction": "SURGE", "suppressed": True}
        ),
        lambda d: d["trends"]["surges"][0].update(suppressed=True),  # numbers, yet "suppressed"
        lambda d: d["trends"]["drops"][0].pop("z"),  # a statistic missing
        lambda d: d.pop("totals"),
        lambda d: d.pop("lateArrivals"),
        lambda d: d["trends"].pop("minHistoryWeeks"),
        lambda d: d["trends"].pop("insufficientHistory"),
        lambda d: d.update(k=0),
    ],
)
def test_the_schema_refuses_what_a_report_must_never_hold(spoil: Any) -> None:
    doc = full_report()
    spoil(doc)
    assert report_problems(doc) != []
