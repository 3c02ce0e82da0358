"""How a journal row's short code lists (HS chapters, ISO countries) are stored as one text
column, by every backend alike."""

from __future__ import annotations

import json

_SEPARATOR = ","


def encode_codes(codes: tuple[str, ...]) -> str:
    """Comma-joined short codes: far cheaper to read back than JSON.

    Any list the commas cannot hold unambiguously (an empty code, a comma, a leading "[") is
    stored as a JSON array instead, which always starts with "[".
    """
    text = _SEPARATOR.join(codes)
    if text.startswith("[") or any(not code or _SEPARATOR in code for code in codes):
        return json.dumps(codes)
    return text


def decode_codes(text: str) -> tuple[str, ...]:
    if text.startswith("["):
        return tuple(json.loads(text))
    return tuple(text.split(_SEPARATOR)) if text else ()
