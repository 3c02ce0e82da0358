"""RFC 9421 request and response signatures with RFC 9530 Content-Digest: each failure's reason."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta

import pytest
from multidict import CIMultiDict

from gateway.adapters.crypto.httpsig import (
    CONTENT_DIGEST,
    SIGNATURE,
    SIGNATURE_INPUT,
    NonceCache,
    RequestVerifier,
    content_digest,
    sign_request,
    sign_response,
    signature_base,
    target_uri,
    verify_content_digest,
    verify_response,
)
from gateway.adapters.crypto.keys import (
    ALGORITHMS,
    ECDSA_P256_SHA256,
    ED25519,
    SigningKey,
    generate_private_key,
)
from gateway.errors import SignatureError

NOW = datetime(2026, 11, 28, 9, 15, 2, tzinfo=UTC)
CREATED = int(NOW.timestamp())
URI = "https://aed.example.gov/v1/aed/itmatt?test=1"
BODY = b"<itmatt/>"
CONTENT = {"Content-Type": "application/xml"}
KID = "gb-royal-mail-2026"


def _signing(alg: str = ED25519, kid: str = KID) -> SigningKey:
    return SigningKey(kid, alg, generate_private_key(alg))


@pytest.fixture
def key() -> SigningKey:
    return _signing()


@pytest.fixture
def verifier(key: SigningKey) -> RequestVerifier:
    return RequestVerifier({KID: key.verification_key("gb-royal-mail")}.get)


def _sign(
    key: SigningKey,
    *,
    method: str = "POST",
    uri: str = URI,
    body: bytes = BODY,
    headers: Mapping[str, str] = CONTENT,
    created: int = CREATED,
    nonce: str = "n-0001-abcdef",
) -> dict[str, str]:
    added = sign_request(
        method=method,
        target_uri=uri,
        headers=headers,
        body=body,
        key=key,
        created=created,
        nonce=nonce,
    )
    return {**headers, **added}


def _reason(call: Callable[[], object]) -> str:
    with pytest.raises(SignatureError) as caught:
        call()
    return caught.value.reason


def _verify(
    verifier: RequestVerifier,
    headers: Mapping[str, str],
    *,
    method: str = "POST",
    uri: str = URI,
    body: bytes = BODY,
    now: datetime = NOW,
) -> str:
    return _reason(lambda: verifier.verify(method, uri, headers, body, now))


# -- Content-Digest ---------------------------------------------------------------------------


def test_content_digest_matches_rfc9530_example() -> None:
    assert content_digest(b'{"hello": "world"}') == (
        "sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:"
    )


def test_digest_with_sha256_among_other_algorithms_is_accepted() -> None:
    sha512 = base64.b64encode(hashlib.sha512(BODY).digest()).decode()
    verify_content_digest(f"sha-512=:{sha512}:, {content_digest(BODY)}", BODY)


@pytest.mark.parametrize(
    "value",
    [None, "sha-512=:AAAA:", content_digest(b"other"), "sha-256=abc", "not a dictionary ("],
    ids=["absent", "no-sha256", "mismatch", "not-bytes", "unparsable"],
)
def test_unusable_digest_is_bad_digest(value: str | None) -> None:
    assert _reason(lambda: verify_content_digest(value, BODY)) == "bad-digest"


# -- requests that verify -----------------------------------------------------------------------


@pytest.mark.parametrize("alg", sorted(ALGORITHMS))
def test_signed_request_verifies_and_names_its_key(alg: str) -> None:
    key = _signing(alg)
    verifier = RequestVerifier({KID: key.verification_key("gb-royal-mail")}.get)
    verified = verifier.verify("POST", URI, _sign(key), BODY, NOW)
    assert (verified.keyid, verified.owner, verified.alg) == (KID, "gb-royal-mail", alg)


def test_signed_headers_cover_what_the_spec_requires(key: SigningKey) -> None:
    headers = _sign(key)
    assert headers[CONTENT_DIGEST] == content_digest(BODY)
    assert headers[SIGNATURE_INPUT] == (
        'sig1=("@method" "@target-uri" "content-type" "content-digest")'
        f';created={CREATED};keyid="{KID}";alg="ed25519";nonce="n-0001-abcdef"'
    )
    assert headers[SIGNATURE].startswith("sig1=:")
    assert headers[SIGNATURE].endswith(":")


def test_signature_base_is_built_line_by_line_per_rfc9421(key: SigningKey) -> None:
    headers = _sign(key, headers={"Content-Type": "  application/xml "})
    params = headers[SIGNATURE_INPUT].removeprefix("sig1=")
    expected = (
        '"@method": POST\n'
        f'"@target-uri": {URI}\n'
        '"content-type": application/xml\n'
        f'"content-digest": {content_digest(BODY)}\n'
        f'"@signature-params": {params}'
    ).encode()
    components = ["@method", "@target-uri", "content-type", "content-digest"]
    base = signature_base(components, params, headers=headers, method="POST", target_uri=URI)
    assert base == expected
    signature = base64.b64decode(headers[SIGNATURE].removeprefix("sig1=:").removesuffix(":"))
    assert key.verification_key("x").verify(expected, signature)


def test_request_without_body_needs_no_digest(key: SigningKey, verifier: RequestVerifier) -> None:
    headers = _sign(key, method="GET", body=b"", headers={})
    assert CONTENT_DIGEST not in headers
    assert '("@method" "@target-uri")' in headers[SIGNATURE_INPUT]
    assert verifier.verify("GET", URI, headers, b"", NOW).keyid == KID


def test_header_names_are_case_insensitive_and_multidicts_work(
    key: SigningKey, verifier: RequestVerifier
) -> None:
    headers = CIMultiDict({name.lower(): value for name, value in _sign(key).items()})
    assert verifier.verify("POST", URI, headers, BODY, NOW).keyid == KID


def test_repeated_fields_are_joined_in_order(key: SigningKey, verifier: RequestVerifier) -> None:
    signed = CIMultiDict(_sign(key, headers={"Content-Type": "a/b, c/d"}))
    split = CIMultiDict((k, v) for k, v in signed.items() if k != "Content-Type")
    split.add("Content-Type", "a/b")
    split.add("content-type", " c/d")
    assert verifier.verify("POST", URI, split, BODY, NOW).keyid == KID


def test_created_exactly_at_the_window_edges_is_accepted(
    key: SigningKey, verifier: RequestVerifier
) -> None:
    for offset, nonce in ((-300, "edge-past-0001"), (300, "edge-future-01")):
        headers = _sign(key, created=CREATED + offset, nonce=nonce)
        assert verifier.verify("POST", URI, headers, BODY, NOW).keyid == KID


# -- requests that fail, and why --------------------------------------------------------------


def test_tampered_body_is_bad_digest(key: SigningKey, verifier: RequestVerifier) -> None:
    assert _verify(verifier, _sign(key), body=b"<itmatt>evil</itmatt>") == "bad-digest"


def test_tampered_method_is_bad_signature(key: SigningKey, verifier: RequestVerifier) -> None:
    assert _verify(verifier, _sign(key), method="PUT") == "bad-signature"


@pytest.mark.parametrize(
    "uri",
    [
        "https://aed.example.gov/v1/aed/itmatt?test=2",
        "https://aed.example.gov/v1/b5/feeds?test=1",
        "http://aed.example.gov/v1/aed/itmatt?test=1",
        "https://other.example/v1/aed/itmatt?test=1",
    ],
)
def test_tampered_target_uri_is_bad_signature(
    key: SigningKey, verifier: RequestVerifier, uri: str
) -> None:
    assert _verify(verifier, _sign(key), uri=uri) == "bad-signature"


def test_tampered_content_type_is_bad_signature(key: SigningKey, verifier: RequestVerifier) -> None:
    headers = {**_sign(key), "Content-Type": "text/xml"}
    assert _verify(verifier, headers) == "bad-signature"


def test_body_and_digest_swapped_together_is_bad_signature(
    key: SigningKey, verifier: RequestVerifier
) -> None:
    evil = b"<itmatt>evil</itmatt>"
    headers = {**_sign(key), CONTENT_DIGEST: content_digest(evil)}
    assert _verify(verifier, headers, body=evil) == "bad-signature"


def test_garbled_digest_header_is_bad_digest(key: SigningKey, verifier: RequestVerifier) -> None:
    headers = {**_sign(key), CONTENT_DIGEST: "sha-256=:AAAA:"}
    assert _verify(verifier, headers) == "bad-digest"


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (f"created={CREATED}", f"created={CREATED - 1}"),
        ('nonce="n-0001-abcdef"', 'nonce="n-0002-abcdef"'),
        ('"content-type" ', ""),
    ],
    ids=["created", "nonce", "components"],
)
def test_tampered_signature_params_fail(
    key: SigningKey, verifier: RequestVerifier, old: str, new: str
) -> None:
    signed = _sign(key)
    headers = {**signed, SIGNATURE_INPUT: signed[SIGNATURE_INPUT].replace(old, new)}
    assert headers != signed
    assert _verify(verifier, headers) in {"bad-signature", "missing-component"}


def test_tampered_params_that_keep_the_components_are_bad_signature(
    key: SigningKey, verifier: RequestVerifier
) -> None:
    signed = _sign(key)
    forged = signed[SIGNATURE_INPUT].replace(f"created={CREATED}", f"created={CREATED + 1}")
    assert _verify(verifier, {**signed, SIGNATURE_INPUT: forged}) == "bad-signature"


def test_signature_by_another_key_is_bad_signature(verifier: RequestVerifier) -> None:
    assert _verify(verifier, _sign(_signing())) == "bad-signature"


def test_unknown_keyid_is_unknown_key(verifier: RequestVerifier) -> None:
    assert _verify(verifier, _sign(_signing(kid="nobody"))) == "unknown-key"


def test_alg_that_does_not_fit_the_key_is_bad_signature(key: SigningKey) -> None:
    ecdsa = _signing(ECDSA_P256_SHA256)
    verifier = RequestVerifier({KID: key.verification_key("p")}.get)
    assert _verify(verifier, _sign(ecdsa)) == "bad-signature"


@pytest.mark.parametrize(
    ("not_before", "not_after"),
    [(None, NOW - timedelta(seconds=1)), (NOW + timedelta(days=1), None)],
    ids=["expired", "not-yet-valid"],
)
def test_key_outside_its_validity_is_expired_key(
    key: SigningKey, not_before: datetime | None, not_after: datetime | None
) -> None:
    partner_key = key.verification_key("p", not_before, not_after)
    verifier = RequestVerifier({KID: partner_key}.get)
    assert _verify(verifier, _sign(key)) == "expired-key"


@pytest.mark.parametrize("offset", [-301, 301], ids=["301s-old", "301s-in-the-future"])
def test_created_outside_the_window_is_stale(
    key: SigningKey, verifier: RequestVerifier, offset: int
) -> None:
    assert _verify(verifier, _sign(key, created=CREATED + offset)) == "stale"


def test_expired_signature_is_stale(key: SigningKey, verifier: RequestVerifier) -> None:
    signed = _sign(key)
    params = signed[SIGNATURE_INPUT] + f";expires={CREATED - 1}"
    assert _verify(verifier, {**signed, SIGNATURE_INPUT: params}) == "stale"


def test_replayed_request_is_replayed(key: SigningKey, verifier: RequestVerifier) -> None:
    headers = _sign(key)
    verifier.verify("POST", URI, headers, BODY, NOW)
    assert _verify(verifier, headers, now=NOW + timedelta(seconds=5)) == "replayed"


def test_same_nonce_under_another_key_is_not_a_replay(key: SigningKey) -> None:
    other = _signing(kid="other-kid")
    keys = {k.keyid: k.verification_key("p") for k in (key, other)}
    verifier = RequestVerifier(keys.get)
    verifier.verify("POST", URI, _sign(key), BODY, NOW)
    assert verifier.verify("POST", URI, _sign(other), BODY, NOW).keyid == "other-kid"


def test_forged_request_does_not_use_up_the_nonce(
    key: SigningKey, verifier: RequestVerifier
) -> None:
    assert _verify(verifier, _sign(_signing())) == "bad-signature"
    assert _verify(verifier, _sign(key), body=b"tampered") == "bad-digest"
    assert verifier.verify("POST", URI, _sign(key), BODY, NOW).keyid == KID


@pytest.mark.parametrize("keep", [(), (SIGNATURE,), (SIGNATURE_INPUT,)])
def test_absent_signature_headers_are_missing(
    key: SigningKey, verifier: RequestVerifier, keep: tuple[str, ...]
) -> None:
    signed = _sign(key)
    headers = {
        k: v for k, v in signed.items() if k not in {SIGNATURE, SIGNATURE_INPUT} or k in keep
    }
    assert _verify(verifier, headers) == "missing"


def test_body_on_a_request_signed_without_one_is_missing_component(
    key: SigningKey, verifier: RequestVerifier
) -> None:
    headers = _sign(key, body=b"", headers=CONTENT)
    assert _verify(verifier, headers) == "missing-component"


def test_signature_without_a_nonce_is_malformed(key: SigningKey, verifier: RequestVerifier) -> None:
    signed = _sign(key)
    params = signed[SIGNATURE_INPUT].replace(';nonce="n-0001-abcdef"', "")
    assert _verify(verifier, {**signed, SIGNATURE_INPUT: params}) == "malformed"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        (SIGNATURE_INPUT, "sig1=(unterminated"),
        (SIGNATURE_INPUT, 'sig1="not an inner list"'),
        (SIGNATURE_INPUT, 'sig1=("@method" "@method")'),
        (SIGNATURE_INPUT, 'sig1=("@query-param";name="x")'),
        (SIGNATURE_INPUT, 'sig1=("Content-Type")'),
        (SIGNATURE, "sig1=not-bytes"),
        (SIGNATURE, "sig2=:AAAA:"),
    ],
)
def test_unparsable_signature_fields_are_malformed(
    key: SigningKey, verifier: RequestVerifier, field: str, value: str
) -> None:
    assert _verify(verifier, {**_sign(key), field: value}) == "malformed"


def test_unknown_algorithm_is_malformed(key: SigningKey, verifier: RequestVerifier) -> None:
    signed = _sign(key)
    params = signed[SIGNATURE_INPUT].replace('alg="ed25519"', 'alg="hmac-sha256"')
    assert _verify(verifier, {**signed, SIGNATURE_INPUT: params}) == "malformed"


def test_failures_carry_the_keyid_when_known(key: SigningKey, verifier: RequestVerifier) -> None:
    with pytest.raises(SignatureError) as caught:
        verifier.verify("PUT", URI, _sign(key), BODY, NOW)
    assert caught.value.keyid == KID


def test_a_signature_labelled_otherwise_is_used_when_alone(
    key: SigningKey, verifier: RequestVerifier
) -> None:
    signed = _sign(key)
    headers = {
        **signed,
        SIGNATURE_INPUT: signed[SIGNATURE_INPUT].replace("sig1=", "partner="),
        SIGNATURE: signed[SIGNATURE].replace("sig1=", "partner="),
    }
    assert verifier.verify("POST", URI, headers, BODY, NOW).keyid == KID


# -- target URI, nonces -----------------------------------------------------------------------


def test_target_uri_is_rebuilt_from_the_configured_base_url() -> None:
    assert target_uri("https://aed.example.gov/", "/v1/aed/itmatt?x=1") == (
        "https://aed.example.gov/v1/aed/itmatt?x=1"
    )
    with pytest.raises(ValueError, match="must start with"):
        target_uri("https://aed.example.gov", "v1")


def test_derived_components_follow_rfc9421_section_2_2() -> None:
    uri = "https://User@Example.COM:443/a/b?x=1&y"
    names = ["@scheme", "@authority", "@path", "@query", "@request-target"]
    base = signature_base(names, "()", headers={}, target_uri=uri).decode().splitlines()
    assert base[:-1] == [
        '"@scheme": https',
        '"@authority": example.com',
        '"@path": /a/b',
        '"@query": ?x=1&y',
        '"@request-target": /a/b?x=1&y',
    ]


def test_nonce_cache_forgets_after_the_window() -> None:
    cache = NonceCache(window_s=300)
    assert cache.check_and_add("k", "n", created=1000, now=1000)
    assert not cache.check_and_add("k", "n", created=1000, now=1300)
    assert cache.check_and_add("k", "other", created=1301, now=1301)
    assert len(cache) == 1


def test_nonce_cache_is_bounded_and_never_lets_an_evicted_nonce_replay() -> None:
    cache = NonceCache(window_s=300, max_entries=3)
    for index in range(5):
        assert cache.check_and_add("k", f"n{index}", created=1000 + index, now=1000 + index)
    assert len(cache) == 3
    assert not cache.check_and_add("k", "n0", created=1000, now=1010)
    assert not cache.check_and_add("k", "n1", created=1001, now=1010)
    assert cache.check_and_add("k", "n9", created=1010, now=1010)


# -- responses --------------------------------------------------------------------------------


JSON = {"Content-Type": "application/json"}


def _response(
    key: SigningKey, status: int = 202, body: bytes = b'{"status": "ACCEPTED"}'
) -> dict[str, str]:
    return {
        **JSON,
        **sign_response(status=status, headers=JSON, body=body, key=key, created=CREATED),
    }


@pytest.mark.parametrize("alg", sorted(ALGORITHMS))
def test_signed_response_verifies_with_published_keys(alg: str) -> None:
    key = _signing(alg, "aedgw-20261128-abcdef")
    headers = _response(key)
    assert '("@status" "content-type" "content-digest")' in headers[SIGNATURE_INPUT]
    published = {key.keyid: key.verification_key("gateway")}
    verified = verify_response(
        status=202, headers=headers, body=b'{"status": "ACCEPTED"}', keys=published, now=NOW
    )
    assert verified.keyid == key.keyid


def test_response_tampering_is_detected(key: SigningKey) -> None:
    published = {KID: key.verification_key("gateway")}
    headers, body = _response(key), b'{"status": "ACCEPTED"}'

    def check(status: int = 202, hdrs: Mapping[str, str] = headers, data: bytes = body) -> str:
        return _reason(
            lambda: verify_response(status=status, headers=hdrs, body=data, keys=published, now=NOW)
        )

    assert check(status=200) == "bad-signature"
    assert check(data=b'{"status": "REJECTED"}') == "bad-digest"
    assert check(hdrs={**headers, "Content-Type": "text/plain"}) == "bad-signature"
    assert check(hdrs={k: v for k, v in headers.items() if k != "Content-Type"}) == "bad-signature"


def test_stored_response_verifies_later_without_a_window(key: SigningKey) -> None:
    headers, later = _response(key, body=b""), NOW + timedelta(days=365)
    published = {KID: key.verification_key("gateway")}
    assert (
        _reason(
            lambda: verify_response(
                status=202, headers=headers, body=b"", keys=published, now=later
            )
        )
        == "stale"
    )
    verified = verify_response(
        status=202, headers=headers, body=b"", keys=published, now=later, window_s=None
    )
    assert verified.keyid == KID


def test_response_without_a_signature_is_missing(key: SigningKey) -> None:
    assert (
        _reason(lambda: verify_response(status=200, headers=JSON, body=b"", keys={}, now=NOW))
        == "missing"
    )
