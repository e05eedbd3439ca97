"""The wall clock is stepped (NTP on a board without an RTC) while snapshots land: judged with injected clocks."""

from __future__ import annotations

import os
import time
from pathlib import Path
from types import SimpleNamespace

from camstream.storage.layout import SNAPSHOT_PATTERN
from camstream.storage.retention import Housekeeper, RetentionPolicy
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


class Clocks:
    """A monotonic clock and a wall clock that moves with it, until NTP steps the wall clock."""

    def __init__(self) -> None:
        self.mono = 1000.0
        self.step = 0.0

    def monotonic(self) -> float:
        return self.mono

    def wall(self) -> float:
        return T + self.mono + self.step


def _housekeeper(tmp_path: Path, clocks: Clocks, policy: RetentionPolicy) -> Housekeeper:
    for d in ("video", "latest"):
        (tmp_path / d).mkdir(exist_ok=True)
    return Housekeeper(tmp_path / "video", None, tmp_path / "latest", tmp_path, policy, interval=10,
                       clock=clocks.monotonic, wallclock=clocks.wall, detect_clock_steps=True)


def _land(hk: Housekeeper, clocks: Clocks, video: Path, size: int = 1000) -> Path:
    """FFmpeg closes a 2-second chunk: the kernel dates it by the wall clock of the moment."""
    clocks.mono += 2
    path = video / time.strftime("%Y%m%dT%H%M%SZ.mp4", time.gmtime(clocks.wall()))
    path.write_bytes(b"\0" * size)
    os.utime(path, (clocks.wall(), clocks.wall()))
    hk.tick([SimpleNamespace(path=path)])
    return path


def test_an_hour_forward_does_not_age_this_runs_chunks_by_an_hour(tmp_path: Path) -> None:
    clocks = Clocks()
    video = tmp_path / "video"
    video.mkdir()
    yesterday = video / "20270114T000000Z.mp4"  # a previous run's chunk, dated by a right clock
    yesterday.write_bytes(b"\0" * 1000)
    os.utime(yesterday, (clocks.wall() - 86400, clocks.wall() - 86400))
    hk = _housekeeper(tmp_path, clocks, RetentionPolicy(max_age=600))
    hk.tick([])
    assert not yesterday.exists()  # older runs are aged as before
    mine = [_land(hk, clocks, video) for _ in range(5)]
    clocks.step = 3600  # NTP: the clock was an hour behind
    clocks.mono += 1
    hk.tick([])
    assert all(p.exists() for p in mine), "minutes-old chunks deleted as if an hour old"
    assert all(abs(p.stat().st_mtime - (T + 1000 + 2 * (i + 1) + 3600)) < 1 for i, p in enumerate(mine))
    clocks.mono += 600  # ten minutes later they really are too old
    hk.tick([])
    assert not any(p.exists() for p in mine)


def test_a_step_back_does_not_make_the_newest_chunks_the_first_deleted(tmp_path: Path) -> None:
    clocks = Clocks()
    video = tmp_path / "video"
    video.mkdir()
    hk = _housekeeper(tmp_path, clocks, RetentionPolicy(max_size=6000))
    before = [_land(hk, clocks, video) for _ in range(4)]
    clocks.step = -3600  # NTP: the clock was an hour ahead
    after = [_land(hk, clocks, video) for _ in range(4)]
    kept = sorted(p for p in video.iterdir())
    assert set(after) <= set(kept), f"the newest chunks were deleted first: {[p.name for p in kept]}"
    assert not before[0].exists() and not before[1].exists()
