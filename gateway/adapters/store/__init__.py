"""Store adapters: the journal, messages and cursors behind `gateway.ports.Store`.

`open_store_from_url` is the one place a store URL becomes a backend:

    sqlite:///relative/path.db          relative to the working directory
    sqlite:////absolute/path.db         absolute
    sqlite:///path.db?synchronous=NORMAL
    postgresql://user@host:5432/db      PostgreSQL, shared by every replica (asyncpg)
    postgresql://…?pool_size=20&schema=aedgw
                                        pool_size: this replica's connections (default 10);
                                        schema: where the tables live (default: search_path's
                                        first, normally public). Other query parameters
                                        (sslmode, sslrootcert, application_name, …) go to asyncpg
                                        as libpq would take them.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, parse_qsl, urlencode, urlsplit, urlunsplit

from gateway.adapters.store.postgres import DEFAULT_POOL_SIZE, PostgresStore
from gateway.adapters.store.sqlite import SqliteStore
from gateway.errors import ConfigError
from gateway.ports import Store

__all__ = [
    "PostgresStore",
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
        return _postgresql(parts.scheme, parts.netloc, parts.path, parts.query, parts.fragment)
    raise ConfigError(
        _SOURCE, _KEY, f"unknown store scheme {scheme or '(none)'!r}",
        "use sqlite:///relative/path.db, sqlite:////absolute/path.db or postgresql://host/db",
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


def _postgresql(scheme: str, netloc: str, path: str, query: str, fragment: str) -> Store:
    if fragment:
        raise ConfigError(_SOURCE, _KEY, "a postgresql URL has no #fragment")
    ours: dict[str, str] = {}
    rest: list[tuple[str, str]] = []
    for key, value in parse_qsl(query, keep_blank_values=True):
        if key in {"pool_size", "schema"}:
            ours[key] = value
        else:
            rest.append((key, value))
    pool_size = DEFAULT_POOL_SIZE
    if "pool_size" in ours:
        text = ours["pool_size"]
        if not text.isdigit() or not 1 <= int(text) <= 1000:
            raise ConfigError(
                _SOURCE, _KEY, f"pool_size must be a whole number from 1 to 1000, got {text!r}",
                "e.g. postgresql://gw@db/aedgw?pool_size=20",
            )  # fmt: skip
        pool_size = int(text)
    dsn = urlunsplit((scheme, netloc, path, urlencode(rest), ""))
    return PostgresStore(dsn, schema=ours.get("schema") or None, pool_size=pool_size)
