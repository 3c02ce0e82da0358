"""docs/itmatt.md, the page a post's developer writes to, against the code: its example is
accepted as it stands, and its S10 table gives the verdicts the rules give."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from gateway.formats.itmatt import parse_itmatt
from gateway.rules.s10 import check_s10

PAGE = (Path(__file__).resolve().parents[2] / "docs" / "itmatt.md").read_text(encoding="utf-8")


def test_the_example_document_is_accepted_with_no_finding() -> None:
    (example,) = re.findall(r"```xml\n(.*?)```", PAGE, flags=re.DOTALL)
    parsed = parse_itmatt(example.encode("utf-8"))
    assert [(o.item_id, o.accepted) for o in parsed.items] == [("RB123456785GB", True)]
    assert [f for o in parsed.items for f in o.findings] == []


S10_ROWS = re.findall(r"^\| `([A-Z0-9]+)` \| (valid|`[A-Z0-9_]+`)", PAGE, flags=re.MULTILINE)


@pytest.mark.parametrize(("item_id", "verdict"), S10_ROWS)
def test_the_s10_table_gives_the_rules_verdicts(item_id: str, verdict: str) -> None:
    codes = [f.code for f in check_s10(item_id)]
    assert codes == ([] if verdict == "valid" else [verdict.strip("`")])


def test_the_s10_table_is_read() -> None:
    assert len(S10_ROWS) == 6
