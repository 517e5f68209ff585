"""Kill a training command at a known point, for the resume tests."""

import os
import signal
import time
from pathlib import Path

import pytest


def kill_once(proc, marker: Path, limit: float = 600.0) -> None:
    """SIGKILL `proc`'s process group as soon as `marker` exists (skip if the run ended first)."""
    deadline = time.time() + limit
    while not marker.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    if proc.poll() is not None:
        pytest.skip("training finished before it could be killed")
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
