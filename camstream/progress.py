"""FFmpeg's `-progress pipe:1` output: key=value lines, one block per report, parsed into Progress."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class Progress:
    """The latest FFmpeg -progress block."""

    frame: int = 0
    fps: float = 0.0
    bitrate: str = ""
    speed: str = ""
    drop_frames: int = 0
    dup_frames: int = 0
    out_time_us: int = 0


class ProgressReader:
    """Parses FFmpeg's `-progress pipe:1` key=value blocks; remembers when the frame count last moved."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._block: dict[str, str] = {}
        self._lock = threading.Lock()
        self.progress = Progress()
        self.last_frame_at: float | None = None

    def feed(self, line: str) -> None:
        """Take one stdout line from FFmpeg."""
        key, sep, value = line.partition("=")
        if not sep:
            return
        key, value = key.strip(), value.strip()
        if key != "progress":
            self._block[key] = value
            return
        block, self._block = self._block, {}
        new = Progress(
            frame=_int(block.get("frame")), fps=_float(block.get("fps")), bitrate=block.get("bitrate", ""),
            speed=block.get("speed", ""), drop_frames=_int(block.get("drop_frames")),
            dup_frames=_int(block.get("dup_frames")), out_time_us=_int(block.get("out_time_us")),
        )
        with self._lock:
            if new.frame > self.progress.frame or self.last_frame_at is None and new.frame > 0:
                self.last_frame_at = self._clock()
            self.progress = new

    def snapshot(self) -> tuple[Progress, float | None]:
        """Thread-safe copy of the latest progress and when frames last advanced."""
        with self._lock:
            return self.progress, self.last_frame_at


def _int(text: str | None) -> int:
    try:
        return int(text or 0)
    except ValueError:
        return 0


def _float(text: str | None) -> float:
    try:
        return float(text or 0)
    except ValueError:
        return 0.0
