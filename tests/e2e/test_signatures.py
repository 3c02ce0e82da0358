"""Request authentication over real HTTP: each refusal is 401 with its precise reason, recorded."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import pytest

from gateway.adapters.crypto.httpsig import sign_request, verify_response
from gateway.adapters.crypto.jwk import keys_from_jwks
from gateway.adapters.crypto.keys import SigningKey, generate_private_key
from gateway.errors import SignatureError
from tests.e2e.conftest import World, make_settings, write_partner
from tests.e2e.helpers import document, items, raw_post

pytestmark = pytest.mark.slow


def _url(world: World) -> str:
    return f"{world.http_url}/v1/aed/itmatt"


def _doc(mid: str = "GBA-S1") -> bytes:
    return document(mid, "GBA", items(1, "GB", seed=1))


async def _refused(world: World, reason: str, **kwargs: object) -> None:
    status, problem, headers = await raw_post(_url(world), kwargs.pop("body", _doc()), **kwargs)  # type: ignore[arg-type]
    assert status == 401, problem
    assert problem["reason"] == reason
    assert headers["Content-Type"].startswith("application/problem+json")
    assert headers["WWW-Authenticate"].startswith("Signature")
    assert await world.running.store.last_position() == 0
    assert (await world.running.store.rejections(1))[0].reason == reason


async def test_a_request_without_a_signature_is_refused_as_missing(world: World) -> None:
    await _refused(world, "missing", key=None)


async def test_a_tampered_body_is_refused_as_bad_digest(world: World) -> None:
    key = world.partners["gb-royal-mail"].key
    body = _doc()
    sent = {"Content-Type": "application/xml"}
    sent |= sign_request(method="POST", target_uri=_url(world), headers=sent, body=body, key=key)
    tampered = body.replace(b"GBA-S1", b"GBA-S2")
    async with aiohttp.ClientSession() as s, s.post(_url(world), data=tampered, headers=sent) as r:
        assert r.status == 401
        assert (await r.json(content_type=None))["reason"] == "bad-digest"


@pytest.mark.parametrize(
    ("header", "value"),
    [
        ("Content-Type", "text/xml"),  # a covered header changed after signing
        ("Content-Digest", "sha-256=:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=:"),
    ],
)
async def test_a_covered_header_changed_after_signing_is_refused(
    world: World, header: str, value: str
) -> None:
    status, problem, _ = await raw_post(
        _url(world), _doc(), key=world.partners["gb-royal-mail"].key, tamper={header: value}
    )
    assert status == 401
    assert problem["reason"] in {"bad-signature", "bad-digest"}


async def test_a_signature_for_another_target_uri_is_refused(world: World) -> None:
    await _refused(
        world, "bad-signature", key=world.partners["gb-royal-mail"].key,
        sign_url=f"{world.http_url}/v1/aed/other",
    )  # fmt: skip


async def test_a_signature_by_the_wrong_key_under_a_partners_key_id_is_refused(
    world: World,
) -> None:
    genuine = world.partners["gb-royal-mail"].key
    impostor = SigningKey(genuine.keyid, genuine.alg, generate_private_key(genuine.alg))
    await _refused(world, "bad-signature", key=impostor)


async def test_an_unknown_key_id_is_refused(world: World) -> None:
    stranger = SigningKey("nobody-2026", "ed25519", generate_private_key("ed25519"))
    await _refused(world, "unknown-key", key=stranger)


# Ahead of the clock, the margin outside the ±300 s window shrinks while the request travels:
# 330 s stays outside it on a busy machine (the exact bounds are tests/unit/test_httpsig.py's).
@pytest.mark.parametrize("skew", [-301, 330])
async def test_a_created_time_outside_the_window_is_refused_as_stale(
    world: World, skew: int
) -> None:
    key = world.partners["gb-royal-mail"].key
    await _refused(world, "stale", key=key, created=world.created() + skew)


async def test_a_replayed_request_is_refused_and_the_original_stands(world: World) -> None:
    key = world.partners["gb-royal-mail"].key
    body = _doc()
    sent = {"Content-Type": "application/xml"}
    sent |= sign_request(method="POST", target_uri=_url(world), headers=sent, body=body, key=key)
    async with aiohttp.ClientSession() as session:
        async with session.post(_url(world), data=body, headers=sent) as first:
            assert first.status == 202
        async with session.post(_url(world), data=body, headers=sent) as again:
            assert again.status == 401
            assert (await again.json(content_type=None))["reason"] == "replayed"
    assert await world.running.store.last_position() == 1


async def test_the_gateways_answers_are_signed_and_verify_with_its_jwks(world: World) -> None:
    """A receipt (202) and a problem (401) both verify with the published keys, under the active
    key; a receipt changed by one byte does not."""
    key = world.partners["gb-royal-mail"].key
    body = _doc()
    sent = {"Content-Type": "application/xml"}
    sent |= sign_request(method="POST", target_uri=_url(world), headers=sent, body=body, key=key)
    answers = []
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{world.http_url}/.well-known/jwks.json") as response:
            keys = keys_from_jwks(await response.json(content_type=None))
        for data, headers in ((body, sent), (b"x", {"Content-Type": "application/xml"})):
            async with session.post(_url(world), data=data, headers=headers) as r:
                answers.append((r.status, dict(r.headers), await r.read()))
    assert [status for status, _, _ in answers] == [202, 401]
    for status, headers, answer in answers:
        used = verify_response(status=status, headers=headers, body=answer, keys=keys)
        assert used.keyid == world.running.keyring.active.keyid
    status, headers, receipt = answers[0]
    altered = receipt.replace(b'"ACCEPTED"', b'"REJECTED"', 1)
    assert altered != receipt
    with pytest.raises(SignatureError) as caught:
        verify_response(status=status, headers=headers, body=altered, keys=keys)
    assert caught.value.reason == "bad-digest"


async def test_a_key_outside_its_validity_is_refused_as_expired(
    tmp_path: Path, partners_dir: tuple[Path, dict[str, object]]
) -> None:
    root, _ = partners_dir
    old = write_partner(root, "fr-la-poste", "FRA", "FR", "ed25519")
    toml = root / "fr-la-poste" / "partner.toml"
    toml.write_text(toml.read_text().replace(
        "not_before = 2026-01-01T00:00:00Z", "not_before = 2020-01-01T00:00:00Z\n"
        "not_after = 2021-01-01T00:00:00Z"))  # fmt: skip
    world = World(make_settings(tmp_path, root), {})
    await world.start()
    try:
        status, problem, _ = await raw_post(
            f"{world.http_url}/v1/aed/itmatt", document("FRA-1", "FRA", items(1, "FR", seed=2)),
            key=old.key,
        )  # fmt: skip
        assert status == 401
        assert problem["reason"] == "expired-key"
    finally:
        await world.stop()
