"""Cryptography adapters: keys and the gateway keyring, DSSE envelopes, RFC 9421 HTTP signatures.

keys      the two algorithms (ed25519, ecdsa-p256-sha256), PEM files, raw sign/verify
jwk       public keys as JWK / JWKS (RFC 7517, 8037) and back
keyring   the gateway's own keys in [signing] key_dir: create, rotate, publish
dsse      PAE, DsseSigner (gateway.ports.Signer; per record or per batch under one Merkle root
          signature), verify_envelope and EnvelopeVerifier (both forms)
httpsig   RFC 9421 request/response signing and verification, RFC 9530 Content-Digest
nonces    the replay cache behind RequestVerifier
"""
