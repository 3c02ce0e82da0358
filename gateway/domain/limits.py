"""Sizes that bound how a message is read, shared by the intake pipeline and the settings."""

from __future__ import annotations

# Bodies from this size up are parsed as a stream (CpuStages.run; `[cpu] stream_bytes`): below
# it the whole-document parse is cheaper per item, above it the document's tree costs ~13 times
# its size in memory.
STREAM_BYTES = 8 * 1024 * 1024
MIN_STREAM_BYTES = 64 * 1024  # the least `[cpu] stream_bytes` accepted
