"""Chunks FFmpeg abandoned after a failed write (disk full) are cleaned up while it runs; the live one never is."""

from __future__ import annotations

import os
import time
from pathlib import Path

from camstream.storage.watchers import STALE_PART_S, recover_stale_partials


def test_only_old_abandoned_parts_are_handled(tmp_path: Path) -> None:
    now = time.time()
    names = ["20260101T000000Z.mp4.part", "20260101T000001Z.mp4.part", "20260101T000002Z.mp4.part",
             "20260101T000003Z.mp4.part"]
    for i, name in enumerate(names):
        (tmp_path / name).write_bytes(b"")
    old = now - STALE_PART_S - 5
    os.utime(tmp_path / names[0], (old, old))
    os.utime(tmp_path / names[1], (old, old))
    os.utime(tmp_path / names[3], (old, old))  # the newest, even if quiet (a stalled write), is never touched
    assert recover_stale_partials(tmp_path, now) == []  # empty ones are dropped, not kept
    assert sorted(p.name for p in tmp_path.iterdir()) == names[2:]  # the recent one may still be renamed


def test_missing_directory_is_not_an_error(tmp_path: Path) -> None:
    assert recover_stale_partials(tmp_path / "gone") == []
