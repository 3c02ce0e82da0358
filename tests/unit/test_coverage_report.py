"""AED coverage in the B5 report: per origin country, arrivals and those with AED, suppressed
like every table (gateway.share.report `aedCoverage`)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from gateway.domain.partners import ShareAgreement
from gateway.share.disclosure import Audit
from gateway.share.report import build_report

WEEK = "2026-W48"


def _report(coverage: dict[str, tuple[int, int]], audits: list[Audit]) -> dict[str, Any]:
    return build_report(
        partner="gb-bf",
        agreement=ShareAgreement(k=10),
        week=WEEK,
        home_country="US",
        cells={},
        baseline={},
        observations=[],
        generated_at=datetime(2026, 11, 30, 6, 0, tzinfo=UTC),
        report_id="r-cov",
        audits=audits,
        coverage=coverage,
    )


def test_a_country_with_few_arrivals_is_hidden_with_a_complement_and_proved() -> None:
    audits: list[Audit] = []
    doc = _report({"CN": (400, 310), "GB": (35, 35), "FR": (3, 1)}, audits)
    section = doc["aedCoverage"]
    cells = {c["originCountry"]: c for c in section["cells"]}
    assert cells["FR"] == {"week": WEEK, "originCountry": "FR", "suppressed": True}
    # the grand total is published: FR alone hidden would be the total minus the others
    assert section["totals"]["grand"] == {
        "items": 438, "itemsWithAed": 346, "suppressed": False,
    }  # fmt: skip
    hidden = [c for c in cells.values() if c["suppressed"]]
    assert len(hidden) >= 2
    assert audits[-1].ok  # the gateway's own LP audit of the table
    # The attacker's view: the hidden cells share the total less the published ones, so FR's
    # arrivals lie in [0, that]: at least k wide.
    published = sum(c["items"] for c in cells.values() if not c["suppressed"])
    assert section["totals"]["grand"]["items"] - published >= 3 + 10


def test_no_arrivals_give_an_empty_table_and_a_zero_total() -> None:
    doc = _report({}, [])
    assert doc["aedCoverage"] == {
        "week": WEEK,
        "cells": [],
        "totals": {"grand": {"items": 0, "itemsWithAed": 0, "suppressed": False}},
    }
