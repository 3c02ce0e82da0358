"""Vague goods descriptions ("gift", "parts", "stuff"): a list kept as data."""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache
from pathlib import Path

from gateway.rules.codes import CODES_DIR, read_list

DEFAULT_TERMS_FILE = CODES_DIR / "vague-descriptions.txt"

_EDGE_PUNCTUATION = " \t\r\n.,;:!?-_'\"()[]{}*/"


def normalise(description: str) -> str:
    """Lower case, whitespace collapsed, surrounding punctuation dropped."""
    return " ".join(description.lower().split()).strip(_EDGE_PUNCTUATION)


def terms_from(lines: Iterable[str]) -> frozenset[str]:
    return frozenset(normalise(line) for line in lines)


def load_terms(path: Path) -> frozenset[str]:
    """The normalised terms of a vague-description file (one a line, `#` comments)."""
    return terms_from(read_list(path))


@cache
def default_terms() -> frozenset[str]:
    return load_terms(DEFAULT_TERMS_FILE)


def is_vague(description: str, terms: frozenset[str] | None = None) -> bool:
    """True when the whole description is one vague term (default: the project's list)."""
    return normalise(description) in (default_terms() if terms is None else terms)
