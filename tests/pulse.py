"""A real PulseAudio daemon for tests: user mode, private runtime dir, a null sink called `mic`."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

SINK = "mic"
MONITOR = "mic.monitor"


class Pulse:
    """One user-mode PulseAudio; env() points clients (pactl, ffmpeg -f pulse, camstream) at it."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.runtime = root / "run"
        self.home = root / "home"
        self.proc: subprocess.Popen[bytes] | None = None
        self.players: list[subprocess.Popen[bytes]] = []

    def env(self) -> dict[str, str]:
        """Variables that make PulseAudio clients use this daemon."""
        return {"XDG_RUNTIME_DIR": str(self.runtime), "HOME": str(self.home)}

    def full_env(self) -> dict[str, str]:
        """os.environ plus env()."""
        return {**os.environ, **self.env()}

    def start(self) -> None:
        """Start the daemon with the `mic` null sink; wait until pactl answers."""
        for d in (self.runtime, self.home):
            d.mkdir(parents=True, exist_ok=True)
        self.runtime.chmod(0o700)
        # As root PulseAudio warns ("not intended to be run as root") but works in user mode.
        self.proc = subprocess.Popen(
            ["pulseaudio", "--daemonize=no", "-n", "--exit-idle-time=-1", "--disallow-exit",
             f"--load=module-null-sink sink_name={SINK} rate=48000", "--load=module-native-protocol-unix"],
            env=self.full_env(), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=(self.root / "pulse.log").open("ab"), start_new_session=True,
        )
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.sources():
                return
            time.sleep(0.1)
        raise AssertionError(f"PulseAudio did not come up: {(self.root / 'pulse.log').read_text()[-2000:]}")

    def sources(self) -> str:
        """`pactl list short sources` (empty when the daemon does not answer)."""
        out = subprocess.run(["pactl", "list", "short", "sources"], env=self.full_env(), capture_output=True,
                             text=True, timeout=10, stdin=subprocess.DEVNULL)
        return out.stdout if out.returncode == 0 else ""

    def play_tone(self, seconds: float = 600, freq: int = 440) -> subprocess.Popen[bytes]:
        """Feed the sink with a tone (ffmpeg -f pulse) until stopped; returns the player."""
        player = subprocess.Popen(
            ["ffmpeg", "-v", "error", "-re", "-f", "lavfi", "-i", f"sine=frequency={freq}:sample_rate=48000",
             "-t", f"{seconds:g}", "-f", "pulse", "-device", SINK, "camstream-test"],
            env=self.full_env(), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        self.players.append(player)
        deadline = time.monotonic() + 10  # the player is connected once the sink lists its stream
        while time.monotonic() < deadline and player.poll() is None:
            out = subprocess.run(["pactl", "list", "short", "sink-inputs"], env=self.full_env(), capture_output=True,
                                 text=True, timeout=10, stdin=subprocess.DEVNULL)
            if out.stdout.strip():
                break
            time.sleep(0.1)
        return player

    def stop(self) -> None:
        """Kill players and the daemon, reap them."""
        for p in [*self.players, self.proc]:
            if p is not None and p.poll() is None:
                p.kill()
            if p is not None:
                p.wait(10)
        self.players.clear()
        self.proc = None


@pytest.fixture
def pulse(tmp_path: Path) -> Iterator[Pulse]:
    """A running PulseAudio with a `mic` null sink (monitor: mic.monitor); always killed afterwards."""
    if shutil.which("pulseaudio") is None:
        pytest.skip("pulseaudio is not installed (scripts/install_deps.sh installs it)")
    daemon = Pulse(tmp_path / "pulse")
    daemon.start()
    try:
        yield daemon
    finally:
        daemon.stop()
