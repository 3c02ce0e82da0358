"""Settings and partner folders: read once at start-up, validated, then frozen.

Every problem names its file, its key and the fix (gateway.errors.ConfigError). Every key has a
default, so `gateway serve` with no configuration file runs from the repository root.

Each table is declared once, as a pydantic v2 dataclass: its fields are the accepted keys with
their types and defaults, validators hold the checks. pydantic rather than msgspec because its
errors carry a structured location (`loc`), type and input, from which each message is rebuilt
in the `file: key: problem (fix: …)` shape (msgspec gives the location inside a message string);
and its dataclasses stay dataclasses (`dataclasses.replace`, equality, pickling) for callers.
Settings built in code are validated the same way; what needs a file (relative paths, defaults
derived from other keys, the gRPC TLS material) is resolved only when a file is read.

This module imports no service, adapter or format: `import gateway.config` stays cheap.
"""

from __future__ import annotations

import dataclasses
import os
import re
import tomllib
from collections.abc import Callable, Mapping
from datetime import datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated, Any, ClassVar, NoReturn, TypeVar

from pydantic import (
    AfterValidator,
    BeforeValidator,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    model_validator,
)
from pydantic.dataclasses import dataclass
from pydantic_core import PydanticCustomError, core_schema

from gateway.domain.limits import MIN_STREAM_BYTES, STREAM_BYTES
from gateway.domain.partners import (
    B5_FEED_FORMAT,
    Partner,
    PartnerKind,
    ShareAgreement,
)
from gateway.domain.routing import Consumer, RoutingRule
from gateway.errors import ConfigError
from gateway.rules.codes import is_country
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
# pydantic error type -> the TOML type the key wants
_TYPE_ERRORS: dict[str, type] = {
    "string_type": str,
    "int_type": int,
    "float_type": float,
    "bool_type": bool,
    "list_type": list,
    "dict_type": dict,
    "dataclass_type": dict,
    "datetime_type": datetime,
}
MAX_LATE_WINDOW_WEEKS = 52  # a year of earlier weeks at most
_TOML_FIX = "correct the TOML syntax at the line and column shown"
# Strict TOML types: a string is never read as a number, nor a number as a boolean.
_CONFIG = ConfigDict(extra="forbid")


# -- validation helpers: each raises a problem that _config_error turns into a ConfigError ------


def _fail(problem: str, fix: str = "", key: str = "") -> PydanticCustomError:
    """A problem at the validated value (`key`: a key below it, for a table's checks)."""
    return PydanticCustomError("config", "{problem}", {"problem": problem, "fix": fix, "key": key})


def _wrong_type(value: Any, kind: type) -> PydanticCustomError:
    return _fail(f"must be a {kind.__name__}, got {_type_name(value)}", _write_as(kind))


def _type_name(value: Any) -> str:
    return "float" if isinstance(value, Decimal) else type(value).__name__


def _write_as(kind: type) -> str:
    return f"write it as {_TOML_TYPES.get(kind, kind.__name__)}"


def _context(info: ValidationInfo) -> Mapping[str, Any]:
    """What load_settings/load_partners pass: `base` (the file's folder); empty in code."""
    return info.context or {}


def _check(ok: Callable[[Any], object], problem: str, fix: str = "") -> AfterValidator:
    """A field's check: unless ok(value), `problem` ({v}: the value) and `fix`."""

    def check(value: Any) -> Any:
        if not ok(value):
            raise _fail(problem.format(v=value), fix)
        return value

    return AfterValidator(check)


def _each(ok: Callable[[str], object], problem: str, fix: str) -> AfterValidator:
    """A check of each string of a set: unless ok(s) for all, `problem` ({bad}: the others)."""

    def check(values: frozenset[str]) -> frozenset[str]:
        if bad := sorted(v for v in values if not ok(v)):
            raise _fail(problem.format(bad=bad), fix)
        return values

    return AfterValidator(check)


def _float(value: Any) -> Any:
    """A partner file's floats are Decimals (parse_float=Decimal): a float setting takes them."""
    return float(value) if isinstance(value, Decimal) else value


def _is_host_port(listen: str) -> bool:
    host, sep, port = listen.rpartition(":")
    return bool(sep and host and port.isdigit() and int(port) <= 65535)


def _strings(value: Any) -> Any:
    """A TOML array of strings, as a frozenset."""
    if isinstance(value, frozenset):  # settings built in code
        return value
    if not isinstance(value, list):
        raise _wrong_type(value, list)
    if not all(isinstance(v, str) for v in value):
        raise _fail("must be a list of strings", 'e.g. ["a", "b"]')
    return frozenset(value)


def _decimal(fix: str) -> Callable[[Any], Any]:
    """A decimal written as a TOML string (never a binary float)."""

    def read(value: Any) -> Any:
        if value is None or isinstance(value, Decimal):
            return value
        if not isinstance(value, str):
            raise _wrong_type(value, str)
        try:
            return Decimal(value)
        except InvalidOperation as exc:
            raise _fail(f"{value!r} is not a decimal", fix) from exc

    return read


def _path(*, normalise: bool, optional: bool) -> Callable[[Any, ValidationInfo], Any]:
    """A path written as a TOML string, relative to the configuration file's folder when read
    from a file (`normalise`: with `..` resolved); `optional`: an empty string is no path."""

    def read(value: Any, info: ValidationInfo) -> Any:
        if value is None or isinstance(value, Path):
            path = value
        elif isinstance(value, str):
            path = None if optional and not value else Path(value)
        else:
            raise _wrong_type(value, str)
        base = _context(info).get("base")
        if path is None or base is None:
            return path
        return Path(os.path.normpath(base / path)) if normalise else base / path

    return read


_Int = StrictInt
_Str = StrictStr
_Bool = StrictBool
_Positive = Annotated[
    StrictInt,
    _check(lambda v: v > 0, "must be positive, got {v}", "use a whole number of 1 or more"),
]
_PositiveNumber = Annotated[
    StrictFloat, BeforeValidator(_float), _check(lambda v: v > 0, "must be positive, got {v}")
]
_Listen = Annotated[
    StrictStr, _check(_is_host_port, "{v!r} is not host:port", 'e.g. "127.0.0.1:8080"')
]
_Alg = Annotated[
    StrictStr,
    _check(KEY_ALGS.__contains__, "unknown algorithm {v!r}", " or ".join(sorted(KEY_ALGS))),
]
_Strings = Annotated[frozenset[str], BeforeValidator(_strings)]
_Under = Annotated[
    Path, BeforeValidator(_path(normalise=True, optional=False)), Field(validate_default=True)
]
_Beside = Annotated[Path, BeforeValidator(_path(normalise=False, optional=False))]
_BesideOrNone = Annotated[Path | None, BeforeValidator(_path(normalise=False, optional=True))]
_When = Annotated[
    datetime | None,
    Field(strict=True),
    _check(lambda v: v is None or v.tzinfo, "has no time zone", "write it as 2026-01-01T00:00:00Z"),
]


def _country(fix: str) -> AfterValidator:
    return _check(is_country, "{v!r} is not an ISO 3166-1 alpha-2 code", fix)


@dataclass(frozen=True, slots=True, config=_CONFIG)
class _Table:
    """A TOML table: its fields are its keys; a key it does not declare is refused first."""

    _not_in_file: ClassVar[frozenset[str]] = frozenset()  # fields set in code or derived only

    @classmethod
    def file_keys(cls) -> frozenset[str]:
        """The keys a file may set in this table."""
        return frozenset(f.name for f in dataclasses.fields(cls)) - cls._not_in_file

    @model_validator(mode="before")
    @classmethod
    def _refuse_unknown_keys(cls, data: Any) -> Any:
        if isinstance(data, dict):  # read from a file (code passes keyword arguments)
            known = cls.file_keys()
            for key in data:
                if key not in known:
                    fix = f"one of: {', '.join(sorted(known))}"
                    raise _fail("is not a known setting", fix, key)
        return data


@dataclasses.dataclass(frozen=True)
class _ReadAs:
    """Annotated marker: a field whose value is an `instance` in code, and is read from a file
    as `table`, then made the field's value by `convert`."""

    table: Any
    convert: Callable[[Any], Any]
    instance: type

    def __get_pydantic_core_schema__(
        self, _source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        read = core_schema.no_info_after_validator_function(
            self.convert, handler.generate_schema(self.table)
        )

        def validate(value: Any, read: core_schema.ValidatorFunctionWrapHandler) -> Any:
            return value if isinstance(value, self.instance) else read(value)

        return core_schema.no_info_wrap_validator_function(validate, read)


def _no_trailing_slash(url: str) -> str:
    return url.rstrip("/")


def _upper(text: str) -> str:
    return text.upper()


# -- gateway.toml -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, config=_CONFIG)
class HttpSettings(_Table):
    listen: _Listen = "127.0.0.1:8080"
    # The absolute base URL partners use (scheme://host[:port]); behind a TLS-terminating proxy
    # it is what @target-uri is verified against. Empty: derived from the request.
    public_base_url: Annotated[_Str, AfterValidator(_no_trailing_slash)] = ""
    tls_cert: _BesideOrNone = None
    tls_key: _BesideOrNone = None
    max_concurrent_requests: _Positive = 256  # authenticated requests being processed (503 beyond)
    max_open_requests: _Positive = 1024  # POSTs in progress, bodies still arriving included (503)
    header_timeout_s: _PositiveNumber = 20.0  # a connection's request head must arrive within this
    body_timeout_s: _PositiveNumber = 60.0  # a request's body must arrive within this (408 beyond)

    @model_validator(mode="after")
    def _tls_pair(self) -> HttpSettings:
        if (self.tls_cert is None) != (self.tls_key is None):
            raise _fail("tls_cert and tls_key go together", "set both or neither", "tls_cert")
        return self


_GRPC_TLS_KEYS = ("tls_cert", "tls_key", "client_ca")


@dataclass(frozen=True, slots=True, config=_CONFIG)
class GrpcSettings(_Table):
    _not_in_file: ClassVar[frozenset[str]] = frozenset({"client_cert_names"})

    listen: _Listen = "127.0.0.1:50051"
    max_in_flight: _Positive = 1000
    # mTLS: the server's certificate (chain, leaf first) and key, and the CA that issues the
    # consumers' client certificates; all three or none. None: plaintext, consumers are not
    # authenticated, allowed on a loopback address only unless `insecure`.
    tls_cert: _BesideOrNone = None
    tls_key: _BesideOrNone = None
    client_ca: _BesideOrNone = None
    insecure: _Bool = False
    # consumer name -> the certificate name (CN, DNS or URI SAN) that identifies it; a consumer
    # not listed is identified by its own name. From [[consumers]] client_cert_name.
    client_cert_names: Mapping[str, str] = dataclasses.field(default_factory=dict)

    @model_validator(mode="after")
    def _tls(self, info: ValidationInfo) -> GrpcSettings:
        given = {key: path for key in _GRPC_TLS_KEYS if (path := getattr(self, key)) is not None}
        if given and len(given) < len(_GRPC_TLS_KEYS):
            missing = [key for key in _GRPC_TLS_KEYS if key not in given]
            raise _fail(
                "tls_cert, tls_key and client_ca go together (mTLS for consumers)",
                f"set {' and '.join(missing)} too, or none of the three (plaintext, loopback only)",
                missing[0],
            )
        file = _context(info).get("file")
        if file is not None:  # read from a file: refuse what the server would refuse later
            _check_grpc_security(self, str(file))
        return self


def _check_grpc_security(grpc: GrpcSettings, file: str) -> None:
    """Readable, matching TLS material, or a loopback address, or `insecure`. Raises ConfigError.

    The certificates are read with gateway.adapters.grpc.tls, imported here: only a loaded file
    needs it, and `import gateway.config` then pulls in no adapter (nor cryptography)."""
    from gateway.adapters.grpc.tls import is_loopback, load_server_tls  # noqa: PLC0415

    def fail(key: str, problem: str, fix: str = "") -> ConfigError:
        return ConfigError(file, f"grpc.{key}", problem, fix)

    if grpc.tls_cert and grpc.tls_key and grpc.client_ca:
        load_server_tls(grpc.tls_cert, grpc.tls_key, grpc.client_ca, fail=fail)
    elif not grpc.insecure and not is_loopback(grpc.listen):
        raise fail(
            "listen",
            f"{grpc.listen!r} is not a loopback address and [grpc] has no TLS: consumer feeds"
            " would be open, unauthenticated, to anyone who can reach it",
            "set tls_cert, tls_key and client_ca (consumers then need client certificates),"
            ' or listen on "127.0.0.1:…", or set insecure = true if something else protects it',
        )


@dataclass(frozen=True, slots=True, config=_CONFIG)
class SigningSettings(_Table):
    key_dir: _Beside = Path("data/keys")  # in a file: relative to it; default data_dir/keys
    alg: _Alg = "ed25519"
    signature_window_s: _Positive = 300


_TREND_WEEKS = TrendConfig().weeks  # the baseline of a trend


@dataclass(frozen=True, slots=True, config=_CONFIG)
class ShareSettings(_Table):
    """Share reports: when they are built and how their push is retried."""

    build_every_s: _Positive = 3600  # check for the last complete week's reports this often
    push_first_backoff_s: _PositiveNumber = 5.0  # a failed push is retried after this, doubling
    push_max_backoff_s: _PositiveNumber = 3600.0  # … up to this (a partner down for hours: hourly)
    push_lease_s: _PositiveNumber = 60.0  # a delivery claimed by a replica is its own this long
    # |robust z| at which a surge or drop is listed; written as a string ("3.5")
    trend_threshold: Annotated[
        Decimal,
        BeforeValidator(_decimal('e.g. "3.5"')),
        _check(lambda v: v.is_finite() and v > 0, "must be a positive decimal", 'e.g. "3.5"'),
    ] = Decimal("3.5")
    # weeks reported to a partner a pair needs for a trend
    trend_min_history_weeks: Annotated[
        _Positive,
        _check(
            lambda v: v <= _TREND_WEEKS,
            f"{{v}} is more than the {_TREND_WEEKS} baseline weeks of a trend",
            f"a whole number from 1 to {_TREND_WEEKS}",
        ),
    ] = 4
    # earlier weeks a lateArrivals looks back on (8)
    late_window_weeks: Annotated[
        _Int,
        _check(
            lambda v: 0 <= v <= MAX_LATE_WINDOW_WEEKS,
            f"must be from 0 to {MAX_LATE_WINDOW_WEEKS} weeks, got {{v}}",
            f"a whole number of weeks, e.g. {LATE_WINDOW_WEEKS}; 0: late changes never reported",
        ),
    ] = LATE_WINDOW_WEEKS


def _cpu_count() -> int:
    return os.cpu_count() or 1


@dataclass(frozen=True, slots=True, config=_CONFIG)
class CpuSettings(_Table):
    """Where the CPU stages of a message (parse, XSD, rules, translation, valuation, signing)
    run: `workers` processes (so every core works); 0: in the serving process itself. Bodies
    under `inline_bytes` run in the serving process all the same (0, the default: none; every
    body goes to a worker, which costs the serving process, shared by every message, less)."""

    workers: Annotated[
        _Int,
        _check(lambda v: v >= 0, "must be 0 or more, got {v}", "use 0 (in-process) or 1 or more"),
    ] = dataclasses.field(default_factory=_cpu_count)
    inline_bytes: Annotated[
        _Int, _check(lambda v: v >= 0, "must be 0 or more, got {v}", "use 0 to send all")
    ] = 0
    task_timeout_s: _PositiveNumber = 120.0  # a message's CPU stages on a worker, queueing included
    # Bodies from this size are spooled to data_dir/spool as they arrive and parsed as a
    # stream, item by item, in memory bounded by an item instead of the document.
    stream_bytes: Annotated[
        _Int,
        _check(
            lambda v: v >= MIN_STREAM_BYTES,
            f"must be at least {MIN_STREAM_BYTES}, got {{v}}",
            f"use e.g. {STREAM_BYTES} (8 MiB)",
        ),
    ] = STREAM_BYTES


@dataclass(frozen=True, slots=True, config=_CONFIG)
class ConsumerTable(_Table):
    """A [[consumers]] table: a gRPC consumer and the rule that routes records to it."""

    name: Annotated[
        _Str,
        _check(_CONSUMER_NAME.fullmatch, "{v!r} is not a valid name", "letters, digits, . _ -"),
    ]
    categories: Annotated[
        _Strings, _each(_CATEGORIES.__contains__, "unknown {bad}", f"one of {sorted(_CATEGORIES)}")
    ] = frozenset()
    hs_chapters: Annotated[
        _Strings,
        _each(re.compile(r"\d\d").fullmatch, "{bad} are not 2-digit chapters", 'e.g. ["61", "85"]'),
    ] = frozenset()
    origin_countries: Annotated[
        _Strings,
        _each(is_country, "{bad} are not ISO 3166-1 alpha-2 codes", 'e.g. ["CN", "GB"]'),
    ] = frozenset()
    partners: _Strings = frozenset()
    min_value: Annotated[Decimal | None, BeforeValidator(_decimal('a string like "100.00"'))] = None
    min_value_currency: _Str = "USD"
    # the certificate name (CN, DNS or URI SAN) that identifies it; default: its name
    client_cert_name: Annotated[
        _Str | None,
        _check(
            lambda v: v is None or (v and v == v.strip()),
            "{v!r} is not a certificate name",
            'the CN, DNS or URI name in its client certificate, e.g. "targeting.internal"',
        ),
    ] = None
    # may report decisions on the items routed to it (gRPC Decisions)
    may_decide: bool = False
    # may report arrivals (gRPC Arrivals): the domestic post
    may_report_arrivals: bool = False

    def consumer(self) -> Consumer:
        return Consumer(
            self.name,
            RoutingRule(
                categories=self.categories,
                hs_chapters=self.hs_chapters,
                origin_countries=self.origin_countries,
                partners=self.partners,
                min_value=self.min_value,
                min_value_currency=self.min_value_currency,
            ),
            may_decide=self.may_decide,
            may_report_arrivals=self.may_report_arrivals,
        )


def _consumers(tables: list[ConsumerTable]) -> tuple[Consumer, ...]:
    seen: set[str] = set()
    for i, table in enumerate(tables):
        if table.name in seen:
            fix = "give each [[consumers]] its own name"
            raise _fail(f"{table.name!r} twice", fix, f"[{i}].name")
        seen.add(table.name)
    return tuple(table.consumer() for table in tables)


@dataclass(frozen=True, slots=True, config=_CONFIG)
class Settings(_Table):
    """gateway.toml. Read from a file, relative paths are relative to the file's folder, and
    store and signing.key_dir default to data_dir/gateway.db and data_dir/keys."""

    _not_in_file: ClassVar[frozenset[str]] = frozenset({"config_file"})

    data_dir: _Under = Path("data")
    partners_dir: _Under = Path("partners")
    store: _Str = "sqlite:///data/gateway.db"  # a relative sqlite path: relative to the file
    http: HttpSettings = dataclasses.field(default_factory=HttpSettings)
    grpc: GrpcSettings = dataclasses.field(default_factory=GrpcSettings)
    signing: SigningSettings = dataclasses.field(default_factory=SigningSettings)
    consumers: Annotated[tuple[Consumer, ...], _ReadAs(list[ConsumerTable], _consumers, tuple)] = ()
    config_file: Path | None = None
    log_level: Annotated[_Str, AfterValidator(_upper)] = "INFO"
    log_json: _Bool = True
    # whose de minimis rules value items; the reporter of own cells
    home_country: Annotated[_Str, _country('e.g. "US"')] = "US"
    share: ShareSettings = dataclasses.field(default_factory=ShareSettings)
    cpu: CpuSettings = dataclasses.field(default_factory=CpuSettings)


def config_path(explicit: str | None) -> Path | None:
    """The configuration file: --config, else $AEDGW_CONFIG, else none (all defaults)."""
    chosen = explicit or os.environ.get(CONFIG_ENV)
    return Path(chosen) if chosen else None


def load_settings(path: Path | None) -> Settings:
    """The settings in `path` (None: every default). Raises ConfigError naming file and key."""
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
    base = Path(os.path.normpath(path.absolute().parent))
    settings = _validate(Settings, raw, path, base=base, file=path)
    return _derive(settings, raw, path, base)


def _derive(settings: Settings, raw: Mapping[str, Any], path: Path, base: Path) -> Settings:
    """What a file leaves out that follows from other keys, and the file itself."""
    store = raw.get("store")
    signing = raw.get("signing", {})
    return dataclasses.replace(
        settings,
        store=_store_url(store, base) if store else f"sqlite:///{settings.data_dir / 'gateway.db'}",
        signing=settings.signing
        if signing.get("key_dir")
        else dataclasses.replace(settings.signing, key_dir=settings.data_dir / "keys"),
        grpc=dataclasses.replace(
            settings.grpc, client_cert_names=_client_cert_names(path, raw.get("consumers", []))
        ),
        config_file=path,
    )


def _store_url(url: str, base: Path) -> str:
    """A relative sqlite path in a configuration file is relative to that file."""
    prefix = "sqlite:///"
    if url.startswith(prefix) and not url.startswith(prefix + "/"):
        return prefix + os.path.normpath(base / url[len(prefix) :])
    return url


def _client_cert_names(path: Path, tables: list[dict[str, Any]]) -> dict[str, str]:
    """consumer -> certificate name, from each [[consumers]] client_cert_name (default: name);
    the tables are valid already."""
    names: dict[str, str] = {}
    owners: dict[str, str] = {}
    for i, table in enumerate(tables):
        consumer: str = table["name"]
        cert_name: str = table.get("client_cert_name", consumer)
        if cert_name in owners and owners[cert_name] != consumer:
            raise ConfigError(
                str(path),
                f"consumers[{i}].client_cert_name",
                f"{cert_name!r} already identifies consumer {owners[cert_name]!r}",
                "give each consumer its own certificate name",
            )
        owners[cert_name], names[consumer] = consumer, cert_name
    return names


_T = TypeVar("_T")


def _validate(kind: type[_T], raw: Mapping[str, Any], source: Path, /, **context: Any) -> _T:
    """`raw` read as `kind`; `context`: what the validators need (base, file, folder)."""
    try:
        return TypeAdapter(kind).validate_python(raw, context=context)
    except ValidationError as exc:
        raise _config_error(source, exc) from None


def _config_error(file: Path, exc: ValidationError) -> ConfigError:
    """The first problem pydantic found, as `file: key: problem (fix: …)`."""
    error = exc.errors(include_url=False)[0]
    ctx: dict[str, Any] = dict(error.get("ctx") or {})
    if isinstance(ctx.get("error"), ConfigError):  # raised as such (it names its own key)
        config_error: ConfigError = ctx["error"]
        return config_error
    key = _dotted((*error["loc"], *([ctx["key"]] if ctx.get("key") else [])))
    if error["type"] == "config":
        return ConfigError(str(file), key, ctx["problem"], ctx["fix"])
    if error["type"] == "dataclass_type" and isinstance(error["loc"][-1], int):  # [[table]]
        return ConfigError(str(file), key, "must be a table", f"use [[{error['loc'][-2]}]]")
    if error["type"] == "missing":
        return ConfigError(str(file), key, "is missing", f"add {key} = …")
    if (kind := _TYPE_ERRORS.get(error["type"])) is not None:
        got = _type_name(error["input"])
        return ConfigError(str(file), key, f"must be a {kind.__name__}, got {got}", _write_as(kind))
    return ConfigError(str(file), key, error["msg"], "see examples/gateway.toml")


def _dotted(loc: tuple[int | str, ...]) -> str:
    """('consumers', 0, 'name') -> consumers[0].name; ('[2].name',) parts join as written."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part.startswith("[") or not out:
            out += part
        else:
            out += f".{part}"
    return out


# -- partner folders ----------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
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


@dataclasses.dataclass(frozen=True, slots=True)
class PartnerConfig:
    partner: Partner
    keys: tuple[PartnerKeySpec, ...]
    folder: Path


@dataclass(frozen=True, slots=True, config=_CONFIG)
class KeyTable(_Table):
    """A [[keys]] table of partner.toml: a public key (a file in the folder, or a demo key)."""

    id: _Str
    alg: _Alg
    public_key: _Str | None = None  # required unless demo
    not_before: _When = None
    not_after: _When = None
    demo: _Bool = False

    @model_validator(mode="after")
    def _check(self) -> KeyTable:
        if self.not_before and self.not_after and self.not_after <= self.not_before:
            fix = "set not_after later than not_before"
            raise _fail("is not after not_before", fix, "not_after")
        if not self.demo and self.public_key is None:
            raise PydanticCustomError("missing", "is missing", {"key": "public_key"})
        return self


def _value_percent(value: Any) -> Decimal:
    """[share] value_percent: how uncertain, in % of its true value, a suppressed declared value
    must stay; a TOML integer or float, read exactly (the partner file's floats are Decimals)."""
    fix = "a number more than 0 and at most 100, e.g. value_percent = 20 or 12.5"
    if isinstance(value, bool) or not isinstance(value, int | Decimal):
        raise _fail(f"must be a number, got {type(value).__name__}", fix)
    percent = Decimal(value)
    if not percent.is_finite() or not Decimal(0) < percent <= Decimal(100):
        raise _fail(f"must be more than 0 and at most 100, got {value}", fix)
    return percent


@dataclass(frozen=True, slots=True, config=_CONFIG)
class ShareTable(_Table):
    """The [share] table of a customs partner: its agreement (gateway.domain ShareAgreement)."""

    k: _Positive = 10
    value_percent: Annotated[Decimal, BeforeValidator(_value_percent)] = Decimal(20)
    combined_view: _Bool = False
    push_url: Annotated[
        _Str,
        _check(
            lambda v: not v or v.startswith(("https://", "http://")),
            "{v!r} is not an http(s) URL",
            'e.g. "https://b5.example/reports"',
        ),
    ] = ""

    def agreement(self) -> ShareAgreement:
        return ShareAgreement(
            k=self.k,
            value_percent=self.value_percent,
            combined_view=self.combined_view,
            push_url=self.push_url,
        )


def _kind(value: Any) -> Any:
    if not isinstance(value, str):
        raise _wrong_type(value, str)
    if value not in {k.value for k in PartnerKind}:
        raise _fail(f"unknown kind {value!r}", '"post" or "customs"')
    return PartnerKind(value)


def _formats(formats: frozenset[str]) -> frozenset[str]:
    """The formats a partner may send: at least one, each a declaration format the registry
    serves (gateway.formats.registry) or B5 feeds."""
    # Imported here, when a partner file is read: the formats pull in lxml and their schemas,
    # which importing the settings alone must not.
    from gateway.formats import registry  # noqa: PLC0415

    known = frozenset({*registry.FORMATS, B5_FEED_FORMAT})
    if not formats or formats - known:
        raise _fail(f"must name known formats, got {sorted(formats)}", f"one of {sorted(known)}")
    return formats


def _partner_id(pid: str, info: ValidationInfo) -> str:
    folder: Path = _context(info)["folder"]
    if not _PARTNER_ID.fullmatch(pid) or pid != folder.name:
        raise _fail(
            f"{pid!r} must match [a-z0-9-]{{3,64}} and equal the folder name",
            f'id = "{folder.name}"',
        )
    return pid


_ResponsesUrl = Annotated[
    _Str,
    _check(
        lambda v: not v or v.startswith(("https://", "http://")),
        "{v!r} is not an http(s) URL",
        'e.g. "https://post.example/aed/responses" (docs/responses.md)',
    ),
]


@dataclass(frozen=True, slots=True, config=_CONFIG)
class PartnerFile(_Table):
    """A partner folder's partner.toml."""

    id: Annotated[_Str, AfterValidator(_partner_id)]
    name: _Str
    kind: Annotated[PartnerKind, BeforeValidator(_kind)]
    country: Annotated[_Str, _country('e.g. country = "GB"')]
    formats: Annotated[_Strings, AfterValidator(_formats)] = frozenset()
    keys: list[KeyTable] = dataclasses.field(default_factory=list)
    operator_code: _Str | None = None  # posts only
    max_body_bytes: _Positive = DEFAULT_MAX_BODY
    rate_per_s: _PositiveNumber = 200.0
    burst: _Positive = 400
    max_concurrent: _Positive = 16
    mapping: _Str = "mapping.toml"  # B5 feeds only: the feed layout, in the folder
    share: ShareTable = dataclasses.field(default_factory=ShareTable)  # customs only
    responses_url: _ResponsesUrl = ""  # posts only: where responses are POSTed

    @model_validator(mode="before")
    @classmethod
    def _skip_unused(cls, data: Any) -> Any:
        """[share] is read for a customs partner only, mapping for a B5 feed sender only; the
        others' are accepted unread (as they always were)."""
        if isinstance(data, dict):
            formats = data.get("formats")
            unused = {
                "share": data.get("kind") != PartnerKind.CUSTOMS.value,
                "mapping": not isinstance(formats, list) or B5_FEED_FORMAT not in formats,
            }
            data = {key: value for key, value in data.items() if not unused.get(key)}
        return data

    @model_validator(mode="after")
    def _check(self) -> PartnerFile:
        code = self.operator_code
        if self.kind is PartnerKind.POST and (code is None or not re.fullmatch(r"[A-Z]{3}", code)):
            raise _fail("a post needs its 3-letter operator code", 'e.g. "GBA"', "operator_code")
        if not self.keys:
            raise _fail("no key", "add a [[keys]] table with id, alg, public_key", "keys")
        if self.responses_url and self.kind is not PartnerKind.POST:
            fix = "only a post receives responses: remove responses_url"
            raise _fail("is for posts", fix, "responses_url")
        return self


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
    read = _validate(PartnerFile, raw, file, folder=folder)

    def fail(key: str, problem: str, fix: str) -> NoReturn:
        raise ConfigError(str(file), key, problem, fix)

    keys = tuple(
        _key(key, f"keys[{i}]", file, settings.data_dir / "demo-partners" / read.id, fail)
        for i, key in enumerate(read.keys)
    )
    mapping = None
    if B5_FEED_FORMAT in read.formats:  # a partner that sends B5 feeds names its mapping file
        mapping = folder / read.mapping
        if not mapping.is_file():
            fail("mapping", f"{mapping} does not exist", "describe the feed layout in mapping.toml")
    partner = Partner(
        id=read.id,
        name=read.name,
        kind=read.kind,
        country=read.country,
        operator_code=read.operator_code,
        formats=read.formats,
        max_body_bytes=read.max_body_bytes,
        key_ids=tuple(k.keyid for k in keys),
        rate_per_s=read.rate_per_s,
        burst=read.burst,
        max_concurrent=read.max_concurrent,
        share=read.share.agreement() if read.kind is PartnerKind.CUSTOMS else None,
        mapping=mapping,
        responses_url=read.responses_url,
    )
    return PartnerConfig(partner, keys, folder)


def _key(
    key: KeyTable, at: str, file: Path, demo_dir: Path, fail: Callable[[str, str, str], NoReturn]
) -> PartnerKeySpec:
    if key.demo:
        return PartnerKeySpec(
            key.id,
            key.alg,
            demo_dir / f"{key.id}.pub.pem",
            key.not_before,
            key.not_after,
            demo=True,
            private_key=demo_dir / f"{key.id}.key.pem",
            source=file,
        )
    assert key.public_key is not None  # KeyTable requires it without demo
    path = file.parent / key.public_key
    if not path.is_file():
        fail(f"{at}.public_key", f"{path} does not exist", "put the partner's PEM public key there")
    return PartnerKeySpec(key.id, key.alg, path, key.not_before, key.not_after, source=file)


def gateway_toml_keys() -> list[str]:
    """Every key gateway.toml accepts, dotted (`http.listen`, `consumers.name`); the documented
    example (examples/gateway.toml) names each one."""
    tables: dict[str, type[_Table]] = {
        "": Settings,
        "http.": HttpSettings,
        "grpc.": GrpcSettings,
        "signing.": SigningSettings,
        "share.": ShareSettings,
        "cpu.": CpuSettings,
        "consumers.": ConsumerTable,
    }
    return sorted(prefix + key for prefix, table in tables.items() for key in table.file_keys())
