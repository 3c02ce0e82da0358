"""Inbound formats: one package per format, bytes in, canonical records and findings out (pure).

A declaration format is a kind of document whose items each become one canonical protobuf
Declaration (ITMATT 1.5, `gateway.formats.itmatt`). What the gateway needs of one is a
`DeclarationFormat` (below); `gateway.formats.registry.FORMATS` holds every one it serves, by
the name partners list in partner.toml `formats`, and the gateway derives from that registry:

- the HTTP intake: one POST route per format (`route`), refusing other media types
  (`media_types`, 415) and partners whose `formats` do not name it (403);
- the CPU stages (`gateway.services.itmatt_intake.CpuStages`, in the serving process and on the
  worker processes of `gateway.adapters.cpu`): `parse` below the streaming size, `parse_stream`
  from it, `prepare` once per worker; the message's format name travels with each task;
- the format names partner.toml `formats` may hold (`gateway.config`).

Adding a second declaration format takes its package and one registry line: write
`gateway/formats/<name>/` (its parse, streamed parse, schema and translation to Declarations,
following `gateway/formats/itmatt/`) with an object satisfying `DeclarationFormat` (as
`itmatt.entry.FORMAT`), then add that object to the tuple in `gateway/formats/registry.py`.
Partners then list its `name` in partner.toml `formats` and POST to its `route`.

B5 trend feeds (`gateway.formats.b5`) are not declarations: their own intake
(`gateway.services.b5_intake`) serves them. `hardened` (the XML parse and its limits) and
`lexical` (XML Schema lexical forms) are shared by the formats. `responses` writes the one
outbound kind of document, the responses posts receive (docs/responses.md).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO, Protocol

from gateway.domain.messages import ItemOutcome, MessageHeader, ParsedMessage

#: What a streamed parse keeps of each item: given the header and the item's outcome (with
#: its Declaration), the outcome to hold until the end (typically without its Declaration,
#: which the caller has sealed and written away). The default keeps the outcome as it is.
Keep = Callable[[MessageHeader, ItemOutcome], ItemOutcome]


class DeclarationFormat(Protocol):
    """What a declaration format provides to the gateway. Every method is pure and may run on
    any thread of any process; each raises MessageRejected when the message as a whole is
    refused and otherwise returns one ItemOutcome per item, in document order, each accepted
    one with its translated Declaration (provenance partner, received time, receipt id and
    digest left for the pipeline)."""

    @property
    def name(self) -> str:
        """Its name in partner.toml `formats` and in Forbidden answers, e.g. "itmatt-1.5"."""

    @property
    def route(self) -> str:
        """The HTTP path partners POST its documents to, e.g. "/v1/aed/itmatt"."""

    @property
    def media_types(self) -> frozenset[str]:
        """The Content-Types the route accepts (anything else: 415, before any work)."""

    @property
    def schema_path(self) -> Path:
        """Its XML Schema (or other schema) file."""

    def parse(self, data: bytes, *, timings: dict[str, float] | None = None) -> ParsedMessage:
        """Parse, validate and translate one whole document (already gunzipped). `timings`,
        when given, receives the seconds of its "parse", "validate" and "translate" stages."""
        ...

    def parse_stream(
        self,
        source: BinaryIO,
        *,
        keep: Keep | None = None,
        timings: dict[str, float] | None = None,
    ) -> ParsedMessage:
        """`parse` of a document read from `source` in pieces, in memory bounded by an item:
        the same outcomes and rejections; each item goes through `keep` as soon as it is
        read (see Keep)."""
        ...

    def prepare(self) -> None:
        """Do once, in this process, what every message needs (e.g. compile the schema)."""
        ...
