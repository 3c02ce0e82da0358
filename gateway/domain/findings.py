"""Validation findings: what the gateway says about one item or one message."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True, slots=True)
class Finding:
    """One rule's verdict: a stable code, its severity, where it was found and why.

    `path` is XPath-like (`/message/msgbody/itmatt_1_5_0/item[3]/contents/piece[1]/hsCode`);
    `line` is the source line in the document as received (None where no line applies).
    """

    code: str
    severity: Severity
    message: str
    path: str = ""
    line: int | None = None

    @property
    def is_error(self) -> bool:
        return self.severity is Severity.ERROR

    def as_json(self) -> dict[str, object]:
        out: dict[str, object] = {
            "code": self.code,
            "severity": self.severity.value,
            "message": self.message,
        }
        if self.path:
            out["path"] = self.path
        if self.line is not None:
            out["line"] = self.line
        return out


def error(code: str, message: str, path: str = "", line: int | None = None) -> Finding:
    return Finding(code, Severity.ERROR, message, path, line)


def warning(code: str, message: str, path: str = "", line: int | None = None) -> Finding:
    return Finding(code, Severity.WARNING, message, path, line)
