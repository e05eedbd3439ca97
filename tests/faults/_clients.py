"""Real clients for the fault tests: an FFmpeg viewer that counts the frames it receives, and camstream's status."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import Any


class Viewer:
    """`ffmpeg -i URL -c copy -f null -` in its own session; counts frames from its -progress output."""

    def __init__(self, url: str, transport: str | None = None, extra: tuple[str, ...] = ()) -> None:
        argv = ["ffmpeg", "-nostdin", "-v", "error"]
        if transport:
            argv += ["-rtsp_transport", transport]
        argv += [*extra, "-i", url, "-c", "copy", "-f", "null", "-", "-nostats", "-progress", "pipe:1"]
        self.frames = 0
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
                                     text=True, start_new_session=True)
        self._thread = threading.Thread(target=self._pump, daemon=True)
        self._thread.start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if line.startswith("frame="):
                try:
                    self.frames = int(line.split("=", 1)[1])
                except ValueError:
                    pass

    def wait_frames(self, n: int, timeout: float) -> None:
        """Block until `n` frames arrived (fail otherwise)."""
        deadline = time.monotonic() + timeout
        while self.frames < n and time.monotonic() < deadline:
            time.sleep(0.1)
        assert self.frames >= n, (f"viewer got {self.frames} frames, expected {n} "
                                  f"(exit code {self.proc.poll()})")

    def stop(self) -> None:
        """Kill and reap."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()
        self._thread.join(2)


def status(state: Path) -> dict[str, Any]:
    """camstream's status.json ({} while there is none)."""
    try:
        return dict(json.loads((state / "status.json").read_text()))
    except (OSError, ValueError):
        return {}


def ffmpeg_pids(root_pid: int) -> set[int]:
    """Pids of the FFmpeg processes under camstream right now."""
    import psutil

    try:
        kids = psutil.Process(root_pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return set()
    out = set()
    for p in kids:
        try:
            if p.name() == "ffmpeg":
                out.add(p.pid)
        except psutil.NoSuchProcess:
            pass
    return out


class Window:
    """Frames a viewer received against frames camstream's FFmpeg produced over a stretch of wall-clock time,
    and every FFmpeg pid seen meanwhile (restarts, planned or not)."""

    def __init__(self, viewer: Viewer, camstream_pid: int, state: Path, fps: int) -> None:
        self.viewer, self.pid, self.state, self.fps = viewer, camstream_pid, state, fps
        self.t0 = time.monotonic()
        self.v0 = viewer.frames
        self.p0 = status(state).get("frames", 0)
        self.pids: set[int] = ffmpeg_pids(camstream_pid)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        while not self._stop.wait(0.2):
            self.pids |= ffmpeg_pids(self.pid)

    def close(self) -> tuple[float, int, int]:
        """(fraction of produced frames the viewer got, frames produced, FFmpeg restarts meanwhile)."""
        self._stop.set()
        self._thread.join(2)
        elapsed = time.monotonic() - self.t0
        restarts = max(0, len(self.pids) - 1)
        frames = status(self.state).get("frames", 0)
        produced = frames - self.p0
        if restarts or produced <= 0:
            produced = int(elapsed * self.fps)  # FFmpeg's own count restarted: go by the clock
        got = self.viewer.frames - self.v0
        return got / max(produced, 1), produced, restarts
