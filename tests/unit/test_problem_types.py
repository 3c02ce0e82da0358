"""Problem types: every `type` a problem document carries resolves to a page the gateway serves
and docs/problems.md describes, and every page is one the gateway can send."""

from __future__ import annotations

import json
import re
from pathlib import Path

from gateway.adapters.http.problems import PAGES, STATUS, TYPE_BASE, page, problem_for
from gateway.errors import StoreError

DOC = Path(__file__).parents[2] / "docs" / "problems.md"


def test_every_slug_the_status_table_uses_has_a_page_and_every_page_a_use() -> None:
    used = {slug for _, _, slug in STATUS} | {"http"}  # "http": aiohttp's own refusals
    assert used == set(PAGES)


def test_the_docs_describe_exactly_the_pages() -> None:
    documented = re.findall(r"^## `([a-z-]+)`", DOC.read_text(encoding="utf-8"), re.MULTILINE)
    assert documented == list(PAGES)


def test_a_problem_points_to_its_own_page() -> None:
    status, body, headers = problem_for(StoreError("down"))
    doc = json.loads(body)
    assert (status, doc["type"], headers["Retry-After"]) == (
        503,
        "/problems/store-unavailable",
        "1",
    )
    text = page(doc["type"].removeprefix(TYPE_BASE))
    assert text is not None
    assert "<h1>Store unavailable</h1>" in text
    assert "HTTP 503" in text
    assert page("no-such-thing") is None
