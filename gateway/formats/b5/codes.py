"""The canonical codes of a B5 trend observation (spec/B5.md) and their "not stated" values."""

from __future__ import annotations

from collections.abc import Mapping

from gateway.rules.items import RESERVED_HS_CHAPTERS

# The ITMATT categories, and UNSPECIFIED for a cell that does not state one.
CATEGORIES = frozenset(
    {
        "GIFT",
        "DOCUMENTS",
        "COMMERCIAL_SAMPLE",
        "RETURNED_GOODS",
        "SALE_OF_GOODS",
        "OTHER",
        "UNSPECIFIED",
    }
)
CHANNELS = frozenset({"POST", "COURIER", "UNKNOWN"})
NOT_STATED: Mapping[str, str] = {
    "origin": "ZZ",
    "hs_chapter": "00",
    "category": "UNSPECIFIED",
    "channel": "UNKNOWN",
}


def chapter_problem(chapter: str) -> str | None:
    """Why a 2-digit HS chapter is refused, or None: 01-97 except reserved ones, or 00."""
    if len(chapter) != 2 or not (chapter.isascii() and chapter.isdigit()):
        return "is not a 2-digit HS chapter"
    if chapter != NOT_STATED["hs_chapter"] and (chapter in RESERVED_HS_CHAPTERS or chapter > "97"):
        return f"is chapter {chapter}, which the HS does not use"
    return None
