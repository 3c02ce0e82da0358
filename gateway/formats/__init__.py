"""Inbound formats: one module per format, bytes in, canonical records and findings out (pure)."""
