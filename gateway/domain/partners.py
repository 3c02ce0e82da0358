"""Partners: foreign posts and partner customs agencies, as loaded from their folders."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class PartnerKind(StrEnum):
    POST = "post"
    CUSTOMS = "customs"


ITMATT_FORMAT = "itmatt-1.5"


@dataclass(frozen=True, slots=True)
class Partner:
    id: str
    name: str
    kind: PartnerKind
    country: str
    operator_code: str | None  # posts only: msgheader/sender of every message it sends
    formats: frozenset[str]
    max_body_bytes: int
    key_ids: tuple[str, ...]
    rate_per_s: float = 200.0  # sustained requests a second (429 beyond)
    burst: int = 400  # requests at once before the sustained rate applies

    def may_submit(self, fmt: str) -> bool:
        return fmt in self.formats
