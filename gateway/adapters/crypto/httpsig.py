"""HTTP Message Signatures (RFC 9421) with Content-Digest (RFC 9530, sha-256).

A partner request carries, for the label `sig1`:

    Content-Digest:  sha-256=:<base64 of SHA-256(body)>:           (when there is a body)
    Signature-Input: sig1=("@method" "@target-uri" "content-type" "content-digest")
                     ;created=<unix s>;keyid="<kid>";alg="ed25519";nonce="<random>"
    Signature:       sig1=:<base64 signature over the signature base>:

The signature base (§2.5) is one line per covered component, `"<name>": <value>`, then
`"@signature-params": <the serialized inner list>`, joined by LF with no final LF. Header values
are trimmed and repeated fields joined with ", ". Structured fields are parsed and serialized
with http_sfv; the one shape signers send (a single member: an inner list of plain strings
with string and integer parameters, or a canonical byte sequence) is read by one regular
expression and written from http_sfv's own serializers, with the same results (see
`_canonical_signature` and `_serialize_inner`).

`@target-uri` is the absolute URI the client used: scheme://authority/path?query. Behind a
reverse proxy the server cannot see it, so it trusts a configured public base URL and rebuilds
the URI with `target_uri(base_url, raw_path_and_query)`; the proxy must pass the path and query
through unchanged.

Verification checks, in this order, and raises SignatureError with the first that fails:
parse (missing, malformed) → required components and parameters (missing-component, malformed)
→ key (unknown-key) → time (stale, expired-key) → digest (bad-digest) → signature
(bad-signature) → nonce (replayed). A replay of a valid request is therefore 'replayed', and a
forged request never uses up a nonce.

Responses are signed the same way over `@status`, `content-type` and `content-digest`. A
response may also be bound to the request that asked for it (§2.4): its signature then covers
request components marked with the `req` parameter, the request's own signature among them,

    Signature-Input: sig1=("@status" "content-type" "content-digest" "@method";req
                     "@target-uri";req "signature";req;key="sig1");created=<unix s>;keyid=...

where `"signature";req;key="sig1"` is the value of the request's `sig1` Signature member
(`:<base64>:`, §2.1.2 `key`). Such an answer verifies only against the request it answers
(`RequestBinding`): replayed to another request, or with the request altered, it fails.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final
from urllib.parse import SplitResult, urlsplit

from http_sfv.byteseq import ser_byteseq
from http_sfv.dictionary import Dictionary
from http_sfv.integer import ser_integer
from http_sfv.item import InnerList, Item
from http_sfv.string import ser_string
from http_sfv.util import ser_key

from gateway.adapters.crypto.keys import ALGORITHMS, SigningKey, VerificationKey
from gateway.adapters.crypto.nonces import NonceCache
from gateway.domain.bodies import Body, SpooledBody
from gateway.errors import SignatureError

__all__ = [
    "BOUND_COMPONENTS",
    "CONTENT_DIGEST",
    "LABEL",
    "REQUEST_COMPONENTS",
    "RESPONSE_COMPONENTS",
    "SIGNATURE",
    "SIGNATURE_INPUT",
    "Component",
    "NonceCache",
    "RequestBinding",
    "RequestVerifier",
    "body_sha256",
    "bound_components",
    "content_digest",
    "request_label",
    "sign_request",
    "sign_response",
    "signature_base",
    "target_uri",
    "verify_content_digest",
    "verify_response",
]

SIGNATURE: Final = "Signature"
SIGNATURE_INPUT: Final = "Signature-Input"
CONTENT_DIGEST: Final = "Content-Digest"
LABEL: Final = "sig1"
WINDOW_S: Final = 300

#: Always covered in a request; content-type and content-digest too when there is a body.
REQUEST_COMPONENTS: Final = ("@method", "@target-uri")
BODY_COMPONENTS: Final = ("content-type", "content-digest")
REQUEST_PARAMS: Final = ("created", "keyid", "alg", "nonce")
RESPONSE_COMPONENTS: Final = ("@status", "content-digest")
RESPONSE_PARAMS: Final = ("created", "keyid")
#: The request components a bound response covers (with `"signature";req;key=<label>`).
BOUND_COMPONENTS: Final = ("@method", "@target-uri")

_DERIVED: Final = frozenset(
    {
        "@method",
        "@target-uri",
        "@authority",
        "@scheme",
        "@request-target",
        "@path",
        "@query",
        "@status",
    }
)
_DEFAULT_PORTS: Final = {"http": "80", "https": "443"}
_MAX_NONCE: Final = 256

Headers = Mapping[str, str]
KeyResolver = Callable[[str], VerificationKey | None]


# -- Content-Digest (RFC 9530) ---------------------------------------------------------------


def content_digest(body: Body, sha256: bytes | None = None) -> str:
    """The Content-Digest field value for `body` (whose SHA-256 is `sha256` when given):
    `sha-256=:<base64>:`."""
    return f"sha-256=:{base64.b64encode(sha256 or body_sha256(body)).decode('ascii')}:"


def body_sha256(body: Body) -> bytes:
    """SHA-256 of the body (of a spooled one: computed as it was written)."""
    return body.sha256 if isinstance(body, SpooledBody) else hashlib.sha256(body).digest()


def verify_content_digest(value: str | None, body: Body, sha256: bytes | None = None) -> None:
    """Accept when the field has a sha-256 member equal to SHA-256(body) (`sha256`, when the
    caller hashed the body already); other members ignored.

    Raises SignatureError('bad-digest') when the field is absent, unparsable, lacks sha-256, or
    does not match.
    """
    if value is None:
        raise SignatureError("bad-digest", "there is a body but no Content-Digest")
    one = _ONE_BYTES.fullmatch(value)
    if one is not None and one.group(1) == "sha-256":
        digest = base64.standard_b64decode(one.group(2))
    else:
        digests = _parse_dictionary(value, "bad-digest", CONTENT_DIGEST)
        member = digests.get("sha-256")
        if member is None or not isinstance(member, Item) or not isinstance(member.value, bytes):
            raise SignatureError("bad-digest", "Content-Digest has no sha-256 byte sequence")
        digest = member.value
    if not hmac.compare_digest(digest, sha256 or body_sha256(body)):
        raise SignatureError("bad-digest", "Content-Digest does not match the received body")


# -- the message and its components (RFC 9421 §2) ---------------------------------------------


@dataclass(frozen=True, slots=True)
class Component:
    """A covered component with parameters (§2.1): `req` takes it from the request a response
    answers (§2.4), `key` one member of a dictionary field (§2.1.2). A plain component is just
    its name (a str)."""

    name: str
    req: bool = False
    key: str | None = None
    text: str = field(default="", compare=False)  # as serialized in a received Signature-Input

    @property
    def identifier(self) -> str:
        """The component identifier as the signature base and Signature-Input write it."""
        if self.text:
            return self.text
        return (
            ser_string(self.name)
            + (";req" if self.req else "")
            + (f";key={ser_string(self.key)}" if self.key is not None else "")
        )


Covered = str | Component


@dataclass(frozen=True, slots=True)
class RequestBinding:
    """The request a response answers, as its client sent it (or its server received it):
    what the response's `req` components are read from."""

    method: str
    target_uri: str
    headers: Headers


@dataclass(frozen=True, slots=True)
class _Message:
    fields: dict[str, list[str]]  # lowercased field name -> its values in order
    method: str | None = None
    target_uri: str | None = None
    status: int | None = None
    request: _Message | None = None  # the request a response answers (`req` components)


class _AbsentComponentError(Exception):
    """A covered component the message does not have."""


def _fields(headers: Headers) -> dict[str, list[str]]:
    """Lowercased names to values; a multidict's repeated fields keep every value, in order."""
    fields: dict[str, list[str]] = {}
    for name, value in headers.items():
        fields.setdefault(name.lower(), []).append(value)
    return fields


def _field(fields: dict[str, list[str]], name: str) -> str | None:
    values = fields.get(name)
    return None if values is None else ", ".join(value.strip() for value in values)


def target_uri(base_url: str, raw_path: str) -> str:
    """The @target-uri of a request reaching the public `base_url` with this path and query.

    `base_url` is the scheme and authority partners use (e.g. "https://aed.example.gov"; a
    trailing slash is dropped); `raw_path` the request-target as received, starting with "/".
    """
    if not raw_path.startswith("/"):
        raise ValueError(f"request path {raw_path!r} must start with '/'")
    return base_url.rstrip("/") + raw_path


def _derived(name: str, message: _Message) -> str | None:
    if name == "@method":
        return message.method
    if name == "@status":
        return None if message.status is None else f"{message.status:03d}"
    if message.target_uri is None:
        return None
    if name == "@target-uri":
        return message.target_uri
    return _FROM_URI[name](urlsplit(message.target_uri))


def _request_target(parts: SplitResult) -> str:
    path = parts.path or "/"
    return f"{path}?{parts.query}" if parts.query else path


_FROM_URI: Final[dict[str, Callable[[SplitResult], str]]] = {
    "@scheme": lambda parts: parts.scheme.lower(),
    "@authority": lambda parts: _authority(parts.scheme.lower(), parts.netloc),
    "@path": lambda parts: parts.path or "/",
    "@query": lambda parts: f"?{parts.query}",
    "@request-target": _request_target,
}


def _authority(scheme: str, netloc: str) -> str:
    host = netloc.rpartition("@")[2].lower()
    default = _DEFAULT_PORTS.get(scheme)
    if default and host.endswith(f":{default}"):
        host = host[: -len(default) - 1]
    return host


def _component_value(component: Covered, message: _Message) -> str:
    if isinstance(component, Component):
        return _parameterised_value(component, message)
    name = component
    value = _derived(name, message) if name.startswith("@") else _field(message.fields, name)
    if value is None:
        raise _AbsentComponentError(name)
    if "\n" in value or "\r" in value:
        raise SignatureError("malformed", f"component {name!r} contains a line break")
    return value


def _parameterised_value(component: Component, message: _Message) -> str:
    source = message.request if component.req else message
    if source is None:
        raise _AbsentComponentError(component.identifier)
    if component.key is None:
        return _component_value(component.name, source)
    value = _field(source.fields, component.name)
    if value is None or component.name.startswith("@"):
        raise _AbsentComponentError(component.identifier)
    members = _parse_dictionary(value, "malformed", component.name)
    member = members.get(component.key)
    if member is None:
        raise _AbsentComponentError(component.identifier)
    return str(member)


def _line_name(component: Covered) -> str:
    return component.identifier if isinstance(component, Component) else f'"{component}"'


def request_label(headers: Headers) -> str | None:
    """The label of the request signature a verifier checks when it names none: `sig1` when
    the request has one, else its first; None without a Signature field."""
    value = _field(_fields(headers), "signature")
    if value is None:
        return None
    one = _ONE_BYTES.fullmatch(value)
    if one is not None:
        return one.group(1)
    labels = list(_parse_dictionary(value, "malformed", SIGNATURE))
    return LABEL if LABEL in labels else (labels[0] if labels else None)


def bound_components(label: str) -> tuple[Component, ...]:
    """The request components a response bound to the request signed as `label` covers."""
    return (
        *(Component(name, req=True) for name in BOUND_COMPONENTS),
        Component("signature", req=True, key=label),
    )


def signature_base(
    components: Iterable[Covered],
    params: str,
    *,
    headers: Headers,
    method: str | None = None,
    target_uri: str | None = None,
    status: int | None = None,
    request: RequestBinding | None = None,
) -> bytes:
    """The RFC 9421 §2.5 signature base of a message over `components`.

    `params` is the serialized inner list with its parameters, exactly as in Signature-Input;
    `request` the request a response answers, for its `req` components. Raises ValueError
    naming a covered component the message does not have.
    """
    message = _Message(_fields(headers), method, target_uri, status, _request(request))
    try:
        return _base(components, params, message)
    except _AbsentComponentError as exc:
        raise ValueError(f"covered component {exc} is absent from the message") from None


def _request(binding: RequestBinding | None) -> _Message | None:
    if binding is None:
        return None
    return _Message(_fields(binding.headers), binding.method, binding.target_uri)


def _base(components: Iterable[Covered], params: str, message: _Message) -> bytes:
    """signature_base over a parsed message; _AbsentComponentError for a missing component."""
    lines = [f"{_line_name(c)}: {_component_value(c, message)}" for c in components]
    lines.append(f'"@signature-params": {params}')
    return "\n".join(lines).encode("utf-8")


# -- signing ---------------------------------------------------------------------------------


def _signature_params(
    components: Iterable[Covered], key: SigningKey, created: int, nonce: str | None
) -> str:
    """The serialized inner list of Signature-Input (and of "@signature-params")."""
    params: dict[str, str | int] = {"created": created, "keyid": key.keyid, "alg": key.alg}
    if nonce is not None:
        params["nonce"] = nonce
    return _serialize_inner(components, params)


def _serialize_inner(components: Iterable[Covered], params: Mapping[str, str | int]) -> str:
    """RFC 8941 §4.1.1.1: an inner list of strings with string and integer parameters, as
    http_sfv's `str(InnerList)` writes it, from its own item serializers (without building its
    objects, which cost ~40 µs a response). Raises ValueError as they do (a character outside
    printable ASCII, an integer past 15 digits, a bad key)."""
    items = " ".join(
        c.identifier if isinstance(c, Component) else ser_string(c) for c in components
    )
    written = "".join(
        f";{ser_key(name)}={ser_integer(value) if type(value) is int else ser_string(str(value))}"
        for name, value in params.items()
    )
    return f"({items}){written}"


def _sign(
    components: list[Covered],
    *,
    message: _Message,
    key: SigningKey,
    created: int,
    nonce: str | None,
    label: str,
) -> dict[str, str]:
    inner = _signature_params(components, key, created, nonce)
    base = _base(components, inner, message)
    member = ser_key(label)  # a dictionary of one member: `label=value` (RFC 8941 §4.1.2)
    return {
        SIGNATURE_INPUT: f"{member}={inner}",
        SIGNATURE: f"{member}={ser_byteseq(key.sign(base))}",
    }


def sign_request(
    *,
    method: str,
    target_uri: str,
    headers: Headers,
    body: bytes,
    key: SigningKey,
    created: int | None = None,
    nonce: str | None = None,
    label: str = LABEL,
) -> dict[str, str]:
    """The headers to add to a request: Content-Digest (when `body`), Signature-Input, Signature.

    Covers @method, @target-uri and, when there is a body, content-type (which `headers` must
    then hold) and content-digest. `created` defaults to now, `nonce` to 128 random bits.
    """
    fields = _fields(headers)
    components: list[Covered] = list(REQUEST_COMPONENTS)
    added: dict[str, str] = {}
    if body:
        if "content-type" not in fields:
            raise ValueError("a request with a body needs a Content-Type header to sign")
        added[CONTENT_DIGEST] = content_digest(body)
        fields["content-digest"] = [added[CONTENT_DIGEST]]
        components += BODY_COMPONENTS
    message = _Message(fields, method=method, target_uri=target_uri)
    when = int(time.time()) if created is None else created
    added |= _sign(
        components,
        message=message,
        key=key,
        created=when,
        nonce=nonce or secrets.token_urlsafe(16),
        label=label,
    )
    return added


def sign_response(
    *,
    status: int,
    headers: Headers,
    body: bytes,
    key: SigningKey,
    created: int | None = None,
    label: str = LABEL,
    request: RequestBinding | None = None,
) -> dict[str, str]:
    """The headers to add to a response: Content-Digest, Signature-Input, Signature.

    Covers @status, content-type (when `headers` has one) and content-digest (always, also of an
    empty body), with created, keyid and alg. With `request` (a signed request, as received),
    the response is bound to it: the signature also covers its @method, @target-uri and
    signature (`req`, see the module docstring). Raises ValueError when that request has no
    signature.
    """
    fields = _fields(headers)
    digest = content_digest(body)
    fields["content-digest"] = [digest]
    components: list[Covered] = [
        "@status",
        *(["content-type"] if "content-type" in fields else []),
        "content-digest",
    ]
    if request is not None:
        request_as = request_label(request.headers)
        if request_as is None:
            raise ValueError("a response is bound only to a signed request")
        components += bound_components(request_as)
    message = _Message(fields, status=status, request=_request(request))
    when = int(time.time()) if created is None else created
    return {
        CONTENT_DIGEST: digest,
        **_sign(components, message=message, key=key, created=when, nonce=None, label=label),
    }


# -- verifying -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Parsed:
    label: str
    components: tuple[Covered, ...]
    params_text: str  # the inner list as serialized: the value of "@signature-params"
    params: dict[str, Any]
    signature: bytes

    @property
    def keyid(self) -> str | None:
        keyid = self.params.get("keyid")
        return keyid if isinstance(keyid, str) else None


def _parse_dictionary(value: str, reason: str, name: str) -> Dictionary:
    parsed = Dictionary()
    try:
        parsed.parse(value.encode("ascii"))
    except (ValueError, UnicodeEncodeError) as exc:
        raise SignatureError(reason, f"{name} is not a structured-field dictionary") from exc
    return parsed


def _parse(fields: dict[str, list[str]], label: str | None) -> _Parsed:
    """Signature-Input and Signature for one label; 'missing' or 'malformed' when unusable."""
    input_text, signature_text = _field(fields, "signature-input"), _field(fields, "signature")
    if input_text is None or signature_text is None:
        raise SignatureError("missing", "the request has no Signature and Signature-Input")
    canonical = _canonical_signature(input_text, signature_text, label)
    return canonical or _parse_sfv(input_text, signature_text, label)


def _parse_sfv(input_text: str, signature_text: str, label: str | None) -> _Parsed:
    """`_parse` of any shape, by http_sfv."""
    inputs = _parse_dictionary(input_text, "malformed", SIGNATURE_INPUT)
    signatures = _parse_dictionary(signature_text, "malformed", SIGNATURE)
    chosen = label or (LABEL if LABEL in inputs else next(iter(inputs), None))
    if chosen is None or chosen not in inputs:
        raise SignatureError("missing", f"no signature labelled {label or LABEL!r}")
    inner, signature = inputs[chosen], signatures.get(chosen)
    if not isinstance(inner, InnerList):
        raise SignatureError("malformed", f"Signature-Input {chosen} is not an inner list")
    if not isinstance(signature, Item) or not isinstance(signature.value, bytes):
        raise SignatureError("malformed", f"Signature has no byte sequence for {chosen}")
    params = dict(inner.params)
    _check_params(params)
    return _Parsed(chosen, _components(inner), str(inner), params, signature.value)


# The shape every signer here sends, in RFC 8941's canonical form (what its serializers write):
# one dictionary member; an inner list of strings without escapes, single-spaced, without item
# parameters; string and integer parameters (no leading zero, no "-0"); a byte sequence in
# padded base64. Anything else (several members, escapes, tokens, booleans, extra spaces...)
# is parsed by http_sfv, which gives the same result for these strings.
_SF_KEY = r"[a-z*][a-z0-9_.*-]*"
_SF_STRING = r'"[\x20\x21\x23-\x5b\x5d-\x7e]*"'
_SF_INTEGER = r"(?:0|-?[1-9][0-9]{0,14})"
_ONE_INNER_LIST = re.compile(
    rf"({_SF_KEY})=(\(((?:{_SF_STRING}(?: {_SF_STRING})*)?)\)"
    rf"((?:;{_SF_KEY}=(?:{_SF_STRING}|{_SF_INTEGER}))*))"
)
_ONE_BYTES = re.compile(
    rf"({_SF_KEY})=:((?:[A-Za-z0-9+/]{{4}})*(?:[A-Za-z0-9+/]{{2}}==|[A-Za-z0-9+/]{{3}}=)?):"
)
_SF_PARAM = re.compile(rf';({_SF_KEY})=(?:"([^"]*)"|(-?[0-9]+))')
_SF_ITEM = re.compile(r'"([^"]*)"')


def _canonical_signature(input_text: str, signature_text: str, label: str | None) -> _Parsed | None:
    """`_parse` of the canonical shape, or None (anything else, or anything `_parse` would
    refuse: it then parses again with http_sfv and says why)."""
    inner = _ONE_INNER_LIST.fullmatch(input_text)
    signature = _ONE_BYTES.fullmatch(signature_text)
    if inner is None or signature is None:
        return None
    chosen = inner.group(1)
    if (label is not None and label != chosen) or signature.group(1) != chosen:
        return None
    names = tuple(_SF_ITEM.findall(inner.group(3)))
    if len(set(names)) != len(names) or any(
        name != name.lower() or (name.startswith("@") and name not in _DERIVED) for name in names
    ):
        return None
    params: dict[str, Any] = {}
    for found in _SF_PARAM.finditer(inner.group(4)):
        name, text, number = found.groups()
        if name in params:
            return None  # http_sfv keeps the last, and writes the list back shorter
        params[name] = text if number is None else int(number)
    try:
        _check_params(params)
    except SignatureError:
        return None
    return _Parsed(
        chosen, names, inner.group(2), params, base64.standard_b64decode(signature.group(2))
    )


def _components(inner: InnerList) -> tuple[Covered, ...]:
    covered: list[Covered] = []
    for item in inner:
        name = item.value
        if type(name) is not str or name != name.lower():
            raise SignatureError("malformed", f"covered component {item} is not supported")
        if name.startswith("@") and name not in _DERIVED:
            raise SignatureError("malformed", f"derived component {name!r} is not supported")
        component = _with_params(name, dict(item.params), str(item)) if item.params else name
        if component in covered:
            detail = f"covered component {item} is not supported (repeated)"
            raise SignatureError("malformed", detail)
        covered.append(component)
    return tuple(covered)


def _with_params(name: str, params: dict[str, Any], text: str) -> Component:
    """A component with the parameters supported here: `req` (true) and `key` (a string, on a
    field); anything else is malformed."""
    req, key = params.pop("req", False), params.pop("key", None)
    if params or type(req) is not bool or (key is not None and type(key) is not str):
        raise SignatureError("malformed", f"covered component {text} is not supported")
    if key is not None and name.startswith("@"):
        raise SignatureError("malformed", f"covered component {text} is not supported")
    return Component(name, req=bool(req), key=key, text=text)


def _check_params(params: dict[str, Any]) -> None:
    for name in ("created", "expires"):
        if name in params and type(params[name]) is not int:
            raise SignatureError("malformed", f"parameter {name} must be an integer")
    for name in ("keyid", "alg", "nonce"):
        if name in params and type(params[name]) is not str:
            raise SignatureError("malformed", f"parameter {name} must be a string")
    if "alg" in params and params["alg"] not in ALGORITHMS:
        raise SignatureError("malformed", f"algorithm {params['alg']!r} is not supported")
    if "nonce" in params and not 0 < len(params["nonce"]) <= _MAX_NONCE:
        raise SignatureError("malformed", f"the nonce must be 1 to {_MAX_NONCE} characters")


def _require(parsed: _Parsed, components: Iterable[Covered], params: Iterable[str]) -> None:
    absent = [_line_name(c) for c in components if c not in parsed.components]
    if absent:
        raise SignatureError(
            "missing-component",
            f"the signature does not cover {', '.join(absent)}",
            keyid=parsed.keyid,
        )
    lacking = [name for name in params if name not in parsed.params]
    if lacking:
        raise SignatureError(
            "malformed",
            f"the signature lacks the parameter(s) {', '.join(lacking)}",
            keyid=parsed.keyid,
        )


def _resolve(parsed: _Parsed, resolve_key: KeyResolver) -> VerificationKey:
    keyid = parsed.keyid
    if keyid is None:
        raise SignatureError("malformed", "the signature has no keyid")
    key = resolve_key(keyid)
    if key is None:
        raise SignatureError("unknown-key", f"no key {keyid!r} is known", keyid=keyid)
    alg = parsed.params.get("alg")
    if alg is not None and alg != key.alg:
        raise SignatureError(
            "bad-signature", f"alg {alg!r} does not fit key {keyid!r} ({key.alg})", keyid=keyid
        )
    return key


def _check_time(parsed: _Parsed, key: VerificationKey, now: datetime, window_s: int | None) -> None:
    created = parsed.params.get("created")
    if created is not None and window_s is not None:
        age = now.timestamp() - created
        if abs(age) > window_s:
            direction = "old" if age > 0 else "in the future"
            raise SignatureError(
                "stale",
                f"created is {abs(age):.0f} s {direction}; the window is ±{window_s} s",
                keyid=key.keyid,
            )
    expires = parsed.params.get("expires")
    if expires is not None and now.timestamp() > expires:
        raise SignatureError("stale", "the signature has expired", keyid=key.keyid)
    signed_at = now if created is None else datetime.fromtimestamp(created, UTC)
    for instant in (signed_at, now) if window_s is not None else (signed_at,):
        if not key.valid_at(instant):
            raise SignatureError(
                "expired-key",
                f"key {key.keyid!r} is not valid at {instant.isoformat()}",
                keyid=key.keyid,
            )


def _check_digest(
    fields: dict[str, list[str]], body: Body, keyid: str, sha256: bytes | None = None
) -> None:
    value = _field(fields, "content-digest")
    if body or value is not None:
        try:
            verify_content_digest(value, body, sha256)
        except SignatureError as exc:
            raise SignatureError(exc.reason, exc.detail, keyid=keyid) from None


def _check_signature(parsed: _Parsed, message: _Message, key: VerificationKey) -> None:
    try:
        base = _base(parsed.components, parsed.params_text, message)
    except _AbsentComponentError as exc:
        raise SignatureError(
            "bad-signature",
            f"covered component {exc} is absent from the message",
            keyid=key.keyid,
        ) from None
    if not key.verify(base, parsed.signature):
        raise SignatureError("bad-signature", "the signature does not verify", keyid=key.keyid)


class RequestVerifier:
    """Verifies partner requests (see the module docstring for the checks and their order).

    `resolve_key(keyid)` returns the partner key or None; it is called once per request and
    should be a dict lookup (keys are parsed once, at start-up).
    """

    def __init__(
        self,
        resolve_key: KeyResolver,
        *,
        window_s: int = WINDOW_S,
        nonces: NonceCache | None = None,
        label: str | None = None,
    ) -> None:
        self._resolve, self._window, self._label = resolve_key, window_s, label
        self._nonces = nonces if nonces is not None else NonceCache(window_s)

    def verify(
        self,
        method: str,
        target_uri: str,
        headers: Headers,
        body: Body,
        now: datetime,
        *,
        body_sha256: bytes | None = None,
    ) -> VerificationKey:
        """Return the key that signed the request; raise SignatureError naming what failed.

        `headers` may be a case-insensitive multidict; `body` the bytes as received, or their
        spooled file (still content-encoded: the digest is over what was sent), and
        `body_sha256` its SHA-256 when the caller computed it already; `now` timezone-aware.
        """
        fields = _fields(headers)
        parsed = _parse(fields, self._label)
        components = REQUEST_COMPONENTS + (BODY_COMPONENTS if body else ())
        _require(parsed, components, REQUEST_PARAMS)
        key = _resolve(parsed, self._resolve)
        _check_time(parsed, key, now, self._window)
        _check_digest(fields, body, key.keyid, body_sha256)
        _check_signature(parsed, _Message(fields, method, target_uri), key)
        nonce = parsed.params["nonce"]
        if not self._nonces.check_and_add(
            key.keyid, nonce, parsed.params["created"], now.timestamp()
        ):
            raise SignatureError(
                "replayed", f"nonce {nonce!r} was already used within the window", keyid=key.keyid
            )
        return key


def verify_response(
    *,
    status: int,
    headers: Headers,
    body: bytes,
    keys: Mapping[str, VerificationKey] | KeyResolver,
    now: datetime | None = None,
    window_s: int | None = WINDOW_S,
    label: str | None = None,
    request: RequestBinding | None = None,
) -> VerificationKey:
    """Check a response signed by `sign_response` (the partner's side); return the signing key.

    Requires @status and content-digest covered (content-type too when the response has one),
    created and keyid. With `request` (the request exactly as the client sent it, its
    Signature included), the response must also be bound to it: its @method, @target-uri and
    signature covered with `req` ('missing-component' otherwise; 'bad-signature' when the
    response answers another request). `keys` is the gateway's published keys (e.g.
    `keys_from_jwks`) or a resolver. With `window_s` None the age of `created` is not checked
    (verifying a stored response later); the key must still have been valid at `created`.
    Raises SignatureError as RequestVerifier does (no nonce, so never 'replayed').
    """
    fields = _fields(headers)
    parsed = _parse(fields, label)
    required: list[Covered] = [
        *RESPONSE_COMPONENTS,
        *(("content-type",) if "content-type" in fields else ()),
    ]
    if request is not None:
        request_as = request_label(request.headers)
        if request_as is None:
            raise SignatureError("missing", "the request the response answers was not signed")
        required += bound_components(request_as)
    _require(parsed, required, RESPONSE_PARAMS)
    resolve = keys.get if isinstance(keys, Mapping) else keys
    key = _resolve(parsed, resolve)
    _check_time(parsed, key, now or datetime.now(UTC), window_s)
    _check_digest(fields, body, key.keyid)
    _check_signature(parsed, _Message(fields, status=status, request=_request(request)), key)
    return key
