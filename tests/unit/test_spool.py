"""The spool folder of large bodies: one folder per process, a crashed process's files removed at
the next start, a live process's (another replica sharing the data folder) kept."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from gateway.bootstrap import prepare_spool


def test_each_process_gets_its_folder_and_a_dead_ones_files_go(tmp_path: Path) -> None:
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    dead = tmp_path / gone.stdout.strip()
    dead.mkdir()
    (dead / "body-1").write_bytes(b"<message/>")
    (dead / "body-1.entries").write_bytes(b"")
    parent = tmp_path / str(os.getppid())  # alive: the process that runs this test's runner
    parent.mkdir()
    (parent / "body-2").write_bytes(b"<message/>")
    other = tmp_path / "notes"  # not a process's folder: left alone
    other.mkdir()

    mine = prepare_spool(tmp_path)

    assert mine == tmp_path / str(os.getpid())
    assert mine.is_dir()
    assert not dead.exists()
    assert (parent / "body-2").exists()
    assert other.exists()
