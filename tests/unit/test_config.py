"""Settings and partner folders: defaults, the documented example, and every refusal.

Each refusal names the file, the key and the fix, so that an operator can act on it alone.
"""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path

import pytest

from gateway import config
from gateway.adapters.crypto.keys import generate_private_key, write_public_key
from gateway.config import (
    CONFIG_ENV,
    DEFAULT_MAX_BODY,
    Settings,
    config_path,
    load_partners,
    load_settings,
)
from gateway.domain.partners import ITMATT_FORMAT, PartnerKind, ShareAgreement
from gateway.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "gateway.toml"


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def assert_names(exc: ConfigError, file: Path, key: str) -> None:
    """The message names the file, the key and a fix; the attributes carry the same."""
    text = str(exc)
    assert str(file) in text
    assert exc.file == str(file)
    assert key in text
    assert exc.key.endswith(key) or key in exc.key
    assert exc.fix, f"no fix in {text!r}"
    assert f"(fix: {exc.fix})" in text


# -- settings ---------------------------------------------------------------------------------


def test_no_file_gives_every_default() -> None:
    settings = load_settings(None)
    assert settings == Settings()
    assert settings.data_dir == Path("data")
    assert settings.store == "sqlite:///data/gateway.db"
    assert settings.http.listen == "127.0.0.1:8080"
    assert settings.grpc.listen == "127.0.0.1:50051"
    assert settings.signing.alg == "ed25519"
    assert settings.signing.signature_window_s == 300
    assert settings.consumers == ()
    assert settings.config_file is None


def test_empty_file_gives_defaults_relative_to_the_file(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path / "gw.toml", ""))
    assert settings.data_dir == tmp_path / "data"
    assert settings.partners_dir == tmp_path / "partners"
    assert settings.store == f"sqlite:///{tmp_path / 'data' / 'gateway.db'}"
    assert settings.signing.key_dir == tmp_path / "data" / "keys"
    assert settings.config_file == tmp_path / "gw.toml"


def test_documented_example_loads_with_paths_resolved_against_its_folder() -> None:
    settings = load_settings(EXAMPLE)
    assert settings.data_dir == REPO / "data"
    assert settings.partners_dir == REPO / "partners"
    assert settings.store == f"sqlite:///{REPO / 'data' / 'gateway.db'}"
    assert settings.signing.key_dir == REPO / "data" / "keys"
    assert settings.http.listen == "127.0.0.1:8080"
    assert settings.http.max_concurrent_requests == 256
    assert settings.grpc.max_in_flight == 1000
    assert [c.name for c in settings.consumers] == ["targeting", "analytics"]
    targeting, analytics = settings.consumers
    assert targeting.rule.categories == {"SALE_OF_GOODS", "COMMERCIAL_SAMPLE"}
    assert analytics.rule.categories == frozenset()


def test_the_documented_example_names_every_setting() -> None:
    """Every key a gateway configuration accepts appears in examples/gateway.toml, set or
    commented out (the README says it documents every key)."""
    accepted = config.gateway_toml_keys()
    text = EXAMPLE.read_text(encoding="utf-8")
    tables = {"http.listen", "grpc.listen", "signing.alg", "cpu.workers", "share.build_every_s"}
    assert {"store", "consumers.name", *tables} <= set(accepted)
    assert "config_file" not in accepted
    assert "grpc.client_cert_names" not in accepted

    def documented(key: str) -> bool:  # `key = …` (maybe commented out), or a [table] header
        name = re.escape(key.rpartition(".")[2])
        return re.search(rf"^#? ?({name} = |\[\[?{name}\]\]?)", text, re.MULTILINE) is not None

    missing = [key for key in accepted if not documented(key)]
    assert missing == []


@pytest.mark.parametrize("weeks", [0, 1, 52])
def test_the_late_window_is_read_from_0_to_52_weeks(tmp_path: Path, weeks: int) -> None:
    file = write(tmp_path / "gw.toml", f"[share]\nlate_window_weeks = {weeks}\n")
    assert load_settings(file).share.late_window_weeks == weeks


def test_the_late_window_defaults_to_8_weeks(tmp_path: Path) -> None:
    assert load_settings(write(tmp_path / "gw.toml", "[share]\n")).share.late_window_weeks == 8
    assert load_settings(EXAMPLE).share.late_window_weeks == 8


def test_relative_paths_follow_the_file_not_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    conf = tmp_path / "etc" / "gw"
    write(
        conf / "gateway.toml",
        """
data_dir = "../../var"
partners_dir = "partners"
store = "sqlite:///db/journal.db?synchronous=NORMAL"

[http]
tls_cert = "tls/server.crt"
tls_key = "tls/server.key"

[signing]
key_dir = "secrets/keys"
""",
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    settings = load_settings(Path("../etc/gw/gateway.toml"))
    assert settings.data_dir == tmp_path / "var"
    assert settings.partners_dir == conf / "partners"
    assert settings.store == f"sqlite:///{conf / 'db' / 'journal.db'}?synchronous=NORMAL"
    assert settings.http.tls_cert == conf / "tls" / "server.crt"
    assert settings.http.tls_key == conf / "tls" / "server.key"
    assert settings.signing.key_dir == conf / "secrets" / "keys"


@pytest.mark.parametrize(
    "url",
    ["sqlite:////var/lib/aedgw/gateway.db", "postgresql://aedgw@db.internal/aedgw"],
    ids=["absolute-sqlite", "postgres"],
)
def test_absolute_and_server_store_urls_are_kept_as_written(tmp_path: Path, url: str) -> None:
    assert load_settings(write(tmp_path / "gw.toml", f'store = "{url}"\n')).store == url


def test_consumer_rule_is_read_with_a_decimal_minimum(tmp_path: Path) -> None:
    file = write(
        tmp_path / "gw.toml",
        """
[[consumers]]
name = "cbp.targeting"
categories = ["GIFT"]
hs_chapters = ["61", "85"]
origin_countries = ["CN"]
partners = ["cn-china-post"]
min_value = "100.10"
min_value_currency = "EUR"
""",
    )
    [consumer] = load_settings(file).consumers
    assert consumer.name == "cbp.targeting"
    rule = consumer.rule
    assert rule.categories == {"GIFT"}
    assert rule.hs_chapters == {"61", "85"}
    assert rule.origin_countries == {"CN"}
    assert rule.partners == {"cn-china-post"}
    assert rule.min_value == Decimal("100.10")
    assert rule.min_value_currency == "EUR"


SETTINGS_ERRORS = [
    pytest.param('colour = "blue"\n', "colour", id="unknown-key"),
    pytest.param(
        '[http]\nlisten = "127.0.0.1:8080"\nport = 80\n', "http.port", id="unknown-key-in-table"
    ),
    pytest.param("data_dir = 7\n", "data_dir", id="wrong-type"),
    pytest.param(
        '[grpc]\nmax_in_flight = "many"\n', "grpc.max_in_flight", id="wrong-type-in-table"
    ),
    pytest.param('log_json = "yes"\n', "log_json", id="string-for-boolean"),
    pytest.param('[http]\nlisten = "8080"\n', "http.listen", id="listen-without-host"),
    pytest.param('[grpc]\nlisten = "localhost:99999"\n', "grpc.listen", id="listen-port-too-big"),
    pytest.param('[http]\nlisten = "localhost:http"\n', "http.listen", id="listen-named-port"),
    pytest.param(
        '[[consumers]]\nname = "t"\ncategories = ["GIFTS"]\n',
        "consumers[0].categories",
        id="unknown-category",
    ),
    pytest.param(
        '[[consumers]]\nname = "t"\nhs_chapters = ["6117"]\n',
        "consumers[0].hs_chapters",
        id="hs-heading-not-chapter",
    ),
    pytest.param(
        '[[consumers]]\nname = "t"\nhs_chapters = ["6a"]\n',
        "consumers[0].hs_chapters",
        id="hs-chapter-not-digits",
    ),
    pytest.param(
        '[[consumers]]\nname = "t"\norigin_countries = ["CN", "XX"]\n',
        "consumers[0].origin_countries",
        id="unknown-country",
    ),
    pytest.param(
        '[[consumers]]\nname = "t"\nmin_value = "ten"\n',
        "consumers[0].min_value",
        id="min-value-not-decimal",
    ),
    pytest.param(
        '[[consumers]]\nname = "t"\nmin_value = 10\n',
        "consumers[0].min_value",
        id="min-value-not-string",
    ),
    pytest.param(
        '[[consumers]]\nname = "t"\n\n[[consumers]]\nname = "u"\n\n[[consumers]]\nname = "t"\n',
        "consumers[2].name",
        id="duplicate-consumer-name",
    ),
    pytest.param(
        "[[consumers]]\ncategories = []\n", "consumers[0].name", id="consumer-without-name"
    ),
    pytest.param('[http]\ntls_cert = "server.crt"\n', "http.tls_cert", id="tls-cert-without-key"),
    pytest.param('[http]\ntls_key = "server.key"\n', "http.tls_cert", id="tls-key-without-cert"),
    pytest.param('[signing]\nalg = "rsa"\n', "signing.alg", id="unknown-signing-alg"),
    pytest.param("[grpc]\nmax_in_flight = 0\n", "grpc.max_in_flight", id="zero-bound"),
    pytest.param(
        "[share]\ntrend_min_history_weeks = 9\n",
        "share.trend_min_history_weeks",
        id="history-longer-than-the-baseline",
    ),
    pytest.param(
        "[share]\nlate_window_weeks = -1\n", "share.late_window_weeks", id="late-window-negative"
    ),
    pytest.param(
        "[share]\nlate_window_weeks = 53\n", "share.late_window_weeks", id="late-window-over-52"
    ),
    pytest.param(
        '[share]\nlate_window_weeks = "8"\n', "share.late_window_weeks", id="late-window-string"
    ),
]


@pytest.mark.parametrize(("text", "key"), SETTINGS_ERRORS)
def test_invalid_setting_names_file_key_and_fix(tmp_path: Path, text: str, key: str) -> None:
    file = write(tmp_path / "gw.toml", text)
    with pytest.raises(ConfigError) as caught:
        load_settings(file)
    assert_names(caught.value, file, key)


def test_invalid_toml_names_the_file_and_the_line(tmp_path: Path) -> None:
    file = write(tmp_path / "gw.toml", 'data_dir = "data"\nstore = \n')
    with pytest.raises(ConfigError, match="line 2") as caught:
        load_settings(file)
    assert str(file) in str(caught.value)
    assert caught.value.fix


def test_missing_file_names_it_and_the_environment_variable(tmp_path: Path) -> None:
    file = tmp_path / "absent.toml"
    with pytest.raises(ConfigError, match=CONFIG_ENV) as caught:
        load_settings(file)
    assert str(file) in str(caught.value)


def test_config_path_honours_the_environment_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(CONFIG_ENV, str(tmp_path / "from-env.toml"))
    assert config_path(None) == tmp_path / "from-env.toml"
    assert config_path(str(tmp_path / "explicit.toml")) == tmp_path / "explicit.toml"


def test_config_path_is_none_without_flag_or_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(CONFIG_ENV, raising=False)
    assert config_path(None) is None
    monkeypatch.setenv(CONFIG_ENV, "")
    assert config_path(None) is None


# -- partners ---------------------------------------------------------------------------------


def test_repository_partners_load_as_two_demo_posts_and_three_customs_partners(
    tmp_path: Path,
) -> None:
    settings = Settings(data_dir=tmp_path, partners_dir=REPO / "partners")
    configs = {pc.partner.id: pc for pc in load_partners(settings)}
    assert set(configs) == {"cn-china-post", "gb-royal-mail", "au-abf", "ca-cbsa", "gb-bf"}
    customs = {pid for pid, pc in configs.items() if pc.partner.kind is PartnerKind.CUSTOMS}
    assert customs == {"au-abf", "ca-cbsa", "gb-bf"}
    assert all(configs[pid].partner.mapping is not None for pid in customs)
    for pid, code, country in [("cn-china-post", "CNA", "CN"), ("gb-royal-mail", "GBA", "GB")]:
        pc = configs[pid]
        assert pc.folder == REPO / "partners" / pid
        assert pc.partner.kind is PartnerKind.POST
        assert (pc.partner.operator_code, pc.partner.country) == (code, country)
        assert pc.partner.may_submit(ITMATT_FORMAT)
        assert pc.partner.max_body_bytes == DEFAULT_MAX_BODY
        assert pc.partner.key_ids == tuple(k.keyid for k in pc.keys)
        [key] = pc.keys
        assert key.demo
        assert key.private_key == tmp_path / "demo-partners" / pid / f"{key.keyid}.key.pem"
        assert key.public_key == tmp_path / "demo-partners" / pid / f"{key.keyid}.pub.pem"
        assert key.source == pc.folder / "partner.toml"
    assert configs["cn-china-post"].keys[0].alg == "ecdsa-p256-sha256"
    gb_key = configs["gb-royal-mail"].keys[0]
    assert gb_key.not_before is not None
    assert gb_key.not_after is not None
    assert gb_key.not_before.tzinfo is not None
    assert gb_key.not_before < gb_key.not_after


PARTNER = """\
id = "{pid}"
name = "Test Post"
kind = "post"
country = "GB"
operator_code = "{code}"
formats = ["itmatt-1.5"]

[[keys]]
id = "{pid}-2026"
alg = "ed25519"
public_key = "keys/{pid}.pem"
not_before = 2026-01-01T00:00:00Z
not_after = 2027-12-31T23:59:59Z
"""


CUSTOMS = PARTNER.replace('kind = "post"', 'kind = "customs"').replace(
    'operator_code = "{code}"\n', ""
)


def make_partner(root: Path, pid: str, code: str = "GBA", text: str = PARTNER) -> Path:
    """A valid partner folder (with its PEM public key) unless `text` says otherwise."""
    folder = root / pid
    write_public_key(folder / "keys" / f"{pid}.pem", generate_private_key("ed25519").public_key())
    return write(folder / "partner.toml", text.format(pid=pid, code=code))


def partners_in(root: Path) -> Settings:
    return Settings(data_dir=root.parent / "data", partners_dir=root)


def test_a_partner_folder_with_a_pem_key_loads(tmp_path: Path) -> None:
    root = tmp_path / "partners"
    make_partner(root, "gb-test-post")
    [pc] = load_partners(partners_in(root))
    assert pc.partner.id == "gb-test-post"
    [key] = pc.keys
    assert (key.keyid, key.alg, key.demo) == ("gb-test-post-2026", "ed25519", False)
    assert key.public_key == root / "gb-test-post" / "keys" / "gb-test-post.pem"


def test_a_customs_partner_needs_no_operator_code(tmp_path: Path) -> None:
    root = tmp_path / "partners"
    make_partner(root, "ca-cbsa", text=CUSTOMS)
    [pc] = load_partners(partners_in(root))
    assert pc.partner.kind is PartnerKind.CUSTOMS
    assert pc.partner.operator_code is None


def customs_share(tmp_path: Path, share: str) -> Path:
    """A customs partner folder whose partner.toml ends with `share` as its [share] table."""
    return make_partner(tmp_path / "partners", "ca-cbsa", text=CUSTOMS + "\n[share]\n" + share)


def load_share(tmp_path: Path, share: str) -> ShareAgreement:
    customs_share(tmp_path, share)
    [pc] = load_partners(partners_in(tmp_path / "partners"))
    assert pc.partner.share is not None
    return pc.partner.share


def test_a_share_agreement_without_value_percent_protects_values_by_20_percent(
    tmp_path: Path,
) -> None:
    assert load_share(tmp_path, "k = 12\n") == ShareAgreement(k=12, value_percent=Decimal(20))


@pytest.mark.parametrize(
    ("written", "percent"),
    [("35", "35"), ("12.5", "12.5"), ("0.1", "0.1"), ("100", "100"), ("1e1", "10")],
    ids=["integer", "float", "float-not-binary", "hundred", "exponent"],
)
def test_value_percent_is_read_exactly_as_a_decimal(
    tmp_path: Path, written: str, percent: str
) -> None:
    share = load_share(tmp_path, f"value_percent = {written}\ncombined_view = true\n")
    assert type(share.value_percent) is Decimal
    assert share.value_percent == Decimal(percent)
    assert str(share.value_percent) == str(Decimal(written))  # no float rounding on the way
    assert share.combined_view


def test_floats_elsewhere_in_a_partner_file_stay_floats(tmp_path: Path) -> None:
    text = CUSTOMS.replace("[[keys]]", "rate_per_s = 2.5\n\n[[keys]]")
    make_partner(tmp_path / "partners", "ca-cbsa", text=text + "\n[share]\nvalue_percent = 5\n")
    [pc] = load_partners(partners_in(tmp_path / "partners"))
    assert pc.partner.rate_per_s == 2.5
    assert type(pc.partner.rate_per_s) is float


def test_a_float_for_a_whole_number_in_a_partner_file_is_called_a_float(tmp_path: Path) -> None:
    text = CUSTOMS.replace("[[keys]]", "burst = 2.5\n\n[[keys]]")
    file = make_partner(tmp_path / "partners", "ca-cbsa", text=text)
    with pytest.raises(ConfigError) as caught:
        load_partners(partners_in(tmp_path / "partners"))
    assert_names(caught.value, file, "burst")
    assert caught.value.problem == "must be a int, got float"


@pytest.mark.parametrize(
    ("written", "problem"),
    [
        ("0", "must be more than 0 and at most 100, got 0"),
        ("-5", "must be more than 0 and at most 100, got -5"),
        ("100.01", "must be more than 0 and at most 100, got 100.01"),
        ("nan", "must be more than 0 and at most 100, got NaN"),
        ("inf", "must be more than 0 and at most 100, got Infinity"),
        ('"20"', "must be a number, got str"),
        ("true", "must be a number, got bool"),
    ],
    ids=["zero", "negative", "over-100", "nan", "infinity", "string", "boolean"],
)
def test_an_invalid_value_percent_names_partner_toml_key_and_fix(
    tmp_path: Path, written: str, problem: str
) -> None:
    file = customs_share(tmp_path, f"value_percent = {written}\n")
    with pytest.raises(ConfigError) as caught:
        load_partners(partners_in(tmp_path / "partners"))
    assert_names(caught.value, file, "share.value_percent")
    assert caught.value.problem == problem
    assert "more than 0 and at most 100" in caught.value.fix


PARTNER_ERRORS = [
    pytest.param('id = "{pid}"', 'id = "gb-other-post"', "id", id="id-not-folder-name"),
    pytest.param('kind = "post"', 'kind = "courier"', "kind", id="unknown-kind"),
    pytest.param('country = "GB"', 'country = "UK"', "country", id="bad-country"),
    pytest.param('operator_code = "{code}"\n', "", "operator_code", id="post-without-code"),
    pytest.param(
        'operator_code = "{code}"', 'operator_code = "gb"', "operator_code", id="bad-code"
    ),
    pytest.param('["itmatt-1.5"]', '["itmatt-1.4"]', "formats", id="unknown-format"),
    pytest.param('["itmatt-1.5"]', "[]", "formats", id="no-format"),
    pytest.param("[[keys]]", "[[old_keys]]", "old_keys", id="unknown-table"),
    pytest.param(PARTNER[PARTNER.index("[[keys]]") :], "", "keys", id="no-keys"),
    pytest.param('alg = "ed25519"', 'alg = "rsa-pss"', "keys[0].alg", id="unknown-alg"),
    pytest.param(
        'public_key = "keys/{pid}.pem"',
        'public_key = "keys/missing.pem"',
        "keys[0].public_key",
        id="public-key-file-missing",
    ),
    pytest.param(
        "not_before = 2026-01-01T00:00:00Z",
        "not_before = 2026-01-01T00:00:00",
        "keys[0].not_before",
        id="naive-not-before",
    ),
    pytest.param(
        "not_after = 2027-12-31T23:59:59Z",
        "not_after = 2025-12-31T23:59:59Z",
        "keys[0].not_after",
        id="not-after-before-not-before",
    ),
    pytest.param(
        "not_after = 2027-12-31T23:59:59Z",
        'not_after = "2027-12-31"',
        "keys[0].not_after",
        id="not-after-a-string",
    ),
]


@pytest.mark.parametrize(("old", "new", "key"), PARTNER_ERRORS)
def test_invalid_partner_folder_names_partner_toml_key_and_fix(
    tmp_path: Path, old: str, new: str, key: str
) -> None:
    root = tmp_path / "partners"
    assert old in PARTNER
    file = make_partner(root, "gb-test-post", text=PARTNER.replace(old, new))
    with pytest.raises(ConfigError) as caught:
        load_partners(partners_in(root))
    assert_names(caught.value, file, key)


def test_key_ids_are_unique_across_partners(tmp_path: Path) -> None:
    root = tmp_path / "partners"
    make_partner(root, "aa-first-post", "AAA")
    text = PARTNER.replace('id = "{pid}-2026"', 'id = "aa-first-post-2026"')
    second = make_partner(root, "bb-second-post", "BBB", text=text)
    with pytest.raises(ConfigError, match="aa-first-post-2026") as caught:
        load_partners(partners_in(root))
    assert_names(caught.value, second, "keys")
    assert str(root / "aa-first-post" / "partner.toml") in str(caught.value)


def test_operator_codes_are_unique_across_partners(tmp_path: Path) -> None:
    root = tmp_path / "partners"
    first = make_partner(root, "aa-first-post", "GBA")
    second = make_partner(root, "bb-second-post", "GBA")
    with pytest.raises(ConfigError, match="'GBA'") as caught:
        load_partners(partners_in(root))
    assert_names(caught.value, second, "operator_code")
    assert str(first) in str(caught.value)


def test_invalid_partner_toml_names_the_file_and_the_line(tmp_path: Path) -> None:
    root = tmp_path / "partners"
    file = make_partner(root, "gb-test-post", text=PARTNER.replace('kind = "post"', "kind = post"))
    with pytest.raises(ConfigError, match="line 3") as caught:
        load_partners(partners_in(root))
    assert str(file) in str(caught.value)
    assert caught.value.fix


def test_partner_folder_without_partner_toml_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "partners"
    (root / "gb-empty").mkdir(parents=True)
    with pytest.raises(ConfigError) as caught:
        load_partners(partners_in(root))
    assert str(root / "gb-empty" / "partner.toml") in str(caught.value)
    assert caught.value.fix


def test_missing_partners_folder_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="partners_dir") as caught:
        load_partners(partners_in(tmp_path / "nowhere"))
    assert caught.value.fix


def test_files_beside_partner_folders_are_ignored(tmp_path: Path) -> None:
    root = tmp_path / "partners"
    make_partner(root, "gb-test-post")
    write(root / "README.md", "one folder per partner\n")
    assert [pc.partner.id for pc in load_partners(partners_in(root))] == ["gb-test-post"]
