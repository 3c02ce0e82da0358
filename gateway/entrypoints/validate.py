"""Offline validation (`gateway validate`): the same findings the server gives, per file."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from gateway.domain.findings import Finding, Severity
from gateway.domain.messages import ItemOutcome
from gateway.errors import InputError, MessageRejected
from gateway.formats.hardened import gunzip_bounded
from gateway.formats.itmatt import parse_itmatt

MAX_BYTES = 50 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class FileReport:
    path: Path
    message_errors: tuple[Finding, ...] = ()
    items: Sequence[ItemOutcome] = field(default=())
    message_id: str = ""

    @property
    def ok(self) -> bool:
        return not self.message_errors and all(i.accepted for i in self.items)

    def as_json(self) -> dict[str, object]:
        return {
            "file": str(self.path),
            "messageId": self.message_id,
            "valid": self.ok,
            "errors": [f.as_json() for f in self.message_errors],
            "items": [
                {
                    "index": i.index,
                    "itemId": i.item_id,
                    "version": i.version,
                    "status": "ACCEPTED" if i.accepted else "REJECTED",
                    "line": i.line,
                    "findings": [f.as_json() for f in i.findings],
                }
                for i in self.items
            ],
        }


def validate_file(path: Path) -> FileReport:
    """Parse and check one file as the server would (history rules aside: they need the journal)."""
    try:
        data = path.read_bytes()
        if data[:2] == b"\x1f\x8b":
            data = gunzip_bounded(data, MAX_BYTES)
        parsed = parse_itmatt(data)
    except MessageRejected as exc:
        return FileReport(path, exc.findings)
    except (InputError, OSError) as exc:
        return FileReport(path, (Finding("FILE_UNREADABLE", Severity.ERROR, str(exc)),))
    return FileReport(path, items=parsed.items, message_id=parsed.header.message_id)


def write_report(reports: Sequence[FileReport], out: TextIO, *, as_json: bool) -> None:
    if as_json:
        json.dump([r.as_json() for r in reports], out, indent=2, ensure_ascii=False)
        out.write("\n")
        return
    for report in reports:
        _write_table(report, out)


def _write_table(report: FileReport, out: TextIO) -> None:
    verdict = "valid" if report.ok else "INVALID"
    out.write(f"{report.path}: {verdict} {report.message_id}\n")
    out.writelines(
        f"  message  {f.code:<24} line {f.line or '-':<5} {f.path}  {f.message}\n"
        for f in report.message_errors
    )
    accepted = sum(1 for i in report.items if i.accepted)
    if report.items:
        out.write(f"  items: {accepted} accepted, {len(report.items) - accepted} rejected\n")
    for item in report.items:
        out.writelines(
            f"  item {item.index:<4} {item.item_id or '?':<13} {f.severity.value:<7} "
            f"{f.code:<24} line {f.line or '-':<5} {f.path}  {f.message}\n"
            for f in item.findings
        )
