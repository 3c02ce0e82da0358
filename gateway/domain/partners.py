"""Partners: foreign posts and partner customs agencies, as loaded from their folders."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from pathlib import Path


class PartnerKind(StrEnum):
    POST = "post"
    CUSTOMS = "customs"


ITMATT_FORMAT = "itmatt-1.5"
B5_FEED_FORMAT = "b5-feed"  # the layout (CSV, JSON Lines, XML) is the partner's mapping.toml


@dataclass(frozen=True, slots=True)
class ShareAgreement:
    """What a customs partner receives from us, per its agreement (partner.toml [share])."""

    k: int = 10  # cells with fewer items are suppressed; a suppressed count is uncertain by >= k
    value_percent: Decimal = Decimal(20)  # a suppressed value is uncertain by >= this % of it
    combined_view: bool = False  # may see all partners' feeds beside our cells
    push_url: str = ""  # where reports are POSTed; empty: pull only


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
    share: ShareAgreement | None = None  # customs partners only
    mapping: Path | None = None  # customs partners: the feed mapping file
    rate_per_s: float = 200.0  # sustained requests a second (429 beyond)
    burst: int = 400  # requests at once before the sustained rate applies
    max_concurrent: int = 16  # its requests in progress at once (429 beyond)
    responses_url: str = ""  # posts: where responses to decisions are POSTed; empty: pull only

    def may_submit(self, fmt: str) -> bool:
        return fmt in self.formats
