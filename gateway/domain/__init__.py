"""Domain values: findings, outcomes, receipts, routing, and the records the ports carry
(journal, cells, reports, bodies). Pure: no I/O; imports no port, adapter or service."""
