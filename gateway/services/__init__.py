"""The service layer: each use case ordered over the ports (intake, folding, reports, audit)."""
