"""What a format plug-in makes of one inbound message: a header and per-item outcomes."""

from __future__ import annotations

from array import array
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

from gateway.domain.findings import Finding
from gateway.domain.sequences import Packed
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
        if self.declaration is None:
            return False
        findings = self.findings  # most items have none: no generator for them
        return not findings or not any(f.is_error for f in findings)

    def with_findings(self, *extra: Finding) -> ItemOutcome:
        return replace(self, findings=self.findings + extra)

    def declaration_dropped(self) -> ItemOutcome:
        """This item with its Declaration replaced by TRANSLATED (once its record is sealed);
        as it is when it has none."""
        if self.declaration is None or self.declaration is TRANSLATED:
            return self
        return ItemOutcome(
            self.index, self.line, self.item_id, self.version, self.function, self.findings,
            TRANSLATED,
        )  # fmt: skip

    def __reduce__(self) -> tuple[type[ItemOutcome], tuple[Any, ...]]:
        # Crosses the CPU workers' pipe by the hundred: rebuilt by the constructor (twice as
        # fast as dataclasses' generic state of a slots class).
        return ItemOutcome, tuple(getattr(self, name) for name in self.__slots__)


# What a translated item carries once its record is sealed and its Declaration dropped: past
# that point only whether it was translated matters (ItemOutcome.accepted).
TRANSLATED = Declaration()
_FUNCTIONS = tuple(ItemFunction)
_MAX_PACKED = 1 << 32  # lines and versions below this are packed (array "I")


class PackedOutcomes(Packed[ItemOutcome]):
    """A large message's item outcomes, the common ones packed.

    An item whose Declaration was dropped (TRANSLATED) and that has no finding, which is most
    items of a large message, is kept as its line, version, function and itemId in arrays:
    ~25 bytes where an ItemOutcome costs ~250, and pickled as a few flat buffers instead of
    ~150,000 objects. Any other item (and one whose index is not its position) is kept whole.
    Items are given back as equal ItemOutcomes, made on each access.
    """

    __slots__ = ("_ends", "_functions", "_ids", "_lines", "_versions", "_whole")

    def __init__(self, items: Iterable[ItemOutcome] = ()) -> None:
        self._lines, self._versions = array("I"), array("I")
        self._functions = bytearray()
        self._ids, self._ends = bytearray(), array("I")  # itemIds' UTF-8 end to end; ends
        self._whole: dict[int, ItemOutcome] = {}  # by position: the items not packed
        for item in items:
            self.append(item)

    def append(self, item: ItemOutcome) -> None:
        position = len(self._lines)
        packs = (
            item.declaration is TRANSLATED
            and not item.findings
            and item.index == position + 1
            and 0 <= item.line < _MAX_PACKED
            and 0 <= item.version < _MAX_PACKED
        )
        if packs:
            self._lines.append(item.line)
            self._versions.append(item.version)
            self._functions.append(_FUNCTIONS.index(item.function))
            self._ids += item.item_id.encode()
        else:
            self._lines.append(0)
            self._versions.append(0)
            self._functions.append(0)
            self._whole[position] = item
        self._ends.append(len(self._ids))

    def replaced(self, changes: Mapping[int, ItemOutcome]) -> PackedOutcomes:
        """A copy with the items at the given positions (0-based) replaced."""
        copy = PackedOutcomes()
        copy._lines, copy._versions = array("I", self._lines), array("I", self._versions)
        copy._functions, copy._ids = bytearray(self._functions), bytearray(self._ids)
        copy._ends, copy._whole = array("I", self._ends), {**self._whole, **changes}
        return copy

    def __len__(self) -> int:
        return len(self._lines)

    def _at(self, at: int) -> ItemOutcome:
        whole = self._whole.get(at)
        if whole is not None:
            return whole
        start = self._ends[at - 1] if at else 0
        return ItemOutcome(
            at + 1,
            self._lines[at],
            self._ids[start : self._ends[at]].decode(),
            self._versions[at],
            _FUNCTIONS[self._functions[at]],
            (),
            TRANSLATED,
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Sequence) or isinstance(other, str | bytes):
            return NotImplemented
        return len(self) == len(other) and all(a == b for a, b in zip(self, other, strict=True))

    __hash__ = None  # type: ignore[assignment]  # mutable, like a list

    def __repr__(self) -> str:
        return f"PackedOutcomes({len(self)} items, {len(self._whole)} whole)"


def with_changes(
    items: Sequence[ItemOutcome], changes: Mapping[int, ItemOutcome]
) -> Sequence[ItemOutcome]:
    """`items` with those at the given positions (0-based) replaced: packed if they were, else
    a tuple."""
    if isinstance(items, PackedOutcomes):
        return items.replaced(changes) if changes else items
    if not changes:
        return tuple(items)
    return tuple(changes.get(n, item) for n, item in enumerate(items))


@dataclass(frozen=True, slots=True)
class ParsedMessage:
    header: MessageHeader
    items: Sequence[ItemOutcome]  # a tuple, or PackedOutcomes for a streamed document
    source_format: str
