"""ITMATT 1.5 as a `gateway.formats.DeclarationFormat`: what the registry serves it by."""

from __future__ import annotations

from pathlib import Path
from typing import BinaryIO

from gateway.domain.messages import ParsedMessage
from gateway.domain.partners import ITMATT_FORMAT
from gateway.formats import Keep
from gateway.formats.itmatt.document import parse_itmatt
from gateway.formats.itmatt.names import XSD_PATH
from gateway.formats.itmatt.stream import parse_itmatt_stream
from gateway.formats.itmatt.xsd import itmatt_schema


class Itmatt:
    """ITMATT 1.5 documents, POSTed to /v1/aed/itmatt by foreign posts (partner.toml
    `formats = ["itmatt-1.5"]`)."""

    name = ITMATT_FORMAT
    route = "/v1/aed/itmatt"
    media_types = frozenset({"application/xml", "text/xml"})
    schema_path: Path = XSD_PATH

    def parse(self, data: bytes, *, timings: dict[str, float] | None = None) -> ParsedMessage:
        """`parse_itmatt` with the default limits and vague-description terms."""
        return parse_itmatt(data, timings=timings)

    def parse_stream(
        self,
        source: BinaryIO,
        *,
        keep: Keep | None = None,
        timings: dict[str, float] | None = None,
    ) -> ParsedMessage:
        """`parse_itmatt_stream` with the default limits and vague-description terms."""
        return parse_itmatt_stream(source, keep=keep, timings=timings)

    def prepare(self) -> None:
        """Compile the schema in this thread now, not on the first message."""
        itmatt_schema()


FORMAT = Itmatt()
