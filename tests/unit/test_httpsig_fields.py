"""Structured fields of RFC 9421 headers: the canonical shape's own reader and writer agree with
http_sfv, the reference, on every input they take; anything else is left to http_sfv."""

from __future__ import annotations

import base64
import string
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from http_sfv.dictionary import Dictionary
from http_sfv.item import InnerList, Item
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.adapters.crypto import httpsig
from gateway.adapters.crypto.httpsig import (
    RequestVerifier,
    sign_request,
    sign_response,
    verify_content_digest,
)
from gateway.adapters.crypto.keys import ALGORITHMS, ED25519, SigningKey, generate_private_key
from gateway.errors import SignatureError

PRINTABLE = "".join(chr(c) for c in range(0x20, 0x7F))
KEYS = st.from_regex(r"[a-z*][a-z0-9_.*-]{0,8}", fullmatch=True)
STRINGS = st.text(PRINTABLE, max_size=12)
INTEGERS = st.integers(-999_999_999_999_999, 999_999_999_999_999)
COMPONENTS = st.lists(
    st.sampled_from(["@method", "@target-uri", "@status", "content-type", "content-digest"])
    | STRINGS,
    max_size=5,
)
PARAMS = st.dictionaries(KEYS, STRINGS | INTEGERS, max_size=5)
SIGNER_PARAMS = st.fixed_dictionaries(  # what signers send, with fields left out at random
    {},
    optional={
        "created": INTEGERS,
        "keyid": STRINGS,
        "alg": st.sampled_from(sorted(ALGORITHMS)),
        "nonce": STRINGS,
        "expires": INTEGERS,
    },
)


def _http_sfv_inner(components: list[str], params: dict[str, str | int]) -> InnerList:
    inner = InnerList([Item(name) for name in components])
    for name, value in params.items():
        inner.params[name] = value
    return inner


@given(components=COMPONENTS, params=PARAMS)
def test_the_inner_list_is_written_as_http_sfv_writes_it(
    components: list[str], params: dict[str, str | int]
) -> None:
    assert httpsig._serialize_inner(components, params) == str(_http_sfv_inner(components, params))


def test_a_string_http_sfv_cannot_write_is_refused_alike() -> None:
    for bad in ("caf\u00e9", "tab\there"):
        with pytest.raises(ValueError, match="disallowed"):
            str(_http_sfv_inner([bad], {}))
        with pytest.raises(ValueError, match="disallowed"):
            httpsig._serialize_inner([bad], {})
    with pytest.raises(ValueError, match="range"):
        httpsig._serialize_inner(["a"], {"created": 10**15})


URL = "https://aed.example.gov/v1/aed/itmatt"
XML = {"Content-Type": "application/xml"}


def _signed(key: SigningKey, **fixed: Any) -> dict[str, str]:
    """The headers a partner adds to a POST of `<x/>` to URL (created, nonce as given)."""
    return sign_request(method="POST", target_uri=URL, headers=XML, body=b"<x/>", key=key, **fixed)


def test_signed_headers_are_the_dictionaries_http_sfv_writes() -> None:
    key = SigningKey('kid "quoted" \\ 1', ED25519, generate_private_key(ED25519))
    headers = _signed(key, created=1_800_000_000, nonce="n-1")
    inputs, signatures = Dictionary(), Dictionary()
    inputs.parse(headers["Signature-Input"].encode())
    signatures.parse(headers["Signature"].encode())
    assert str(inputs) == headers["Signature-Input"]
    assert str(signatures) == headers["Signature"]
    assert inputs["sig1"].params["keyid"] == 'kid "quoted" \\ 1'
    response = sign_response(
        status=202, headers={"Content-Type": "application/json"}, body=b"{}", key=key
    )
    inputs.clear()
    inputs.parse(response["Signature-Input"].encode())
    assert str(inputs) == response["Signature-Input"]


# -- reading: the canonical shape's reader against http_sfv's ---------------------------------

Mutation = Callable[[str], str]


def _same(text: str) -> str:
    return text


MUTATIONS: list[Mutation] = [
    _same,
    lambda t: " " + t,
    lambda t: t + " ",
    lambda t: t.replace(" ", "  ", 1),
    lambda t: t.replace("(", "( ", 1),
    lambda t: t.replace(")", " )", 1),
    lambda t: t.replace(";", "; ", 1),
    lambda t: t + ", sig2=()",
    lambda t: "sig0=(), " + t,
    lambda t: t + ";flag",
    lambda t: t + ";alg=ed25519",
    lambda t: t + ";created=1",
    lambda t: t + ";created=01",
    lambda t: t + ";created=-0",
    lambda t: t + ";expires=1.5",
    lambda t: t + ';nonce=""',
    lambda t: t.replace('"', '"\\\\', 1),
    lambda t: t.replace("=", "=?1;x=", 1),
    lambda t: t.replace('"@method"', '"@method";req', 1),
    lambda t: t.replace('"@method"', '"@Method"', 1),
    lambda t: t.replace('"@method"', '"@method" "@method"', 1),
    lambda t: t.replace('"@method"', '"@unknown"', 1),
    lambda t: t.replace('"@method"', "token", 1),
    lambda t: t.upper(),
    lambda t: t.replace("sig1", "SIG1", 1),
    lambda t: t.replace("sig1", "other", 1),
]
SIGNATURE_MUTATIONS: list[Mutation] = [
    _same,
    lambda t: t.replace("=:", "=: ", 1),
    lambda t: t.rstrip(":=") + ":",
    lambda t: t.replace("sig1", "other", 1),
    lambda t: t + ", sig2=:AA==:",
    lambda t: t + ";p=1",
    lambda t: t.replace(":", ":*", 1),
    lambda t: "sig1=?1",
]


def _either(input_text: str, signature_text: str, label: str | None) -> object:
    try:
        return httpsig._parse_sfv(input_text, signature_text, label)
    except SignatureError as exc:
        return exc.reason


def _check_agreement(
    components: list[str],
    params: dict[str, str | int],
    signature: bytes,
    label: str | None,
    mutate: tuple[Mutation, Mutation],
) -> bool:
    """Whether the canonical reader answered; when it did, it said what http_sfv's parse says."""
    try:
        inner = httpsig._serialize_inner(components, params)
    except ValueError:
        return False
    input_text = mutate[0](f"sig1={inner}")
    signature_text = mutate[1](f"sig1=:{base64.b64encode(signature).decode()}:")
    fast = httpsig._canonical_signature(input_text, signature_text, label)
    if fast is not None:
        assert fast == _either(input_text, signature_text, label)
    return fast is not None


@settings(max_examples=300)
@given(
    components=COMPONENTS,
    params=SIGNER_PARAMS | PARAMS,
    signature=st.binary(max_size=70),
    label=st.sampled_from([None, "sig1", "sig2"]),
)
def test_the_canonical_reader_agrees_with_http_sfv_on_serialized_headers(
    components: list[str], params: dict[str, str | int], signature: bytes, label: str | None
) -> None:
    _check_agreement(components, params, signature, label, (_same, _same))


@settings(max_examples=400)
@given(
    components=COMPONENTS,
    params=SIGNER_PARAMS,
    signature=st.binary(max_size=70),
    mutation=st.sampled_from(MUTATIONS),
    signature_mutation=st.sampled_from(SIGNATURE_MUTATIONS),
    label=st.sampled_from([None, "sig1"]),
)
def test_the_canonical_reader_agrees_with_http_sfv_on_altered_headers(
    *,
    components: list[str],
    params: dict[str, str | int],
    signature: bytes,
    mutation: Mutation,
    signature_mutation: Mutation,
    label: str | None,
) -> None:
    _check_agreement(components, params, signature, label, (mutation, signature_mutation))


@pytest.mark.parametrize("mutation", range(len(MUTATIONS)))
@pytest.mark.parametrize(
    "params",
    [
        {"created": 1_800_000_000, "keyid": "gb-1", "alg": "ed25519", "nonce": "n1"},
        {"keyid": "gb-1"},
    ],
)
def test_every_alteration_is_read_as_http_sfv_reads_it(
    mutation: int, params: dict[str, str | int]
) -> None:
    """Each alteration once, on a full and on a sparse header (so that an added parameter is
    new): where the canonical reader answers, http_sfv agrees."""
    components = ["@method", "@target-uri", "content-type", "content-digest"]
    for signature_mutation in SIGNATURE_MUTATIONS:
        for label in (None, "sig1"):
            mutate = (MUTATIONS[mutation], signature_mutation)
            _check_agreement(components, params, b"\x01" * 64, label, mutate)


def test_what_signers_send_takes_the_canonical_reader() -> None:
    key = SigningKey("gb-1", ED25519, generate_private_key(ED25519))
    headers = _signed(key)
    fast = httpsig._canonical_signature(headers["Signature-Input"], headers["Signature"], None)
    assert fast is not None
    assert fast == httpsig._parse_sfv(headers["Signature-Input"], headers["Signature"], None)
    assert fast.components == ("@method", "@target-uri", "content-type", "content-digest")
    assert set(fast.params) == {"created", "keyid", "alg", "nonce"}


def test_a_refusal_says_what_http_sfv_says() -> None:
    """What the canonical reader leaves (here: a repeated component) is refused by the full
    parse, with its reason and detail."""
    key = SigningKey("gb-1", ED25519, generate_private_key(ED25519))
    verifier = RequestVerifier({"gb-1": key.verification_key("gb")}.get)
    created = 1_800_000_000
    headers = _signed(key, created=created)
    headers["Signature-Input"] = headers["Signature-Input"].replace(
        '"@method"', '"@method" "@method"'
    )
    now = datetime.fromtimestamp(created, UTC)
    with pytest.raises(SignatureError) as caught:
        verifier.verify("POST", URL, {**XML, **headers}, b"<x/>", now)
    assert caught.value.reason == "malformed"
    assert "is not supported" in caught.value.detail


@given(
    digest=st.binary(min_size=32, max_size=32),
    shape=st.sampled_from(
        [
            "sha-256=:{b}:",
            " sha-256=:{b}:",
            "sha-512=:AA==:, sha-256=:{b}:",
            "sha-256=:{b}:;p",
            "sha-256=:{b}",
            "SHA-256=:{b}:",
            "sha-256=:{b}:, sha-256=:AA==:",
        ]
    ),
)
def test_content_digest_reads_as_http_sfv_reads_it(digest: bytes, shape: str) -> None:
    value = shape.format(b=base64.b64encode(digest).decode())
    reference = Dictionary()
    try:
        reference.parse(value.encode())
        member = reference.get("sha-256")
        matches = isinstance(member, Item) and member.value == digest
    except ValueError:
        matches = False
    body = b"body"
    try:
        verify_content_digest(value, body, digest)
        verified = True
    except SignatureError:
        verified = False
    assert verified == matches


def test_key_alphabet_matches_http_sfv() -> None:
    from http_sfv.util import KEY_CHARS, KEY_START_CHARS

    assert {chr(c) for c in KEY_START_CHARS} == set(string.ascii_lowercase + "*")
    assert {chr(c) for c in KEY_CHARS} == set(string.ascii_lowercase + string.digits + "_-*.")
