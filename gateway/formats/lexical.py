"""Lexical values shared by the formats: decimals, HS codes and timestamps, never floats."""

from __future__ import annotations

import re
from datetime import datetime

from google.protobuf.timestamp_pb2 import Timestamp

_CANONICAL_DECIMAL = re.compile(r"(?:0|[1-9][0-9]*)(?:\.[0-9]+)?")
_DATETIME = re.compile(r"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d+))?(Z|[+-]\d{2}:\d{2})")


def normalise_decimal(text: str) -> str:
    """A schema-valid xs:decimal lexical form, kept exact: whitespace, `+` and leading zeros
    dropped, `.5` → `0.5`, `5.` → `5`, `-0` → `0`; trailing fraction zeros are kept ("42.50").
    """
    text = text.strip()
    if _CANONICAL_DECIMAL.fullmatch(text):
        return text
    negative = text.startswith("-")
    whole, _, fraction = text.lstrip("+-").partition(".")
    number = (whole.lstrip("0") or "0") + (f".{fraction}" if fraction else "")
    if negative and number.strip("0.") != "":
        return "-" + number
    return number


#: Whether a (stripped) text is a decimal in the form `normalise_decimal` returns unchanged.
canonical_decimal = _CANONICAL_DECIMAL.fullmatch


def hs_digits(text: str) -> str:
    """An HS code as digits only: dots and spaces dropped."""
    return text.replace(".", "").replace(" ", "")


def parse_datetime(text: str) -> tuple[datetime, int]:
    """An xs:dateTime with a time zone → (aware datetime to the second, nanoseconds).

    Raises ValueError when the text is not of that form.
    """
    match = _DATETIME.fullmatch(text.strip())
    if match is None:
        raise ValueError(f"{text!r} is not an xs:dateTime with a time zone")
    stamp, fraction, zone = match.groups()
    moment = datetime.fromisoformat(stamp + ("+00:00" if zone == "Z" else zone))
    nanos = int((fraction or "0")[:9].ljust(9, "0"))
    return moment, nanos


def epoch_seconds(moment: datetime) -> int:
    """Whole seconds since the Unix epoch of an aware datetime (fraction dropped)."""
    whole = moment if moment.microsecond == 0 else moment.replace(microsecond=0)
    # A whole number of seconds is exact in a float for any date datetime can hold.
    return int(whole.timestamp())


def to_timestamp(moment: datetime, nanos: int = 0) -> Timestamp:
    """A protobuf Timestamp from an aware datetime (whole seconds) and nanoseconds."""
    return Timestamp(seconds=epoch_seconds(moment), nanos=nanos)


def datetime_with_nanos(moment: datetime, nanos: int) -> datetime:
    """The datetime carrying the microseconds of `nanos` (Python stops at microseconds)."""
    return moment.replace(microsecond=nanos // 1000)
