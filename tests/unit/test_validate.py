"""Offline validation (`gateway validate`): one report per file, as a table or as JSON."""

from __future__ import annotations

import gzip
import io
import json
import random
from pathlib import Path
from typing import Any

import pytest

from gateway.entrypoints import validate
from gateway.entrypoints.validate import FileReport, validate_file, write_report
from gateway.formats.itmatt.samples import build_itmatt, generate_items

EXAMPLE = Path(__file__).resolve().parents[1] / "data" / "itmatt" / "example.xml"
ITEMS = "/message/msgbody/itmatt_1_5_0"


def bad_document(tmp_path: Path) -> Path:
    """Four items; the 2nd has a wrong S10 check digit, the 4th a piece without hsCode."""
    items = generate_items(random.Random(7), 4, sender_country="GB", bad_every=2)
    assert [sorted(i.expect) for i in items] == [[], ["S10_CHECK_DIGIT"], [], ["HS_REQUIRED"]]
    path = tmp_path / "bad.xml"
    path.write_bytes(build_itmatt("GBA-20261127-0002", "GBA", items))
    return path


def doctype_document(tmp_path: Path) -> Path:
    data = EXAMPLE.read_bytes().replace(
        b"?>\n", b'?>\n<!DOCTYPE message [<!ENTITY x "boom">]>\n', 1
    )
    path = tmp_path / "doctype.xml"
    path.write_bytes(data)
    return path


def table(reports: list[FileReport]) -> str:
    out = io.StringIO()
    write_report(reports, out, as_json=False)
    return out.getvalue()


def as_json(reports: list[FileReport]) -> list[dict[str, Any]]:
    out = io.StringIO()
    write_report(reports, out, as_json=True)
    assert out.getvalue().endswith("\n")
    doc: list[dict[str, Any]] = json.loads(out.getvalue())
    return doc


def test_spec_example_is_valid() -> None:
    report = validate_file(EXAMPLE)
    assert report.ok
    assert report.message_id == "GBA-20261127-0001"
    assert report.message_errors == ()
    [item] = report.items
    assert (item.item_id, item.accepted, item.findings) == ("RB123456785GB", True, ())


def test_bad_items_are_reported_with_their_codes_lines_and_paths(tmp_path: Path) -> None:
    path = bad_document(tmp_path)
    report = validate_file(path)
    assert not report.ok
    assert [i.accepted for i in report.items] == [True, False, True, False]
    codes = {i.index: [f.code for f in i.findings] for i in report.items}
    assert codes == {1: [], 2: ["S10_CHECK_DIGIT"], 3: [], 4: ["HS_REQUIRED"]}
    check = report.items[1].findings[0]
    assert check.path == f"{ITEMS}/item[2]/itemId"
    lines = path.read_text(encoding="utf-8").splitlines()
    assert check.line is not None
    assert report.items[1].item_id in lines[check.line - 1]


def test_doctype_rejects_the_whole_message(tmp_path: Path) -> None:
    report = validate_file(doctype_document(tmp_path))
    assert not report.ok
    assert report.items == ()
    assert [f.code for f in report.message_errors] == ["XML_DOCTYPE_FORBIDDEN"]
    assert report.message_errors[0].line == 2


def test_not_well_formed_document_is_a_message_error(tmp_path: Path) -> None:
    path = tmp_path / "broken.xml"
    path.write_bytes(EXAMPLE.read_bytes().replace(b"</msgbody>", b"</msgbod>"))
    report = validate_file(path)
    assert not report.ok
    assert {f.code for f in report.message_errors} == {"XML_NOT_WELL_FORMED"}


def test_gzip_file_is_decompressed_first(tmp_path: Path) -> None:
    path = tmp_path / "example.xml.gz"
    path.write_bytes(gzip.compress(EXAMPLE.read_bytes()))
    report = validate_file(path)
    assert report.ok
    assert report.message_id == "GBA-20261127-0001"


def test_corrupt_gzip_file_is_a_message_error(tmp_path: Path) -> None:
    path = tmp_path / "broken.xml.gz"
    path.write_bytes(gzip.compress(EXAMPLE.read_bytes())[:40])
    report = validate_file(path)
    assert [f.code for f in report.message_errors] == ["GZIP_INVALID"]


def test_gzip_expanding_beyond_the_limit_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(validate, "MAX_BYTES", 1000)
    path = tmp_path / "example.xml.gz"
    path.write_bytes(gzip.compress(EXAMPLE.read_bytes()))
    report = validate_file(path)
    assert not report.ok
    [finding] = report.message_errors
    assert finding.code == "FILE_UNREADABLE"
    assert "1000" in finding.message


def test_missing_file_is_reported_not_raised(tmp_path: Path) -> None:
    report = validate_file(tmp_path / "absent.xml")
    assert not report.ok
    assert [f.code for f in report.message_errors] == ["FILE_UNREADABLE"]


def test_table_says_valid_and_counts_items() -> None:
    text = table([validate_file(EXAMPLE)])
    assert text.splitlines() == [
        f"{EXAMPLE}: valid GBA-20261127-0001",
        "  items: 1 accepted, 0 rejected",
    ]


def test_table_names_each_rejected_item_with_code_line_and_path(tmp_path: Path) -> None:
    report = validate_file(bad_document(tmp_path))
    lines = table([report]).splitlines()
    assert lines[0] == f"{report.path}: INVALID GBA-20261127-0002"
    assert lines[1] == "  items: 2 accepted, 2 rejected"
    check = report.items[1]
    s10_line = next(line for line in lines if "S10_CHECK_DIGIT" in line)
    assert s10_line.split()[:4] == ["item", "2", check.item_id, "error"]
    assert f"line {check.findings[0].line}" in s10_line
    assert f"{ITEMS}/item[2]/itemId" in s10_line
    assert any("HS_REQUIRED" in line and "item 4" in line for line in lines)


def test_table_names_message_errors(tmp_path: Path) -> None:
    text = table([validate_file(doctype_document(tmp_path))])
    assert "INVALID" in text.splitlines()[0]
    assert "message  XML_DOCTYPE_FORBIDDEN" in text
    assert "line 2" in text


def test_table_holds_one_block_per_file(tmp_path: Path) -> None:
    reports = [validate_file(EXAMPLE), validate_file(bad_document(tmp_path))]
    headers = [line for line in table(reports).splitlines() if not line.startswith(" ")]
    assert headers == [
        f"{EXAMPLE}: valid GBA-20261127-0001",
        f"{tmp_path / 'bad.xml'}: INVALID GBA-20261127-0002",
    ]


def test_json_report_names_codes_lines_and_paths(tmp_path: Path) -> None:
    report = validate_file(bad_document(tmp_path))
    [doc] = as_json([report])
    assert doc["file"] == str(tmp_path / "bad.xml")
    assert (doc["messageId"], doc["valid"], doc["errors"]) == ("GBA-20261127-0002", False, [])
    assert [i["status"] for i in doc["items"]] == ["ACCEPTED", "REJECTED", "ACCEPTED", "REJECTED"]
    assert [i["index"] for i in doc["items"]] == [1, 2, 3, 4]
    second = doc["items"][1]
    assert second["itemId"] == report.items[1].item_id
    assert second["version"] == 1
    assert second["line"] == report.items[1].line
    [finding] = second["findings"]
    assert finding["code"] == "S10_CHECK_DIGIT"
    assert finding["severity"] == "error"
    assert finding["path"] == f"{ITEMS}/item[2]/itemId"
    assert finding["line"] == report.items[1].findings[0].line
    assert finding["message"]


def test_json_report_carries_message_errors(tmp_path: Path) -> None:
    [doc] = as_json([validate_file(doctype_document(tmp_path))])
    assert doc["valid"] is False
    assert doc["items"] == []
    [finding] = doc["errors"]
    assert (finding["code"], finding["line"]) == ("XML_DOCTYPE_FORBIDDEN", 2)


def test_json_report_is_one_document_per_file(tmp_path: Path) -> None:
    docs = as_json([validate_file(EXAMPLE), validate_file(bad_document(tmp_path))])
    assert [(d["messageId"], d["valid"]) for d in docs] == [
        ("GBA-20261127-0001", True),
        ("GBA-20261127-0002", False),
    ]
