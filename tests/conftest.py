"""Shared fixtures: free ports, a real `camstream run` subprocess, and a leak check for the whole suite."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from support import Camstream, free_port


@pytest.fixture
def port() -> int:
    """One free port."""
    return free_port()


@pytest.fixture
def camstream_run(tmp_path: Path) -> Iterator:  # type: ignore[type-arg]
    """Factory: start `camstream run ARGS...`; every instance is stopped and reaped after the test."""
    started: list[Camstream] = []

    def start(*args: str, env: dict[str, str] | None = None) -> Camstream:
        cs = Camstream(list(args), tmp_path / f"camstream-{len(started)}.log", env)
        started.append(cs)
        return cs

    yield start
    for cs in started:
        if cs.proc.poll() is None:
            cs.stop(signal.SIGTERM, timeout=20)
        cs.kill()


@pytest.fixture(scope="session", autouse=True)
def no_leaked_processes() -> Iterator[None]:
    """After the whole suite, no process started by a test may still be running."""
    me = psutil.Process()
    yield
    time.sleep(0.5)
    leftovers = [p for p in me.children(recursive=True) if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    names = []
    for p in leftovers:
        try:
            names.append(" ".join(p.cmdline())[:120])
            p.kill()
        except psutil.NoSuchProcess:
            pass
    assert not names, f"processes left behind by the suite: {names}"

pytest_plugins = ["pulse"]
