"""An in-memory Store for the gRPC adapter's tests, journal entries to fill it with, and a
throw-away PKI (CA, server and client certificates made in the test, never committed)."""

from __future__ import annotations

import bisect
import ipaddress
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from gateway.domain.decisions import EventRow
from gateway.domain.journal import (
    ItemState,
    JournalEntry,
    JournalRow,
    MessageRecord,
    RecordRow,
    StoredMessage,
)
from gateway.domain.messages import ItemFunction
from gateway.errors import DuplicateMessage
from gateway.wire import envelope_pb2

PAYLOAD_TYPE = "application/vnd.aedgw.declaration.v1+protobuf"


def make_entry(
    n: int,
    *,
    partner: str = "gb-royal-mail",
    category: str = "SALE_OF_GOODS",
    origins: tuple[str, ...] = ("GB",),
    hs_chapters: tuple[str, ...] = ("61",),
    item_id: str | None = None,
    version: int = 1,
    value: Decimal = Decimal("25.00"),
    currency: str = "USD",
) -> JournalEntry:
    """Entry number `n`, with an envelope whose payload names it (b"decl-<n>")."""
    envelope = envelope_pb2.SignedEnvelope(
        payload=f"decl-{n}".encode(),
        payload_type=PAYLOAD_TYPE,
        signatures=[envelope_pb2.Signature(keyid="gw-test", sig=b"\x01" * 64)],
    )
    item = item_id or f"RB{n:09d}GB"
    return JournalEntry(
        record_id=f"decl-{partner}-{item}-{version}",
        partner=partner,
        message_id=f"MSG-{n}",
        item_id=item,
        version=version,
        function=ItemFunction.ORIGINAL if version == 1 else ItemFunction.AMENDMENT,
        category=category,
        hs_chapters=hs_chapters,
        origin_countries=origins,
        value_amount=value,
        value_currency=currency,
        envelope=envelope.SerializeToString(),
    )


class FakeStore:
    """The journal side of the Store contract in memory: positions 1, 2, 3 … in append order;
    cursors only move forward.

    `append` is the test's commit (it does not notify: tests call the notifier when they mean
    to, which is how a commit by another replica looks). `ack_calls` counts persisted acks.
    """

    def __init__(self) -> None:
        self.rows: list[JournalRow] = []
        self.cursors: dict[str, int] = {}
        self.messages: dict[tuple[str, str], StoredMessage] = {}
        self.ack_calls = 0

    def append(self, *entries: JournalEntry) -> list[int]:
        start = len(self.rows) + 1
        self.rows.extend(JournalRow(start + i, entry) for i, entry in enumerate(entries))
        return list(range(start, start + len(entries)))

    async def open(self) -> None:
        pass

    async def close(self) -> None:
        pass

    async def ping(self) -> None:
        pass

    async def watch_journal(self, on_commit: Callable[[int], None]) -> None:
        """Only this process writes the fake: nothing to report."""

    async def find_message(self, partner: str, message_id: str) -> StoredMessage | None:
        return self.messages.get((partner, message_id))

    async def commit_message(
        self, message: MessageRecord, entries: Sequence[JournalEntry]
    ) -> list[int]:
        key = (message.partner, message.message_id)
        if key in self.messages:
            raise DuplicateMessage(self.messages[key])
        self.messages[key] = StoredMessage(
            message.partner,
            message.message_id,
            message.content_digest,
            message.http_status,
            message.receipt,
        )
        return self.append(*entries)

    async def item_states(self, partner: str, item_ids: Iterable[str]) -> Mapping[str, ItemState]:
        wanted = set(item_ids)
        return {
            row.entry.item_id: ItemState(row.entry.version, row.entry.function)
            for row in self.rows
            if row.entry.partner == partner and row.entry.item_id in wanted
        }

    async def read_journal(self, after: int, limit: int) -> list[JournalRow]:
        start = bisect.bisect_right(self.rows, after, key=lambda row: row.position)
        return self.rows[start : start + limit]

    async def read_feed(self, after: int, limit: int) -> list[JournalRow | EventRow]:
        return [*await self.read_journal(after, limit)]

    async def read_events(self, after: int, limit: int) -> list[EventRow]:
        return []

    async def read_records(self, after: int, limit: int) -> list[RecordRow]:
        return [
            RecordRow(
                r.position, r.entry.partner, r.entry.item_id, r.entry.function, r.entry.envelope
            )
            for r in await self.read_journal(after, limit)
        ]

    async def last_position(self) -> int:
        return len(self.rows)

    async def item_history(self, item_id: str, partner: str | None = None) -> list[JournalRow]:
        return [
            row
            for row in self.rows
            if row.entry.item_id == item_id and partner in (None, row.entry.partner)
        ]

    async def get_cursor(self, consumer: str) -> int:
        return self.cursors.get(consumer, 0)

    async def ack(self, consumer: str, position: int) -> None:
        self.ack_calls += 1
        self.cursors[consumer] = max(self.cursors.get(consumer, 0), position)


@dataclass(frozen=True)
class Issued:
    """A certificate and its private key, PEM."""

    cert: bytes
    key: bytes

    def write(self, folder: Path, name: str) -> tuple[Path, Path]:
        """(certificate path, key path) under `folder` (created; the key mode 0600)."""
        folder.mkdir(parents=True, exist_ok=True)
        cert, key = folder / f"{name}.crt", folder / f"{name}.key"
        cert.write_bytes(self.cert)
        key.touch(mode=0o600)
        key.write_bytes(self.key)
        return cert, key


class TestCa:
    """A throw-away certificate authority (EC P-256) for real TLS on loopback."""

    __test__ = False  # not a pytest class

    def __init__(self, name: str = "AEDGW test consumer CA") -> None:
        self._key = ec.generate_private_key(ec.SECP256R1())
        self._name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        now = datetime.now(UTC)
        self.cert = (
            x509.CertificateBuilder()
            .subject_name(self._name)
            .issuer_name(self._name)
            .public_key(self._key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(self._key.public_key()), critical=False
            )
            .sign(self._key, hashes.SHA256())
        )

    @property
    def pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    def issue(
        self,
        common_name: str,
        *,
        dns: Sequence[str] = (),
        uris: Sequence[str] = (),
        ips: Sequence[str] = (),
        server: bool = False,
        valid_days: tuple[int, int] = (-1, 30),  # not_before, not_after: days from now
    ) -> Issued:
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.now(UTC)
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
            .issuer_name(self._name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now + timedelta(days=valid_days[0]))
            .not_valid_after(now + timedelta(days=valid_days[1]))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.ExtendedKeyUsage(
                    [ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH]
                ),
                critical=False,
            )
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self._key.public_key()),
                critical=False,
            )
        )
        names: list[x509.GeneralName] = [x509.DNSName(d) for d in dns]
        names += [x509.UniformResourceIdentifier(u) for u in uris]
        names += [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]
        if names:
            builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
        cert = builder.sign(self._key, hashes.SHA256())
        return Issued(
            cert.public_bytes(serialization.Encoding.PEM),
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            ),
        )

    def server(self) -> Issued:
        """A server certificate for loopback (127.0.0.1, ::1, localhost)."""
        return self.issue("localhost", dns=("localhost",), ips=("127.0.0.1", "::1"), server=True)
