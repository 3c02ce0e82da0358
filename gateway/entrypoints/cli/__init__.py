"""The `gateway` command: serve, validate, submit, consume, keys, demo."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import sys
import tomllib
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from gateway.config import config_path, load_settings
from gateway.errors import ConfigError, GatewayError, StoreError

if TYPE_CHECKING:
    from gateway.adapters.grpc.tls import ClientTls
    from gateway.bootstrap import Gateway
    from gateway.ports import Clock


def main(argv: Sequence[str] | None = None, *, clock: Clock | None = None) -> int:
    """Run one command; `clock` (the system clock by default) is what the commands that read
    the time (serve, share build without --week, keys generate/rotate) take as now."""
    args = _parser().parse_args(argv)
    args.clock = clock
    try:
        code: int = args.run(args)
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    except StoreError as exc:
        print(f"store error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return code


_CONFIG_HELP = "TOML configuration file (default: $AEDGW_CONFIG)"


def _parser() -> argparse.ArgumentParser:
    parser = _commands()
    for command in _subcommands(parser):
        _with_config(command)
    return parser


def _with_config(command: argparse.ArgumentParser) -> None:
    """Accept --config after a command too (`gateway serve --config f`), not only before it;
    given in neither place, it stays the top level's default."""
    command.add_argument("--config", default=argparse.SUPPRESS, help=_CONFIG_HELP)
    for sub in _subcommands(command):
        _with_config(sub)


def _subcommands(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    return [
        command
        for action in parser._actions  # noqa: SLF001 (argparse keeps its subcommands there)
        if isinstance(action, argparse._SubParsersAction)  # noqa: SLF001
        for command in action.choices.values()
    ]


def _commands() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gateway", description=__doc__)
    parser.add_argument("--config", help=_CONFIG_HELP)
    sub = parser.add_subparsers(required=True, metavar="COMMAND")

    serve = sub.add_parser("serve", help="run the gateway (HTTP + gRPC) until SIGTERM")
    serve.set_defaults(run=_serve)

    validate = sub.add_parser("validate", help="validate ITMATT files offline")
    validate.add_argument("files", nargs="+", type=Path)
    validate.add_argument("--json", action="store_true", help="one JSON document per file")
    validate.set_defaults(run=_validate)

    submit = sub.add_parser("submit", help="sign and submit ITMATT files as a partner")
    submit.add_argument("--partner", required=True, type=Path, help="the partner's folder")
    submit.add_argument("--key", required=True, type=Path, help="the partner's private key (PEM)")
    submit.add_argument("--keyid", help="key id (default: the partner's first key)")
    submit.add_argument("--gzip", action="store_true", help="send with Content-Encoding: gzip")
    submit.add_argument("url", help="the gateway's base URL, e.g. http://127.0.0.1:8080")
    submit.add_argument("files", nargs="+", type=Path)
    submit.set_defaults(run=_submit)

    consume = sub.add_parser("consume", help="receive a consumer's feed, verifying each record")
    consume.add_argument("--consumer", required=True)
    consume.add_argument("--target", help="gRPC host:port (default: [grpc] listen)")
    consume.add_argument("--out", type=Path, help="append JSON lines here instead of stdout")
    consume.add_argument("--max", type=int, help="stop after this many records")
    consume.add_argument("--idle", type=float, help="stop after this many idle seconds")
    consume.add_argument("--cert", type=Path, help="mTLS: this consumer's client certificate (PEM)")
    consume.add_argument("--key", type=Path, help="mTLS: the client certificate's private key")
    consume.add_argument("--ca", type=Path, help="mTLS: the CA of the gateway's server certificate")
    consume.add_argument(
        "--server-name", help="mTLS: the name the server certificate is checked against"
    )
    consume.set_defaults(run=_consume)

    keys = sub.add_parser("keys", help="the gateway's signing keys")
    keys_sub = keys.add_subparsers(required=True, metavar="ACTION")
    keys_sub.add_parser("list", help="list keys").set_defaults(run=_keys_list)
    keys_sub.add_parser(
        "generate", help="make the first key, or publish a next one that does not sign yet"
    ).set_defaults(run=_keys_gen)
    rotate = keys_sub.add_parser(
        "rotate", help="make a new (or the given) key active; the old one stays published"
    )
    rotate.add_argument("--to", help="activate this already published key id")
    rotate.add_argument("--overlap-days", type=int, default=365)
    rotate.set_defaults(run=_keys_rotate)

    share = sub.add_parser("share", help="B5 share reports: build, list, push")
    share_sub = share.add_subparsers(required=True, metavar="ACTION")
    build = share_sub.add_parser("build", help="fold new items into cells, build week reports")
    build.add_argument("--week", help="ISO week like 2026-W47 (default: the last complete week)")
    build.add_argument("--partner", action="append", help="only this partner (repeatable)")
    build.set_defaults(run=_share_build)
    share_sub.add_parser("list", help="reports and their deliveries").set_defaults(run=_share_list)
    share_sub.add_parser("push", help="push due reports now").set_defaults(run=_share_push)

    db = sub.add_parser("db", help="the store's schema")
    db_sub = db.add_subparsers(required=True, metavar="ACTION")
    db_sub.add_parser(
        "migrate", help="create or migrate the store's schema (serve also does, at start-up)"
    ).set_defaults(run=_db_migrate)
    db_sub.add_parser(
        "verify",
        help="audit the journal: signatures, order, every message whole (exit 1 on a problem)",
    ).set_defaults(run=_db_verify)

    demo = sub.add_parser("demo", help="run the main job end to end on loopback and summarise")
    demo.set_defaults(run=_demo)
    return parser


def _settings(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    return load_settings(config_path(args.config))


def _serve(args: argparse.Namespace) -> int:
    from gateway.bootstrap import build
    from gateway.observability import configure_logging

    settings = _settings(args)
    configure_logging(settings.log_level, json_lines=settings.log_json)

    async def run() -> None:
        gateway = build(settings, clock=args.clock)
        endpoints = await gateway.start()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        loop.add_signal_handler(signal.SIGHUP, gateway.reload_keys)
        # Printed last: whoever waits for this line may signal the process at once.
        print(f"gateway serving HTTP {endpoints.http_url} gRPC {endpoints.grpc_target}", flush=True)
        try:
            await stop.wait()
        finally:
            await gateway.stop()

    asyncio.run(run())
    return 0


def _validate(args: argparse.Namespace) -> int:
    from gateway.entrypoints.validate import validate_file, write_report

    reports = [validate_file(path) for path in args.files]
    write_report(reports, sys.stdout, as_json=args.json)
    return 0 if all(r.ok for r in reports) else 1


def _submit(args: argparse.Namespace) -> int:
    import aiohttp

    from gateway.adapters.crypto.keys import SigningKey, load_private_key
    from gateway.adapters.http.client import PartnerClient

    partner_file = args.partner / "partner.toml"
    partner = tomllib.loads(partner_file.read_text(encoding="utf-8"))
    key_tables = partner.get("keys", [])
    table = next((k for k in key_tables if args.keyid in (None, k.get("id"))), None)
    if table is None:
        raise ConfigError(str(partner_file), "keys", f"no key {args.keyid!r}", "pass --keyid")
    key = SigningKey(table["id"], table["alg"], load_private_key(args.key, table["alg"]))

    async def run() -> int:
        failures = 0
        async with aiohttp.ClientSession() as session:
            client = PartnerClient(session, args.url, key)
            for path in args.files:
                answer = await client.submit_itmatt(path.read_bytes(), compress=args.gzip)
                failures += answer.status >= 300
                print(f"{path}: HTTP {answer.status} (response signed by {answer.verified_by})")
                print(json.dumps(answer.json(), indent=2, ensure_ascii=False))
        return 1 if failures else 0

    return asyncio.run(run())


def _consume(args: argparse.Namespace) -> int:
    import grpc

    from gateway.adapters.grpc.client import using_tls
    from gateway.entrypoints.consumer import consume_verified

    settings = _settings(args)
    target = args.target or settings.grpc.listen
    with contextlib.ExitStack() as stack:
        stack.enter_context(using_tls(_client_tls(args)))
        out: TextIO = (
            stack.enter_context(args.out.open("a", encoding="utf-8")) if args.out else sys.stdout
        )
        try:
            result = asyncio.run(
                consume_verified(target, args.consumer, out, max_records=args.max, idle=args.idle)
            )
        except grpc.aio.AioRpcError as exc:  # refused (PERMISSION_DENIED, a failed handshake …)
            print(f"consume failed: {exc.code().name}: {exc.details()}", file=sys.stderr)
            return 1
    print(
        f"{result.received} records, {result.verified} verified, {result.failed} failed",
        file=sys.stderr,
    )
    return 1 if result.failed else 0


def _client_tls(args: argparse.Namespace) -> ClientTls | None:
    """The consumer's mTLS material from --cert, --key and --ca (all three), or None."""
    from gateway.adapters.grpc.tls import load_client_tls

    given = {"cert": args.cert, "key": args.key, "ca": args.ca}
    if not any(given.values()):
        return None
    if missing := [f"--{name}" for name, path in given.items() if path is None]:
        raise ConfigError(
            "command line",
            missing[0],
            "--cert, --key and --ca go together (mTLS)",
            f"add {' '.join(missing)}",
        )
    return load_client_tls(args.ca, args.cert, args.key, args.server_name)


def _keyring(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    from gateway.adapters.crypto.keyring import Keyring

    settings = _settings(args)
    return Keyring.load_or_create(
        settings.signing.key_dir, alg=settings.signing.alg, clock=args.clock
    )


def _print_keys(keyring) -> None:  # type: ignore[no-untyped-def]
    print(f"{'kid':<28} {'alg':<18} {'state':<8} {'not_before':<21} not_after")
    for info in keyring.list():
        state = "active" if info.active else "published"
        print(
            f"{info.kid:<28} {info.alg:<18} {state:<8} {_iso(info.not_before):<21} "
            f"{_iso(info.not_after)}"
        )
    print(f"signing gateways pick up changes on restart or SIGHUP ({keyring.key_dir})")


def _iso(when: datetime | None) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ") if when else "-"


def _keys_list(args: argparse.Namespace) -> int:
    _print_keys(_keyring(args))
    return 0


def _keys_gen(args: argparse.Namespace) -> int:
    from gateway.adapters.crypto.keyring import INDEX

    settings = _settings(args)
    first = not (settings.signing.key_dir / INDEX).exists()
    keyring = _keyring(args)
    if not first:  # the first key signs at once; later ones wait for `rotate --to`
        keyring.generate()
    _print_keys(keyring)
    return 0


def _keys_rotate(args: argparse.Namespace) -> int:
    keyring = _keyring(args)
    keyring.rotate(timedelta(days=args.overlap_days), to=args.to)
    _print_keys(keyring)
    return 0


def _offline(args: argparse.Namespace, work: Callable[[Gateway], Awaitable[int]]) -> int:
    """Run `work` against the configured store without serving anything."""
    from gateway.bootstrap import build

    async def run() -> int:
        async with build(_settings(args), clock=args.clock).offline() as gateway:
            return await work(gateway)

    return asyncio.run(run())


def _db_migrate(args: argparse.Namespace) -> int:
    """Open the configured store, which applies pending migrations under the store's own lock
    (replicas starting at once wait for each other), and say which version it is at."""
    from gateway.adapters.store import SqliteStore, open_store_from_url
    from gateway.adapters.store.migrations import SQLITE_MIGRATIONS

    async def run() -> None:
        store = open_store_from_url(_settings(args).store)
        if isinstance(store, SqliteStore):  # as `serve` would: the data directory is made
            store.path.parent.mkdir(parents=True, exist_ok=True)
        await store.open()
        try:
            await store.ping()
        finally:
            await store.close()

    asyncio.run(run())
    print(f"store schema at version {SQLITE_MIGRATIONS[-1].version}")
    return 0


def _db_verify(args: argparse.Namespace) -> int:
    """Audit the journal with the gateway's published keys (gateway/services/journal_audit.py)."""
    from gateway.adapters.crypto.keyring import Keyring
    from gateway.adapters.store import open_store_from_url
    from gateway.services.journal_audit import audit_journal

    settings = _settings(args)
    keys = Keyring.load(settings.signing.key_dir).public_keys()

    async def run() -> int:
        store = open_store_from_url(settings.store)
        await store.open()
        try:
            report = await audit_journal(store, keys)
        finally:
            await store.close()
        for problem in report.problems:
            print(f"problem: {problem}")
        if report.problem_count > len(report.problems):
            print(f"… and {report.problem_count - len(report.problems)} more problems")
        verdict = "verified" if report.ok else f"NOT verified: {report.problem_count} problems"
        print(
            f"journal {verdict}: {report.records} records, {report.messages} messages, "
            f"last position {report.last_position}"
        )
        return 0 if report.ok else 1

    return asyncio.run(run())


def _share_build(args: argparse.Namespace) -> int:
    from gateway.domain.weeks import last_complete, monday

    if args.week is not None:
        try:
            monday(args.week)
        except ValueError as exc:
            print(f"share build: {exc}", file=sys.stderr)
            return 2

    async def work(gateway: Gateway) -> int:
        week = args.week or last_complete(gateway.clock.now().date())
        folded = await gateway.aggregator.catch_up()
        built = await gateway.share.build(week, args.partner)
        print(f"{folded} new journal records folded into cells")
        for b in built:
            if not b.fresh:
                state = "frozen: already reported"
            else:
                state = "queued for push" if b.queued else "pull only"
            print(f"{b.position:>6} {b.report.partner:<10} {week} {b.report.report_id} ({state})")
        refused = {p: why for (p, w), why in gateway.share.refusals.items() if w == week}
        for partner, why in sorted(refused.items()):
            print(f"{'-':>6} {partner:<10} {week} NOT PUBLISHED: {why}")
        return 1 if refused else 0

    return _offline(args, work)


def _share_list(args: argparse.Namespace) -> int:
    async def work(gateway: Gateway) -> int:
        pending = {d.position: d for d in await gateway.store.outbox()}
        print(f"{'pos':>6} {'partner':<10} {'week':<9} {'created':<20} delivery")
        for partner in gateway.share.recipients():
            after = 0
            while rows := await gateway.store.reports_after(partner.id, after, 500):
                after = rows[-1].position
                for r in rows:
                    d = pending.get(r.position)
                    state = f"pending, {d.attempts} attempts" if d else "pull / delivered"
                    print(
                        f"{r.position:>6} {partner.id:<10} {r.report.week:<9} "
                        f"{_iso(r.report.created_at):<20} {state}"
                    )
        return 0

    return _offline(args, work)


def _share_push(args: argparse.Namespace) -> int:
    import aiohttp

    async def work(gateway: Gateway) -> int:
        async with aiohttp.ClientSession() as session:
            delivered, failed = await gateway.pusher.push_due(session, limit=1000)
        print(f"{delivered} delivered, {failed} failed (retried later with backoff)")
        return 1 if failed else 0

    return _offline(args, work)


def _demo(args: argparse.Namespace) -> int:
    from gateway.entrypoints.demo import DEMO_CONFIG, run_demo

    settings = load_settings(config_path(args.config) or DEMO_CONFIG)
    try:
        return asyncio.run(run_demo(settings, sys.stdout))
    except GatewayError as exc:
        print(f"demo failed: {exc}", file=sys.stderr)
        return 1
