"""The segment list is a FIFO: FFmpeg's appends never need a free block in the state directory."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from camstream.storage.watchers import ChunkWatcher


def _watcher(tmp_path: Path) -> ChunkWatcher:
    (tmp_path / "video").mkdir()
    (tmp_path / "latest").mkdir()
    return ChunkWatcher(tmp_path / "state" / "segments.csv", tmp_path / "video", tmp_path / "latest")


def _write(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY)  # what FFmpeg's file protocol does (a reader is already there: no wait)
    try:
        os.write(fd, text.encode())
    finally:
        os.close(fd)


def test_chunks_listed_through_the_fifo_land_and_a_restart_reuses_it(tmp_path: Path) -> None:
    (tmp_path / "state").mkdir()
    w = _watcher(tmp_path)
    w.reset()
    assert stat.S_ISFIFO(os.stat(w.segment_list).st_mode)
    assert w.poll() == []  # no writer yet: nothing, and no waiting
    (tmp_path / "video" / "20260101T000000Z.mp4.part").write_bytes(b"x")
    _write(w.segment_list, "20260101T000000Z.mp4.part,0.0,2.0\n20260101T000002Z.mp4.pa")
    landed = w.poll()
    assert [c.path.name for c in landed] == ["20260101T000000Z.mp4"] and landed[0].duration == 2.0
    assert (tmp_path / "latest" / "latest_video.mp4").resolve() == tmp_path / "video" / "20260101T000000Z.mp4"
    inode = os.stat(w.segment_list).st_ino
    w.reset()  # the next FFmpeg: same FIFO, the half line of the last one is forgotten
    assert os.stat(w.segment_list).st_ino == inode
    (tmp_path / "video" / "20260101T000004Z.mp4.part").write_bytes(b"y")
    _write(w.segment_list, "20260101T000004Z.mp4.part,0.0,2.0\n")
    assert [c.path.name for c in w.poll()] == ["20260101T000004Z.mp4"]
    w.close()


def test_a_plain_file_where_no_fifo_can_be_made(tmp_path: Path) -> None:
    w = _watcher(tmp_path)  # the state directory does not exist: mkfifo fails, the plain-file list is used
    w.reset()
    assert w._fifo is None
    (tmp_path / "state").mkdir()
    (tmp_path / "video" / "20260101T000000Z.mp4.part").write_bytes(b"x")
    w.segment_list.write_text("20260101T000000Z.mp4.part,0.0,2.0\n")
    assert [c.path.name for c in w.poll()] == ["20260101T000000Z.mp4"]


def test_a_reused_name_never_overwrites_a_finished_chunk(tmp_path: Path) -> None:
    # The wall clock stepped back: FFmpeg names the new chunk like one that already landed.
    (tmp_path / "state").mkdir()
    w = _watcher(tmp_path)
    w.reset()
    video = tmp_path / "video"
    (video / "20260101T000000Z.mp4").write_bytes(b"first")
    (video / "20260101T000000Z-1.mp4").write_bytes(b"second")
    (video / "20260101T000000Z.mp4.part").write_bytes(b"third")
    _write(w.segment_list, "20260101T000000Z.mp4.part,0.0,2.0\n")
    assert [c.path.name for c in w.poll()] == ["20260101T000000Z-2.mp4"]
    assert [(p.name, p.read_bytes()) for p in sorted(video.iterdir())] == [
        ("20260101T000000Z-1.mp4", b"second"), ("20260101T000000Z-2.mp4", b"third"), ("20260101T000000Z.mp4", b"first")]
    assert (tmp_path / "latest" / "latest_video.mp4").resolve() == video / "20260101T000000Z-2.mp4"
    w.close()
