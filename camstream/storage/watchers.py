"""Chunks and snapshots on disk: finalise chunks as FFmpeg closes them, keep the latest_* links fresh, and keep
what a crash left of a chunk (partial recovery)."""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from camstream.storage.atomic import replace, swap_link
from camstream.storage.layout import (
    CHUNK_SUFFIX, IMAGE_SUFFIX, LATEST_IMAGE, LATEST_VIDEO, PART_SUFFIX, RECOVERED_SUFFIX, SNAPSHOT_PATTERN, STAMP,
    stamp_time,
)

log = logging.getLogger(__name__)

__all__ = ["Chunk", "ChunkWatcher", "SnapshotWatcher", "newest_file", "recover_partials", "recover_stale_partials",
           "swap_link"]


def _try_swap(link: Path, target: Path) -> None:
    # A full or read-only disk cannot take the new link; the old one stays valid (retention never deletes
    # a latest_* target), and the next file that lands tries again.
    try:
        swap_link(link, target)
    except OSError as exc:
        log.debug("cannot update %s: %s", link.name, exc.strerror)


def _trim(part: Path) -> None:
    from camstream.storage.mp4frag import NotFragmented, trim_to_fragments

    try:
        trim_to_fragments(part)
    except (NotFragmented, ValueError):
        pass


@dataclass
class Chunk:
    """A finished MP4 chunk: file, UTC start, duration in seconds (from FFmpeg's segment list)."""

    path: Path
    start: datetime | None
    duration: float


class ChunkWatcher:
    """Tails FFmpeg's segment list; renames each closed `.part` chunk to `.mp4` and refreshes latest_video.mp4.

    The list is a FIFO when the state directory can hold one: FFmpeg's appends then never need a free block,
    so a full state directory cannot make every chunk look unfinished (which the stall watchdog would answer
    with a restart every 20 s, live included). Where no FIFO can be made, it is a plain file.
    """

    def __init__(self, segment_list: Path, video_dir: Path, latest_dir: Path) -> None:
        self.segment_list = segment_list
        self.video_dir = video_dir
        self.latest_dir = latest_dir
        self._offset = 0
        self._partial = ""
        self._fifo: int | None = None  # our read end, open before FFmpeg opens the write end (never blocks)
        self.finished: list[Chunk] = []
        self.last: Chunk | None = None
        self.last_at: float | None = None  # monotonic time the last chunk landed

    def reset(self) -> None:
        """Start a fresh list (before each FFmpeg start); entries already read stay handled."""
        self._offset = 0
        self._partial = ""
        if self._fifo is not None and self._is_our_fifo():
            self._read_fifo()  # what the last FFmpeg wrote after the last poll is stale now
            return
        self.close()
        try:
            self.segment_list.unlink()
        except FileNotFoundError:
            pass
        try:
            os.mkfifo(self.segment_list, 0o600)
            # O_NONBLOCK: open returns at once, reads never wait; FFmpeg's open for writing finds a reader.
            self._fifo = os.open(self.segment_list, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError as exc:
            log.debug("segment list %s as a plain file (no FIFO: %s)", self.segment_list, exc.strerror)
            self.segment_list.unlink(missing_ok=True)

    def close(self) -> None:
        """Close the FIFO's read end (when the run ends)."""
        if self._fifo is not None:
            os.close(self._fifo)
            self._fifo = None

    def _is_our_fifo(self) -> bool:
        assert self._fifo is not None
        try:
            st, mine = os.stat(self.segment_list), os.fstat(self._fifo)
        except OSError:
            return False
        return (st.st_dev, st.st_ino) == (mine.st_dev, mine.st_ino)

    def _read_fifo(self) -> str:
        assert self._fifo is not None
        data = b""
        while True:
            try:
                block = os.read(self._fifo, 65536)
            except BlockingIOError:  # a writer is connected and has nothing more for now
                break
            if not block:  # no writer (FFmpeg stopped or not started yet)
                break
            data += block
        return data.decode(errors="replace")

    def _read(self) -> str:
        if self._fifo is not None:
            return self._read_fifo()
        try:
            with self.segment_list.open("r") as fh:
                fh.seek(self._offset)
                data = fh.read()
                self._offset = fh.tell()
        except FileNotFoundError:
            return ""
        return data

    def poll(self) -> list[Chunk]:
        """Handle chunks FFmpeg has closed since the last call; returns them."""
        data = self._partial + self._read()
        lines = data.split("\n")
        self._partial = lines.pop()  # an incomplete last line waits for the next poll
        landed = []
        for line in lines:
            chunk = self._finish(line.strip())
            if chunk:
                landed.append(chunk)
        if landed:
            self.last = landed[-1]
            self.last_at = time.monotonic()
            self.finished.extend(landed)
            del self.finished[:-100]
            _try_swap(self.latest_dir / LATEST_VIDEO, landed[-1].path)
        return landed

    def recover(self) -> list[Path]:
        """Keep what an FFmpeg that died mid-chunk left behind (call only while FFmpeg is stopped)."""
        saved = recover_partials(self.video_dir)
        for path in saved:
            log.warning("kept the unfinished chunk as %s", path.name)
        return saved

    def _finish(self, line: str) -> Chunk | None:
        if not line:
            return None
        # csv: filename,start,end (FFmpeg segment muxer, segment_list_type csv)
        name, _, times = line.partition(",")
        start_s, _, end_s = times.partition(",")
        part = self.video_dir / name
        final = self.video_dir / name.removesuffix(PART_SUFFIX)
        if final.exists() and part.exists():
            # The wall clock was stepped back (NTP on a board without an RTC): FFmpeg's strftime gave this chunk
            # the name of one already finished. Never overwrite a recording; keep both, the later one suffixed.
            final = _unused_name(final)
        try:
            _trim(part)  # a chunk whose last write failed (disk full) ends after its last complete fragment
            replace(part, final, durable=True)  # the data is on disk before the name says "finished" (power cuts)
        except FileNotFoundError:
            if not final.exists():
                log.warning("chunk %s listed by FFmpeg but missing on disk", name)
                return None
        except OSError as exc:
            # Read-only or vanished disk: the .part stays and is recovered once the disk is back.
            log.debug("cannot finish chunk %s: %s", name, exc.strerror)
            return None
        try:
            duration = float(end_s) - float(start_s)
        except ValueError:
            duration = 0.0
        return Chunk(final, stamp_time(final.name), duration)


def _unused_name(path: Path) -> Path:
    """`path` with -1, -2, ... before the suffix: the first name nothing has (20261203T170604Z-1.mp4)."""
    stem = path.name.removesuffix(CHUNK_SUFFIX)
    n = 1
    while (candidate := path.with_name(f"{stem}-{n}{CHUNK_SUFFIX}")).exists():
        n += 1
    return candidate


class SnapshotWatcher:
    """Refreshes latest_image.jpg to the newest finished JPEG (FFmpeg writes them atomically).

    Snapshot names are UTC seconds, so instead of listing a directory that may hold months of images,
    each poll stats the few names the last seconds could have produced.
    """

    LOOKBACK = 3  # seconds of names checked per poll

    def __init__(self, images_dir: Path, latest_dir: Path) -> None:
        self.images_dir = images_dir
        self.latest_dir = latest_dir
        self.last: Path | None = newest_file(images_dir, IMAGE_SUFFIX)
        self._last_key: tuple[str, int, int] | None = None  # name, inode, mtime of the last one seen
        self.last_at: float | None = None  # monotonic time the last snapshot was seen
        self.count = 0

    def poll(self, now: float | None = None) -> Path | None:
        """Point latest_image.jpg at the newest snapshot if a newer one landed; return it when it did."""
        now = time.time() if now is None else now
        for offset in range(self.LOOKBACK + 1):
            name = time.strftime(SNAPSHOT_PATTERN, time.gmtime(now - offset))
            candidate = self.images_dir / name
            try:
                st = candidate.stat()
            except OSError:
                continue
            key = (name, st.st_ino, st.st_mtime_ns)
            if key == self._last_key:
                return None  # the newest one is the one we saw already
            if self.last is not None and name <= self.last.name and not now - self.LOOKBACK - 1 <= st.st_mtime <= now + 1:
                # Not newer by name and not written just now: an old snapshot. (Newer by name than the last one
                # or freshly written: after the wall clock was stepped back, FFmpeg writes under names it used
                # before, and a watcher that wanted names after the last one would see nothing new until the clock
                # caught up, and the stall watchdog would restart FFmpeg all that time.)
                continue
            self.last = candidate
            self._last_key = key
            self.last_at = time.monotonic()
            self.count += 1
            _try_swap(self.latest_dir / LATEST_IMAGE, candidate)
            return candidate
        return None


def newest_file(directory: Path, suffix: str) -> Path | None:
    """Newest finished file by name (names sort by UTC time); temp files of atomic writes are skipped."""
    best: str | None = None
    try:
        with os.scandir(directory) as entries:
            for entry in entries:
                name = entry.name
                if name.endswith(suffix) and STAMP.match(name) and (best is None or name > best):
                    best = name
    except FileNotFoundError:
        return None
    return directory / best if best else None


def recover_partials(video_dir: Path) -> list[Path]:
    """After a crash or power cut, keep what a leftover .part chunk holds under a name that says so.

    Fragmented MP4 plays up to the last complete fragment, so the seconds before the cut are kept; the
    `.recovered.mp4` name tells readers it was not closed normally. Call only while FFmpeg is not running.
    """
    return _recover(sorted(video_dir.glob(f"*{PART_SUFFIX}")))


STALE_PART_S = 3.0  # a closed chunk is renamed within a poll (0.2 s); one untouched this long was abandoned


def recover_stale_partials(video_dir: Path, now: float | None = None) -> list[Path]:
    """While FFmpeg runs: keep (or drop, when empty) .part chunks it abandoned, i.e. not the newest (which it may
    still be writing) and untouched for STALE_PART_S. Writes that failed (disk full, read-only) leave them."""
    now = time.time() if now is None else now
    stale = []
    try:
        parts = sorted(video_dir.glob(f"*{PART_SUFFIX}"))
        for part in parts[:-1]:
            if now - part.stat().st_mtime > STALE_PART_S:
                stale.append(part)
    except OSError:
        return []
    return _recover(stale)


def _recover(parts: list[Path]) -> list[Path]:
    from camstream.storage.mp4frag import NotFragmented, trim_to_fragments

    recovered = []
    for part in parts:
        try:
            empty = trim_to_fragments(part) <= 0
        except (NotFragmented, OSError, ValueError):
            empty = True  # not even a header and one fragment: nothing to keep
        try:
            if empty:
                part.unlink()
                continue
            final = part.with_name(part.name.removesuffix(CHUNK_SUFFIX + PART_SUFFIX) + RECOVERED_SUFFIX)
            replace(part, final)
        except OSError as exc:  # read-only or vanished disk: try again when it is back
            log.debug("cannot recover %s: %s", part.name, exc.strerror)
            continue
        recovered.append(final)
    return recovered
