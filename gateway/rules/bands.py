"""Value bands of B5 cells (docs/b5.md): a declared value per item in USD → its band name."""

from __future__ import annotations

from bisect import bisect_left
from decimal import Decimal

# (name, upper bound inclusive); each lower bound is exclusive, except that 0-20 includes 0.
_BOUNDED = (
    ("0-20", Decimal(20)),
    ("20-40", Decimal(40)),
    ("40-100", Decimal(100)),
    ("100-150", Decimal(150)),
    ("150-800", Decimal(800)),
    ("800-2500", Decimal(2500)),
)
TOP_BAND = "2500+"
BANDS: tuple[str, ...] = (*(name for name, _ in _BOUNDED), TOP_BAND)
_UPPERS = tuple(upper for _, upper in _BOUNDED)


def value_band(usd: Decimal) -> str:
    """The band of a value in USD: 20 is in 0-20, 20.01 in 20-40, 2500.01 in 2500+.

    Raises ValueError for a negative or non-finite value.
    """
    if not usd.is_finite() or usd < 0:
        raise ValueError(f"{usd} is not a value in USD")
    # the first band whose upper bound is >= usd; past the last bound, the top band
    return BANDS[bisect_left(_UPPERS, usd)]
