"""Adapters: transports, stores and crypto at the edge of the core."""
