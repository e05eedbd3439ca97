"""Read a fragmented MP4 chunk's timing from its boxes (ISO/IEC 14496-12): duration and keyframe times, fast.

camstream's chunks are fragmented with frag_keyframe, so every fragment (moof + mdat) starts with a keyframe and
its tfdt box holds that keyframe's decode time. Walking box headers costs a few small reads per file, where an
ffprobe run costs ~100 ms: `recordings list` over a week of chunks stays quick.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO


@dataclass(frozen=True)
class FragInfo:
    """Timing of a fragmented MP4: seconds of complete fragments, their start (keyframe) times, and whether the
    file was closed normally (FFmpeg writes the mfra index last)."""

    duration: float
    keyframes: tuple[float, ...]
    closed: bool
    complete_end: int = 0  # byte offset just after the last complete fragment (moof + its mdat)


class NotFragmented(ValueError):
    """The file is not a fragmented MP4 this reader understands (use ffprobe instead)."""


def _boxes(fh: BinaryIO, start: int, end: int) -> list[tuple[bytes, int, int, int]]:
    """(type, box offset, payload offset, box end) of the boxes between start and end; a truncated box ends it."""
    out = []
    pos = start
    while pos + 8 <= end:
        fh.seek(pos)
        head = fh.read(16)
        if len(head) < 8:
            break
        size, kind = struct.unpack(">I4s", head[:8])
        payload = pos + 8
        if size == 1:
            if len(head) < 16:
                break
            size = struct.unpack(">Q", head[8:16])[0]
            payload = pos + 16
        elif size == 0:
            size = end - pos
        if size < payload - pos:
            break
        out.append((kind, pos, payload, pos + size))
        pos += size
    return out


def _child(fh: BinaryIO, box: tuple[bytes, int, int, int], *path: bytes) -> tuple[bytes, int, int, int] | None:
    current = box
    for kind in path:
        found = next((b for b in _boxes(fh, current[2], current[3]) if b[0] == kind), None)
        if found is None:
            return None
        current = found
    return current


def _video_timescale(fh: BinaryIO, moov: tuple[bytes, int, int, int]) -> tuple[int, int]:
    """(track id, timescale) of the first video track."""
    for trak in (b for b in _boxes(fh, moov[2], moov[3]) if b[0] == b"trak"):
        hdlr = _child(fh, trak, b"mdia", b"hdlr")
        mdhd = _child(fh, trak, b"mdia", b"mdhd")
        tkhd = _child(fh, trak, b"tkhd")
        if not (hdlr and mdhd and tkhd):
            continue
        fh.seek(hdlr[2] + 8)
        if fh.read(4) != b"vide":
            continue
        fh.seek(mdhd[2])
        version = fh.read(1)[0]
        fh.seek(mdhd[2] + (20 if version == 1 else 12))
        timescale = struct.unpack(">I", fh.read(4))[0]
        fh.seek(tkhd[2])
        version = fh.read(1)[0]
        fh.seek(tkhd[2] + (20 if version == 1 else 12))
        track_id = struct.unpack(">I", fh.read(4))[0]
        return track_id, timescale
    raise NotFragmented("no video track")


def _trex_default_duration(fh: BinaryIO, moov: tuple[bytes, int, int, int], track_id: int) -> int:
    mvex = _child(fh, moov, b"mvex")
    if mvex is None:
        raise NotFragmented("no mvex box: not a fragmented MP4")
    for trex in (b for b in _boxes(fh, mvex[2], mvex[3]) if b[0] == b"trex"):
        fh.seek(trex[2] + 4)
        tid, _, duration = struct.unpack(">III", fh.read(12))
        if tid == track_id:
            return int(duration)
    return 0


def _traf_times(fh: BinaryIO, traf: tuple[bytes, int, int, int], default_duration: int) -> tuple[int, int] | None:
    """(base decode time, summed sample durations) of one track fragment."""
    base = None
    total = 0
    for kind, _, payload, end in _boxes(fh, traf[2], traf[3]):
        fh.seek(payload)
        version_flags = struct.unpack(">I", fh.read(4))[0]
        version, flags = version_flags >> 24, version_flags & 0xFFFFFF
        if kind == b"tfhd":
            fh.read(4)  # track id
            skip = (8 if flags & 0x01 else 0) + (4 if flags & 0x02 else 0)
            fh.read(skip)
            if flags & 0x08:
                default_duration = struct.unpack(">I", fh.read(4))[0]
        elif kind == b"tfdt":
            base = struct.unpack(">Q", fh.read(8))[0] if version == 1 else struct.unpack(">I", fh.read(4))[0]
        elif kind == b"trun":
            count = struct.unpack(">I", fh.read(4))[0]
            fh.read((4 if flags & 0x01 else 0) + (4 if flags & 0x04 else 0))
            fields = [bit for bit in (0x100, 0x200, 0x400, 0x800) if flags & bit]
            if 0x100 not in fields:
                total += count * default_duration
                continue
            data = fh.read(4 * len(fields) * count)
            if len(data) < 4 * len(fields) * count:
                return None
            values = struct.unpack(f">{len(fields) * count}I", data)
            total += sum(values[0:: len(fields)])
    return (base, total) if base is not None else None


def read_fragments(path: Path) -> FragInfo:
    """Duration (complete fragments only), keyframe times and closed flag; NotFragmented for other files."""
    size = path.stat().st_size
    with path.open("rb") as fh:
        top = _boxes(fh, 0, size)
        moov = next((b for b in top if b[0] == b"moov"), None)
        if moov is None or moov[3] > size:
            raise NotFragmented("no moov box")
        track_id, timescale = _video_timescale(fh, moov)
        default_duration = _trex_default_duration(fh, moov, track_id)
        keyframes: list[float] = []
        end_time = 0
        complete_end = 0
        first: int | None = None
        for i, box in enumerate(top):
            if box[0] != b"moof" or box[3] > size:
                continue
            mdat = top[i + 1] if i + 1 < len(top) else None
            if mdat is None or mdat[0] != b"mdat" or mdat[3] > size:
                break  # the fragment's media was cut off (power loss): it does not count
            for traf in (b for b in _boxes(fh, box[2], box[3]) if b[0] == b"traf"):
                tfhd = _child(fh, traf, b"tfhd")
                if tfhd is None:
                    continue
                fh.seek(tfhd[2] + 4)
                if struct.unpack(">I", fh.read(4))[0] != track_id:
                    continue
                times = _traf_times(fh, traf, default_duration)
                if times is None:
                    continue
                base, total = times
                first = base if first is None else first
                keyframes.append((base - first) / timescale)
                end_time = base + total
                complete_end = mdat[3]
        if first is None:
            raise NotFragmented("no complete fragment")
        closed = bool(top) and top[-1][0] == b"mfra" and top[-1][3] == size
        return FragInfo((end_time - first) / timescale, tuple(keyframes), closed, complete_end)


def trim_to_fragments(path: Path) -> float:
    """Cut a chunk whose writing failed (disk full, power cut) after its last complete fragment, so it plays
    without errors; its playable seconds (0 when nothing is left). Closed files are left as they are."""
    info = read_fragments(path)
    if not info.closed and 0 < info.complete_end < path.stat().st_size:
        os.truncate(path, info.complete_end)
    return info.duration


def codec_config(path: Path) -> bytes | None:
    """The video decoder configuration (avcC/hvcC box) from the moov box; None when there is none."""
    size = path.stat().st_size
    with path.open("rb") as fh:
        moov = next((b for b in _boxes(fh, 0, size) if b[0] == b"moov"), None)
        if moov is None or moov[3] > size or moov[3] - moov[1] > 1 << 20:
            return None
        fh.seek(moov[1])
        data = fh.read(moov[3] - moov[1])
    for kind in (b"avcC", b"hvcC"):
        at = data.find(kind)
        if at >= 4:
            length = struct.unpack(">I", data[at - 4: at])[0]
            return data[at + 4: at - 4 + length]
    return None
