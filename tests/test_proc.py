"""proc.py's reading of /proc (its processes are exercised everywhere else)."""

from __future__ import annotations

import os
import subprocess
import sys

from camstream import proc


def test_a_running_or_sleeping_process_is_not_blocked_on_io() -> None:
    # The true case needs a disk that holds a write: tests/faults/test_disk.py freezes a real one.
    assert proc.blocked_on_io(os.getpid()) is False
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        assert proc.blocked_on_io(child.pid) is False
    finally:
        child.kill()
        child.wait()
    assert proc.blocked_on_io(child.pid) is False  # gone: nothing to read
