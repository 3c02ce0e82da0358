"""Store adapters: the journal, messages and cursors behind `gateway.ports.Store`.

`open_store_from_url` is the one place a store URL becomes a backend:

    sqlite:///relative/path.db          relative to the working directory
    sqlite:////absolute/path.db         absolute
    sqlite:///path.db?synchronous=NORMAL
    postgresql://…                      not yet supported (a later issue adds an asyncpg backend)
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from gateway.adapters.store.aggregation import AggregationMoved
from gateway.adapters.store.cursors import AckBeyondJournal
from gateway.adapters.store.outbox import NotInOutbox
from gateway.adapters.store.sqlite import SqliteStore
from gateway.errors import ConfigError
from gateway.ports import Store

__all__ = [
    "AckBeyondJournal",
    "AggregationMoved",
    "NotInOutbox",
    "SqliteStore",
    "open_store_from_url",
]

_KEY = "store.url"
_SOURCE = "settings"


def open_store_from_url(url: str) -> Store:
    """Build the store `url` names, not yet opened: the caller awaits `store.open()`.

    Raises ConfigError naming what is wrong; the message never repeats the URL, which may hold
    credentials.
    """
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme == "sqlite":
        return _sqlite(parts.netloc, parts.path, parts.query)
    if scheme in {"postgresql", "postgres"}:
        # The asyncpg backend plugs in here, running the same contract suite.
        raise ConfigError(
            _SOURCE, _KEY, "postgresql is not yet supported by this gateway version",
            "use sqlite:///path/to/gateway.db",
        )  # fmt: skip
    raise ConfigError(
        _SOURCE, _KEY, f"unknown store scheme {scheme or '(none)'!r}",
        "use sqlite:///relative/path.db or sqlite:////absolute/path.db",
    )  # fmt: skip


def _sqlite(host: str, path: str, query: str) -> Store:
    if host:
        raise ConfigError(
            _SOURCE, _KEY, f"a sqlite URL names no host (got {host!r})",
            "write three slashes for a relative path (sqlite:///data/gw.db), four for an "
            "absolute one (sqlite:////var/lib/gw.db)",
        )  # fmt: skip
    file = path[1:]  # the slash after the empty host; what remains is the path as written
    if not file or file.endswith("/"):
        raise ConfigError(_SOURCE, _KEY, "the sqlite URL names no file", "sqlite:///data/gw.db")
    options = {key: values[-1] for key, values in parse_qs(query, strict_parsing=False).items()}
    unknown = set(options) - {"synchronous"}
    if unknown:
        raise ConfigError(
            _SOURCE, _KEY, f"unknown sqlite option(s) {', '.join(sorted(unknown))}",
            "the only option is synchronous=OFF|NORMAL|FULL|EXTRA",
        )  # fmt: skip
    return SqliteStore(Path(file), synchronous=options.get("synchronous", "FULL"))
