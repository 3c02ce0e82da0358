"""The gateway's tests: unit (fakes, no I/O), contract (one store suite, every backend), e2e."""
