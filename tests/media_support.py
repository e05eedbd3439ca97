"""Helpers for the web media tests and bench: the media web process, an FFmpeg publisher, Chromium, a netns LAN."""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
# The flags every browser test uses (common brief): no GPU, no network chatter of its own.
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
FPS = 25
SIZE = "320x240"


def free_port() -> int:
    """A free TCP port on loopback."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _reap(proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM, timeout: float = 10) -> None:
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@dataclass
class MediaApp:
    """tests/media_app.py running: the hub's routes, player.js and a bare page."""

    proc: subprocess.Popen[bytes]
    port: int
    ingest_port: int
    log: Path

    def url(self, host: str = "127.0.0.1") -> str:
        """The page's URL."""
        return f"http://{host}:{self.port}/"

    def stats(self) -> dict:  # type: ignore[type-arg]
        """MediaHub.stats() of the running process."""
        import json
        import urllib.request

        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/stats", timeout=5) as resp:
            return json.loads(resp.read())  # type: ignore[no-any-return]


@contextlib.contextmanager
def media_app(tmp: Path, *extra: str) -> Iterator[MediaApp]:
    """Start the media web process on free ports; stopped and reaped afterwards."""
    port, ingest = free_port(), free_port()
    log = tmp / f"media-app-{port}.log"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    with open(log, "wb") as fh:
        proc = subprocess.Popen(
            [sys.executable, str(ROOT / "tests" / "media_app.py"), "--port", str(port), "--ingest-port", str(ingest),
             *extra],
            stdout=subprocess.PIPE, stderr=fh, env=env,
        )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().decode()
        if not line.startswith("listening"):
            raise RuntimeError(f"media app did not start: {log.read_text()[-2000:]}")
        yield MediaApp(proc, port, ingest, log)
    finally:
        _reap(proc)


def publisher_argv(ingest_port: int, *, profile: str = "baseline", clock: bool = False, fps: int = FPS,
                   size: str = SIZE, preset: str = "ultrafast") -> list[str]:
    """FFmpeg publishing a moving test pattern as MPEG-TS over TCP, the way camstream's tee output does.

    x264's ultrafast preset turns off the tools main/high add, and x264 then writes the baseline profile
    whatever -profile:v says: use preset="veryfast" for a real main or high stream.
    """
    vf = []
    if clock:
        from camstream.latency import stamp_filter

        w, h = (int(x) for x in size.split("x"))
        vf = ["-vf", stamp_filter(w, h)]
    return [
        "ffmpeg", "-hide_banner", "-loglevel", "error", "-re", "-f", "lavfi",
        "-i", f"testsrc=size={size}:rate={fps}", *vf,
        "-c:v", "libx264", "-preset", preset, "-tune", "zerolatency", "-profile:v", profile,
        "-g", str(fps), "-pix_fmt", "yuv420p",
        "-f", "mpegts", "-flush_packets", "1", "-omit_video_pes_length", "0", f"tcp://127.0.0.1:{ingest_port}",
    ]


class Publisher:
    """One FFmpeg publisher that can be killed and started again."""

    def __init__(self, ingest_port: int, stats: Callable[[], dict] | None = None, **kw: object) -> None:  # type: ignore[type-arg]
        self.argv = publisher_argv(ingest_port, **kw)  # type: ignore[arg-type]
        self.stats = stats
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 10) -> None:
        """Start FFmpeg, retrying while the hub's ingest is being re-opened (connection refused)."""
        deadline = time.monotonic() + timeout
        while True:
            self.proc = subprocess.Popen(self.argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(0.3)
            if self.proc.poll() is None or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        if self.stats is not None:  # wait until the hub has the stream (its first keyframe)
            while time.monotonic() < deadline and not self.stats().get("profile_level_id"):
                time.sleep(0.1)

    def kill(self) -> None:
        """SIGKILL, as a crash would."""
        if self.proc is not None:
            _reap(self.proc, signal.SIGKILL)

    def stop(self) -> None:
        """Stop and reap."""
        if self.proc is not None:
            _reap(self.proc, signal.SIGTERM, 5)


@dataclass
class NetnsLan:
    """A network namespace reached only over a veth pair: an offline LAN with one client."""

    name: str
    host_if: str
    ns_if: str
    host_ip: str
    ns_ip: str
    wrapper: Path

    def set_blackout(self, on: bool) -> None:
        """Drop every packet both ways (tbf with a 1-byte bucket passes nothing), or pass them again."""
        for ns, dev in ((None, self.host_if), (self.name, self.ns_if)):
            pre = ["ip", "netns", "exec", ns] if ns else []
            if on:
                cmd = ["tc", "qdisc", "replace", "dev", dev, "root", "tbf", "rate", "8bit", "burst", "1", "limit", "1"]
            else:
                cmd = ["tc", "qdisc", "del", "dev", dev, "root"]
            subprocess.run(pre + cmd, check=on, capture_output=True)


def netns_available() -> str | None:
    """None when this process can build network namespaces, else why not."""
    if os.geteuid() != 0:
        return "needs root for ip netns"
    if subprocess.run(["ip", "netns", "list"], capture_output=True).returncode != 0:
        return "ip netns does not work here"
    return None


@contextlib.contextmanager
def netns_lan(tmp: Path) -> Iterator[NetnsLan]:
    """Create the namespace and veth pair (10.x.y.1 host side, .2 inside, no other route); always deleted."""
    tag = secrets.token_hex(3)
    name, host_if, ns_if = f"cswm{tag}", f"wmh{tag}", f"wmn{tag}"
    third = int(tag[:2], 16)
    host_ip, ns_ip = f"10.213.{third}.1", f"10.213.{third}.2"
    wrapper = tmp / f"chromium-in-{name}"
    wrapper.write_text(f'#!/bin/sh\nexec ip netns exec {name} {CHROMIUM} "$@"\n')
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR)
    run = lambda *a: subprocess.run(list(a), check=True, capture_output=True)  # noqa: E731
    try:
        run("ip", "netns", "add", name)
        run("ip", "link", "add", host_if, "type", "veth", "peer", "name", ns_if)
        run("ip", "link", "set", ns_if, "netns", name)
        run("ip", "addr", "add", f"{host_ip}/30", "dev", host_if)
        run("ip", "link", "set", host_if, "up")
        run("ip", "netns", "exec", name, "ip", "addr", "add", f"{ns_ip}/30", "dev", ns_if)
        run("ip", "netns", "exec", name, "ip", "link", "set", ns_if, "up")
        run("ip", "netns", "exec", name, "ip", "link", "set", "lo", "up")
        yield NetnsLan(name, host_if, ns_if, host_ip, ns_ip, wrapper)
    finally:
        subprocess.run(["ip", "link", "del", host_if], capture_output=True)
        subprocess.run(["ip", "netns", "del", name], capture_output=True)


def wait_frames(page: object, minimum: int, timeout_ms: float) -> None:
    """Wait until the page's player counted `minimum` frames."""
    page.wait_for_function(  # type: ignore[attr-defined]
        f"window.player && window.player.frames >= {minimum}", timeout=timeout_ms, polling=50
    )


def frame_rate(page: object, seconds: float) -> float:
    """Frames the page's <video> presented per second over `seconds` (requestVideoFrameCallback)."""
    start = page.evaluate("[performance.now(), window.player.frames]")  # type: ignore[attr-defined]
    time.sleep(seconds)
    end = page.evaluate("[performance.now(), window.player.frames]")  # type: ignore[attr-defined]
    return float((end[1] - start[1]) / ((end[0] - start[0]) / 1000))


def frame_ratio(page: object, stats: Callable[[], dict], seconds: float) -> float:  # type: ignore[type-arg]
    """Frames the page presented over frames the hub received in the same `seconds`: the fraction shown.

    The reference is what FFmpeg really delivered, not its nominal rate: on a shared 2-core machine the
    source itself may run late, and that is not the viewer's loss.
    """
    page_start = page.evaluate("window.player.frames")  # type: ignore[attr-defined]
    hub_start = stats()["frames_in"]
    time.sleep(seconds)
    page_end = page.evaluate("window.player.frames")  # type: ignore[attr-defined]
    hub_end = stats()["frames_in"]
    return float((page_end - page_start) / max(1, hub_end - hub_start))


def temp_dir() -> Path:
    """A fresh temporary directory (bench)."""
    return Path(tempfile.mkdtemp(prefix="camstream-media-"))
