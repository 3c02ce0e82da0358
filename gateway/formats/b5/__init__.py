"""B5 trend feeds (docs/b5.md): a partner's feed, laid out as its mapping says → observations.

load_mapping(path) -> FeedMapping          partners/<id>/mapping.toml, validated (ConfigError)
parse_feed(data, mapping, *, partner, rates) -> ParsedFeed       pure; MessageRejected
value_band(usd) -> str                     the USD band of a value per item
"""

from gateway.formats.b5.feed import ParsedFeed, parse_feed
from gateway.formats.b5.mapping import FeedKind, FeedMapping, load_mapping
from gateway.formats.b5.rows import RateLookup, RowOutcome
from gateway.rules.bands import BANDS, value_band

__all__ = [
    "BANDS",
    "FeedKind",
    "FeedMapping",
    "ParsedFeed",
    "RateLookup",
    "RowOutcome",
    "load_mapping",
    "parse_feed",
    "value_band",
]
