"""Overload, end to end: per-partner concurrency caps, the global bound, fairness, slow clients.

Every test runs a real gateway (HTTP + gRPC on loopback, SQLite) with real signed submissions.
Refused requests must leave nothing behind: no message, no journal row, no rejection record.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp

from gateway.adapters.http.client import Answer
from gateway.config import HttpSettings

from .conftest import PartnerKit, World, make_settings
from .helpers import document, items

PROBLEMS = "/problems/"
Partners = tuple[Path, dict[str, PartnerKit]]


def _tune(root: Path, pid: str, **keys: object) -> None:
    """Top-level keys for a partner.toml written by the fixtures (before its [[keys]] table)."""
    toml = root / pid / "partner.toml"
    lines = "".join(f"{k} = {v}\n" for k, v in keys.items())
    toml.write_text(toml.read_text().replace("[[keys]]", f"{lines}\n[[keys]]", 1))


@asynccontextmanager
async def _gateway(tmp_path: Path, partners: Partners, **http: float) -> AsyncIterator[World]:
    root, kits = partners
    settings = HttpSettings(listen="127.0.0.1:0", **http)  # type: ignore[arg-type]
    world = World(make_settings(tmp_path, root, http=settings), kits)
    await world.start()
    try:
        yield world
    finally:
        await world.stop()


async def _nothing_stored(world: World, partner: str, message_ids: list[str]) -> None:
    store = world.running.store
    for message_id in message_ids:
        assert await store.find_message(partner, message_id) is None, message_id
    refused = {r.http_status for r in await store.rejections(1000)}
    assert not refused & {408, 429, 503}, refused


async def _journal_items(world: World) -> int:
    return len(await world.running.store.read_journal(0, 100_000))


def _is_problem(answer: Answer, slug: str) -> None:
    assert answer.headers["Content-Type"].startswith("application/problem+json")
    assert answer.json()["type"] == PROBLEMS + slug
    assert int(answer.headers["Retry-After"]) >= 1


async def test_a_partner_over_its_concurrent_cap_gets_429_and_nothing_is_stored(
    tmp_path: Path, partners_dir: Partners
) -> None:
    root, _ = partners_dir
    _tune(root, "gb-royal-mail", max_concurrent=2, rate_per_s=1000, burst=1000)
    async with _gateway(tmp_path, partners_dir) as world:
        gb = await world.client("gb-royal-mail")
        docs = {
            f"GBA-C{i}": document(f"GBA-C{i}", "GBA", items(40, "GB", seed=i)) for i in range(12)
        }
        answers = dict(
            zip(
                docs,
                await asyncio.gather(*(gb.submit_itmatt(d) for d in docs.values())),
                strict=True,
            )
        )
        statuses = sorted(a.status for a in answers.values())
        assert set(statuses) == {202, 429}, statuses
        busy = [m for m, a in answers.items() if a.status == 429]
        for message_id in busy:
            _is_problem(answers[message_id], "too-many-in-progress")
            assert "max_concurrent" in answers[message_id].json()["detail"]
        accepted = sum(a.json()["accepted"] for a in answers.values() if a.status == 202)
        assert await _journal_items(world) == accepted
        await _nothing_stored(world, "gb-royal-mail", busy)
        again = await gb.submit_itmatt(docs[busy[0]])  # once the others are done: accepted
        assert again.status == 202


async def test_at_the_global_bound_a_refused_request_leaves_nothing_half_stored(
    tmp_path: Path, partners_dir: Partners
) -> None:
    root, _ = partners_dir
    for pid in ("gb-royal-mail", "cn-china-post"):
        _tune(root, pid, max_concurrent=100, rate_per_s=1000, burst=1000)
    async with _gateway(tmp_path, partners_dir, max_concurrent_requests=2) as world:
        clients = {
            ("gb-royal-mail", "GBA", "GB"): await world.client("gb-royal-mail"),
            ("cn-china-post", "CNA", "CN"): await world.client("cn-china-post"),
        }
        sent: list[tuple[str, str, asyncio.Future[Answer]]] = []
        for (pid, code, country), client in clients.items():
            for i in range(10):
                doc = document(f"{code}-G{i}", code, items(40, country, seed=100 + i))
                sent.append((pid, f"{code}-G{i}", asyncio.ensure_future(client.submit_itmatt(doc))))
        await asyncio.gather(*(f for _, _, f in sent))
        statuses = sorted(f.result().status for _, _, f in sent)
        assert set(statuses) == {202, 503}, statuses
        for pid, message_id, f in sent:
            answer = f.result()
            if answer.status == 503:
                _is_problem(answer, "overloaded")
                await _nothing_stored(world, pid, [message_id])
            else:
                stored = await world.running.store.find_message(pid, message_id)
                assert stored is not None
        accepted = sum(
            f.result().json()["accepted"] for _, _, f in sent if f.result().status == 202
        )
        assert await _journal_items(world) == accepted


async def test_one_partner_flooding_does_not_starve_another(
    tmp_path: Path, partners_dir: Partners
) -> None:
    """A floods with 64 connections far above its cap of 4; B sends 5/s; all of B's get 202."""
    root, _ = partners_dir
    _tune(root, "gb-royal-mail", max_concurrent=4, rate_per_s=100000, burst=100000)
    async with _gateway(tmp_path, partners_dir, max_concurrent_requests=16) as world:
        a, b = await world.client("gb-royal-mail"), await world.client("cn-china-post")
        a_statuses: list[int] = []
        stop = asyncio.Event()

        async def flood(worker: int) -> None:
            n = 0
            while not stop.is_set():
                doc = document(f"GBA-F{worker}-{n}", "GBA", items(5, "GB", seed=worker * 1000 + n))
                a_statuses.append((await a.submit_itmatt(doc, verify=False)).status)
                n += 1

        flooders = [asyncio.create_task(flood(w)) for w in range(64)]
        await asyncio.sleep(0.5)  # the flood is on
        latencies: list[float] = []
        b_statuses: list[int] = []
        for i in range(20):
            started = time.perf_counter()
            answer = await b.submit_itmatt(document(f"CNA-F{i}", "CNA", items(5, "CN", seed=i)))
            latencies.append(time.perf_counter() - started)
            b_statuses.append(answer.status)
            await asyncio.sleep(max(0.0, 0.2 - latencies[-1]))
        stop.set()
        await asyncio.gather(*flooders)
        latencies.sort()
        p50 = statistics.median(latencies)
        p99 = latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))]
        print(
            f"\nB under A's flood: {len(latencies)} requests, p50 {p50 * 1000:.0f} ms,"
            f" p99 {p99 * 1000:.0f} ms, max {latencies[-1] * 1000:.0f} ms;"
            f" A: {len(a_statuses)} requests, {a_statuses.count(202)} x 202,"
            f" {a_statuses.count(429)} x 429, {a_statuses.count(503)} x 503"
        )
        assert b_statuses == [202] * 20
        assert a_statuses.count(429) > 0
        assert set(a_statuses) <= {202, 429}


async def _slow_head(host: str, port: int, every_s: float) -> float:
    """Send a request head one byte at a time; seconds until the server closes the connection."""
    reader, writer = await asyncio.open_connection(host, port)
    started = time.perf_counter()
    head = b"POST /v1/aed/itmatt HTTP/1.1\r\nHost: x\r\nContent-Type: application/xml\r\n" * 50
    try:
        for byte in head:
            writer.write(bytes([byte]))
            await writer.drain()
            if reader.at_eof():
                break
            try:
                if await asyncio.wait_for(reader.read(1024), every_s) == b"":
                    break
            except TimeoutError:
                continue
    except ConnectionError:
        pass
    finally:
        writer.close()
    return time.perf_counter() - started


async def _slow_body(host: str, port: int, every_s: float) -> tuple[float, bytes]:
    """Whole head, then the body one byte at a time: (seconds until closed, what was answered)."""
    reader, writer = await asyncio.open_connection(host, port)
    started = time.perf_counter()
    writer.write(
        b"POST /v1/aed/itmatt HTTP/1.1\r\nHost: x\r\nContent-Type: application/xml\r\n"
        b"Content-Length: 100000\r\n\r\n"
    )
    answer = b""
    try:
        for _ in range(100000):
            writer.write(b"<")
            await writer.drain()
            try:
                chunk = await asyncio.wait_for(reader.read(65536), every_s)
            except TimeoutError:
                continue
            if chunk == b"":
                break
            answer += chunk
    except ConnectionError:
        pass
    finally:
        writer.close()
    return time.perf_counter() - started, answer


async def test_slow_clients_are_cut_off_within_their_deadlines_while_others_are_served(
    tmp_path: Path, partners_dir: Partners
) -> None:
    header_s, body_s = 1.0, 1.5
    async with _gateway(
        tmp_path, partners_dir, header_timeout_s=header_s, body_timeout_s=body_s
    ) as world:
        host, port = world.http_url.removeprefix("http://").rsplit(":", 1)
        heads = [asyncio.create_task(_slow_head(host, int(port), 0.2)) for _ in range(200)]
        bodies = [asyncio.create_task(_slow_body(host, int(port), 0.2)) for _ in range(20)]
        await asyncio.sleep(0.3)
        cn = await world.client("cn-china-post")
        served = [
            await cn.submit_itmatt(document(f"CNA-S{i}", "CNA", items(3, "CN", seed=i)))
            for i in range(5)
        ]
        assert [a.status for a in served] == [202] * 5
        head_times = await asyncio.gather(*heads)
        body_results = await asyncio.gather(*bodies)
        body_times = [t for t, _ in body_results]
        print(
            f"\nslow heads ({len(heads)}): cut off after {min(head_times):.2f}"
            f"-{max(head_times):.2f} s (header_timeout_s {header_s});"
            f" slow bodies ({len(bodies)}): {min(body_times):.2f}-{max(body_times):.2f} s"
            f" (body_timeout_s {body_s}, then lingering at most min(2, body_timeout_s) s)"
        )
        # generous slack for a loaded machine: without the deadlines they would stay for hours
        assert max(head_times) < header_s + 5.0
        assert max(body_times) < body_s + 2.0 + 5.0
        for _, answer in body_results:
            assert answer.startswith(b"HTTP/1.1 408 "), answer[:200]
            assert b"application/problem+json" in answer
            assert PROBLEMS.encode() + b"request-timeout" in answer
        await _nothing_stored(world, "cn-china-post", [])
        # every slow connection is gone: the server holds only what normal clients use
        server = world.running._runner.server  # type: ignore[union-attr]
        assert server is not None
        assert len(server.connections) <= 2


async def test_an_oversized_request_head_is_refused_at_once(
    tmp_path: Path, partners_dir: Partners
) -> None:
    async with _gateway(tmp_path, partners_dir) as world, aiohttp.ClientSession() as session:
        big = {"X-Padding": "a" * 10_000}
        async with session.get(f"{world.http_url}/healthz", headers=big) as response:
            assert response.status in {400, 431}
        many = {f"X-H{i}": "1" for i in range(100)}
        async with session.get(f"{world.http_url}/healthz", headers=many) as response:
            assert response.status in {400, 431}
        async with session.get(f"{world.http_url}/healthz") as response:
            assert response.status == 200
