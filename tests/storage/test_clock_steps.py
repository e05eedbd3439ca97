"""The wall clock is stepped (NTP on a board without an RTC) while snapshots land: judged with injected clocks."""

from __future__ import annotations

import os
import time
from pathlib import Path

from camstream.storage.layout import SNAPSHOT_PATTERN
from camstream.storage.watchers import SnapshotWatcher

T = 1_800_000_000.0  # wall time at the start, seconds since the epoch


def _snap(images: Path, wall: float) -> Path:
    """FFmpeg writes the snapshot of second `wall` (its name from the clock, its mtime from the kernel's)."""
    path = images / time.strftime(SNAPSHOT_PATTERN, time.gmtime(wall))
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(b"jpeg")
    os.utime(tmp, (wall, wall))
    os.replace(tmp, path)  # image2 atomic_writing: a new inode under the name
    return path


def _watcher(tmp_path: Path) -> SnapshotWatcher:
    (tmp_path / "images").mkdir()
    (tmp_path / "latest").mkdir()
    return SnapshotWatcher(tmp_path / "images", tmp_path / "latest")


def test_snapshots_go_on_after_the_clock_steps_back(tmp_path: Path) -> None:
    w = _watcher(tmp_path)
    images = tmp_path / "images"
    for i in range(5):
        new = _snap(images, T + i)
        assert w.poll(now=T + i + 0.3) == new
        assert w.poll(now=T + i + 0.6) is None  # nothing new in between
    # NTP steps the clock 60 s back: names (and mtimes) are before the last one seen.
    for i in range(5):
        wall = T - 60 + i
        new = _snap(images, wall)
        assert w.poll(now=wall + 0.3) == new, f"snapshot {i} after the step not seen"
        assert w.poll(now=wall + 0.6) is None
    assert (tmp_path / "latest" / "latest_image.jpg").resolve() == new


def test_a_name_written_again_after_a_step_back_is_new(tmp_path: Path) -> None:
    w = _watcher(tmp_path)
    images = tmp_path / "images"
    for i in range(3):
        _snap(images, T + i)
        assert w.poll(now=T + i + 0.3) is not None
    # Stepped back by 2 s: FFmpeg writes T + 1 again, over the snapshot of the same name.
    again = _snap(images, T + 1)
    assert w.poll(now=T + 1 + 0.3) == again
