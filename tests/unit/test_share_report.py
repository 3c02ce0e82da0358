"""The share report document and its canonical bytes (gateway.share.report)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.domain.cells import CellCounts, CellKey
from gateway.domain.partners import ShareAgreement
from gateway.domain.weeks import trailing
from gateway.errors import DisclosureError
from gateway.share.aggregate import increments
from gateway.share.disclosure import PERSONAL_FIELDS
from gateway.share.report import build_report, published_pairs, report_bytes
from gateway.wire.b5_pb2 import TrendObservation
from tests.unit.test_share_aggregate import declaration

WEEK = "2026-W47"
K10 = ShareAgreement(k=10)
AT = datetime(2026, 11, 30, 6, 0, tzinfo=UTC)


def key(
    origin: str = "CN",
    chapter: str = "61",
    category: str = "SALE_OF_GOODS",
    band: str = "0-20",
    week: str = WEEK,
) -> CellKey:
    return CellKey(week, "POST", origin, chapter, category, band)


def counts(items: int, value: str = "0") -> CellCounts:
    return CellCounts(items, Decimal(value), items // 2, items, 0, 0)


OWN = {
    key(): counts(40, "612.50"),
    key(band="20-40"): counts(3, "90"),
    key(origin="VN", chapter="95"): counts(25, "300.10"),
    key(origin="VN", chapter="95", band="20-40"): counts(12, "400"),
    key(origin="GB", chapter="42"): counts(30, "55.50"),
}


def report(
    cells: dict[CellKey, CellCounts] = OWN,
    *,
    agreement: ShareAgreement = K10,
    baseline: Mapping[str, Mapping[tuple[str, str], int | None]] | None = None,
    observations: list[TrendObservation] | None = None,
) -> dict[str, Any]:
    return build_report(
        partner="gb-bf",
        agreement=agreement,
        week=WEEK,
        home_country="US",
        cells=cells,
        baseline=baseline or {},
        observations=observations or [],
        generated_at=AT,
        report_id="r-1",
    )


def no_float(text: str) -> Any:
    raise AssertionError(f"a float in the report: {text}")


def test_the_header_names_partner_week_reporter_k_and_the_counting_rules() -> None:
    doc = report()
    assert {k: doc[k] for k in ("reportId", "partner", "week", "reporter", "generatedAt", "k")} == {
        "reportId": "r-1",
        "partner": "gb-bf",
        "week": WEEK,
        "reporter": "US",
        "generatedAt": "2026-11-30T06:00:00Z",
        "k": 10,
    }
    assert "posting day" in doc["rules"]["deMinimis"]
    assert "before a suspension" in doc["rules"]["preSuspension"]


def test_cells_are_disclosed_and_money_is_a_decimal_string() -> None:
    doc = report()
    cells = {(c["originCountry"], c["valueBand"]): c for c in doc["cells"]}
    assert cells[("CN", "20-40")] == {
        "week": WEEK,
        "channel": "POST",
        "originCountry": "CN",
        "hsChapter": "61",
        "category": "SALE_OF_GOODS",
        "valueBand": "20-40",
        "suppressed": True,
    }
    # complements: CN 0-20 (CN's total), VN 20-40 (the 20-40 total), VN 0-20 (VN's total)
    assert {k for k, c in cells.items() if c["suppressed"]} == {
        ("CN", "0-20"),
        ("CN", "20-40"),
        ("VN", "0-20"),
        ("VN", "20-40"),
    }
    assert cells[("GB", "0-20")]["declaredValueUsd"] == "55.50"
    assert cells[("GB", "0-20")]["items"] == 30
    assert doc["totals"]["grand"]["items"] == 110
    assert doc["totals"]["grand"]["declaredValueUsd"] == "1458.10"


def test_the_bytes_are_canonical_json_without_floats() -> None:
    raw = report_bytes(report())
    assert (
        raw
        == json.dumps(
            json.loads(raw), sort_keys=True, separators=(",", ":"), ensure_ascii=False
        ).encode()
    )
    json.loads(raw, parse_float=no_float)


def test_the_same_inputs_give_the_same_bytes_whatever_the_order_of_the_cells() -> None:
    shuffled = dict(reversed(list(OWN.items())))
    assert report_bytes(report()) == report_bytes(report(shuffled))


def test_cells_of_other_weeks_and_zero_cells_are_left_out() -> None:
    doc = report({**OWN, key(week="2026-W46"): counts(50), key(origin="ZZ"): CellCounts()})
    assert {c["week"] for c in doc["cells"]} == {WEEK}
    assert "ZZ" not in {c["originCountry"] for c in doc["cells"]}


def test_a_naive_generation_time_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        build_report(
            partner="p",
            agreement=ShareAgreement(),
            week=WEEK,
            home_country="US",
            cells={},
            baseline={},
            observations=[],
            generated_at=AT.replace(tzinfo=None),
            report_id="r",
        )


def test_report_bytes_refuse_a_float_or_a_personal_key() -> None:
    with pytest.raises(TypeError, match="float"):
        report_bytes({"k": 1.5})
    with pytest.raises(DisclosureError, match="email"):
        report_bytes({"email": "a@b"})


# -- trends ------------------------------------------------------------------------------------


def steady_baseline(
    items: int, origin: str = "CN", chapter: str = "61"
) -> dict[str, dict[tuple[str, str], int | None]]:
    """Eight reported weeks that published the pair's total as items, items + 1, items + 2 …"""
    return {w: {(origin, chapter): items + i % 3} for i, w in enumerate(trailing(WEEK, 8))}


def test_a_surge_is_listed_with_its_statistics_as_decimal_strings() -> None:
    doc = report(baseline=steady_baseline(12))
    trends = doc["trends"]
    assert trends["baselineWeeks"] == trailing(WEEK, 8)
    assert trends["threshold"] == "3.5"
    assert trends["minHistoryWeeks"] == 4
    [surge] = [t for t in trends["surges"] if t["originCountry"] == "CN"]
    assert surge["items"] == 43
    assert surge["baselineMedian"] == "13.0000"
    assert surge["direction"] == "SURGE"
    assert surge["suppressed"] is False
    assert isinstance(surge["z"], str)


def test_a_pair_whose_total_is_suppressed_this_week_is_never_flagged() -> None:
    """CN/61 counts 3 this week against a steady 40 (suppressed): listing it as a drop would
    tell the partner it is below 40 - 3.5 * 1.4826 * MAD, and leaving a steady pair unlisted
    on a flat baseline would pin it to the median. So no trend mentions a suppressed pair."""
    small = {key(): counts(3), key(origin="VN"): counts(40), key(origin="GB"): counts(40)}
    doc = report(small, baseline=steady_baseline(40))
    pairs = {(t["originCountry"], t["hsChapter"]): t for t in doc["totals"]["byOriginAndChapter"]}
    assert pairs[("CN", "61")]["suppressed"] is True
    flagged = doc["trends"]["surges"] + doc["trends"]["drops"]
    assert ("CN", "61") not in {(t["originCountry"], t["hsChapter"]) for t in flagged}
    assert all(t["suppressed"] is False and "z" in t for t in flagged)


def test_a_pair_absent_this_week_can_still_be_a_drop() -> None:
    """A pair with no items this week is published as absent (0), so a drop to 0 is shown."""
    doc = report({key(origin="VN"): counts(40)}, baseline=steady_baseline(40))
    drops = {(t["originCountry"], t["hsChapter"]) for t in doc["trends"]["drops"]}
    assert ("CN", "61") in drops


def test_pairs_without_enough_published_weeks_are_listed_as_insufficient_history() -> None:
    """The first weeks of sharing: pairs of the week with fewer than 4 reported baseline weeks
    are neither surges nor drops, whatever their numbers."""
    baseline = {w: {("CN", "61"): 1000} for w in trailing(WEEK, 3)}
    doc = report(baseline=baseline)
    trends = doc["trends"]
    assert trends["surges"] == trends["drops"] == []
    assert trends["insufficientHistory"] == [
        {"originCountry": "CN", "hsChapter": "61"},
        {"originCountry": "GB", "hsChapter": "42"},
        {"originCountry": "VN", "hsChapter": "95"},
    ]


def test_the_baseline_is_what_the_partner_s_earlier_reports_published() -> None:
    """Eight weekly reports built by the same code; their published pair totals feed the ninth.
    In one week VN/95 counted 3, and that report hid CN/61 too (or the grand total would give
    the 3 away): that week is left out of CN/61's baseline, and every statistic is a function
    of numbers the partner already holds."""
    weeks = trailing(WEEK, 8)
    baseline: dict[str, dict[tuple[str, str], int | None]] = {}
    for i, w in enumerate(weeks):
        week_cells = {key(week=w): counts(12)}
        if i == 2:
            week_cells[key(origin="VN", chapter="95", week=w)] = counts(3)
        doc = build_report(
            partner="gb-bf",
            agreement=K10,
            week=w,
            home_country="US",
            cells=week_cells,
            baseline={},
            observations=[],
            generated_at=AT,
            report_id=f"r-{w}",
        )
        baseline[w] = published_pairs(doc)
    assert baseline[weeks[2]][("CN", "61")] is None
    assert baseline[weeks[0]] == {("CN", "61"): 12}
    ninth = report(baseline=baseline)
    [surge] = [t for t in ninth["trends"]["surges"] if t["originCountry"] == "CN"]
    assert surge["suppressed"] is False
    assert surge["baselineMedian"] == "12.0000"
    assert surge["mad"] == "0.0000"
    assert surge["z"] is None  # no z on a MAD of 0


# -- the combined view ---------------------------------------------------------------------------


def observation(
    reporter: str, items: int, usd: str = "100.00", period: str = WEEK
) -> TrendObservation:
    return TrendObservation(
        reporter=reporter,
        period=period,
        channel="POST",
        origin_country="CN",
        hs_chapter="61",
        category="SALE_OF_GOODS",
        value_band="0-20",
        items=items,
        declared_value_usd=usd,
        rate_missing=not usd,
        de_minimis_items=items,
        detections=1,
    )


def test_the_combined_view_appears_only_when_the_agreement_allows_it() -> None:
    feeds = [observation("AU", 18234, "402118.55")]
    assert "combinedView" not in report(observations=feeds)
    doc = report(observations=feeds, agreement=ShareAgreement(k=10, combined_view=True))
    view = doc["combinedView"]
    cn = next(c for c in view["cells"] if c["originCountry"] == "CN")
    assert cn["ours"]["items"] == 43
    assert cn["partners"] == [
        {
            "reporter": "AU",
            "items": 18234,
            "declaredValueUsd": "402118.55",
            "deMinimisItems": 18234,
            "detections": 1,
            "rateMissing": 0,
            "suppressed": False,
        }
    ]
    vn = next(c for c in view["cells"] if c["originCountry"] == "VN")
    assert vn["partners"] == []


def test_partner_observations_pass_disclosure_and_other_weeks_are_left_out() -> None:
    feeds = [
        observation("AU", 4),
        observation("CA", 5120, ""),
        observation("GB", 7311, period="2026-W46"),
    ]
    doc = report(observations=feeds, agreement=ShareAgreement(k=10, combined_view=True))
    cn = next(c for c in doc["combinedView"]["cells"] if c["originCountry"] == "CN")
    by_reporter = {p["reporter"]: p for p in cn["partners"]}
    assert set(by_reporter) == {"AU", "CA"}
    assert by_reporter["AU"] == {"reporter": "AU", "suppressed": True}
    assert by_reporter["CA"]["rateMissing"] == 5120


# -- nothing personal leaves ---------------------------------------------------------------------


def keys_of(doc: object) -> set[str]:
    if isinstance(doc, dict):
        return set(doc) | {k for v in doc.values() for k in keys_of(v)}
    if isinstance(doc, list):
        return {k for v in doc for k in keys_of(v)}
    return set()


def test_names_addresses_and_item_ids_of_declarations_never_reach_the_bytes() -> None:
    decls = [declaration(item_id=f"RR{n:09d}GB") for n in range(12)]
    cells = increments((d, None) for d in decls)
    raw = report_bytes(report(cells)).decode()
    for personal in ("Ellen", "Jordan", "Leeds", "@", "RR0", "t-shirt"):
        assert personal not in raw


@settings(max_examples=100, deadline=None)
@given(
    st.dictionaries(
        st.builds(
            key,
            st.sampled_from(["CN", "VN", "ZZ"]),
            st.sampled_from(["61", "95", "00"]),
            st.sampled_from(["GIFT", "SALE_OF_GOODS"]),
            st.sampled_from(["0-20", ""]),
        ),
        st.builds(counts, st.integers(0, 30), st.sampled_from(["0", "12.34", "1000.5"])),
        max_size=15,
    ),
    st.integers(1, 12),
    st.booleans(),
)
def test_no_report_ever_holds_a_personal_field_or_a_small_count(
    cells: dict[CellKey, CellCounts], k: int, combined: bool
) -> None:
    doc = report(
        cells,
        agreement=ShareAgreement(k=k, combined_view=combined),
        observations=[observation("AU", 7)],
    )
    parsed = json.loads(report_bytes(doc), parse_float=no_float)
    assert not keys_of(parsed) & PERSONAL_FIELDS
    for cell in parsed["cells"]:
        assert cell["suppressed"] or cell["items"] == 0 or cell["items"] >= k
