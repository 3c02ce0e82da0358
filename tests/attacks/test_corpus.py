"""Every attack of the corpus, sent over HTTP to a running gateway, signed as a real partner.

Each is answered 400 or 413 with a signed problem+json naming what is wrong, within bounded time
and memory, stores nothing (no message, no journal row; only the rejection record), fetches
nothing, and never stops another partner's well-formed submission from getting its 202 meanwhile.

Memory is the peak resident set growth of the process (the gateway runs in-process): the kernel's
high-water mark (VmHWM) is reset through /proc/self/clear_refs before the attack is sent and read
after the answer, so it covers every allocation, libxml2's and zlib's included (freed heap
pages are handed back to the kernel first, so earlier cases' free memory hides nothing). Set
AEDGW_ATTACK_FIGURES=FILE to append each case's figures as JSON lines (README.md's table).
"""

from __future__ import annotations

import asyncio
import ctypes
import gc
import json
import os
import re
import resource
import time
from pathlib import Path

import pytest

from gateway.adapters.http.client import ITMATT_PATH, Answer, PartnerClient
from tests.attacks.cases import (
    ATTACK_MESSAGE_ID,
    ATTACKER,
    CASES,
    MIB,
    SECRET,
    TOO_LARGE,
    Attack,
    Case,
    Env,
)
from tests.attacks.conftest import Canary
from tests.e2e.conftest import World
from tests.e2e.helpers import document, items

pytestmark = [
    pytest.mark.slow,
    # PartnerClient hands aiohttp the body as bytes; past 1 MiB aiohttp warns about it.
    pytest.mark.filterwarnings("ignore:Sending a large body directly:ResourceWarning"),
]

MAX_SECONDS = 5.0
MAX_GROWTH = 64 * MIB
OTHER = "cn-china-post"
_PAGE = 1 << 30


def _release_free_memory() -> None:
    """Give freed heap pages back to the kernel (glibc), so that memory an earlier case freed
    cannot absorb this case's allocations unseen by the resident set."""
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:  # pragma: no cover - not glibc
        return
    libc.malloc_trim(0)


class PeakMemory:
    """Peak RSS growth of this process between `start` and `growth` (bytes)."""

    def __init__(self) -> None:
        self._baseline = 0
        self._exact = Path("/proc/self/clear_refs").exists()

    @staticmethod
    def _status(field: str) -> int:
        text = Path("/proc/self/status").read_text(encoding="ascii")
        match = re.search(rf"^{field}:\s+(\d+) kB", text, re.MULTILINE)
        assert match is not None, field
        return int(match.group(1)) * 1024

    def start(self) -> None:
        gc.collect()
        _release_free_memory()
        if self._exact:
            Path("/proc/self/clear_refs").write_text("5", encoding="ascii")  # reset VmHWM
            self._baseline = self._status("VmRSS")
        else:  # pragma: no cover - not Linux: the lifetime peak, so growth is a lower bound
            self._baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024

    def growth(self) -> int:
        if self._exact:
            return max(0, self._status("VmHWM") - self._baseline)
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # pragma: no cover
        return max(0, peak - self._baseline)  # pragma: no cover


def _headers(attack: Attack) -> dict[str, str]:
    headers = {"Content-Type": "application/xml"}
    if attack.gzip:
        headers["Content-Encoding"] = "gzip"
    return headers


def assert_refused(answer: Answer, attack: Attack) -> dict[str, object]:
    """The answer is the expected signed problem document naming the cause."""
    assert answer.status == attack.status, answer.body[:500]
    assert answer.verified_by  # signed by the gateway like every answer
    assert answer.headers["Content-Type"].startswith("application/problem+json")
    problem = answer.json()
    assert isinstance(problem, dict)
    assert problem["status"] == attack.status
    assert problem["title"]
    assert problem["detail"]
    assert SECRET not in answer.body.decode("utf-8", "replace")
    if attack.status == 413:
        assert str(problem["type"]).endswith("/" + TOO_LARGE)
        assert "limit" in str(problem["detail"])
    else:
        errors = problem["errors"]
        assert isinstance(errors, list)
        assert attack.code in {e["code"] for e in errors}, errors
        assert all(e["message"] for e in errors)
    return problem


async def _journal_size(world: World) -> int:
    return len(await world.running.store.read_journal(0, 100_000))


async def assert_nothing_stored(
    world: World, journal_before: int, good: Answer, status: int
) -> None:
    store = world.running.store
    assert await store.find_message(ATTACKER, ATTACK_MESSAGE_ID) is None
    rows = await store.read_journal(0, 100_000)
    new = rows[journal_before:]
    assert len(new) == good.json()["accepted"]  # only the other partner's items
    assert {row.entry.partner for row in new} <= {OTHER}
    # The refusal itself is recorded, never its body; a body over every partner's limit is
    # refused before it is read, so before its signature names the partner.
    refusals = [r for r in await store.rejections() if r.route == ITMATT_PATH]
    assert [(r.http_status, r.partner in {ATTACKER, None}) for r in refusals] == [(status, True)]


def _record(case: Case, seconds: float, growth: int, attack: Attack, code: str) -> None:
    target = os.environ.get("AEDGW_ATTACK_FIGURES")
    if not target:
        return
    line = {
        "case": case.id,
        "threat": case.threat,
        "status": attack.status,
        "code": code,
        "bytes": len(attack.body),
        "gzip": attack.gzip,
        "seconds": round(seconds, 3),
        "growth_mib": round(growth / MIB, 1),
    }
    with Path(target).open("a", encoding="utf-8") as out:
        out.write(json.dumps(line) + "\n")


async def _clients(world: World) -> tuple[PartnerClient, PartnerClient]:
    attacker, other = await world.client(ATTACKER), await world.client(OTHER)
    await attacker.gateway_keys()  # fetched once now, not during the measurement
    await other.gateway_keys()
    return attacker, other


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
async def test_attack_is_refused_cheaply_and_others_are_served(
    case: Case, world: World, env: Env, canary: Canary
) -> None:
    attack = case.build(env)
    attacker, other = await _clients(world)
    good_document = document("CNA-DURING-1", "CNA", items(3, "CN", seed=5))
    journal_before = await _journal_size(world)
    memory = PeakMemory()

    memory.start()
    started = time.perf_counter()
    sent = asyncio.create_task(attacker.post(ITMATT_PATH, attack.body, _headers(attack)))
    good = await other.submit_itmatt(good_document)  # while the attack is in flight
    answer = await sent
    seconds = time.perf_counter() - started
    growth = memory.growth()

    problem = assert_refused(answer, attack)
    assert good.status == 202, good.body[:500]
    assert seconds < MAX_SECONDS
    assert growth < MAX_GROWTH, f"{growth / MIB:.1f} MiB"
    await assert_nothing_stored(world, journal_before, good, attack.status)
    assert canary.hits == 0  # nothing was fetched
    errors = problem.get("errors")
    code = errors[0]["code"] if isinstance(errors, list) and errors else TOO_LARGE
    _record(case, seconds, growth, attack, str(code))


# Every attack's own refusal needs them answered one by one, as in-process parsing does: with a
# process pool they are all in progress at once and those beyond the attacker's max_concurrent
# (16) are rightly answered 429 instead.
@pytest.mark.parametrize("world", [0], indirect=True)
async def test_whole_corpus_at_once_while_another_partner_submits(
    world: World, env: Env, canary: Canary
) -> None:
    """Every attack in flight together; the other partner's messages all get their 202."""
    attacks = [case.build(env) for case in CASES if len(case.build(env).body) < 4 * MIB]
    attacker, other = await _clients(world)
    started = time.perf_counter()
    floods = [asyncio.create_task(attacker.post(ITMATT_PATH, a.body, _headers(a))) for a in attacks]
    goods = [
        await other.submit_itmatt(document(f"CNA-FLOOD-{n}", "CNA", items(2, "CN", seed=n)))
        for n in range(3)
    ]
    answers = await asyncio.gather(*floods)
    assert time.perf_counter() - started < 3 * MAX_SECONDS
    assert [g.status for g in goods] == [202, 202, 202]
    for answer, attack in zip(answers, attacks, strict=True):
        assert_refused(answer, attack)
    assert await world.running.store.find_message(ATTACKER, ATTACK_MESSAGE_ID) is None
    rows = await world.running.store.read_journal(0, 100_000)
    assert {row.entry.partner for row in rows} == {OTHER}
    assert canary.hits == 0
