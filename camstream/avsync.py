"""A/V sync, measured: a source that flashes a white frame and beeps at the same instant every second, and
the tool that finds both in a stream or file and reports audio onset minus flash (positive = sound late).

Pure parts (argv, parsing, onset detection, pairing) are separate from the two FFmpeg runs that read the
media, so they are tested exactly. Both readers keep the media's own timestamps (-copyts), so the flash
and the beep are compared on the container's one timeline, as a player would.
"""

from __future__ import annotations

import re
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from camstream import proc

# The flash is one frame of full white on black; the beep a 1 kHz tone of BEEP_S seconds.
BEEP_S = 0.1
# A frame counts as the flash above this mean luma (black is ~16, white ~235).
FLASH_LUMA = 128.0
# 10 ms analysis windows for the sound: the onset is known to +-10 ms.
AUDIO_RATE = 8000
WINDOW = 80
# A window is "sound" above this RMS level, after at least QUIET_S seconds of quiet.
ONSET_DB = -40.0
QUIET_S = 0.5
# A beep and a flash more than this far apart are not the same event.
MAX_PAIR_S = 0.45


def source_argv(out: Path | str, seconds: int = 60, size: str = "320x240", fps: int = 25,
                ffmpeg: str = "ffmpeg") -> list[str]:
    """Write a clip that flashes white for one frame and starts a beep at the same instant, every second."""
    flash = f"drawbox=x=0:y=0:w=iw:h=ih:color=white:t=fill:enable='lt(mod(t,1),{1 / fps:.4f})'"
    beep = f"sine=frequency=1000:sample_rate=48000,volume=volume=0:enable='gte(mod(t,1),{BEEP_S:g})'"
    return [
        ffmpeg, "-hide_banner", "-v", "error", "-y",
        "-f", "lavfi", "-i", f"color=c=black:size={size}:rate={fps},{flash}",
        "-f", "lavfi", "-i", beep, "-t", str(seconds),
        "-c:v", "libx264", "-preset", "veryfast", "-g", str(fps), "-bf", "0", "-pix_fmt", "yuv420p",
        "-c:a", "aac", "-b:a", "96000", "-ac", "1", str(out),
    ]


def capture_argv(url: str, out: Path | str, seconds: float, ffmpeg: str = "ffmpeg") -> list[str]:
    """Copy `seconds` of a live stream (RTSP/RTMP/SRT) to a file, timestamps as received."""
    extra = ["-rtsp_transport", "tcp"] if url.startswith("rtsp") else []
    return [ffmpeg, "-hide_banner", "-v", "error", "-y", *extra, "-i", url, "-map", "0:v:0", "-map", "0:a:0",
            "-c", "copy", "-t", f"{seconds:g}", "-f", "matroska", str(out)]


def video_argv(media: str, ffmpeg: str = "ffmpeg") -> list[str]:
    """Mean luma of every frame with its presentation time (metadata printed to stdout)."""
    return [ffmpeg, "-hide_banner", "-v", "error", "-copyts", "-i", media, "-map", "0:v:0",
            "-vf", "scale=32:32,signalstats,metadata=print:key=lavfi.signalstats.YAVG:file=-", "-f", "null", "-"]


def audio_argv(media: str, ffmpeg: str = "ffmpeg") -> list[str]:
    """RMS level of every 10 ms of sound with its presentation time (metadata printed to stdout)."""
    chain = (f"aresample={AUDIO_RATE},asetnsamples=n={WINDOW}:p=0,astats=metadata=1:reset=1,"
             "ametadata=print:key=lavfi.astats.Overall.RMS_level:file=-")
    return [ffmpeg, "-hide_banner", "-v", "error", "-copyts", "-i", media, "-map", "0:a:0", "-ac", "1",
            "-af", chain, "-f", "null", "-"]


_PTS = re.compile(r"pts_time:\s*(-?[\d.]+(?:e-?\d+)?)")
_VALUE = re.compile(r"^lavfi\.[\w.]+=(\S+)")


def parse_metadata(text: str) -> list[tuple[float, float]]:
    """(pts_time, value) pairs from FFmpeg's metadata/ametadata print output."""
    out: list[tuple[float, float]] = []
    pts: float | None = None
    for line in text.splitlines():
        match = _PTS.search(line)
        if match:
            pts = float(match.group(1))
            continue
        value = _VALUE.match(line.strip())
        if value and pts is not None:
            raw = value.group(1)
            out.append((pts, -120.0 if raw in ("-inf", "inf", "nan") else float(raw)))
            pts = None
    return out


def flash_onsets(frames: Sequence[tuple[float, float]], threshold: float = FLASH_LUMA) -> list[float]:
    """Times of frames that are white after a dark frame."""
    onsets = []
    was_white = True  # a stream that starts on a flash has no known onset
    for pts, luma in frames:
        white = luma > threshold
        if white and not was_white:
            onsets.append(pts)
        was_white = white
    return onsets


def beep_onsets(windows: Sequence[tuple[float, float]], threshold_db: float = ONSET_DB,
                quiet_s: float = QUIET_S) -> list[float]:
    """Start times of sound windows that follow at least `quiet_s` of quiet."""
    onsets = []
    quiet_since: float | None = None
    for pts, level in windows:
        if level > threshold_db:
            if quiet_since is not None and pts - quiet_since >= quiet_s:
                onsets.append(pts)
            quiet_since = None
        elif quiet_since is None:
            quiet_since = pts
    return onsets


def pair_offsets(flashes: Sequence[float], beeps: Sequence[float], max_gap: float = MAX_PAIR_S) -> list[float]:
    """For each beep, beep minus the nearest flash (seconds), when one is within `max_gap`."""
    offsets = []
    for beep in beeps:
        nearest = min(flashes, key=lambda f: abs(f - beep), default=None)
        if nearest is not None and abs(beep - nearest) <= max_gap:
            offsets.append(beep - nearest)
    return offsets


@dataclass(frozen=True)
class SyncReport:
    """Audio onset minus flash, in milliseconds, over every paired event."""

    events: int
    median_ms: float
    worst_ms: float
    offsets_ms: tuple[float, ...]

    def line(self) -> str:
        """One human line."""
        return f"{self.events} events, median {self.median_ms:+.0f} ms, worst {self.worst_ms:+.0f} ms"


def report(offsets: Sequence[float]) -> SyncReport:
    """Summarise offsets (seconds) in ms; worst is the largest by magnitude."""
    ms = tuple(round(o * 1000, 1) for o in offsets)
    if not ms:
        return SyncReport(0, float("nan"), float("nan"), ())
    return SyncReport(len(ms), round(statistics.median(ms), 1), max(ms, key=abs), ms)


def measure(media: str, ffmpeg: str = "ffmpeg", timeout: float = 300) -> SyncReport:
    """Find every flash and beep in a file and pair them."""
    video = proc.run(video_argv(media, ffmpeg), timeout=timeout)
    sound = proc.run(audio_argv(media, ffmpeg), timeout=timeout)
    for result, what in ((video, "video"), (sound, "audio")):
        if result.returncode != 0:
            raise RuntimeError(f"reading the {what} of {media} failed: {result.stderr.strip()[-300:]}")
    flashes = flash_onsets(parse_metadata(video.stdout))
    beeps = beep_onsets(parse_metadata(sound.stdout))
    return report(pair_offsets(flashes, beeps))


def measure_stream(url: str, workdir: Path, seconds: float = 8, ffmpeg: str = "ffmpeg") -> SyncReport:
    """Record `seconds` of a live stream as a viewer would receive it, then measure the recording."""
    out = workdir / f"avsync-{abs(hash(url)) % 10**8}.mkv"
    result = proc.run(capture_argv(url, out, seconds, ffmpeg), timeout=seconds + 30)
    if not out.exists() or out.stat().st_size == 0:
        raise RuntimeError(f"recording {url} failed: {result.stderr.strip()[-300:]}")
    return measure(str(out), ffmpeg)
