"""Fuzzing the streamed parse against the whole-document one: for any bytes, the same outcome.

`parse_itmatt_stream` (large bodies, read from a file in pieces) must answer exactly as
`parse_itmatt`: the same header and per-item outcomes (findings, lines, paths, Declarations),
or the same rejection with the same findings. Documents are fed in small, odd-sized pieces so
that tags, text and multi-byte characters are cut at every kind of boundary.
"""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from tests.fuzz.budget import count, fuzz
from tests.fuzz.itmatt_gen import arbitrary_bytes, mutated
from tests.unit.test_itmatt_stream import outcome_of, streamed_outcome

MESSAGE_ID = "FUZZ-STREAM-1"


@fuzz(300)
@given(doc=mutated(max_items=4), piece=st.integers(1, 4096))
def test_mutated_documents_stream_to_the_same_outcome(doc: object, piece: int) -> None:
    count("test_mutated_documents_stream_to_the_same_outcome")
    data = doc.bytes(MESSAGE_ID)  # type: ignore[attr-defined]
    assert streamed_outcome(data, piece) == outcome_of(data)


@fuzz(150)
@given(data=arbitrary_bytes(), piece=st.integers(1, 512))
def test_arbitrary_bytes_stream_to_the_same_outcome(data: bytes, piece: int) -> None:
    count("test_arbitrary_bytes_stream_to_the_same_outcome")
    assert streamed_outcome(data, piece) == outcome_of(data)
