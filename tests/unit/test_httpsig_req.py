"""Responses bound to their request (RFC 9421 §2.4, the `req` parameter): the RFC's own two
examples reproduced byte for byte and verified with its P-256 test key, then our signer and
verifier round-tripping a bound answer, and refusing it for any other request."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import pytest

from gateway.adapters.crypto import httpsig
from gateway.adapters.crypto.httpsig import (
    Component,
    RequestBinding,
    sign_request,
    sign_response,
    signature_base,
    verify_response,
)
from gateway.adapters.crypto.keys import (
    ECDSA_P256_SHA256,
    ED25519,
    SigningKey,
    VerificationKey,
    generate_private_key,
    parse_public_pem,
)
from gateway.errors import SignatureError
from tests.unit.test_httpsig_vectors import ECC_P256_PUBLIC_PEM, REQUEST_HEADERS

REQUEST_URI = "https://example.com/foo?param=Value&Pet=dog"
RESPONSE_DIGEST = (
    "sha-512=:0Y6iCBzGg5rZtoXS95Ijz03mslf6KAMCloESHObfwnHJDbkkWWQz6PhhU9kxsTbARtY2PTBOzq24uJFpHs"
    "MuAg==:"
)
RESPONSE_HEADERS = {
    "Date": "Tue, 20 Apr 2021 02:07:56 GMT",
    "Content-Type": "application/json",
    "Content-Length": "62",
    "Content-Digest": RESPONSE_DIGEST,
}
# §2.4, first example: request components by value.
FIRST_INPUT = (
    'reqres=("@status" "content-digest" "content-type" "@authority";req "@method";req "@path";req'
    ' "content-digest";req);created=1618884479;keyid="test-key-ecc-p256"'
)
FIRST_SIGNATURE = (
    "reqres=:dMT/A/76ehrdBTD/2Xx8QuKV6FoyzEP/I9hdzKN8LQJLNgzU4W767HK05rx1i8meNQQgQPgQp8wq2ive3t"
    "V5Ag==:"
)
FIRST_BASE = "\n".join(
    [
        '"@status": 503',
        f'"content-digest": {RESPONSE_DIGEST}',
        '"content-type": application/json',
        '"@authority";req: example.com',
        '"@method";req: POST',
        '"@path";req: /foo',
        f'"content-digest";req: {REQUEST_HEADERS["Content-Digest"]}',
        (
            '"@signature-params": ("@status" "content-digest" "content-type" "@authority";req'
            ' "@method";req "@path";req "content-digest";req);created=1618884479'
            ';keyid="test-key-ecc-p256"'
        ),
    ]
)
# §2.4, second example: the request's own signature, `sig1`, covered by the response.
REQUEST_SIG1 = (
    "LAH8BjcfcOcLojiuOBFWn0P5keD3xAOuJRGziCLuD8r5MW9S0RoXXLzLSRfGY/3SF8kVIkHjE13SEFdTo4Af/fJ/Pu9"
    "wheqoLVdwXyY/UkBIS1M8Brc8IODsn5DFIrG0IrburbLi0uCc+E2ZIIb6HbUJ+o+jP58JelMTe0QE3IpWINTEzpxjqDf"
    "5/Df+InHCAkQCTuKsamjWXUpyOT1Wkxi7YPVNOjW4MfNuTZ9HdbD2Tr65+BXeTG9ZS/9SWuXAc+BZ8WyPz0QRz//ec3u"
    "WXd7bYYODSjRAxHqX+S1ag3LZElYyUKaAIjZ8MGOt4gXEwCSLDv/zqxZeWLj/PDkn6w=="
)
SECOND_INPUT = (
    'reqres=("@status" "content-length" "content-type" "signature";req;key="sig1"'
    ' "@authority";req "@method";req);created=1618884479;keyid="test-key-ecc-p256"'
)
SECOND_SIGNATURE = (
    "reqres=:mh17P4TbYYBmBwsXPT4nsyVzW4Rp9Fb8WcvnfqKCQLoMvzOBLD/n32tL/GPW6XE5GAS5bdsg1khK6lBzV1Cx"
    "/Q==:"
)


def _rfc_key() -> VerificationKey:
    public_key = parse_public_pem(ECC_P256_PUBLIC_PEM, ECDSA_P256_SHA256)
    return VerificationKey("test-key-ecc-p256", ECDSA_P256_SHA256, public_key, "rfc")


def _rfc_base(signature_input: str, signature: str, request_headers: dict[str, str]) -> bytes:
    parsed = httpsig._parse_sfv(signature_input, signature, "reqres")
    request = RequestBinding("POST", REQUEST_URI, request_headers)
    return signature_base(
        parsed.components, parsed.params_text, headers=RESPONSE_HEADERS, status=503,
        request=request,
    )  # fmt: skip


def test_the_rfc_response_covering_request_components_is_reproduced_and_verifies() -> None:
    base = _rfc_base(FIRST_INPUT, FIRST_SIGNATURE, REQUEST_HEADERS)

    assert base == FIRST_BASE.encode()
    signature = base64.b64decode(FIRST_SIGNATURE.removeprefix("reqres=:").removesuffix(":"))
    assert _rfc_key().verify(base, signature)


def test_the_rfc_response_covering_the_request_signature_verifies() -> None:
    request_headers = {**REQUEST_HEADERS, "Signature": f"sig1=:{REQUEST_SIG1}:"}

    base = _rfc_base(SECOND_INPUT, SECOND_SIGNATURE, request_headers)

    assert f'"signature";req;key="sig1": :{REQUEST_SIG1}:'.encode() in base.split(b"\n")
    signature = base64.b64decode(SECOND_SIGNATURE.removeprefix("reqres=:").removesuffix(":"))
    assert _rfc_key().verify(base, signature)
    other = {**request_headers, "Signature": f"sig1=:{'A' * 340}==:"}
    assert not _rfc_key().verify(_rfc_base(SECOND_INPUT, SECOND_SIGNATURE, other), signature)


GATEWAY = SigningKey("gw-2026", ED25519, generate_private_key(ED25519))
POST = SigningKey("post-2026", ECDSA_P256_SHA256, generate_private_key(ECDSA_P256_SHA256))
KEYS = {GATEWAY.keyid: GATEWAY.verification_key("gateway")}
URL = "https://aed.example/v1/aed/responses?after=0"
CREATED = 1_800_000_000
NOW = datetime.fromtimestamp(CREATED, UTC)


def _request(url: str = URL) -> RequestBinding:
    headers = sign_request(
        method="GET", target_uri=url, headers={}, body=b"", key=POST, created=CREATED
    )
    return RequestBinding("GET", url, headers)


def _answer(request: RequestBinding | None) -> tuple[dict[str, str], bytes]:
    body = b"<responses/>"
    headers = {"Content-Type": "application/xml"}
    headers |= sign_response(
        status=200, headers=headers, body=body, key=GATEWAY, created=CREATED, request=request
    )
    return headers, body


def test_a_bound_answer_verifies_against_its_request_only() -> None:
    request = _request()
    headers, body = _answer(request)

    assert (
        '"@method";req "@target-uri";req "signature";req;key="sig1"' in headers["Signature-Input"]
    )
    key = verify_response(
        status=200, headers=headers, body=body, keys=KEYS, now=NOW, request=request
    )
    assert key.keyid == GATEWAY.keyid
    # Another request (another nonce, another cursor): the same answer does not verify.
    for other in (_request(), _request(URL.replace("after=0", "after=9"))):
        with pytest.raises(SignatureError) as caught:
            verify_response(
                status=200, headers=headers, body=body, keys=KEYS, now=NOW, request=other
            )
        assert caught.value.reason == "bad-signature"


def test_an_unbound_answer_is_refused_where_a_binding_is_required() -> None:
    headers, body = _answer(None)

    with pytest.raises(SignatureError) as caught:
        verify_response(
            status=200, headers=headers, body=body, keys=KEYS, now=NOW, request=_request()
        )

    assert caught.value.reason == "missing-component"
    assert '"signature";req;key="sig1"' in caught.value.detail


def test_a_bound_answer_needs_its_request_to_verify() -> None:
    headers, body = _answer(_request())

    with pytest.raises(SignatureError) as caught:
        verify_response(status=200, headers=headers, body=body, keys=KEYS, now=NOW)

    assert caught.value.reason == "bad-signature"


def test_only_req_and_key_parameters_are_understood() -> None:
    for text in ('("@method";foo)', '("@method";key="x")', '("signature";req=2)'):
        with pytest.raises(SignatureError) as caught:
            httpsig._parse_sfv(f'sig1={text};keyid="k"', "sig1=:AAAA:", None)
        assert caught.value.reason == "malformed"
    parsed = httpsig._parse_sfv('sig1=("signature";req;key="a");keyid="k"', "sig1=:AAAA:", None)
    assert parsed.components == (Component("signature", req=True, key="a"),)


def test_a_response_is_bound_only_to_a_signed_request() -> None:
    with pytest.raises(ValueError, match="signed request"):
        _answer(RequestBinding("GET", URL, {}))
