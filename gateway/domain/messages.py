"""What a format plug-in makes of one inbound message: a header and per-item outcomes."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum

from gateway.domain.findings import Finding
from gateway.wire.declaration_pb2 import Declaration


class ItemFunction(StrEnum):
    ORIGINAL = "ORIGINAL"
    AMENDMENT = "AMENDMENT"
    CANCELLATION = "CANCELLATION"


@dataclass(frozen=True, slots=True)
class MessageHeader:
    message_id: str
    sender: str  # operator code
    recipient: str
    prepared_at: datetime  # timezone-aware
    test: bool = False


@dataclass(frozen=True, slots=True)
class ItemOutcome:
    """One item of a message after the pure stages (XSD, rules, translation).

    `declaration` is the canonical record with provenance partly filled (the pipeline adds the
    partner, receipt and received time); it is None when the item could not be translated
    (an XSD error inside it). An item is accepted when it has no error finding.
    """

    index: int  # 1-based position of the <item> in the message
    line: int  # source line of the <item> element
    item_id: str  # as on the wire ("" when missing)
    version: int
    function: ItemFunction
    findings: tuple[Finding, ...]
    declaration: Declaration | None = field(default=None, compare=False)

    @property
    def accepted(self) -> bool:
        return self.declaration is not None and not any(f.is_error for f in self.findings)

    def with_findings(self, *extra: Finding) -> ItemOutcome:
        return replace(self, findings=self.findings + extra)


@dataclass(frozen=True, slots=True)
class ParsedMessage:
    header: MessageHeader
    items: tuple[ItemOutcome, ...]
    source_format: str
