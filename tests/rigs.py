"""Gateways built by the composition root for tests that drive its services directly.

`gateway_for` calls `gateway.bootstrap.build` as `gateway serve` does, with the test's store,
clock and CPU runner in place of the ones settings would choose: the services come wired as in
production (the pipeline hands its contributions to the aggregator, every part reads the one
clock). Nothing is started; the caller opens the store it passed.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from gateway.bootstrap import Gateway, build
from gateway.config import CpuSettings, Settings, SigningSettings
from gateway.ports import Clock, Store
from gateway.services.itmatt_intake import CpuRunner
from tests.fakes import FixedClock

NOW = datetime(2026, 11, 27, 9, 15, 2, tzinfo=UTC)


def gateway_for(
    folder: Path, *, store: Store, clock: Clock | None = None, cpu: CpuRunner | None = None
) -> Gateway:
    """A gateway on `store` with its keys and spool under `folder`, no partner folders (tests
    pass their Partner to the services), the CPU stages in this process unless `cpu`."""
    partners = folder / "partners"
    partners.mkdir(parents=True, exist_ok=True)
    settings = Settings(
        data_dir=folder / "data",
        partners_dir=partners,
        store="sqlite:///unused.db",  # replaced by `store`
        cpu=CpuSettings(workers=0),
        signing=SigningSettings(key_dir=folder / "keys"),
    )
    return build(settings, store=store, clock=clock or FixedClock(NOW), cpu=cpu)
