"""The `gateway` command, run in-process: validate, keys, and configuration errors."""

from __future__ import annotations

import gzip
import json
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from gateway.adapters.crypto.dsse import DsseSigner, verify_envelope
from gateway.adapters.crypto.keyring import Keyring
from gateway.config import CONFIG_ENV
from gateway.entrypoints.cli import main
from gateway.formats.itmatt.samples import build_itmatt, generate_items

EXAMPLE = Path(__file__).resolve().parents[1] / "data" / "itmatt" / "example.xml"
TYPE = "application/vnd.aedgw.declaration.v1+protobuf"


@pytest.fixture(autouse=True)
def _no_config_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(CONFIG_ENV, raising=False)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def bad_document(tmp_path: Path) -> Path:
    """The 2nd item has a wrong S10 check digit, the 4th a piece without hsCode."""
    items = generate_items(random.Random(7), 4, sender_country="GB", bad_every=2)
    path = tmp_path / "bad.xml"
    path.write_bytes(build_itmatt("GBA-20261127-0002", "GBA", items))
    return path


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "gateway.toml"
    path.write_text('data_dir = "data"\n', encoding="utf-8")
    return path


def test_console_script_is_installed() -> None:
    script = Path(sys.executable).parent / "gateway"
    assert script.is_file(), f"{script} missing: reinstall with pip install -e ."
    done = subprocess.run(
        [str(script), "--help"], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    for command in ("serve", "validate", "submit", "consume", "keys", "demo"):
        assert command in done.stdout


def test_a_subcommand_is_required(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main([])
    assert exited.value.code == 2
    assert "COMMAND" in capsys.readouterr().err


# -- validate ---------------------------------------------------------------------------------


def test_validate_spec_example_exits_0_with_a_table(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "validate", str(EXAMPLE))
    assert code == 0
    assert out.splitlines() == [
        f"{EXAMPLE}: valid GBA-20261127-0001",
        "  items: 1 accepted, 0 rejected",
    ]


def test_validate_bad_item_exits_1_naming_the_codes(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, out, _ = run(capsys, "validate", str(bad_document(tmp_path)))
    assert code == 1
    assert "INVALID GBA-20261127-0002" in out
    assert "items: 2 accepted, 2 rejected" in out
    assert "S10_CHECK_DIGIT" in out
    assert "HS_REQUIRED" in out


def test_validate_json_names_codes_lines_and_paths(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, out, _ = run(capsys, "validate", "--json", str(EXAMPLE), str(bad_document(tmp_path)))
    assert code == 1
    good, bad = json.loads(out)
    assert good["valid"] is True
    assert bad["valid"] is False
    findings: dict[str, dict[str, Any]] = {
        f["code"]: f for item in bad["items"] for f in item["findings"]
    }
    assert set(findings) == {"S10_CHECK_DIGIT", "HS_REQUIRED"}
    assert findings["S10_CHECK_DIGIT"]["path"] == "/message/msgbody/itmatt_1_5_0/item[2]/itemId"
    assert isinstance(findings["S10_CHECK_DIGIT"]["line"], int)
    assert findings["HS_REQUIRED"]["path"].startswith("/message/msgbody/itmatt_1_5_0/item[4]/")
    assert isinstance(findings["HS_REQUIRED"]["line"], int)


def test_validate_doctype_exits_1_naming_the_refusal(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "doctype.xml"
    path.write_bytes(EXAMPLE.read_bytes().replace(b"?>\n", b"?>\n<!DOCTYPE message>\n", 1))
    code, out, _ = run(capsys, "validate", str(path))
    assert code == 1
    assert "XML_DOCTYPE_FORBIDDEN" in out


def test_validate_reads_gzip_files(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "example.xml.gz"
    path.write_bytes(gzip.compress(EXAMPLE.read_bytes()))
    code, out, _ = run(capsys, "validate", str(path))
    assert code == 0
    assert f"{path}: valid GBA-20261127-0001" in out


def test_validate_needs_no_configuration(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(CONFIG_ENV, str(tmp_path / "absent.toml"))
    code, _, _ = run(capsys, "validate", str(EXAMPLE))
    assert code == 0


# -- keys -------------------------------------------------------------------------------------


def kids_in(out: str, keyring: Keyring) -> set[str]:
    return {info.kid for info in keyring.list() if info.kid in out}


def test_keys_generate_creates_the_first_key(
    capsys: pytest.CaptureFixture[str], config: Path, tmp_path: Path
) -> None:
    key_dir = tmp_path / "data" / "keys"
    code, out, _ = run(capsys, "--config", str(config), "keys", "generate")
    assert code == 0
    keyring = Keyring.load(key_dir)
    [info] = keyring.list()
    assert info.active
    assert info.kid in out
    assert (key_dir / f"{info.kid}.key.pem").is_file()


def test_keys_generate_again_publishes_a_next_key_that_rotate_to_activates(
    capsys: pytest.CaptureFixture[str], config: Path, tmp_path: Path
) -> None:
    run(capsys, "--config", str(config), "keys", "generate")
    first = Keyring.load(tmp_path / "data" / "keys").active.keyid
    run(capsys, "--config", str(config), "keys", "generate")
    keyring = Keyring.load(tmp_path / "data" / "keys")
    [waiting] = [info.kid for info in keyring.list() if info.kid != first]
    assert keyring.active.keyid == first  # published, not yet signing
    assert waiting in {jwk["kid"] for jwk in keyring.jwks()["keys"]}
    code, _, _ = run(capsys, "--config", str(config), "keys", "rotate", "--to", waiting)
    assert code == 0
    assert Keyring.load(tmp_path / "data" / "keys").active.keyid == waiting


@pytest.mark.parametrize(
    "argv",
    [
        ("--config", "{config}", "keys", "generate"),
        ("keys", "generate", "--config", "{config}"),
        ("keys", "--config", "{config}", "generate"),
    ],
    ids=["before-the-command", "after-it", "between-command-and-action"],
)
def test_config_is_taken_before_or_after_the_command(
    capsys: pytest.CaptureFixture[str], config: Path, tmp_path: Path, argv: tuple[str, ...]
) -> None:
    """`gateway serve --config f` (the README's form) works as `gateway --config f serve`."""
    code, out, err = run(capsys, *(arg.format(config=config) for arg in argv))
    assert code == 0, err
    assert Keyring.load(tmp_path / "data" / "keys").active.keyid in out


def test_keys_honour_the_config_environment_variable(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    config: Path,
    tmp_path: Path,
) -> None:
    monkeypatch.setenv(CONFIG_ENV, str(config))
    code, out, _ = run(capsys, "keys", "list")
    assert code == 0
    assert Keyring.load(tmp_path / "data" / "keys").active.keyid in out


def test_keys_rotate_makes_a_new_active_key_and_keeps_the_old_one(
    capsys: pytest.CaptureFixture[str], config: Path, tmp_path: Path
) -> None:
    key_dir = tmp_path / "data" / "keys"
    run(capsys, "--config", str(config), "keys", "generate")
    old = Keyring.load(key_dir).active.keyid

    code, out, _ = run(capsys, "--config", str(config), "keys", "rotate", "--overlap-days", "30")
    assert code == 0
    keyring = Keyring.load(key_dir)
    new = keyring.active.keyid
    assert new != old
    assert kids_in(out, keyring) == {old, new}
    assert set(keyring.public_keys()) == {old, new}
    assert {jwk["kid"] for jwk in keyring.jwks()["keys"]} == {old, new}
    retired = next(info for info in keyring.list() if info.kid == old)
    assert not retired.active
    assert retired.not_after is not None

    _, listed, _ = run(capsys, "--config", str(config), "keys", "list")
    assert kids_in(listed, keyring) == {old, new}


def test_envelope_signed_before_rotation_still_verifies_after_it(
    capsys: pytest.CaptureFixture[str], config: Path, tmp_path: Path
) -> None:
    key_dir = tmp_path / "data" / "keys"
    run(capsys, "--config", str(config), "keys", "generate")
    before = Keyring.load(key_dir)
    envelope = DsseSigner(before).sign(TYPE, b"declaration bytes")

    run(capsys, "--config", str(config), "keys", "rotate")
    after = Keyring.load(key_dir)
    assert after.active.keyid != before.active.keyid
    assert verify_envelope(envelope, after.public_keys()) == (TYPE, b"declaration bytes")
    fresh = DsseSigner(after).sign(TYPE, b"later")
    assert verify_envelope(fresh, after.public_keys()) == (TYPE, b"later")


# -- configuration errors ---------------------------------------------------------------------


def test_configuration_error_exits_2_with_the_message_on_stderr(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    config = tmp_path / "gateway.toml"
    config.write_text('data_dir = "data"\ncolour = "blue"\n', encoding="utf-8")
    code, out, err = run(capsys, "--config", str(config), "keys", "list")
    assert code == 2
    assert out == ""
    assert err.startswith("configuration error: ")
    assert str(config) in err
    assert "colour" in err
    assert "fix:" in err
    assert not (tmp_path / "data").exists()


def test_missing_configuration_file_exits_2(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, _, err = run(capsys, "--config", str(tmp_path / "absent.toml"), "keys", "list")
    assert code == 2
    assert "absent.toml" in err
    assert CONFIG_ENV in err


def test_share_build_refuses_a_malformed_week_with_a_clear_message(
    capsys: pytest.CaptureFixture[str], config: Path
) -> None:
    code, _, err = run(capsys, "--config", str(config), "share", "build", "--week", "2026-47")
    assert code == 2
    assert "not an ISO week" in err


def test_db_migrate_creates_the_sqlite_schema_and_says_its_version(
    capsys: pytest.CaptureFixture[str], config: Path
) -> None:
    from gateway.adapters.store.migrations import SQLITE_MIGRATIONS

    code, out, _ = run(capsys, "--config", str(config), "db", "migrate")

    assert code == 0
    assert out.strip() == f"store schema at version {SQLITE_MIGRATIONS[-1].version}"
    assert (config.parent / "data" / "gateway.db").is_file()


async def test_db_migrate_creates_a_postgresql_schema_once_for_racing_replicas(
    tmp_path: Path,
) -> None:
    import asyncio

    import asyncpg

    from gateway.adapters.store.migrations import POSTGRES_MIGRATIONS
    from tests import pg

    pg.require_postgres()
    schema = pg.new_schema()
    path = tmp_path / "gateway.toml"
    path.write_text(f'data_dir = "data"\nstore = "{pg.DSN}?schema={schema}"\n', encoding="utf-8")
    command = [
        sys.executable,
        "-m",
        "gateway.entrypoints.cli",
        "--config",
        str(path),
        "db",
        "migrate",
    ]
    try:
        runs = [await asyncio.create_subprocess_exec(*command) for _ in range(3)]
        codes = [await r.wait() for r in runs]
        conn = await asyncpg.connect(pg.DSN, server_settings={"search_path": schema})
        try:
            versions = [r[0] for r in await conn.fetch("SELECT version FROM schema_version")]
        finally:
            await conn.close()
    finally:
        await pg.drop_schema(schema)

    assert codes == [0, 0, 0]
    assert sorted(versions) == [m.version for m in POSTGRES_MIGRATIONS]


def test_an_unreachable_store_exits_1_with_a_clear_message(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "gateway.toml"
    path.write_text('store = "postgresql://gw:hunter2@127.0.0.1:1/aedgw"\n', encoding="utf-8")

    code, _, err = run(capsys, "--config", str(path), "db", "migrate")

    assert code == 1
    assert err.startswith("store error: cannot open the PostgreSQL store")
    assert "hunter2" not in err
