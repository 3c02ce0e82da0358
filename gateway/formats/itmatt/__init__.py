"""ITMATT 1.5 (docs/itmatt.md): bytes → header, per-item outcomes and canonical Declarations.

Stages, all pure: hardened parse → root check → one XSD pass over the whole document →
translation and business rules per item → DUPLICATE_IN_MESSAGE. The XSD pass runs once; when it
fails, each error is routed by the node it names: inside an `item` it rejects that item only
(code XSD), anywhere else the whole message (XSD_ENVELOPE). History rules (versions against the
store) are the pipeline's, in `gateway.rules.versions`.

parse_itmatt(data, *, limits, vague_terms, timings) -> ParsedMessage    a whole document
parse_itmatt_stream(source, *, limits, vague_terms, keep, timings)       the same, read in pieces
itmatt_schema() -> XMLSchema               the compiled schema (XSD_PATH), one per thread
FORMAT                                     this format as `gateway.formats.registry` serves it

One module per job: `names` (namespace, element names, schema path), `document` (the whole-
document parse), `stream` (the streamed parse, same outcomes), `xsd` (validation and the routing
of its errors to findings), `translate` (items → Declarations and the rules' findings),
`samples` (seeded sample documents for the demo, the tests and the benchmarks), `entry` (FORMAT).
Every public function raises MessageRejected when the message as a whole is refused.
"""

from gateway.formats import Keep
from gateway.formats.itmatt.document import parse_itmatt
from gateway.formats.itmatt.entry import FORMAT
from gateway.formats.itmatt.names import ITEM, MESSAGE, NAMESPACE, SOURCE_FORMAT, XSD_PATH
from gateway.formats.itmatt.stream import STREAM_CHUNK, VALID_ITEM_LEVELS, parse_itmatt_stream
from gateway.formats.itmatt.xsd import itmatt_schema

__all__ = [
    "FORMAT",
    "ITEM",
    "MESSAGE",
    "NAMESPACE",
    "SOURCE_FORMAT",
    "STREAM_CHUNK",
    "VALID_ITEM_LEVELS",
    "XSD_PATH",
    "Keep",
    "itmatt_schema",
    "parse_itmatt",
    "parse_itmatt_stream",
]
