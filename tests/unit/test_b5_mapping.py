"""Feed mappings: the partner folders load, and a wrong mapping names its file and key."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from gateway.config import Settings, load_partners
from gateway.domain.partners import B5_FEED_FORMAT, PartnerKind, ShareAgreement
from gateway.errors import ConfigError
from gateway.formats.b5 import BANDS, FeedKind, load_mapping, value_band
from gateway.formats.b5.mapping import SCHEMAS_DIR, CodeMap

REPO = Path(__file__).resolve().parents[2]
CUSTOMS = {"au-abf": ("AU", True), "ca-cbsa": ("CA", False), "gb-bf": ("GB", True)}

CSV_MAPPING = """\
format = "csv"
reporter = "NZ"
currency = "NZD"

[period]
rule = "iso_week"
field = "week"

[fields]
items = "items"
declared_value = "value"
detections = "detections"

[defaults]
channel = "POST"
"""


def test_customs_partner_folders_load_with_their_share_agreement(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, partners_dir=REPO / "partners")
    configs = {pc.partner.id: pc for pc in load_partners(settings)}
    for pid, (country, combined) in CUSTOMS.items():
        partner = configs[pid].partner
        assert (partner.kind, partner.country) == (PartnerKind.CUSTOMS, country)
        assert partner.formats == frozenset({B5_FEED_FORMAT})
        assert partner.share == ShareAgreement(k=10, combined_view=combined, push_url="")
        assert partner.mapping == REPO / "partners" / pid / "mapping.toml"
        [key] = configs[pid].keys
        assert key.demo
        assert not any((REPO / "partners" / pid).glob("**/*.key.pem"))


@pytest.mark.parametrize("pid", sorted(CUSTOMS))
def test_partner_mapping_reports_the_partners_country(pid: str) -> None:
    mapping = load_mapping(REPO / "partners" / pid / "mapping.toml")
    assert mapping.reporter == CUSTOMS[pid][0]
    assert mapping.source_format.startswith(pid)


def test_gb_bf_mapping_finds_its_schema_in_schemas_b5() -> None:
    mapping = load_mapping(REPO / "partners" / "gb-bf" / "mapping.toml")
    assert mapping.kind is FeedKind.XML
    assert mapping.xml is not None
    assert mapping.xml.schema == SCHEMAS_DIR / "gb-bf-lowvalue.xsd"


def test_ca_cbsa_category_map_sends_anything_else_to_other() -> None:
    mapping = load_mapping(REPO / "partners" / "ca-cbsa" / "mapping.toml")
    categories = mapping.codes["category"]
    assert categories.lookup("SAMPLE") == "COMMERCIAL_SAMPLE"
    assert categories.lookup("PARCEL") == "OTHER"
    assert mapping.codes["channel"] == CodeMap({"POSTAL": "POST", "COURIER": "COURIER"})


def test_minimal_mapping_defaults_source_format_and_delimiter(tmp_path: Path) -> None:
    mapping = load_mapping(write(tmp_path, CSV_MAPPING))
    assert (mapping.source_format, mapping.delimiter) == ("nz-customs-csv", ",")
    assert mapping.defaults == {"channel": "POST"}


# -- precise errors ---------------------------------------------------------------------------


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "nz-customs" / "mapping.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("change", "key", "problem"),
    [
        (('format = "csv"', 'colour = "red"\nformat = "csv"'), "colour", "unknown key"),
        (('items = "items"\n', ""), "fields.items", "is not mapped"),
        (('items = "items"\n', 'items = "items"\nparcels = "n"\n'), "fields.parcels", "unknown"),
        (('channel = "POST"\n', 'channel = "SEA"\n'), "defaults.channel", "not a canonical"),
        (('[defaults]\nchannel = "POST"\n', ""), "fields.channel", "no default"),
        (('format = "csv"', 'format = "xlsx"'), "format", "not allowed"),
        (('reporter = "NZ"', 'reporter = "XZ"'), "reporter", "ISO 3166-1"),
        (('currency = "NZD"', 'currency = "NZ$"'), "currency", "ISO 4217"),
        (('rule = "iso_week"', 'rule = "monthly"'), "period.rule", "not allowed"),
        (('field = "week"\n', 'field = "week"\nlevel = "feed"\n'), "period.level", "XML"),
        (('field = "week"', 'field = "items"'), "period.field", "also the source"),
        (("", '[codes.channel]\nPOSTAL = "MAIL"\n'), "codes.channel", "not mapped"),
        (("", '[xml]\nroot = "r"\n'), "xml", "is for xml feeds"),
        (("", '[csv]\ndelimiter = ";;"\n'), "csv.delimiter", "one character"),
        (('format = "csv"', 'csv = 3\nformat = "csv"'), "csv", "not a table"),
    ],
)
def test_mapping_error_names_file_and_key(
    tmp_path: Path, change: tuple[str, str], key: str, problem: str
) -> None:
    old, new = change
    text = CSV_MAPPING.replace(old, new, 1) if old else CSV_MAPPING + new
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_mapping(path)
    assert (caught.value.file, caught.value.key) == (str(path), key)
    assert problem in caught.value.problem
    assert caught.value.fix


def test_code_map_to_a_non_canonical_code_is_refused(tmp_path: Path) -> None:
    text = CSV_MAPPING.replace('[defaults]\nchannel = "POST"\n', "")
    text = text.replace('items = "items"\n', 'items = "items"\nchannel = "mode"\n')
    text += '[codes.channel]\nPOSTAL = "POST"\nSHIP = "BOAT"\n'
    with pytest.raises(ConfigError) as caught:
        load_mapping(write(tmp_path, text))
    assert caught.value.key == "codes.channel.SHIP"
    assert "'BOAT' is not a canonical channel" in caught.value.problem


def test_xml_mapping_with_a_missing_schema_is_refused(tmp_path: Path) -> None:
    gb = (REPO / "partners" / "gb-bf" / "mapping.toml").read_text(encoding="utf-8")
    path = write(tmp_path, gb.replace("gb-bf-lowvalue.xsd", "nowhere.xsd"))
    with pytest.raises(ConfigError) as caught:
        load_mapping(path)
    assert caught.value.key == "xml.schema"


def test_xml_mapping_with_a_broken_schema_is_refused(tmp_path: Path) -> None:
    gb = (REPO / "partners" / "gb-bf" / "mapping.toml").read_text(encoding="utf-8")
    path = write(tmp_path, gb)
    (path.parent / "gb-bf-lowvalue.xsd").write_text("<schema/>", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_mapping(path)
    assert caught.value.key == "xml.schema"
    assert "not a valid XSD" in caught.value.problem


def test_missing_or_invalid_toml_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="missing"):
        load_mapping(tmp_path / "mapping.toml")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_mapping(write(tmp_path, "format = "))


# -- value bands ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("usd", "band"),
    [
        ("0", "0-20"),
        ("20", "0-20"),
        ("20.01", "20-40"),
        ("40", "20-40"),
        ("100", "40-100"),
        ("150", "100-150"),
        ("800", "150-800"),
        ("2500", "800-2500"),
        ("2500.001", "2500+"),
    ],
)
def test_value_band_upper_bounds_are_inclusive(usd: str, band: str) -> None:
    assert value_band(Decimal(usd)) == band


def test_value_bands_are_the_seven_of_the_spec() -> None:
    assert BANDS == ("0-20", "20-40", "40-100", "100-150", "150-800", "800-2500", "2500+")


@pytest.mark.parametrize("usd", ["-0.01", "NaN", "Infinity"])
def test_value_band_refuses_what_is_no_value(usd: str) -> None:
    with pytest.raises(ValueError, match="not a value"):
        value_band(Decimal(usd))
