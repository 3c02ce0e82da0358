"""Access attacks over real HTTP: every part of a request's RFC 9421 signature tampered with in
turn, wrong and out-of-validity keys, authorization (403), replays and clock skew.

test_signatures.py proves the basics (missing signature, tampered body, a changed content-type or
digest header, another path, an impostor key, an unknown key id, created ±301 s, one replay, a key
past its not_after). Here every case is one parametrised attempt, and each refusal is checked the
same way: its status and problem type and `reason`, a signed problem answer, nothing journaled,
one rejection record holding the case, and one more count in the metric for it.

The requests are signed by hand (http_sfv) so that the signature can cover more than the gateway
requires (@authority, @path, content-length, expires, tag) and each of those can be tampered with.
The gateway's edge clock is replaceable (`Gateway.clock`, the Clock port) so that a replay after
the window and the window's exact edges are tested without sleeping.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import shutil
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest
from http_sfv.dictionary import Dictionary
from http_sfv.item import InnerList, Item
from prometheus_client.parser import text_string_to_metric_families
from yarl import URL

from gateway.adapters.clock import SystemClock
from gateway.adapters.crypto.httpsig import content_digest, signature_base, verify_response
from gateway.adapters.crypto.jwk import keys_from_jwks
from gateway.adapters.crypto.keys import SigningKey, generate_private_key, write_public_key
from gateway.bootstrap import Gateway
from tests.e2e.conftest import PartnerKit, World, make_settings
from tests.e2e.helpers import document, items

pytestmark = pytest.mark.slow

PATH = "/v1/aed/itmatt"
PROBLEMS = "/problems/"
WINDOW = 300
#: Everything a request can have covered: what the gateway requires, and more.
FULL = (
    "@method",
    "@target-uri",
    "@authority",
    "@path",
    "content-type",
    "content-digest",
    "content-length",
)
REPO_PARTNERS = Path(__file__).resolve().parents[2] / "partners"


class EdgeClock(SystemClock):
    """The gateway's clock: the real one, shifted or frozen on demand. These tests judge
    `created` and key validity against it relative to now; none depends on the date."""

    def __init__(self) -> None:
        self.frozen: datetime | None = None
        self.shift = timedelta(0)

    def now(self) -> datetime:
        return (self.frozen or datetime.now(UTC)) + self.shift


@dataclass
class Arena:
    """A running gateway with its partners' private keys and a controllable edge clock."""

    world: World
    clock: EdgeClock
    keys: dict[str, SigningKey]  # by key id

    @property
    def url(self) -> str:
        return self.world.http_url + PATH

    @property
    def gateway(self) -> Gateway:
        return self.world.running


def _stamp(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def _write_partner(
    root: Path,
    pid: str,
    *,
    kind: str,
    country: str,
    code: str | None,
    fmt: str,
    keys: dict[str, tuple[datetime | None, datetime | None]],
) -> dict[str, SigningKey]:
    """A partner folder with one ed25519 key per entry (kid: (not_before, not_after))."""
    folder = root / pid
    (folder / "keys").mkdir(parents=True)
    text = f'id = "{pid}"\nname = "{pid}"\nkind = "{kind}"\ncountry = "{country}"\n'
    text += f'operator_code = "{code}"\n' if code else ""
    text += f'formats = ["{fmt}"]\n'
    signing: dict[str, SigningKey] = {}
    for kid, (not_before, not_after) in keys.items():
        private = generate_private_key("ed25519")
        write_public_key(folder / "keys" / f"{kid}.pem", private.public_key())
        text += f'\n[[keys]]\nid = "{kid}"\nalg = "ed25519"\npublic_key = "keys/{kid}.pem"\n'
        text += f"not_before = {_stamp(not_before)}\n" if not_before else ""
        text += f"not_after = {_stamp(not_after)}\n" if not_after else ""
        signing[kid] = SigningKey(kid, "ed25519", private)
    if fmt == "b5-feed":
        shutil.copy(REPO_PARTNERS / "au-abf" / "mapping.toml", folder / "mapping.toml")
    (folder / "partner.toml").write_text(text, encoding="utf-8")
    return signing


@pytest.fixture
async def arena(
    tmp_path: Path, partners_dir: tuple[Path, dict[str, PartnerKit]]
) -> AsyncIterator[Arena]:
    root, posts = partners_dir
    now = datetime.now(UTC).replace(microsecond=0)
    keys = {kit.key.keyid: kit.key for kit in posts.values()}
    month_ago = now - timedelta(days=30)
    fr_keys: dict[str, tuple[datetime | None, datetime | None]] = {
        "fr-la-poste-2026": (month_ago, None),
        "fr-la-poste-next": (now + timedelta(days=1), None),  # not yet valid
        "fr-la-poste-lapsed": (month_ago, now - timedelta(seconds=60)),  # just ended
    }
    keys |= _write_partner(
        root, "fr-la-poste", kind="post", country="FR", code="FRA", fmt="itmatt-1.5", keys=fr_keys
    )
    keys |= _write_partner(
        root, "au-customs", kind="customs", country="AU", code=None, fmt="b5-feed",
        keys={"au-customs-2026": (month_ago, None)},
    )  # fmt: skip
    clock = EdgeClock()
    world = World(make_settings(tmp_path, root), posts, clock=clock)
    await world.start()
    try:
        yield Arena(world, clock, keys)
    finally:
        await world.stop()


# -- a hand-signed request, and what an attacker may change in it ------------------------------


@dataclass
class Attempt:
    """A request as sent: what was signed is fixed in Signature-Input / Signature."""

    url: str
    headers: dict[str, str]
    body: bytes
    chunked: bool = False
    meta: dict[str, str] = field(default_factory=dict)

    def edit_input(self, change: Callable[[InnerList], None]) -> None:
        """Change the sig1 inner list of Signature-Input (without signing again)."""
        inputs = Dictionary()
        inputs.parse(self.headers["Signature-Input"].encode())
        change(inputs["sig1"])
        self.headers["Signature-Input"] = str(inputs)

    def set_param(self, name: str, value: int | str | None) -> None:
        def change(inner: InnerList) -> None:
            if value is None:
                del inner.params[name]
            else:
                inner.params[name] = value

        self.edit_input(change)

    @property
    def signature(self) -> bytes:
        signatures = Dictionary()
        signatures.parse(self.headers["Signature"].encode())
        value = signatures["sig1"].value
        assert isinstance(value, bytes)
        return value

    def set_signature(self, value: bytes) -> None:
        signatures = Dictionary()
        signatures["sig1"] = Item(value)
        self.headers["Signature"] = str(signatures)


def sign(
    url: str,
    body: bytes,
    key: SigningKey,
    *,
    components: tuple[str, ...] = FULL,
    method: str = "POST",
    signed_url: str | None = None,
    created: int | None = None,
    expires: int | None = None,
    nonce: str | None = None,
    tag: str | None = "aedgw-itmatt",
    alg: str | None = None,
) -> Attempt:
    """A request to `url` signed by `key` over `components` (as if sent to `signed_url`)."""
    headers = {
        "Content-Type": "application/xml",
        "Content-Digest": content_digest(body),
        "Content-Length": str(len(body)),
    }
    when = int(datetime.now(UTC).timestamp()) if created is None else created
    inner = InnerList([Item(name) for name in components])
    inner.params["created"] = when
    inner.params["expires"] = when + 60 if expires is None else expires
    inner.params["keyid"] = key.keyid
    inner.params["alg"] = alg or key.alg
    inner.params["nonce"] = nonce or secrets.token_urlsafe(16)
    if tag is not None:
        inner.params["tag"] = tag
    base = signature_base(
        components, str(inner), headers=headers, method=method, target_uri=signed_url or url
    )
    inputs, signatures = Dictionary(), Dictionary()
    inputs["sig1"], signatures["sig1"] = inner, Item(key.sign(base))
    headers |= {"Signature-Input": str(inputs), "Signature": str(signatures)}
    return Attempt(url, headers, body)


async def _chunks(body: bytes) -> AsyncIterator[bytes]:
    half = len(body) // 2
    yield body[:half]
    yield body[half:]


@dataclass(frozen=True)
class Outcome:
    status: int
    problem: dict[str, object]
    headers: dict[str, str]
    body: bytes


async def send(attempt: Attempt) -> Outcome:
    async with aiohttp.ClientSession() as session:
        data = _chunks(attempt.body) if attempt.chunked else attempt.body
        headers = dict(attempt.headers)
        if attempt.chunked:
            headers.pop("Content-Length")
        url = URL(attempt.url, encoded=True)
        async with session.post(url, data=data, headers=headers) as response:
            body = await response.read()
            doc = await response.json(content_type=None) if body else {}
            return Outcome(response.status, doc, dict(response.headers), body)


# -- what a refusal must leave behind ----------------------------------------------------------


async def _scrape(arena: Arena) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    async with (
        aiohttp.ClientSession() as session,
        session.get(arena.world.http_url + "/metrics") as response,
    ):
        text = await response.text()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name in {"aedgw_auth_failures_total", "aedgw_http_requests_total"}
    }


def _delta(before: dict[tuple[str, tuple[tuple[str, str], ...]], float],
           after: dict[tuple[str, tuple[tuple[str, str], ...]], float],
           name: str, **labels: str) -> float:  # fmt: skip
    key = (name, tuple(sorted(labels.items())))
    return after.get(key, 0.0) - before.get(key, 0.0)


async def refused(
    arena: Arena,
    attempt: Attempt,
    reason: str,
    *,
    status: int = 401,
    partner: str | None = None,
    keyid: str | None = None,
) -> Outcome:
    """Send `attempt`: refused as `reason`, nothing stored, the refusal recorded and counted."""
    store = arena.gateway.store
    position, rejections = await store.last_position(), len(await store.rejections(10_000))
    before = await _scrape(arena)
    outcome = await send(attempt)
    after = await _scrape(arena)

    slug = "signature" if status == 401 else "forbidden"
    assert outcome.status == status, outcome.problem
    assert outcome.problem["type"] == PROBLEMS + slug
    assert outcome.problem["status"] == status
    assert outcome.headers["Content-Type"].startswith("application/problem+json")
    if status == 401:
        assert outcome.problem["reason"] == reason, outcome.problem
        assert outcome.headers["WWW-Authenticate"].startswith("Signature")
    # the refusal itself is signed by the gateway and verifies with its published keys
    published = keys_from_jwks(arena.gateway.keyring.jwks())
    verify_response(
        status=outcome.status, headers=outcome.headers, body=outcome.body, keys=published,
        now=arena.clock.now(),  # the gateway dates its answers by its (shifted) clock
    )  # fmt: skip

    assert await store.last_position() == position, "a refused request stored records"
    records = await store.rejections(10_000)
    assert len(records) == rejections + 1
    record = records[0]
    assert (record.http_status, record.reason, record.route) == (status, reason, PATH)
    assert record.partner == partner
    if keyid is not None:
        assert record.keyid == keyid
    assert record.content_digest == attempt.headers.get("Content-Digest")

    route = {"route": PATH, "status": str(status), "partner": partner or "-"}
    assert _delta(before, after, "aedgw_http_requests_total", **route) == 1
    assert _delta(before, after, "aedgw_auth_failures_total", reason=reason) == 1
    return outcome


async def accepted(arena: Arena, attempt: Attempt) -> Outcome:
    outcome = await send(attempt)
    assert outcome.status == 202, outcome.problem
    return outcome


_SEQUENCE = iter(range(1, 1_000_000))


def gb_doc() -> bytes:
    n = next(_SEQUENCE)
    return document(f"GBA-ATK-{n}", "GBA", items(1, "GB", seed=1000 + n))


def gb(arena: Arena) -> SigningKey:
    return arena.keys["gb-royal-mail-2026"]


# -- 1. every part of the signature input, tampered with in turn ------------------------------


def _flip_bit(a: Attempt) -> None:
    sig = bytearray(a.signature)
    sig[10] ^= 0x01
    a.set_signature(bytes(sig))


def _other_body(a: Attempt) -> None:
    """The body replaced, and its Content-Digest recomputed to match."""
    a.body = a.body.replace(b"GBA-ATK", b"GBA-ALT")
    a.headers["Content-Digest"] = content_digest(a.body)


def _forged_second_member(a: Attempt) -> None:
    """A second sig1 member appended to Signature-Input: the last one wins (RFC 8941 §3.2)."""
    forged = a.headers["Signature-Input"].replace('tag="aedgw-itmatt"', 'tag="forged"')
    a.headers["Signature-Input"] += ", " + forged


Tamper = Callable[[Attempt, Arena], None]
TAMPERING: list[tuple[str, Tamper, str]] = [
    # covered components: the request differs from what was signed
    ("@method", lambda a, w: a.meta.update(method="PUT"), "bad-signature"),
    ("@target-uri scheme", lambda a, w: a.meta.update(scheme="https"), "bad-signature"),
    ("@target-uri query", lambda a, w: setattr(a, "url", a.url + "?copy=1"), "bad-signature"),
    (
        "@authority",
        lambda a, w: a.headers.update(Host=f"localhost:{URL(a.url).port}"),
        "bad-signature",
    ),
    (
        "@path",
        lambda a, w: setattr(a, "url", a.url.replace("/itmatt", "/%69tmatt")),
        "bad-signature",
    ),
    (
        "content-type",
        lambda a, w: a.headers.update({"Content-Type": "application/xml; q=1"}),
        "bad-signature",
    ),
    (
        "content-digest extra member",
        lambda a, w: a.headers.update(
            {
                "Content-Digest": a.headers["Content-Digest"]
                + ", sha-512=:"
                + base64.b64encode(hashlib.sha512(a.body).digest()).decode()
                + ":"
            }
        ),
        "bad-signature",
    ),
    (
        "content-digest recomputed for another body",
        lambda a, w: _other_body(a),
        "bad-signature",
    ),
    (
        "content-length absent (chunked)",
        lambda a, w: setattr(a, "chunked", True),
        "bad-signature",
    ),
    # the covered component list itself
    (
        "components: content-digest dropped",
        lambda a, w: a.edit_input(
            lambda inner: inner.remove(next(i for i in inner if i.value == "content-digest"))
        ),
        "missing-component",
    ),
    (
        "components: reordered",
        lambda a, w: a.edit_input(lambda inner: inner.reverse()),
        "bad-signature",
    ),
    # the signature parameters
    (
        "created +1 s",
        lambda a, w: a.set_param("created", int(a.meta["created"]) + 1),
        "bad-signature",
    ),
    ("created removed", lambda a, w: a.set_param("created", None), "malformed"),
    ("created not an integer", lambda a, w: a.set_param("created", "now"), "malformed"),
    (
        "expires extended",
        lambda a, w: a.set_param("expires", int(a.meta["created"]) + 3600),
        "bad-signature",
    ),
    ("expires removed", lambda a, w: a.set_param("expires", None), "bad-signature"),
    (
        "nonce changed",
        lambda a, w: a.set_param("nonce", "fresh-nonce-" + a.meta["nonce"]),
        "bad-signature",
    ),
    ("nonce removed", lambda a, w: a.set_param("nonce", None), "malformed"),
    ("nonce too long", lambda a, w: a.set_param("nonce", "n" * 257), "malformed"),
    (
        "keyid of another partner",
        lambda a, w: a.set_param("keyid", "fr-la-poste-2026"),
        "bad-signature",
    ),
    ("keyid unknown", lambda a, w: a.set_param("keyid", "gb-royal-mail-2099"), "unknown-key"),
    ("keyid removed", lambda a, w: a.set_param("keyid", None), "malformed"),
    (
        "alg of another key type",
        lambda a, w: a.set_param("alg", "ecdsa-p256-sha256"),
        "bad-signature",
    ),
    ("alg unsupported", lambda a, w: a.set_param("alg", "hmac-sha256"), "malformed"),
    ("alg removed", lambda a, w: a.set_param("alg", None), "malformed"),
    ("tag changed", lambda a, w: a.set_param("tag", "other-app"), "bad-signature"),
    ("tag removed", lambda a, w: a.set_param("tag", None), "bad-signature"),
    # the signature bytes
    ("signature: one bit flipped", lambda a, w: _flip_bit(a), "bad-signature"),
    ("signature: truncated", lambda a, w: a.set_signature(a.signature[:32]), "bad-signature"),
    ("signature: empty", lambda a, w: a.set_signature(b""), "bad-signature"),
    (
        "signature: not a byte sequence",
        lambda a, w: a.headers.update(Signature='sig1="AAAA"'),
        "malformed",
    ),
    (
        "signature: not a structured field",
        lambda a, w: a.headers.update(Signature="sig1=:*:"),
        "malformed",
    ),
    # the label
    (
        "label renamed in Signature only",
        lambda a, w: a.headers.update(Signature=a.headers["Signature"].replace("sig1=", "sig2=")),
        "malformed",
    ),
    (
        "label renamed in Signature-Input only",
        lambda a, w: a.headers.update(
            {"Signature-Input": a.headers["Signature-Input"].replace("sig1=", "sig2=")}
        ),
        "malformed",
    ),
    (
        "label: a forged second sig1 in Signature-Input",
        lambda a, w: _forged_second_member(a),
        "bad-signature",
    ),
]


@pytest.mark.parametrize(
    ("tamper", "reason"), [(t, r) for _, t, r in TAMPERING], ids=[n for n, _, _ in TAMPERING]
)
async def test_a_tampered_signature_input_is_refused(
    arena: Arena, tamper: Tamper, reason: str
) -> None:
    created, nonce = int(datetime.now(UTC).timestamp()), secrets.token_urlsafe(16)
    probe = sign(arena.url, b"<probe/>", gb(arena))
    probe.meta |= {"created": "0", "nonce": ""}
    tamper(probe, arena)  # only to learn whether the signed method / scheme differ
    signed_url = arena.url.replace("http://", probe.meta.get("scheme", "http") + "://")
    attempt = sign(
        arena.url, gb_doc(), gb(arena), created=created, nonce=nonce,
        method=probe.meta.get("method", "POST"), signed_url=signed_url,
    )  # fmt: skip
    attempt.meta |= {"created": str(created), "nonce": nonce}
    tamper(attempt, arena)
    keyid = None if reason == "malformed" else attempt_keyid(attempt)
    await refused(arena, attempt, reason, keyid=keyid)
    if reason != "malformed":
        # the nonce of a refused request is not used up: the genuine request still passes
        await accepted(arena, sign(arena.url, gb_doc(), gb(arena), nonce=nonce))


def attempt_keyid(attempt: Attempt) -> str:
    inputs = Dictionary()
    inputs.parse(attempt.headers["Signature-Input"].encode())
    keyid = inputs["sig1"].params["keyid"]
    assert isinstance(keyid, str)
    return keyid


async def test_the_fully_covered_request_itself_is_accepted(arena: Arena) -> None:
    """The control for the cases above: the untampered request, and its label renamed in both
    fields (a label is not signed, RFC 9421 §4), both pass."""
    await accepted(arena, sign(arena.url, gb_doc(), gb(arena)))
    attempt = sign(arena.url, gb_doc(), gb(arena))
    for name in ("Signature", "Signature-Input"):
        attempt.headers[name] = attempt.headers[name].replace("sig1=", "partner-sig=")
    await accepted(arena, attempt)


# -- 2. wrong, unknown and out-of-validity keys; an expired signature -------------------------


def _now() -> int:
    return int(datetime.now(UTC).timestamp())


KEYS: list[tuple[str, Callable[[Arena], Attempt], str, str]] = [
    (
        "the other partner's genuine key under this keyid",
        lambda w: sign(
            w.url,
            gb_doc(),
            SigningKey("gb-royal-mail-2026", "ed25519", w.keys["fr-la-poste-2026"].private_key),
        ),
        "bad-signature",
        "gb-royal-mail-2026",
    ),
    (
        "the gateway's own key id",
        lambda w: sign(
            w.url,
            gb_doc(),
            SigningKey(w.gateway.keyring.active.keyid, "ed25519", generate_private_key("ed25519")),
        ),
        "unknown-key",
        "gateway",
    ),
    (
        "an empty key id",
        lambda w: sign(w.url, gb_doc(), SigningKey("", "ed25519", generate_private_key("ed25519"))),
        "unknown-key",
        "",
    ),
    (
        "a key before its not_before",
        lambda w: sign(
            w.url, document("FRA-K1", "FRA", items(1, "FR", seed=4)), w.keys["fr-la-poste-next"]
        ),
        "expired-key",
        "fr-la-poste-next",
    ),
    (
        "a key past its not_after, signed while it was valid",
        lambda w: sign(
            w.url,
            document("FRA-K2", "FRA", items(1, "FR", seed=4)),
            w.keys["fr-la-poste-lapsed"],
            created=_now() - 120,
            expires=_now() + 60,
        ),
        "expired-key",
        "fr-la-poste-lapsed",
    ),
    (
        "a signature past its expires",
        lambda w: sign(w.url, gb_doc(), gb(w), created=_now() - 10, expires=_now() - 1),
        "stale",
        "gb-royal-mail-2026",
    ),
]


@pytest.mark.parametrize(
    ("make", "reason", "keyid"), [(m, r, k) for _, m, r, k in KEYS], ids=[n for n, *_ in KEYS]
)
async def test_a_wrong_unknown_or_invalid_key_is_refused(
    arena: Arena, make: Callable[[Arena], Attempt], reason: str, keyid: str
) -> None:
    attempt = make(arena)
    expected = arena.gateway.keyring.active.keyid if keyid == "gateway" else keyid
    await refused(arena, attempt, reason, keyid=expected)


# -- 3. authenticated, but not allowed: 403 ---------------------------------------------------


async def test_a_post_sending_another_posts_operator_code_is_forbidden(arena: Arena) -> None:
    body = document("CNA-ATK-1", "CNA", items(1, "CN", seed=5))  # China Post's code, by GB
    attempt = sign(arena.url, body, gb(arena))
    outcome = await refused(
        arena, attempt, "forbidden", status=403, partner="gb-royal-mail", keyid="gb-royal-mail-2026"
    )
    assert "CNA" in str(outcome.problem["detail"])
    assert await arena.gateway.store.find_message("gb-royal-mail", "CNA-ATK-1") is None
    assert await arena.gateway.store.find_message("cn-china-post", "CNA-ATK-1") is None
    # its nonce was spent by an authenticated request: resending it is a replay
    await refused(arena, attempt, "replayed", keyid="gb-royal-mail-2026")


async def test_a_customs_partner_submitting_itmatt_is_forbidden(arena: Arena) -> None:
    body = document("AUA-ATK-1", "AUA", items(1, "AU", seed=6))
    attempt = sign(arena.url, body, arena.keys["au-customs-2026"])
    outcome = await refused(
        arena, attempt, "forbidden", status=403, partner="au-customs", keyid="au-customs-2026"
    )
    assert "itmatt" in str(outcome.problem["detail"])


async def test_a_forbidden_request_is_counted_as_an_auth_failure(arena: Arena) -> None:
    before = await _scrape(arena)
    await send(sign(arena.url, document("CNA-ATK-2", "CNA", items(1, "CN", seed=5)), gb(arena)))
    after = await _scrape(arena)
    assert _delta(before, after, "aedgw_auth_failures_total", reason="forbidden") == 1


# -- 4. replays, inside and outside the window ------------------------------------------------


async def test_a_nonce_reused_in_a_freshly_signed_request_is_a_replay(arena: Arena) -> None:
    nonce = secrets.token_urlsafe(16)
    await accepted(arena, sign(arena.url, gb_doc(), gb(arena), nonce=nonce, created=_now() - 5))
    again = sign(arena.url, gb_doc(), gb(arena), nonce=nonce)  # other body, other created
    await refused(arena, again, "replayed", keyid="gb-royal-mail-2026")
    # the same nonce under another partner's key is that partner's own: not a replay
    cn = arena.keys["cn-china-post-2026"]
    await accepted(
        arena, sign(arena.url, document("CNA-R1", "CNA", items(1, "CN", seed=7)), cn, nonce=nonce)
    )


async def test_a_replay_within_the_window_is_refused_as_replayed(arena: Arena) -> None:
    attempt = sign(arena.url, gb_doc(), gb(arena), expires=_now() + 3600)
    await accepted(arena, attempt)
    arena.clock.shift = timedelta(seconds=WINDOW - 5)  # still inside the window
    await refused(arena, attempt, "replayed", keyid="gb-royal-mail-2026")


async def test_a_replay_after_the_window_is_refused_as_stale(arena: Arena) -> None:
    attempt = sign(arena.url, gb_doc(), gb(arena), expires=_now() + 3600)
    await accepted(arena, attempt)
    arena.clock.shift = timedelta(seconds=WINDOW + 2)
    await refused(arena, attempt, "stale", keyid="gb-royal-mail-2026")
    # an expires inside the window ends it earlier
    short = sign(arena.url, gb_doc(), gb(arena), expires=_now() + 30)
    arena.clock.shift = timedelta(0)
    await accepted(arena, short)
    arena.clock.shift = timedelta(seconds=31)
    await refused(arena, short, "stale", keyid="gb-royal-mail-2026")


# -- 5. clock skew, both directions, within and beyond the window -----------------------------


@pytest.mark.parametrize("skew", [-WINDOW, -WINDOW + 10, WINDOW - 10, WINDOW])
async def test_a_skew_within_the_window_is_accepted(arena: Arena, skew: int) -> None:
    arena.clock.frozen = datetime.now(UTC).replace(microsecond=0)
    created = int(arena.clock.frozen.timestamp()) + skew
    await accepted(arena, sign(arena.url, gb_doc(), gb(arena), created=created,
                               expires=created + 3600))  # fmt: skip


@pytest.mark.parametrize("skew", [-WINDOW - 1, -3600, WINDOW + 1, 3600])
async def test_a_skew_beyond_the_window_is_refused_as_stale(arena: Arena, skew: int) -> None:
    arena.clock.frozen = datetime.now(UTC).replace(microsecond=0)
    created = int(arena.clock.frozen.timestamp()) + skew
    attempt = sign(arena.url, gb_doc(), gb(arena), created=created, expires=created + 7200)
    outcome = await refused(arena, attempt, "stale", keyid="gb-royal-mail-2026")
    assert ("old" if skew < 0 else "in the future") in str(outcome.problem["detail"])
