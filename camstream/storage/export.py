"""Find chunks by time, and join the chunks covering a time range into one MP4 without re-encoding."""

from __future__ import annotations

import bisect
import itertools
import logging
import os
import re
import struct
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from camstream import proc
from camstream.errors import ProcessError, UsageError
from camstream.storage.atomic import replace
from camstream.storage.layout import CHUNK_SUFFIX, RECOVERED_SUFFIX, stamp_time
from camstream.storage.mp4frag import NotFragmented, codec_config, read_fragments

log = logging.getLogger("camstream")

_RELATIVE = re.compile(r"^-\s*(\d+(?:\.\d+)?)\s*([smhdw])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_COMPACT = re.compile(r"^(\d{8}T\d{6})Z?$")
TIME_HELP = "ISO 8601 like 2026-11-23T18:56:32Z (no zone = UTC), 20261123T185632Z, now, or relative like -10m, -2h"
# Chunks whose name times differ from the running timeline by less than this belong to one continuous recording
# (names are whole UTC seconds taken when FFmpeg opens the chunk).
CONTIGUOUS_SLACK = 1.5


def parse_time(text: str, flag: str, now: datetime | None = None) -> datetime:
    """A point in time from the command line, as an aware UTC datetime; UsageError naming `flag` if unreadable."""
    value = text.strip()
    now = now or datetime.now(UTC)
    if value.lower() == "now":
        return now
    match = _RELATIVE.match(value)
    if match:
        return now - timedelta(seconds=float(match.group(1)) * _UNITS[match.group(2)])
    compact = _COMPACT.match(value)
    try:
        if compact:
            parsed = datetime.strptime(compact.group(1), "%Y%m%dT%H%M%S")
        else:
            parsed = datetime.fromisoformat(value[:-1] + "+00:00" if value.endswith(("Z", "z")) else value)
    except ValueError:
        raise UsageError(f"{flag} {text}: not a time: give {TIME_HELP}") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def iso(t: datetime) -> str:
    """2026-11-23T18:56:32.250Z"""
    text = t.astimezone(UTC).isoformat(timespec="milliseconds")
    return text.replace("+00:00", "Z")


@dataclass(frozen=True)
class ChunkInfo:
    """A finished chunk on the timeline: UTC start (refined from its neighbours), duration, size, keyframes."""

    path: Path
    start: datetime
    duration: float
    size: int
    keyframes: tuple[float, ...]
    recovered: bool

    @property
    def end(self) -> datetime:
        """start + duration."""
        return self.start + timedelta(seconds=self.duration)

    def to_json(self) -> dict[str, object]:
        """For `recordings list --json`."""
        return {"path": str(self.path), "name": self.path.name, "start": iso(self.start), "end": iso(self.end),
                "duration": round(self.duration, 3), "size": self.size, "recovered": self.recovered}


def chunk_names(video_dir: Path) -> list[tuple[datetime, str]]:
    """(name time, name) of every finished chunk, by time: one directory listing, no stat."""
    out = []
    try:
        with os.scandir(video_dir) as entries:
            for entry in entries:
                if entry.name.endswith(CHUNK_SUFFIX):
                    t = stamp_time(entry.name)
                    if t is not None:
                        out.append((t, entry.name))
    except FileNotFoundError:
        return []
    out.sort()
    return out


def probe_chunk(path: Path, ffprobe: str = "ffprobe") -> tuple[float, tuple[float, ...]]:
    """(duration, keyframe times) from the MP4 boxes, or from ffprobe for a file that is not fragmented."""
    try:
        info = read_fragments(path)
        return info.duration, info.keyframes
    except (NotFragmented, OSError, struct.error):
        pass
    result = proc.run([ffprobe, "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", str(path)],
                      timeout=20)
    try:
        return float(result.stdout.strip()), ()
    except ValueError:
        return 0.0, ()


def timeline(names: list[tuple[datetime, str]], video_dir: Path) -> list[ChunkInfo]:
    """Chunks with start times refined to below a second.

    A name only says which whole second FFmpeg opened the chunk in. Chunks of one continuous recording follow each
    other exactly (start + duration = next start), so each run of contiguous chunks shares one anchor; every name
    narrows that anchor to [name - offset, name + 1 - offset), and the middle of the intersection is used.
    """
    probed = []
    for t, name in names:
        path = video_dir / name
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            continue  # deleted by retention meanwhile
        duration, keyframes = probe_chunk(path)
        probed.append((t, path, size, duration, keyframes))
    out: list[ChunkInfo] = []
    i = 0
    while i < len(probed):
        lo, hi = probed[i][0].timestamp(), probed[i][0].timestamp() + 1
        offsets = [0.0]
        j = i + 1
        while j < len(probed):
            offset = offsets[-1] + probed[j - 1][3]
            named = probed[j][0].timestamp()
            if probed[j - 1][1].name.endswith(RECOVERED_SUFFIX) or abs(named - (lo + offset)) > CONTIGUOUS_SLACK:
                break
            new_lo, new_hi = max(lo, named - offset), min(hi, named + 1 - offset)
            if new_lo >= new_hi:
                break
            lo, hi = new_lo, new_hi
            offsets.append(offset)
            j += 1
        anchor = (lo + hi) / 2
        for k, offset in zip(range(i, j), offsets):
            t, path, size, duration, keyframes = probed[k]
            start = datetime.fromtimestamp(anchor + offset, UTC)
            out.append(ChunkInfo(path, start, duration, size, keyframes, path.name.endswith(RECOVERED_SUFFIX)))
        i = j
    return out


def find_chunks(video_dir: Path, since: datetime | None = None, until: datetime | None = None) -> list[ChunkInfo]:
    """Chunks overlapping [since, until): only chunks near the range are opened."""
    names = chunk_names(video_dir)
    lo = 0
    hi = len(names)
    if since is not None:
        # The chunk covering `since` is the last one named at or before it; one more for the whole-second names.
        lo = max(0, bisect.bisect_right(names, (since, "\uffff")) - 2)
    if until is not None:
        hi = bisect.bisect_left(names, (until + timedelta(seconds=1),))
    chunks = timeline(names[lo:hi], video_dir)
    return [c for c in chunks
            if (since is None or c.end > since) and (until is None or c.start < until) and c.duration > 0]


@dataclass(frozen=True)
class Piece:
    """One concat entry: a chunk and the part of it to keep (seconds into the chunk; None = to the end)."""

    path: Path
    inpoint: float
    outpoint: float | None


def _nearest_keyframe(keyframes: tuple[float, ...], t: float) -> float:
    if not keyframes:
        return t
    return min(keyframes, key=lambda k: (abs(k - t), k))


def cut(chunks: list[ChunkInfo], start: datetime, end: datetime) -> list[Piece]:
    """The pieces of `chunks` that make up [start, end); pure.

    A copy can only start on a keyframe (the concat demuxer would otherwise carry the frames before the in point
    along, FFmpeg formats manual, "concat" inpoint), so the in point is the keyframe nearest the requested start:
    at most half a keyframe interval off. The out point is frame-accurate.
    """
    pieces = []
    for c in chunks:
        if c.end <= start or c.start >= end:
            continue
        inpoint = max(0.0, (start - c.start).total_seconds())
        if inpoint > 0:
            inpoint = _nearest_keyframe(c.keyframes, inpoint)
            if inpoint >= c.duration:
                continue
        out = (end - c.start).total_seconds()
        pieces.append(Piece(c.path, round(inpoint, 6), round(out, 6) if out < c.duration else None))
    return pieces


def _quote(path: Path) -> str:
    # ffconcat quoting: single quotes, and a quote inside as '\'' (FFmpeg utils manual, "Quoting and escaping").
    return "'" + str(path).replace("'", "'\\''") + "'"


def render_concat(pieces: list[Piece]) -> str:
    """The ffconcat list for the concat demuxer; pure."""
    lines = ["ffconcat version 1.0"]
    for p in pieces:
        lines.append(f"file {_quote(p.path)}")
        if p.inpoint > 0:
            lines.append(f"inpoint {p.inpoint:g}")
        if p.outpoint is not None:
            lines.append(f"outpoint {p.outpoint:g}")
    return "\n".join(lines) + "\n"


def export_argv(ffmpeg: str, concat_list: Path, out: Path, same_headers: bool = True) -> list[str]:
    """ffmpeg argv joining the list with stream copy into `out`; pure."""
    # -safe 0: the list holds absolute paths (concat demuxer rejects them otherwise). auto_convert (on by default)
    # rewrites H.264 to Annex B with SPS/PPS before every keyframe so chunks with different headers still join;
    # when every chunk carries the same headers it is turned off and the packets stay byte for byte the same
    # (FFmpeg formats manual, concat demuxer options).
    convert = ["-auto_convert", "0"] if same_headers else []
    return [
        ffmpeg, "-hide_banner", "-nostdin", "-v", "error", "-y",
        "-f", "concat", "-safe", "0", *convert, "-i", str(concat_list),
        # The chunks' sound too when they have it (issue 14); "?" makes it optional for silent recordings.
        "-map", "0:v", "-map", "0:a?", "-c", "copy",
        # A normal (not fragmented) MP4 with the index at the front: plays and seeks everywhere.
        "-movflags", "+faststart", "-f", "mp4", str(out),
    ]


@dataclass(frozen=True)
class ExportResult:
    """What `recordings export` wrote."""

    out: Path
    pieces: list[Piece]
    chunks: list[ChunkInfo]
    gaps: float


def check_range(start: datetime, end: datetime) -> None:
    """--from must be before --to."""
    if start >= end:
        raise UsageError(f"--from {iso(start)} is not before --to {iso(end)}: give a range where --from comes first")


def export(video_dir: Path, start: datetime, end: datetime, out: Path, ffmpeg: str = "ffmpeg") -> ExportResult:
    """Join the chunks covering [start, end) into `out` with stream copy; `out` appears only when complete."""
    check_range(start, end)
    out = out.absolute()
    if out.is_dir():
        raise UsageError(f"-o {out}: is a directory: give a file name like clip.mp4")
    if not out.parent.is_dir():
        raise UsageError(f"-o {out}: folder {out.parent} does not exist: create it or choose another path")
    chunks = find_chunks(video_dir, start, end)
    pieces = cut(chunks, start, end)
    if not pieces:
        raise UsageError(f"no recordings between {iso(start)} and {iso(end)} in {video_dir}: "
                         "see `camstream recordings list`")
    gaps = sum(max(0.0, (b.start - a.end).total_seconds()) for a, b in itertools.pairwise(chunks))
    binary = proc.which("ffmpeg", ffmpeg)
    # FFmpeg writes a hidden temp file (its .mp4 suffix picks the muxer) that replaces `out` once complete.
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp.mp4")
    listing = out.with_name(f".{out.name}.{os.getpid()}.ffconcat")
    try:
        listing.write_text(render_concat(pieces))
        headers = {codec_config(p.path) for p in pieces}
        argv = export_argv(binary, listing, tmp, same_headers=len(headers) == 1 and None not in headers)
        log.debug("export: %s", proc.quote(argv))
        result = proc.run(argv, timeout=600)
        if result.returncode != 0:
            raise ProcessError(f"ffmpeg could not join the chunks (exit {result.returncode}): "
                               + (result.stderr.strip().splitlines() or ["no message"])[-1])
        replace(tmp, out)
    finally:
        for leftover in (tmp, listing):
            try:
                leftover.unlink()
            except FileNotFoundError:
                pass
    return ExportResult(out, pieces, chunks, gaps)
