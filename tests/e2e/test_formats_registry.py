"""The declaration format registry (gateway.formats.registry) is what the gateway serves from.

A second format, registered by replacing `FORMATS` alone (as one more registry line would),
gets its HTTP route with its media types, its partners' `formats` accepted by the config, and
its own parse and streamed parse run by the CPU stages, in the serving process and on the
worker side; nothing else names it. The format here is ITMATT under another name, route and
media type, counting the calls that reach it.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

import pytest

from gateway.adapters.cpu import codec, worker
from gateway.adapters.crypto.keys import SigningKey, generate_private_key, private_pem
from gateway.config import CpuSettings, load_partners
from gateway.domain.limits import MIN_STREAM_BYTES
from gateway.domain.messages import ParsedMessage
from gateway.domain.partners import B5_FEED_FORMAT, ITMATT_FORMAT
from gateway.domain.records import Provenance
from gateway.errors import ConfigError
from gateway.formats import DeclarationFormat, Keep, itmatt, registry
from gateway.formats.itmatt.samples import build_itmatt, generate_items
from tests.e2e.conftest import PartnerKit, make_settings, running
from tests.e2e.helpers import raw_post

SPY = "itmatt-spy"
SPY_TYPE = "application/vnd.aedgw.spy+xml"


class SpyFormat:
    """ITMATT served as another format, recording which entry point each message reached."""

    name = SPY
    route = "/v1/aed/spy"
    media_types = frozenset({SPY_TYPE})
    schema_path = itmatt.XSD_PATH

    def __init__(self) -> None:
        self.calls: list[str] = []

    def parse(self, data: bytes, *, timings: dict[str, float] | None = None) -> ParsedMessage:
        self.calls.append("parse")
        return itmatt.FORMAT.parse(data, timings=timings)

    def parse_stream(
        self, source: BinaryIO, *, keep: Keep | None = None, timings: dict[str, float] | None = None
    ) -> ParsedMessage:
        self.calls.append("parse_stream")
        return itmatt.FORMAT.parse_stream(source, keep=keep, timings=timings)

    def prepare(self) -> None:
        self.calls.append("prepare")


@pytest.fixture
def spy(monkeypatch: pytest.MonkeyPatch) -> SpyFormat:
    """The registry with the spy format registered beside ITMATT."""
    served = SpyFormat()
    formats: dict[str, DeclarationFormat] = {**registry.FORMATS, SPY: served}
    monkeypatch.setattr(registry, "FORMATS", formats)
    return served


def document(message_id: str, n: int, seed: int) -> bytes:
    items = generate_items(random.Random(seed), n, sender_country="GB", bad_every=4)
    return build_itmatt(message_id, "GBA", items)


def test_itmatt_is_registered_under_its_partner_format_name() -> None:
    assert registry.lookup(ITMATT_FORMAT) is itmatt.FORMAT
    assert itmatt.FORMAT.route == "/v1/aed/itmatt"
    assert itmatt.FORMAT.media_types == {"application/xml", "text/xml"}
    assert itmatt.FORMAT.schema_path.is_file()
    with pytest.raises(KeyError):
        registry.lookup(B5_FEED_FORMAT)  # B5 feeds are not declarations: their own intake


def test_partner_formats_are_the_registered_ones_and_b5_feeds(
    spy: SpyFormat, partners_dir: tuple[Path, dict[str, PartnerKit]], tmp_path: Path
) -> None:
    root, _ = partners_dir
    toml = root / "gb-royal-mail" / "partner.toml"
    toml.write_text(toml.read_text().replace('["itmatt-1.5"]', f'["{SPY}"]'))
    settings = make_settings(tmp_path, root)
    loaded = {pc.partner.id: pc.partner for pc in load_partners(settings)}
    assert loaded["gb-royal-mail"].formats == {SPY}

    toml.write_text(toml.read_text().replace(f'["{SPY}"]', '["itmatt-2.0"]'))
    with pytest.raises(ConfigError, match=r"itmatt-2\.0.*b5-feed.*itmatt-1\.5.*itmatt-spy"):
        load_partners(settings)


async def test_a_registered_format_gets_its_route_and_its_own_cpu_stages(
    spy: SpyFormat, partners_dir: tuple[Path, dict[str, PartnerKit]], tmp_path: Path
) -> None:
    root, partners = partners_dir
    toml = root / "gb-royal-mail" / "partner.toml"
    toml.write_text(toml.read_text().replace('["itmatt-1.5"]', f'["itmatt-1.5", "{SPY}"]'))
    cpu = CpuSettings(workers=0, stream_bytes=MIN_STREAM_BYTES)
    settings = make_settings(tmp_path, root, cpu=cpu)
    gb, cn = partners["gb-royal-mail"].key, partners["cn-china-post"].key
    small, large = document("GBA-SPY-1", 8, 1), document("GBA-SPY-2", 400, 2)
    assert len(small) < MIN_STREAM_BYTES <= len(large)
    async with running(settings, partners) as world:
        url = world.http_url + SpyFormat.route
        spy_type = {"Content-Type": SPY_TYPE}
        created = world.created()

        status, receipt, _ = await raw_post(url, small, key=gb, headers=spy_type, created=created)
        assert (status, receipt["accepted"], receipt["rejected"]) == (202, 6, 2)
        assert spy.calls == ["parse"]

        status, receipt, _ = await raw_post(url, large, key=gb, headers=spy_type, created=created)
        assert (status, receipt["accepted"], receipt["rejected"]) == (202, 300, 100)
        assert spy.calls == ["parse", "parse_stream"]  # spooled, then streamed

        status, problem, _ = await raw_post(url, small, key=gb, created=created)  # xml
        assert status == 415, problem
        status, problem, _ = await raw_post(url, small, key=cn, headers=spy_type, created=created)
        assert status == 403, problem  # cn-china-post's formats do not name it
        assert spy.calls == ["parse", "parse_stream"]

        # ITMATT's own route is untouched and never reaches the spy.
        itmatt_url = world.http_url + itmatt.FORMAT.route
        status, receipt, _ = await raw_post(
            itmatt_url, document("GBA-ITMATT-1", 8, 3), key=gb, created=created
        )
        assert (status, receipt["accepted"]) == (202, 6)
        status, _, _ = await raw_post(itmatt_url, small, key=gb, headers=spy_type, created=created)
        assert status == 415
        assert spy.calls == ["parse", "parse_stream"]


def test_the_worker_side_prepares_and_parses_through_the_registry(
    spy: SpyFormat, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(worker, "_worker", None)
    worker.initialize(None, None)
    assert spy.calls == ["prepare"]

    key = SigningKey("aedgw-spy-1", "ed25519", generate_private_key("ed25519"))
    plain_key = (key.keyid, key.alg, private_pem(key.private_key))
    prov = Provenance("gb-royal-mail", datetime(2026, 11, 30, 10, tzinfo=UTC), "r", "d:")
    answer = worker.run_message(
        document("GBA-SPY-W", 8, 4), "GBA", codec.plain_provenance(prov), SPY, plain_key
    )
    assert isinstance(answer, bytes)
    done = codec.decode(answer)
    assert [i.accepted for i in done.parsed.items].count(True) == 6
    assert len(done.sealed) == 6
    assert spy.calls == ["prepare", "parse"]

    with pytest.raises(KeyError):
        worker.run_message(b"", "GBA", codec.plain_provenance(prov), "itmatt-2.0", plain_key)
