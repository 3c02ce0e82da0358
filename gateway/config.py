"""Settings and partner folders: read once at start-up, validated, then frozen.

Every problem names its file, its key and the fix (gateway.errors.ConfigError). Every key has a
default, so `gateway serve` with no configuration file runs from the repository root.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from gateway.adapters.grpc.tls import is_loopback, load_server_tls
from gateway.domain.partners import (
    B5_FEED_FORMAT,
    Partner,
    PartnerKind,
    ShareAgreement,
)
from gateway.domain.routing import Consumer, RoutingRule
from gateway.errors import ConfigError
from gateway.formats import registry
from gateway.rules.codes import is_country
from gateway.services.itmatt_intake import MIN_STREAM_BYTES, STREAM_BYTES
from gateway.share.frozen import LATE_WINDOW_WEEKS
from gateway.share.trends import TrendConfig

CONFIG_ENV = "AEDGW_CONFIG"
DEFAULT_MAX_BODY = 50 * 1024 * 1024
KEY_ALGS = frozenset({"ed25519", "ecdsa-p256-sha256"})
_PARTNER_ID = re.compile(r"[a-z0-9-]{3,64}")
_CONSUMER_NAME = re.compile(r"[A-Za-z0-9_.-]{1,64}")
_CATEGORIES = frozenset(
    {"GIFT", "DOCUMENTS", "COMMERCIAL_SAMPLE", "RETURNED_GOODS", "SALE_OF_GOODS", "OTHER"}
)
_TOML_TYPES = {
    str: 'a string ("…")',
    int: "an integer",
    float: "a number",
    bool: "true or false",
    list: "an array [ … ]",
    dict: "a table",
    datetime: "a date-time such as 2026-01-01T00:00:00Z",
}
MAX_LATE_WINDOW_WEEKS = 52  # a year of earlier weeks at most
_TOML_FIX = "correct the TOML syntax at the line and column shown"


@dataclass(frozen=True, slots=True)
class HttpSettings:
    listen: str = "127.0.0.1:8080"
    # The absolute base URL partners use (scheme://host[:port]); behind a TLS-terminating proxy
    # it is what @target-uri is verified against. Empty: derived from the request.
    public_base_url: str = ""
    tls_cert: Path | None = None
    tls_key: Path | None = None
    max_concurrent_requests: int = 256  # authenticated requests being processed (503 beyond)
    max_open_requests: int = 1024  # POSTs in progress, bodies still arriving included (503 beyond)
    header_timeout_s: float = 20.0  # a connection's request head must arrive within this
    body_timeout_s: float = 60.0  # a request's body must arrive within this (408 beyond)


@dataclass(frozen=True, slots=True)
class GrpcSettings:
    listen: str = "127.0.0.1:50051"
    max_in_flight: int = 1000
    # mTLS: the server's certificate (chain, leaf first) and key, and the CA that issues the
    # consumers' client certificates; all three or none. None: plaintext, consumers are not
    # authenticated, allowed on a loopback address only unless `insecure`.
    tls_cert: Path | None = None
    tls_key: Path | None = None
    client_ca: Path | None = None
    insecure: bool = False
    # consumer name -> the certificate name (CN, DNS or URI SAN) that identifies it; a consumer
    # not listed is identified by its own name. From [[consumers]] client_cert_name.
    client_cert_names: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class SigningSettings:
    key_dir: Path = Path("data/keys")
    alg: str = "ed25519"
    signature_window_s: int = 300


@dataclass(frozen=True, slots=True)
class ShareSettings:
    """Share reports: when they are built and how their push is retried."""

    build_every_s: int = 3600  # check for the last complete week's reports this often
    push_first_backoff_s: float = 5.0  # a failed push is retried after this, doubling
    push_max_backoff_s: float = 3600.0  # … up to this (a partner down for hours is retried hourly)
    push_lease_s: float = 60.0  # a delivery claimed by a replica is its own for this long
    trend_threshold: Decimal = Decimal("3.5")  # |robust z| at which a surge or drop is listed
    trend_min_history_weeks: int = 4  # weeks reported to a partner a pair needs for a trend
    late_window_weeks: int = LATE_WINDOW_WEEKS  # earlier weeks a lateArrivals looks back on (8)


def _cpu_count() -> int:
    return os.cpu_count() or 1


@dataclass(frozen=True, slots=True)
class CpuSettings:
    """Where the CPU stages of a message (parse, XSD, rules, translation, valuation, signing)
    run: `workers` processes (so every core works); 0: in the serving process itself. Bodies
    under `inline_bytes` run in the serving process all the same (0, the default: none; every
    body goes to a worker, which costs the serving process, shared by every message, less)."""

    workers: int = field(default_factory=_cpu_count)
    inline_bytes: int = 0
    task_timeout_s: float = 120.0  # a message's CPU stages on a worker, queueing included
    # Bodies from this size are spooled to data_dir/spool as they arrive and parsed as a
    # stream, item by item, in memory bounded by an item instead of the document.
    stream_bytes: int = STREAM_BYTES


@dataclass(frozen=True, slots=True)
class PartnerKeySpec:
    """A partner's public key as its folder declares it; `demo` keys are made on first use."""

    keyid: str
    alg: str
    public_key: Path
    not_before: datetime | None
    not_after: datetime | None
    demo: bool = False
    private_key: Path | None = None  # demo keys only: where the demo signer finds its half
    source: Path = Path()


@dataclass(frozen=True, slots=True)
class PartnerConfig:
    partner: Partner
    keys: tuple[PartnerKeySpec, ...]
    folder: Path


@dataclass(frozen=True, slots=True)
class Settings:
    data_dir: Path = Path("data")
    partners_dir: Path = Path("partners")
    store: str = "sqlite:///data/gateway.db"
    http: HttpSettings = field(default_factory=HttpSettings)
    grpc: GrpcSettings = field(default_factory=GrpcSettings)
    signing: SigningSettings = field(default_factory=SigningSettings)
    consumers: tuple[Consumer, ...] = ()
    config_file: Path | None = None
    log_level: str = "INFO"
    log_json: bool = True
    home_country: str = "US"  # whose de minimis rules value items; the reporter of own cells
    share: ShareSettings = field(default_factory=ShareSettings)
    cpu: CpuSettings = field(default_factory=CpuSettings)


class _Reader:
    """Typed access to one TOML table, naming file and key in every error."""

    def __init__(self, file: Path, table: Mapping[str, Any], prefix: str = "") -> None:
        self.file_path, self.table, self.prefix = file, table, prefix
        self.file = str(file)

    def fail(self, key: str, problem: str, fix: str = "") -> ConfigError:
        return ConfigError(self.file, self.prefix + key, problem, fix)

    def get(self, key: str, kind: type, default: Any = None, *, required: bool = False) -> Any:
        if key not in self.table:
            if required:
                raise self.fail(key, "is missing", f"add {self.prefix}{key} = …")
            return default
        value = self.table[key]
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            return value
        if kind is float and isinstance(value, Decimal):  # a file read with parse_float=Decimal
            return float(value)
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            got = "float" if isinstance(value, Decimal) else type(value).__name__
            raise self.fail(
                key,
                f"must be a {kind.__name__}, got {got}",
                f"write it as {_TOML_TYPES.get(kind, kind.__name__)}",
            )
        return value

    def strings(self, key: str) -> frozenset[str]:
        values = self.get(key, list, [])
        if not all(isinstance(v, str) for v in values):
            raise self.fail(key, "must be a list of strings", 'e.g. ["a", "b"]')
        return frozenset(values)

    def sub(self, key: str) -> _Reader:
        return _Reader(self.file_path, self.get(key, dict, {}), f"{self.prefix}{key}.")

    def reject_unknown(self, known: set[str]) -> None:
        for key in self.table:
            if key not in known:
                raise self.fail(
                    key, "is not a known setting", f"one of: {', '.join(sorted(known))}"
                )


def config_path(explicit: str | None) -> Path | None:
    """The configuration file: --config, else $AEDGW_CONFIG, else none (all defaults)."""
    chosen = explicit or os.environ.get(CONFIG_ENV)
    return Path(chosen) if chosen else None


def load_settings(path: Path | None) -> Settings:
    if path is None:
        return Settings()
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(
            str(path), "-", "file not found", f"create it or unset {CONFIG_ENV}"
        ) from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(str(path), "-", f"not valid TOML: {exc}", _TOML_FIX) from exc
    return _settings(path, raw)


def _settings(path: Path, raw: Mapping[str, Any]) -> Settings:
    r = _Reader(path, raw)
    r.reject_unknown(
        {
            "data_dir",
            "partners_dir",
            "store",
            "http",
            "grpc",
            "signing",
            "consumers",
            "log_level",
            "log_json",
            "home_country",
            "share",
            "cpu",
        }
    )
    base = Path(os.path.normpath(path.absolute().parent))
    data_dir = _under(base, r.get("data_dir", str, "data"))
    store = r.get("store", str)
    store = _store_url(store, base) if store else f"sqlite:///{data_dir / 'gateway.db'}"
    return Settings(
        data_dir=data_dir,
        partners_dir=_under(base, r.get("partners_dir", str, "partners")),
        store=store,
        http=_http(r.sub("http"), base),
        grpc=_grpc(r.sub("grpc"), base, r.get("consumers", list, [])),
        signing=_signing(r.sub("signing"), base, data_dir),
        consumers=_consumers(path, r.get("consumers", list, [])),
        config_file=path,
        log_level=r.get("log_level", str, "INFO").upper(),
        log_json=r.get("log_json", bool, True),
        home_country=_home_country(r),
        share=_share_settings(r.sub("share")),
        cpu=_cpu(r.sub("cpu")),
    )


def _cpu(r: _Reader) -> CpuSettings:
    r.reject_unknown({"workers", "inline_bytes", "task_timeout_s", "stream_bytes"})
    workers: int = r.get("workers", int, _cpu_count())
    if workers < 0:
        raise r.fail(
            "workers", f"must be 0 or more, got {workers}", "use 0 (in-process) or 1 or more"
        )
    inline: int = r.get("inline_bytes", int, 0)
    if inline < 0:
        raise r.fail("inline_bytes", f"must be 0 or more, got {inline}", "use 0 to send all")
    return CpuSettings(
        workers=workers,
        inline_bytes=inline,
        task_timeout_s=_positive_number(r, "task_timeout_s", 120.0),
        stream_bytes=_stream_bytes(r),
    )


def _stream_bytes(r: _Reader) -> int:
    size: int = r.get("stream_bytes", int, STREAM_BYTES)
    if size < MIN_STREAM_BYTES:
        raise r.fail(
            "stream_bytes",
            f"must be at least {MIN_STREAM_BYTES}, got {size}",
            f"use e.g. {STREAM_BYTES} (8 MiB)",
        )
    return size


def _share_settings(r: _Reader) -> ShareSettings:
    r.reject_unknown(
        {"build_every_s", "push_first_backoff_s", "push_max_backoff_s", "push_lease_s",
         "trend_threshold", "trend_min_history_weeks", "late_window_weeks"}
    )  # fmt: skip
    threshold = r.get("trend_threshold", str, "3.5")
    try:
        trend_threshold = Decimal(threshold)
    except InvalidOperation as exc:
        raise r.fail("trend_threshold", f"{threshold!r} is not a decimal", 'e.g. "3.5"') from exc
    if not trend_threshold.is_finite() or trend_threshold <= 0:
        raise r.fail("trend_threshold", "must be a positive decimal", 'e.g. "3.5"')
    min_history = _positive(r, "trend_min_history_weeks", 4)
    weeks = TrendConfig().weeks
    if min_history > weeks:
        raise r.fail(
            "trend_min_history_weeks",
            f"{min_history} is more than the {weeks} baseline weeks of a trend",
            f"a whole number from 1 to {weeks}",
        )
    late_window: int = r.get("late_window_weeks", int, LATE_WINDOW_WEEKS)
    if not 0 <= late_window <= MAX_LATE_WINDOW_WEEKS:
        raise r.fail(
            "late_window_weeks",
            f"must be from 0 to {MAX_LATE_WINDOW_WEEKS} weeks, got {late_window}",
            f"a whole number of weeks, e.g. {LATE_WINDOW_WEEKS}; 0: late changes never reported",
        )
    return ShareSettings(
        build_every_s=_positive(r, "build_every_s", 3600),
        push_first_backoff_s=_positive_number(r, "push_first_backoff_s", 5.0),
        push_max_backoff_s=_positive_number(r, "push_max_backoff_s", 3600.0),
        push_lease_s=_positive_number(r, "push_lease_s", 60.0),
        trend_threshold=trend_threshold,
        trend_min_history_weeks=min_history,
        late_window_weeks=late_window,
    )


def _home_country(r: _Reader) -> str:
    code: str = r.get("home_country", str, "US")
    if not is_country(code):
        raise r.fail("home_country", f"{code!r} is not an ISO 3166-1 alpha-2 code", 'e.g. "US"')
    return code


def _under(base: Path, relative: str) -> Path:
    return Path(os.path.normpath(base / relative))


def _store_url(url: str, base: Path) -> str:
    """A relative sqlite path in a configuration file is relative to that file."""
    prefix = "sqlite:///"
    if url.startswith(prefix) and not url.startswith(prefix + "/"):
        return prefix + str(_under(base, url[len(prefix) :]))
    return url


def _listen(r: _Reader, default: str) -> str:
    listen: str = r.get("listen", str, default)
    host, sep, port = listen.rpartition(":")
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        raise r.fail("listen", f"{listen!r} is not host:port", 'e.g. "127.0.0.1:8080"')
    return listen


def _http(r: _Reader, base: Path) -> HttpSettings:
    r.reject_unknown(
        {"listen", "public_base_url", "tls_cert", "tls_key", "max_concurrent_requests",
         "max_open_requests", "header_timeout_s", "body_timeout_s"}
    )  # fmt: skip
    cert, key = r.get("tls_cert", str), r.get("tls_key", str)
    if (cert is None) != (key is None):
        raise r.fail("tls_cert", "tls_cert and tls_key go together", "set both or neither")
    return HttpSettings(
        listen=_listen(r, "127.0.0.1:8080"),
        public_base_url=r.get("public_base_url", str, "").rstrip("/"),
        tls_cert=base / cert if cert else None,
        tls_key=base / key if key else None,
        max_concurrent_requests=_positive(r, "max_concurrent_requests", 256),
        max_open_requests=_positive(r, "max_open_requests", 1024),
        header_timeout_s=_positive_number(r, "header_timeout_s", 20.0),
        body_timeout_s=_positive_number(r, "body_timeout_s", 60.0),
    )


_GRPC_TLS_KEYS = ("tls_cert", "tls_key", "client_ca")


def _grpc(r: _Reader, base: Path, consumer_tables: list[Any]) -> GrpcSettings:
    r.reject_unknown({"listen", "max_in_flight", *_GRPC_TLS_KEYS, "insecure"})
    listen = _listen(r, "127.0.0.1:50051")
    insecure: bool = r.get("insecure", bool, False)
    given = {key: base / value for key in _GRPC_TLS_KEYS if (value := r.get(key, str))}
    if given and len(given) < len(_GRPC_TLS_KEYS):
        missing = [key for key in _GRPC_TLS_KEYS if key not in given]
        raise r.fail(
            missing[0],
            "tls_cert, tls_key and client_ca go together (mTLS for consumers)",
            f"set {' and '.join(missing)} too, or none of the three (plaintext, loopback only)",
        )
    if given:
        load_server_tls(given["tls_cert"], given["tls_key"], given["client_ca"], fail=r.fail)
    elif not insecure and not is_loopback(listen):
        raise r.fail(
            "listen",
            f"{listen!r} is not a loopback address and [grpc] has no TLS: consumer feeds would"
            " be open, unauthenticated, to anyone who can reach it",
            "set tls_cert, tls_key and client_ca (consumers then need client certificates),"
            ' or listen on "127.0.0.1:…", or set insecure = true if something else protects it',
        )
    return GrpcSettings(
        listen=listen,
        max_in_flight=_positive(r, "max_in_flight", 1000),
        tls_cert=given.get("tls_cert"),
        tls_key=given.get("tls_key"),
        client_ca=given.get("client_ca"),
        insecure=insecure,
        client_cert_names=_client_cert_names(r.file_path, consumer_tables),
    )


def _client_cert_names(path: Path, tables: list[Any]) -> dict[str, str]:
    """consumer -> certificate name, from each [[consumers]] client_cert_name (default: name)."""
    names: dict[str, str] = {}
    owners: dict[str, str] = {}
    for i, table in enumerate(tables):
        if not isinstance(table, dict) or not isinstance(table.get("name"), str):
            continue  # _consumers reports it
        r = _Reader(path, table, f"consumers[{i}].")
        consumer: str = table["name"]
        cert_name: str = r.get("client_cert_name", str, consumer)
        if not cert_name or cert_name != cert_name.strip():
            raise r.fail(
                "client_cert_name",
                f"{cert_name!r} is not a certificate name",
                'the CN, DNS or URI name in its client certificate, e.g. "targeting.internal"',
            )
        if cert_name in owners and owners[cert_name] != consumer:
            raise r.fail(
                "client_cert_name",
                f"{cert_name!r} already identifies consumer {owners[cert_name]!r}",
                "give each consumer its own certificate name",
            )
        owners[cert_name], names[consumer] = consumer, cert_name
    return names


def _signing(r: _Reader, base: Path, data_dir: Path) -> SigningSettings:
    r.reject_unknown({"key_dir", "alg", "signature_window_s"})
    key_dir = r.get("key_dir", str)
    alg = r.get("alg", str, "ed25519")
    if alg not in KEY_ALGS:
        raise r.fail("alg", f"unknown algorithm {alg!r}", " or ".join(sorted(KEY_ALGS)))
    return SigningSettings(
        key_dir=base / key_dir if key_dir else data_dir / "keys",
        alg=alg,
        signature_window_s=_positive(r, "signature_window_s", 300),
    )


def _positive(r: _Reader, key: str, default: int) -> int:
    value: int = r.get(key, int, default)
    if value <= 0:
        raise r.fail(key, f"must be positive, got {value}", "use a whole number of 1 or more")
    return value


def _positive_number(r: _Reader, key: str, default: float) -> float:
    value = float(r.get(key, float, default))
    if value <= 0:
        raise r.fail(key, f"must be positive, got {value}")
    return value


def _consumers(path: Path, tables: list[Any]) -> tuple[Consumer, ...]:
    seen: set[str] = set()
    out: list[Consumer] = []
    for i, table in enumerate(tables):
        if not isinstance(table, dict):
            raise ConfigError(str(path), f"consumers[{i}]", "must be a table", "use [[consumers]]")
        consumer = _consumer(_Reader(path, table, f"consumers[{i}]."))
        if consumer.name in seen:
            raise ConfigError(
                str(path),
                f"consumers[{i}].name",
                f"{consumer.name!r} twice",
                "give each [[consumers]] its own name",
            )
        seen.add(consumer.name)
        out.append(consumer)
    return tuple(out)


def _consumer(r: _Reader) -> Consumer:
    r.reject_unknown(
        {
            "name",
            "categories",
            "hs_chapters",
            "origin_countries",
            "partners",
            "min_value",
            "min_value_currency",
            "client_cert_name",
        }
    )
    name = r.get("name", str, required=True)
    if not _CONSUMER_NAME.fullmatch(name):
        raise r.fail("name", f"{name!r} is not a valid name", "letters, digits, . _ -")
    categories = r.strings("categories")
    if unknown := categories - _CATEGORIES:
        raise r.fail("categories", f"unknown {sorted(unknown)}", f"one of {sorted(_CATEGORIES)}")
    chapters = r.strings("hs_chapters")
    if bad := {c for c in chapters if not re.fullmatch(r"\d\d", c)}:
        raise r.fail("hs_chapters", f"{sorted(bad)} are not 2-digit chapters", 'e.g. ["61", "85"]')
    countries = r.strings("origin_countries")
    if bad := {c for c in countries if not is_country(c)}:
        raise r.fail(
            "origin_countries",
            f"{sorted(bad)} are not ISO 3166-1 alpha-2 codes",
            'e.g. ["CN", "GB"]',
        )
    min_value = r.get("min_value", str)
    try:
        amount = Decimal(min_value) if min_value is not None else None
    except InvalidOperation as exc:
        raise r.fail(
            "min_value", f"{min_value!r} is not a decimal", 'a string like "100.00"'
        ) from exc
    return Consumer(
        name,
        RoutingRule(
            categories=categories,
            hs_chapters=chapters,
            origin_countries=countries,
            partners=r.strings("partners"),
            min_value=amount,
            min_value_currency=r.get("min_value_currency", str, "USD"),
        ),
    )


def load_partners(settings: Settings) -> tuple[PartnerConfig, ...]:
    """Every partner folder under partners_dir, validated; refuses to start otherwise."""
    root = settings.partners_dir
    if not root.is_dir():
        raise ConfigError(
            str(root), "partners_dir", "is not a folder", "create it or set partners_dir"
        )
    partners = [_partner(folder, settings) for folder in sorted(root.iterdir()) if folder.is_dir()]
    _check_unique(partners)
    return tuple(partners)


def _check_unique(partners: list[PartnerConfig]) -> None:
    keyids: dict[str, Path] = {}
    codes: dict[str, Path] = {}
    for pc in partners:
        for key in pc.keys:
            if key.keyid in keyids:
                raise ConfigError(
                    str(key.source),
                    "keys.id",
                    f"{key.keyid!r} is also used by {keyids[key.keyid]}",
                    "key ids are unique across partners",
                )
            keyids[key.keyid] = key.source
        code = pc.partner.operator_code
        if code is not None:
            if code in codes:
                raise ConfigError(
                    str(pc.folder / "partner.toml"),
                    "operator_code",
                    f"{code!r} is also claimed by {codes[code]}",
                    "each post has its own operator code",
                )
            codes[code] = pc.folder / "partner.toml"


def _partner(folder: Path, settings: Settings) -> PartnerConfig:
    file = folder / "partner.toml"
    try:  # TOML floats as Decimal: a share agreement's value_percent is never a binary float
        raw = tomllib.loads(file.read_text(encoding="utf-8"), parse_float=Decimal)
    except FileNotFoundError as exc:
        raise ConfigError(
            str(file), "-", "missing", "every partner folder holds a partner.toml"
        ) from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(str(file), "-", f"not valid TOML: {exc}", _TOML_FIX) from exc
    r = _Reader(file, raw)
    r.reject_unknown(
        {
            "id",
            "name",
            "kind",
            "country",
            "operator_code",
            "formats",
            "keys",
            "max_body_bytes",
            "rate_per_s",
            "burst",
            "max_concurrent",
            "mapping",
            "share",
        }
    )
    pid = r.get("id", str, required=True)
    if not _PARTNER_ID.fullmatch(pid) or pid != folder.name:
        raise r.fail(
            "id",
            f"{pid!r} must match [a-z0-9-]{{3,64}} and equal the folder name",
            f'id = "{folder.name}"',
        )
    kind_raw = r.get("kind", str, required=True)
    if kind_raw not in {k.value for k in PartnerKind}:
        raise r.fail("kind", f"unknown kind {kind_raw!r}", '"post" or "customs"')
    kind = PartnerKind(kind_raw)
    country = r.get("country", str, required=True)
    if not is_country(country):
        raise r.fail(
            "country", f"{country!r} is not an ISO 3166-1 alpha-2 code", 'e.g. country = "GB"'
        )
    code = r.get("operator_code", str)
    if kind is PartnerKind.POST and (code is None or not re.fullmatch(r"[A-Z]{3}", code)):
        raise r.fail("operator_code", "a post needs its 3-letter operator code", 'e.g. "GBA"')
    formats = r.strings("formats")
    # Every declaration format the registry serves (gateway.formats.registry), and B5 feeds.
    known = frozenset({*registry.FORMATS, B5_FEED_FORMAT})
    if not formats or formats - known:
        raise r.fail(
            "formats",
            f"must name known formats, got {sorted(formats)}",
            f"one of {sorted(known)}",
        )
    keys = _keys(file, r.get("keys", list, []), folder, settings, pid)
    partner = Partner(
        id=pid,
        name=r.get("name", str, required=True),
        kind=kind,
        country=country,
        operator_code=code,
        formats=formats,
        max_body_bytes=_positive(r, "max_body_bytes", DEFAULT_MAX_BODY),
        key_ids=tuple(k.keyid for k in keys),
        rate_per_s=_positive_number(r, "rate_per_s", 200.0),
        burst=_positive(r, "burst", 400),
        max_concurrent=_positive(r, "max_concurrent", 16),
        share=_share(r.sub("share")) if kind is PartnerKind.CUSTOMS else None,
        mapping=_mapping(r, folder, formats),
    )
    return PartnerConfig(partner, keys, folder)


def _share(r: _Reader) -> ShareAgreement:
    r.reject_unknown({"k", "value_percent", "combined_view", "push_url"})
    url: str = r.get("push_url", str, "")
    if url and not url.startswith(("https://", "http://")):
        raise r.fail(
            "push_url", f"{url!r} is not an http(s) URL", 'e.g. "https://b5.example/reports"'
        )
    return ShareAgreement(
        k=_positive(r, "k", 10),
        value_percent=_value_percent(r),
        combined_view=r.get("combined_view", bool, default=False),
        push_url=url,
    )


def _value_percent(r: _Reader) -> Decimal:
    """[share] value_percent: how uncertain, in % of its true value, a suppressed declared value
    must stay; a TOML integer or float, read exactly (the partner file's floats are Decimals)."""
    fix = "a number more than 0 and at most 100, e.g. value_percent = 20 or 12.5"
    value = r.table.get("value_percent", Decimal(20))
    if isinstance(value, bool) or not isinstance(value, int | Decimal):
        raise r.fail("value_percent", f"must be a number, got {type(value).__name__}", fix)
    percent = Decimal(value)
    if not percent.is_finite() or not Decimal(0) < percent <= Decimal(100):
        raise r.fail("value_percent", f"must be more than 0 and at most 100, got {value}", fix)
    return percent


def _mapping(r: _Reader, folder: Path, formats: frozenset[str]) -> Path | None:
    """A partner that sends B5 feeds names its mapping file (default mapping.toml)."""
    if B5_FEED_FORMAT not in formats:
        return None
    path: Path = folder / r.get("mapping", str, "mapping.toml")
    if not path.is_file():
        raise r.fail(
            "mapping", f"{path} does not exist", "describe the feed layout in mapping.toml"
        )
    return path


def _keys(
    file: Path, tables: list[Any], folder: Path, settings: Settings, pid: str
) -> tuple[PartnerKeySpec, ...]:
    if not tables:
        raise ConfigError(
            str(file), "keys", "no key", "add a [[keys]] table with id, alg, public_key"
        )
    return tuple(
        _key(_Reader(file, t if isinstance(t, dict) else {}, f"keys[{i}]."), folder, settings, pid)
        for i, t in enumerate(tables)
    )


def _key(r: _Reader, folder: Path, settings: Settings, pid: str) -> PartnerKeySpec:
    r.reject_unknown({"id", "alg", "public_key", "not_before", "not_after", "demo"})
    keyid = r.get("id", str, required=True)
    alg = r.get("alg", str, required=True)
    if alg not in KEY_ALGS:
        raise r.fail("alg", f"unknown algorithm {alg!r}", " or ".join(sorted(KEY_ALGS)))
    not_before, not_after = _when(r, "not_before"), _when(r, "not_after")
    if not_before and not_after and not_after <= not_before:
        raise r.fail("not_after", "is not after not_before", "set not_after later than not_before")
    if r.get("demo", bool, default=False):
        demo_dir = settings.data_dir / "demo-partners" / pid
        return PartnerKeySpec(
            keyid,
            alg,
            demo_dir / f"{keyid}.pub.pem",
            not_before,
            not_after,
            demo=True,
            private_key=demo_dir / f"{keyid}.key.pem",
            source=r.file_path,
        )
    rel = r.get("public_key", str, required=True)
    path = folder / rel
    if not path.is_file():
        raise r.fail(
            "public_key", f"{path} does not exist", "put the partner's PEM public key there"
        )
    return PartnerKeySpec(keyid, alg, path, not_before, not_after, source=r.file_path)


def _when(r: _Reader, key: str) -> datetime | None:
    value: datetime | None = r.get(key, datetime)
    if value is not None and value.tzinfo is None:
        raise r.fail(key, "has no time zone", "write it as 2026-01-01T00:00:00Z")
    return value
