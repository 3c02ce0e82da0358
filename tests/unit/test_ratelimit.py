"""The edge's load shedding: token buckets, per-partner concurrency caps and the shared bound,
and the settings that size them."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.adapters.crypto.keys import generate_private_key, write_public_key
from gateway.adapters.http.problems import problem_for
from gateway.adapters.http.ratelimit import Admission, RateLimiter
from gateway.config import Settings, load_partners, load_settings
from gateway.domain.partners import ITMATT_FORMAT, Partner, PartnerKind
from gateway.errors import BodyTimeout, ConfigError, Overloaded, PartnerBusy, RateLimited

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
"""


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def make_partner(root: Path, pid: str, code: str = "GBA", text: str = PARTNER) -> Path:
    folder = root / pid
    write_public_key(folder / "keys" / f"{pid}.pem", generate_private_key("ed25519").public_key())
    return write(folder / "partner.toml", text.format(pid=pid, code=code))


def partners_in(root: Path) -> Settings:
    return Settings(data_dir=root.parent / "data", partners_dir=root)


def partner(pid: str, *, max_concurrent: int = 2, rate: float = 1.0, burst: int = 2) -> Partner:
    return Partner(
        id=pid, name=pid, kind=PartnerKind.POST, country="GB", operator_code="GBA",
        formats=frozenset({ITMATT_FORMAT}), max_body_bytes=1000, key_ids=(f"{pid}-k",),
        rate_per_s=rate, burst=burst, max_concurrent=max_concurrent,
    )  # fmt: skip


def test_the_bucket_allows_a_burst_then_the_sustained_rate() -> None:
    now = [0.0]
    limiter = RateLimiter(clock=lambda: now[0])
    a = partner("aaa", rate=0.5, burst=2)
    limiter.check(a)
    limiter.check(a)
    with pytest.raises(RateLimited) as refused:
        limiter.check(a)
    assert refused.value.retry_after == 2
    now[0] = 2.0
    limiter.check(a)


def test_a_partner_over_its_cap_is_busy_and_the_others_still_get_in() -> None:
    admission = Admission(limit=4)
    a, b = partner("aaa", max_concurrent=2), partner("bbb", max_concurrent=2)
    with admission.admit(a), admission.admit(a):
        with pytest.raises(PartnerBusy) as busy, admission.admit(a):
            pass
        assert "max_concurrent" in str(busy.value)
        assert admission.in_progress_of("aaa") == 2
        with admission.admit(b):
            assert admission.in_progress == 3
    assert admission.in_progress == 0
    assert admission.in_progress_of("aaa") == 0


def test_the_shared_bound_is_checked_after_the_partner_cap() -> None:
    admission = Admission(limit=2)
    a, b = partner("aaa", max_concurrent=5), partner("bbb", max_concurrent=1)
    with admission.admit(a), admission.admit(b):
        with pytest.raises(Overloaded), admission.admit(a):
            pass
        with pytest.raises(PartnerBusy), admission.admit(b):  # its own cap speaks first
            pass
    with admission.admit(b):
        pass


def test_a_slot_is_given_back_when_the_work_fails() -> None:
    admission = Admission(limit=1)
    a = partner("aaa", max_concurrent=1)
    with pytest.raises(RuntimeError), admission.admit(a):
        raise RuntimeError("boom")
    with admission.admit(a):
        assert admission.in_progress == 1


def test_load_shedding_answers_are_problems_with_retry_after() -> None:
    status, body, headers = problem_for(PartnerBusy("aaa", 16))
    assert (status, headers["Retry-After"]) == (429, "1")
    assert b'"type":"/problems/too-many-in-progress"' in body
    status, body, headers = problem_for(BodyTimeout(60))
    assert status == 408
    assert b"request-timeout" in body
    status, _, headers = problem_for(Overloaded())
    assert (status, headers["Retry-After"]) == (503, "1")


def test_partner_max_concurrent_defaults_to_16_and_is_read(tmp_path: Path) -> None:
    root = tmp_path / "partners"
    make_partner(root, "gb-test-post")
    make_partner(
        root, "fr-test-post", "FRA", PARTNER.replace("[[keys]]", "max_concurrent = 3\n\n[[keys]]")
    )
    loaded = {pc.partner.id: pc.partner for pc in load_partners(partners_in(root))}
    assert loaded["gb-test-post"].max_concurrent == 16
    assert loaded["fr-test-post"].max_concurrent == 3


def test_partner_max_concurrent_must_be_positive(tmp_path: Path) -> None:
    root = tmp_path / "partners"
    make_partner(
        root, "gb-test-post", text=PARTNER.replace("[[keys]]", "max_concurrent = 0\n\n[[keys]]")
    )
    with pytest.raises(ConfigError, match="max_concurrent"):
        load_partners(partners_in(root))


def test_http_deadlines_and_bounds_have_defaults_and_are_read(tmp_path: Path) -> None:
    defaults = load_settings(write(tmp_path / "a.toml", "")).http
    assert (defaults.max_concurrent_requests, defaults.max_open_requests) == (256, 1024)
    assert (defaults.header_timeout_s, defaults.body_timeout_s) == (20.0, 60.0)
    text = (
        "[http]\nmax_concurrent_requests = 8\nmax_open_requests = 32\n"
        "header_timeout_s = 2.5\nbody_timeout_s = 10\n"
    )
    http = load_settings(write(tmp_path / "b.toml", text)).http
    assert (http.max_concurrent_requests, http.max_open_requests) == (8, 32)
    assert (http.header_timeout_s, http.body_timeout_s) == (2.5, 10)
    with pytest.raises(ConfigError, match="body_timeout_s"):
        load_settings(write(tmp_path / "c.toml", "[http]\nbody_timeout_s = 0\n"))
