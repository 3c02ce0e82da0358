"""Cross-checks against RFC 9421 appendix B: the signature base is built independently of our
signer (from the RFC's text), and the RFC's own signatures verify with our key handling.

The RFC's test keys are public. The Ed25519 private key is used in its JWK form (B.1.4), never
as a PEM block.
"""

from __future__ import annotations

import base64

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from http_sfv.dictionary import Dictionary

from gateway.adapters.crypto.httpsig import signature_base
from gateway.adapters.crypto.jwk import b64url_decode, public_jwk
from gateway.adapters.crypto.keys import (
    ECDSA_P256_SHA256,
    ED25519,
    SigningKey,
    VerificationKey,
    parse_public_pem,
)

# B.2: the test request and response.
REQUEST_URI = "http://example.com/foo?param=Value&Pet=dog"
REQUEST_HEADERS = {
    "Host": "example.com",
    "Date": "Tue, 20 Apr 2021 02:07:55 GMT",
    "Content-Type": "application/json",
    "Content-Digest": (
        "sha-512=:WZDPaVn/7XgHaAy8pmojAkGWoRx2UFChF41A2svX+TaPm+AbwAgBWnrIiYllu7BNNyealdVLvRwE"
        "mTHWXvJwew==:"
    ),
    "Content-Length": "18",
}
RESPONSE_HEADERS = {
    "Date": "Tue, 20 Apr 2021 02:07:56 GMT",
    "Content-Type": "application/json",
    "Content-Digest": (
        "sha-512=:mEWXIS7MaLRuGgxOBdODa3xqM1XdEvxoYhvlCFJ41QJgJc4GTsPp29l5oGX69wWdXymyU0rjJuahq4l5"
        "aGgfLQ==:"
    ),
    "Content-Length": "23",
}

# B.1.4 test-key-ed25519, JWK form.
ED25519_D = "n4Ni-HpISpVObnQMW0wOhCKROaIKqKtW_2ZYb2p9KcU"
ED25519_X = "JrQLj5P_89iXES9-vFgrIy29clF9CC_oPPsw3c5D0bs"
# B.1.3 test-key-ecc-p256, public half.
ECC_P256_PUBLIC_PEM = b"""-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEqIVYZVLCrPZHGHjP17CTW0/+D9Lf
w0EkjqF7xB4FivAxzic30tMM4GF+hR6Dxh71Z50VGGdldkkDXZCnTNnoXQ==
-----END PUBLIC KEY-----
"""

B26_INPUT = (
    'sig-b26=("date" "@method" "@path" "@authority" "content-type" "content-length")'
    ';created=1618884473;keyid="test-key-ed25519"'
)
B26_BASE = (
    '"date": Tue, 20 Apr 2021 02:07:55 GMT\n'
    '"@method": POST\n'
    '"@path": /foo\n'
    '"@authority": example.com\n'
    '"content-type": application/json\n'
    '"content-length": 18\n'
    '"@signature-params": ("date" "@method" "@path" "@authority" "content-type" '
    '"content-length");created=1618884473;keyid="test-key-ed25519"'
)
B26_SIGNATURE = (
    "wqcAqbmYJ2ji2glfAMaRy4gruYYnx2nEFN2HN6jrnDnQCK1u02Gb04v9EDgwUPiu4A0w6vuQv5lIp5WPpBKRCw=="
)

B24_INPUT = (
    'sig-b24=("@status" "content-type" "content-digest" "content-length")'
    ';created=1618884473;keyid="test-key-ecc-p256"'
)
B24_SIGNATURE = (
    "wNmSUAhwb5LxtOtOpNa6W5xj067m5hFrj0XQ4fvpaCLx0NKocgPquLgyahnzDnDAUy5eCdlYUEkLIj+32oiasw=="
)


def _inner(signature_input: str, label: str) -> tuple[list[str], str]:
    """Components and serialized params, through the same http_sfv round trip the verifier uses."""
    parsed = Dictionary()
    parsed.parse(signature_input.encode())
    inner = parsed[label]
    return [item.value for item in inner], str(inner)


def test_b26_signature_base_and_ed25519_signature_are_reproduced() -> None:
    components, params = _inner(B26_INPUT, "sig-b26")
    assert f"sig-b26={params}" == B26_INPUT
    base = signature_base(
        components, params, headers=REQUEST_HEADERS, method="POST", target_uri=REQUEST_URI
    )
    assert base == B26_BASE.encode()
    private_key = Ed25519PrivateKey.from_private_bytes(b64url_decode(ED25519_D))
    key = SigningKey("test-key-ed25519", ED25519, private_key)
    assert public_jwk(key.verification_key("rfc"))["x"] == ED25519_X
    assert base64.b64encode(key.sign(base)).decode() == B26_SIGNATURE


def test_b24_ecdsa_p256_response_signature_verifies_in_raw_r_s_form() -> None:
    components, params = _inner(B24_INPUT, "sig-b24")
    base = signature_base(components, params, headers=RESPONSE_HEADERS, status=200)
    assert base.decode().splitlines()[0] == '"@status": 200'
    public_key = parse_public_pem(ECC_P256_PUBLIC_PEM, ECDSA_P256_SHA256)
    key = VerificationKey("test-key-ecc-p256", ECDSA_P256_SHA256, public_key, "rfc")
    signature = base64.b64decode(B24_SIGNATURE)
    assert key.verify(base, signature)
    assert not key.verify(base.replace(b"200", b"201"), signature)
