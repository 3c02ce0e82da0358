"""Entry points: the `gateway` command, the demo, the verifying consumer, offline validation."""
