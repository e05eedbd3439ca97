"""A live camera and microphone pair on one clock, for A/V sync measurements: a Y4M stream on a named pipe
that flashes white on every whole second, and a PulseAudio pipe source that beeps at the same instants.

The microphone can drift: with `drift_ppm` it delivers 48000 * (1 + drift_ppm/1e6) samples per real
second while calling them 48000 Hz, like a USB microphone whose crystal runs fast. The beeps stay at the
real instants (sample k * rate * (1 + drift)), so an uncompensated pipeline hears them later and later.
"""

from __future__ import annotations

import math
import os
import struct
import subprocess
import threading
import time
from pathlib import Path

from camstream.latency import y4m_header

RATE = 48000
BEEP_S = 0.1
CHUNK_S = 0.01


def y4m_frame(width: int, height: int, white: bool) -> bytes:
    """One 4:2:0 frame: all white or all black."""
    luma = 235 if white else 16
    return b"FRAME\n" + bytes([luma]) * (width * height) + bytes([128]) * (width * height // 2)


def beep_samples(start: int, count: int, period: float, rate: int = RATE) -> bytes:
    """s16le mono samples [start, start+count) of a stream that beeps 1 kHz for BEEP_S from sample
    round(k * period), k = 1, 2, ... (period = samples per real second of the device)."""
    beep_len = int(BEEP_S * rate)
    out = []
    for n in range(start, start + count):
        k = math.floor(n / period)
        begin = round(k * period)
        if n < begin:
            begin = round((k - 1) * period)
        value = int(8000 * math.sin(2 * math.pi * 1000 * n / rate)) if k >= 1 and 0 <= n - begin < beep_len else 0
        out.append(value)
    return struct.pack(f"<{len(out)}h", *out)


class AvSource:
    """Writes the video pipe and the microphone pipe from one clock until stopped."""

    def __init__(self, video_fifo: Path, audio_fifo: Path, width: int = 320, height: int = 240, fps: int = 25,
                 drift_ppm: float = 0.0) -> None:
        self.video_fifo, self.audio_fifo = video_fifo, audio_fifo
        self.width, self.height, self.fps = width, height, fps
        self.factor = 1 + drift_ppm / 1e6
        self.stop_event = threading.Event()
        self.t0 = math.ceil(time.monotonic()) + 1.0  # the first whole second of the shared clock
        self.threads = [threading.Thread(target=self._video, daemon=True),
                        threading.Thread(target=self._audio, daemon=True)]

    def start(self) -> None:
        """Start both writers."""
        for t in self.threads:
            t.start()

    def stop(self) -> None:
        """Stop both writers."""
        self.stop_event.set()
        for t in self.threads:
            t.join(5)

    def _sleep_until(self, when: float) -> None:
        delay = when - time.monotonic()
        if delay > 0:
            self.stop_event.wait(delay)

    def _video(self) -> None:
        try:
            with open(self.video_fifo, "wb", buffering=0) as out:  # blocks until FFmpeg opens the pipe
                out.write(y4m_header(self.width, self.height, self.fps))
                black, white = y4m_frame(self.width, self.height, False), y4m_frame(self.width, self.height, True)
                # Frame i is shown at t0 + i/fps; catch up on a late open so frame times stay on the clock.
                i = max(0, math.ceil((time.monotonic() - self.t0) * self.fps))
                while not self.stop_event.is_set():
                    self._sleep_until(self.t0 + i / self.fps)
                    out.write(white if i % self.fps == 0 else black)
                    i += 1
        except (BrokenPipeError, OSError):
            pass

    def _audio(self) -> None:
        fd = os.open(self.audio_fifo, os.O_WRONLY)
        try:
            rate = RATE * self.factor  # real samples per real second
            n = 0
            start = self.t0 - 1.0
            while not self.stop_event.is_set():
                target = int((time.monotonic() - start) * rate)  # samples up to now: never ahead of time
                if target > n:
                    # Beeps at real whole seconds of the shared clock: sample (k + 1) * rate from `start`.
                    os.write(fd, beep_samples(n, target - n, rate))
                    n = target
                self.stop_event.wait(CHUNK_S)
        except OSError:
            pass
        finally:
            os.close(fd)


def pulse_with_pipe_source(root: Path, audio_fifo: Path, name: str = "drift") -> tuple[subprocess.Popen[bytes],
                                                                                    dict[str, str]]:
    """A user-mode PulseAudio whose source `name` reads raw s16le mono 48 kHz from `audio_fifo`."""
    runtime, home = root / "run", root / "home"
    for d in (runtime, home):
        d.mkdir(parents=True, exist_ok=True)
    runtime.chmod(0o700)
    env = {"XDG_RUNTIME_DIR": str(runtime), "HOME": str(home)}
    daemon = subprocess.Popen(
        ["pulseaudio", "--daemonize=no", "-n", "--exit-idle-time=-1",
         f"--load=module-pipe-source source_name={name} file={audio_fifo} format=s16le rate={RATE} channels=1",
         "--load=module-native-protocol-unix"],
        env={**os.environ, **env}, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
        stderr=(root / "pulse.log").open("ab"), start_new_session=True,
    )
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        out = subprocess.run(["pactl", "list", "short", "sources"], env={**os.environ, **env}, capture_output=True,
                             text=True, timeout=10)
        if name in out.stdout and audio_fifo.exists():
            return daemon, env
        time.sleep(0.1)
    daemon.kill()
    daemon.wait()
    raise RuntimeError(f"PulseAudio with a pipe source did not start: {(root / 'pulse.log').read_text()[-500:]}")
