"""The question codes a request may ask: the gateway's table and schemas/codes/questions.toml
agree, and each code says what it means and how the post answers it."""

from __future__ import annotations

import tomllib
from pathlib import Path

from gateway.domain.decisions import QUESTION_CODES

TABLE = Path(__file__).parents[2] / "schemas" / "codes" / "questions.toml"


def test_every_question_code_is_documented_and_every_documented_code_exists() -> None:
    documented = tomllib.loads(TABLE.read_text(encoding="utf-8"))
    assert list(documented) == list(QUESTION_CODES)
    for code, entry in documented.items():
        assert entry["meaning"].strip(), code
        assert entry["answer"].strip(), code


def test_the_decisions_page_lists_every_question_code() -> None:
    page = (Path(__file__).parents[2] / "docs" / "decisions.md").read_text(encoding="utf-8")
    assert [code for code in QUESTION_CODES if f"`{code}`" not in page] == []
