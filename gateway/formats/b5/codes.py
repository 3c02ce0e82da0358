"""The canonical codes of a B5 trend observation (docs/b5.md), their "not stated" values, and
the finding codes of a feed."""

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


# Every finding code a B5 feed can get, whatever its layout, and what it means (docs/b5.md
# says how to fix each; a test keeps the two lists equal). One fault has one code in every
# layout: an XML row's schema errors take the code the same value gets in CSV or JSON Lines.
FINDING_CODES: Mapping[str, str] = {
    # the feed as a whole (a problem document, nothing stored)
    "B5_LAYOUT": "the body is in another layout than the partner's mapping names",
    "B5_ENCODING": "a CSV or JSON Lines feed that is not UTF-8",
    "B5_HEADER": "a CSV header that is empty, lacks a mapped column or names one twice",
    "GZIP_INVALID": "a gzip body that cannot be decompressed",
    "XML_ENCODING": "an XML feed that is not UTF-8",
    "XML_DOCTYPE_FORBIDDEN": "an XML feed with a DOCTYPE",
    "XML_ENTITY_FORBIDDEN": "an XML feed that uses an entity or an external resource",
    "XML_NOT_WELL_FORMED": "an XML feed that is not well-formed",
    "XML_TOO_DEEP": "an XML feed whose elements nest too deep",
    "XML_TOO_LARGE": "an XML feed with a text or name beyond the parser's limits",
    "XML_XINCLUDE_FORBIDDEN": "an XML feed with an XInclude element",
    "XML_NAMESPACE_FORBIDDEN": "an XML feed with an element in a refused namespace",
    "XML_TOO_MANY_NAMESPACES": "an XML feed declaring too many namespaces",
    "XML_NAMESPACE": "an XML root element other than the mapping's root in its namespace",
    "XSD_ENVELOPE": "an XML schema error outside any row (the root, or an unexpected element)",
    # one row (in the receipt; the row is rejected, the others are kept)
    "B5_CSV": "a CSV record that cannot be read, or has another number of cells than the header",
    "B5_JSON": "a JSON Lines line that is not one JSON object (syntax, NaN, a key twice)",
    "B5_COLUMN_UNKNOWN": "a CSV column, JSON key or XML attribute that the mapping does not know",
    "XSD": "an XML row whose structure its schema refuses (child elements, text)",
    "B5_FIELD_MISSING": "a required field that is empty or absent",
    "B5_TYPE": "a JSON value of the wrong type",
    "B5_NUMBER": "a count or amount that is not a non-negative number of the agreed form",
    "B5_PERIOD": "a date or ISO week that is not one, or a date range across ISO weeks",
    "B5_COUNTRY_UNKNOWN": "an origin that is not an assigned ISO 3166-1 alpha-2 code nor ZZ",
    "B5_HS_CHAPTER": "an HS chapter that is not two digits, or one the HS does not use",
    "B5_CODE_UNMAPPED": "a category, channel or band that maps to no canonical code",
    "B5_RATE_MISSING": "(warning) no USD rate for the feed's currency on the week's Monday",
}
