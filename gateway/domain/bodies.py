"""Request bodies as the edge hands them on: bytes, or (large) a file spooled as it arrived."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class SpooledBody:
    """A request body too large to hold in memory, written to a file as it arrived: the file,
    its size and its SHA-256 (computed while it was written). The edge owns the file and
    deletes it once the request is answered."""

    path: Path
    size: int
    sha256: bytes

    def __len__(self) -> int:
        return self.size


#: A request body: its bytes, or (large) its file.
Body = bytes | SpooledBody
