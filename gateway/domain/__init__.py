"""Domain values: findings, outcomes, receipts, routing. Pure: no I/O."""
