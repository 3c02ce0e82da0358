"""`gateway share build` on a week already reported: the week is frozen, nothing is added."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from gateway.config import CONFIG_ENV
from gateway.entrypoints.cli import main

REPO_PARTNERS = Path(__file__).resolve().parents[2] / "partners"


def test_a_second_build_of_a_week_says_it_is_frozen_and_adds_no_report(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(CONFIG_ENV, raising=False)
    shutil.copytree(REPO_PARTNERS / "ca-cbsa", tmp_path / "partners" / "ca-cbsa")
    config = tmp_path / "gateway.toml"
    config.write_text('data_dir = "data"\npartners_dir = "partners"\n', encoding="utf-8")
    build = ["--config", str(config), "share", "build", "--week", "2026-W40"]

    assert main(build) == 0
    first = capsys.readouterr().out.splitlines()
    assert main(build) == 0
    second = capsys.readouterr().out.splitlines()

    (made,) = [line for line in first if "ca-cbsa" in line]
    (kept,) = [line for line in second if "ca-cbsa" in line]
    assert made.endswith("(pull only)")
    assert kept == made.replace("(pull only)", "(frozen: already reported)")
    assert main(["--config", str(config), "share", "list"]) == 0
    listed = [line for line in capsys.readouterr().out.splitlines() if "2026-W40" in line]
    assert len(listed) == 1
