"""Hostile values shared by the ITMATT and B5 mutations."""
# ruff: noqa: RUF001  (confusable characters are the point of these values)

from __future__ import annotations

from functools import cache

from hypothesis import strategies as st

# Text an XML 1.0 document can carry (no control characters, surrogates or non-characters),
# with odd Unicode on purpose: combining marks, bidi controls, astral planes, wide forms. A
# fixed alphabet: Hypothesis draws from a few intervals much faster than from all of Unicode.
XML_CHARS = (
    "".join(chr(c) for c in range(0x20, 0x7F))
    + "\u00a0\u00e9\u00df\u00c5\u0301\u0308\u05d0\u0627\u0663\u0e01\u1100\u200b\u200d"
    + "\u200e\u200f\u2028\u202e\u2060\u3000\u4e2d\uac00\ufb01\ufeff\uff10\uff27\ufffd"
    + "\U0001d518\U0001d7da\U0001f600\U0001f1ec\U0010fffd"
)


@cache
def xml_text(min_size: int = 0, max_size: int = 40) -> st.SearchStrategy[str]:
    return st.text(XML_CHARS, min_size=min_size, max_size=max_size)


@cache
def visible_text(max_size: int) -> st.SearchStrategy[str]:
    """1..max_size XML characters, not only blanks (names, descriptions …)."""
    return xml_text(1, max_size).filter(lambda s: s.strip() != "")


ODD_UNICODE = (
    "\u202eevil\u202c",  # right-to-left override
    "e\u0301\u0301\u0301",  # stacked combining marks
    "\U0001d518\U0001d52b\U0001d526",  # mathematical fraktur (astral plane)
    "\ufeffBOM inside",
    "\u200b",  # zero-width space only
    "\u00a0\u2003",  # no-break and em spaces only
    "Ｇ Ｂ Ｐ",  # full-width letters
    "٣٤٥٦",  # Arabic-Indic digits
    "２０２６",  # full-width digits
    "𝟚𝟘𝟚𝟞",  # mathematical double-struck digits
    "\u2028line\u2029separators",
    "İıſK",  # case-mapping traps
    "\x00nul",  # not allowed in XML at all
    "\x0bvt",  # a C0 control XML refuses
    "\ud7ff\ue000\U0010fffd",
    "<![CDATA[x]]>",
    "]]>",
    "&amp;&#0;&#xD800;",
    "\r\n\r",
)

DECIMALS = (
    "0",
    "-0",
    "-0.00",
    "-1",
    "-0.001",
    "+1.50",
    ".5",
    "5.",
    ".",
    "",
    " 1 ",
    "1,50",
    "1e3",
    "1E-400",
    "1.5E+2",
    "NaN",
    "INF",
    "-INF",
    "0x10",
    "1_000",
    "00000000000000000000000001.00",
    "1." + "0" * 300,
    "9" * 400,
    "9" * 40 + "." + "9" * 40,
    "0." + "0" * 399 + "1",
    "1" + "0" * 30,
    "18446744073709551616",
    "9223372036854775808",
    "4294967296",
    "٣.٥",
    "２",
    "1.999",
    "0.0001",
)

COUNTS = (
    "0",
    "-1",
    "1.0",
    "1e2",
    "01",
    "+5",
    "2147483648",
    "4294967295",
    "4294967296",
    "9223372036854775807",
    "9223372036854775808",
    "9999999999999999999",
    "18446744073709551615",
    "18446744073709551616",
    "9" * 60,
    "٣",
    " 7",
)

CODES = ("", " ", "XX", "ZZ", "ZZZ", "usd", "EUR ", "EURO", "GB1", "ÄÖ", "AAA", "QQ", "UK", "EU")

DATES = (
    "2026-02-30T00:00:00Z",
    "2026-13-01T00:00:00Z",
    "2026-11-27T24:00:00Z",
    "2026-11-27T23:59:60Z",
    "2026-11-27T09:15:00",
    "2026-11-27T09:15:00+24:00",
    "2026-11-27T09:15:00+14:00",
    "0001-01-01T00:00:00+14:00",
    "0001-01-01T00:00:00-14:00",
    "9999-12-31T23:59:59-14:00",
    "9999-12-31T23:59:59.999999999999Z",
    "0000-01-01T00:00:00Z",
    "1969-12-31T23:59:59.5Z",
    "２０２６-１１-２７T09:15:00Z",
    "٢٠٢٦-١١-٢٧T٠٩:١٥:٠٠Z",
    "2026-11-27T09:15:00.000000001Z",
    "2026-11-27",
    "2026-W47",
    "1970-01-01T00:00:00Z",
)

WEEKS = (
    "2026-W00",
    "2026-W53",
    "2020-W53",
    "2026-W54",
    "2026-W99",
    "0000-W01",
    "9999-W52",
    "2026-W7",
    "2026W47",
    "２０２６-W47",
    "2026-W٤٧",
)


@cache
def long_text() -> st.SearchStrategy[str]:
    return st.one_of(
        st.integers(200, 5000).map(lambda n: "A" * n),
        st.integers(100, 2000).map(lambda n: "\U0001f600" * n),
        xml_text(200, 1200),
    )


@cache
def hostile() -> st.SearchStrategy[str]:
    """Any value that should never crash a parser: out of domain, long, odd, numeric traps."""
    return st.one_of(
        st.sampled_from(ODD_UNICODE),
        st.sampled_from(DECIMALS),
        st.sampled_from(COUNTS),
        st.sampled_from(CODES),
        st.sampled_from(DATES),
        st.sampled_from(WEEKS),
        long_text(),
        st.text(max_size=20),
        xml_text(0, 20),
    )
