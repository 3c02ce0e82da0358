"""Fuzzing the offline validator (`gateway validate`): valid and mutated ITMATT documents.

Whatever the bytes, `validate_file` and the pure stage `parse_itmatt` answer with findings or a
rejection, never another exception; every finding has a code, a line and a path; a valid
document's items are all accepted.
"""

from __future__ import annotations

import gzip
import io
import json
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from lxml import etree

from gateway.domain.findings import Finding, Severity
from gateway.entrypoints.validate import FileReport, validate_file, write_report
from gateway.errors import MessageRejected
from gateway.formats.itmatt import parse_itmatt
from gateway.rules.items import item_path
from tests.fuzz.budget import count, fuzz
from tests.fuzz.itmatt_gen import Doc, arbitrary_bytes, documents, mutated

MESSAGE_ID = "FUZZ-0001"
# Findings about the body as a whole, before any line exists (gzip, file system).
WHOLE_BODY = frozenset({"GZIP_INVALID", "FILE_UNREADABLE"})


@pytest.fixture(scope="module")
def workdir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="aedgw-fuzz-") as name:
        yield Path(name)


def item_count(data: bytes) -> int | None:
    """How many children `itmatt_1_5_0` has, read by a plain parser (None: not readable)."""
    parser = etree.XMLParser(
        remove_comments=True, remove_pis=True, resolve_entities=False, no_network=True
    )
    try:
        root = etree.fromstring(data, parser)
        return len(root[1][0])
    except (etree.XMLSyntaxError, IndexError, ValueError):
        return None


def check_message_finding(finding: Finding, lines: int) -> None:
    assert finding.code, finding
    assert finding.severity is Severity.ERROR, finding
    assert isinstance(finding.path, str), finding
    if finding.code in WHOLE_BODY:
        return
    assert finding.line is not None, f"message finding without a line: {finding}"
    assert 1 <= finding.line <= lines + 1, (finding, lines)


def check_report(report: FileReport, data: bytes) -> None:
    """The invariants of one report on the document `data` (already gunzipped)."""
    lines = data.count(b"\n") + 1
    if report.message_errors:
        assert not report.items
        for finding in report.message_errors:
            check_message_finding(finding, lines)
        return
    assert report.message_id
    expected = item_count(data)
    assert expected is not None
    assert [i.index for i in report.items] == list(range(1, expected + 1))
    for item in report.items:
        assert 1 <= item.line <= lines, item
        assert item.accepted == (item.declaration is not None)
        errors = [f for f in item.findings if f.is_error]
        assert item.accepted == (not errors), item
        for finding in item.findings:
            assert finding.code, finding
            assert finding.path.startswith(item_path(item.index)), (finding, item.index)
            assert finding.line is not None, finding
            assert item.line <= finding.line <= lines, (finding, item.line)
    as_text = io.StringIO()
    write_report([report], as_text, as_json=True)
    json.loads(as_text.getvalue())
    write_report([report], io.StringIO(), as_json=False)


def run(workdir: Path, data: bytes, *, compress: bool = False) -> FileReport:
    path = workdir / ("doc.xml.gz" if compress else "doc.xml")
    path.write_bytes(gzip.compress(data, mtime=0) if compress else data)
    return validate_file(path)


@fuzz(150)
@given(doc=documents(max_items=6), compress=st.booleans())
def test_valid_documents_are_accepted_item_by_item(workdir: Path, doc: Doc, compress: bool) -> None:
    count("test_valid_documents_are_accepted_item_by_item")
    data = doc.bytes(MESSAGE_ID)
    report = run(workdir, data, compress=compress)
    assert not report.message_errors, (report.message_errors, doc.text())
    check_report(report, data)
    rejected = {i.index: [f.code for f in i.findings] for i in report.items if not i.accepted}
    assert not rejected, (rejected, doc.text())


@fuzz(400)
@given(doc=mutated(max_items=4), compress=st.booleans())
def test_mutated_documents_get_findings_never_an_exception(
    workdir: Path, doc: Doc, compress: bool
) -> None:
    count("test_mutated_documents_get_findings_never_an_exception")
    data = doc.bytes(MESSAGE_ID)
    check_report(run(workdir, data, compress=compress), data)


@fuzz(200)
@given(data=arbitrary_bytes())
def test_the_parse_stage_refuses_arbitrary_bytes_with_findings(data: bytes) -> None:
    count("test_the_parse_stage_refuses_arbitrary_bytes_with_findings")
    try:
        parsed = parse_itmatt(data)
    except MessageRejected as exc:
        findings = exc.findings
    else:
        assert parsed.header.message_id
        return
    assert findings
    for finding in findings:
        check_message_finding(finding, data.count(b"\n") + 1)
