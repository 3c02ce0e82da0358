"""UPU S10 item identifiers: shape, check digit, issuing country, domestic ranges."""

from __future__ import annotations

import re
from operator import mul

from gateway.domain.findings import Finding, error, warning
from gateway.rules.codes import is_country

_SHAPE = re.compile(r"[A-Z]{2}[0-9]{9}[A-Z]{2}")
_WEIGHTS = (8, 6, 4, 2, 3, 5, 9, 7)
_ZERO_OFFSET = ord("0") * sum(_WEIGHTS)  # the weighted sum of the ASCII codes, less this

# S10 reserves these service indicators for domestic or bilateral use.
_DOMESTIC_FIRST_LETTERS = frozenset("BDNPZ")
_DOMESTIC_PAIRS = frozenset({"AV", "AW", "AX", "AY", "AZ", "GA", "GD"})


def check_digit(serial: str) -> int:
    """The S10 check digit of an 8-digit serial number."""
    if len(serial) != 8 or not (serial.isascii() and serial.isdigit()):
        raise ValueError(f"an S10 serial is 8 digits, got {serial!r}")
    weighted = sum(map(mul, serial.encode("ascii"), _WEIGHTS)) - _ZERO_OFFSET
    remainder = 11 - weighted % 11
    return 0 if remainder == 10 else 5 if remainder == 11 else remainder


def is_domestic(service_indicator: str) -> bool:
    """True when the 2-letter service indicator is in a domestic or bilateral range."""
    return service_indicator[:1] in _DOMESTIC_FIRST_LETTERS or service_indicator in _DOMESTIC_PAIRS


def check_s10(item_id: str, path: str = "", line: int | None = None) -> list[Finding]:
    """Findings for one item identifier: empty when it is a valid international S10 id.

    The shape is checked first; a malformed id gets S10_FORMAT only.
    """
    if not _SHAPE.fullmatch(item_id):
        return [
            error(
                "S10_FORMAT",
                f"itemId {item_id!r} is not a UPU S10 identifier "
                "(2 letters, 8 digits, check digit, 2-letter country)",
                path,
                line,
            )
        ]
    findings: list[Finding] = []
    expected = check_digit(item_id[2:10])
    if int(item_id[10]) != expected:
        findings.append(
            error(
                "S10_CHECK_DIGIT",
                f"itemId {item_id} has check digit {item_id[10]}, expected {expected}",
                path,
                line,
            )
        )
    if not is_country(item_id[11:]):
        findings.append(
            error(
                "S10_COUNTRY",
                f"itemId {item_id} ends in {item_id[11:]}, which is no ISO 3166-1 country code",
                path,
                line,
            )
        )
    if is_domestic(item_id[:2]):
        findings.append(
            warning(
                "S10_DOMESTIC_RANGE",
                f"service indicator {item_id[:2]} is reserved for domestic or bilateral use",
                path,
                line,
            )
        )
    return findings


def is_valid_s10(item_id: str) -> bool:
    """True when the id has the S10 shape, check digit and an ISO country (warnings allowed)."""
    return not any(f.is_error for f in check_s10(item_id))
