"""`python -m bench.audio`: what sound costs and how well it stays in sync (issue 14).

- sync: a camera (Y4M pipe) and a microphone (PulseAudio pipe source) on one clock flash and beep at the
  same instants; audio onset minus flash is measured at an RTMP viewer, an RTSP viewer and in a recorded
  chunk, at the start and after `--minutes` with a microphone that drifts by `--drift-ppm`.
- cpu: camstream's CPU with and without a microphone, same video.
Results go to bench/audio.md.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import psutil

from bench import report
from bench.avsource import AvSource, pulse_with_pipe_source
from camstream import avsync, proc
from camstream.supervise import read_status

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "bench" / "audio.md"
TARGET_MS = 40.0


def free_port() -> int:
    """A free TCP port on loopback."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def camstream_argv(video_fifo: Path, work: Path, rtsp: int, rtmp: int, audio: str | None,
                   size: str = "320x240", fps: int = 25, web: int | None = None) -> list[str]:
    """`camstream run` on the Y4M pipe with RTSP, RTMP, the web view (Opus for WebRTC) and 10 s chunks (pure)."""
    argv = [sys.executable, "-m", "camstream", "run", "--source", str(video_fifo), "--resolution", size,
            "--fps", str(fps), "--bitrate", "1M", "--rtsp", "--rtsp-server", "builtin", "--rtsp-port", str(rtsp),
            "--rtmp", "--rtmp-port", str(rtmp), "--rtmp-stat-port", str(free_port()),
            "--web-port", str(web or free_port()), "--no-snapshots",
            "--segment-seconds", "10", "--ssd-path", str(work / "ssd"), "--state-dir", str(work / "state")]
    return [*argv, "--audio", audio] if audio else argv


@dataclass
class SyncPoint:
    """Offsets measured at one moment."""

    minute: float
    rtmp: avsync.SyncReport
    rtsp: avsync.SyncReport
    chunk: avsync.SyncReport
    web: avsync.SyncReport | None = None  # the web view in Chromium (WebRTC), when measured


# Records what a WebRTC viewer of the page receives, sound on: MediaRecorder on the <video>'s stream (WebM),
# base64 back to Python, then measured like any recording. MediaRecorder stamps each track as it reaches the
# page's sinks (after the jitter buffers and the browser's A/V sync), so this is an estimate of what the page
# plays, not a measurement of the loudspeaker and the screen.
RECORD_JS = """async (ms) => {
  const v = document.getElementById("video");
  const rec = new MediaRecorder(v.srcObject, {mimeType: "video/webm;codecs=vp8,opus", videoBitsPerSecond: 2000000});
  const parts = [];
  rec.ondataavailable = (e) => parts.push(e.data);
  const done = new Promise((resolve) => { rec.onstop = resolve; });
  rec.start();
  await new Promise((resolve) => setTimeout(resolve, ms));
  rec.stop();
  await done;
  const buf = new Uint8Array(await new Blob(parts).arrayBuffer());
  let text = "";
  for (let i = 0; i < buf.length; i += 8192) text += String.fromCharCode.apply(null, buf.subarray(i, i + 8192));
  return btoa(text);
}"""


def measure_web(port: int, work: Path, seconds: float = 8) -> avsync.SyncReport:
    """A/V offset of the web view in Chromium (Playwright, /usr/bin/chromium), sound turned on as a user would."""
    import base64

    from playwright.sync_api import sync_playwright

    args = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync"]
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=args)
        try:
            page = browser.new_page()
            page.goto(f"http://127.0.0.1:{port}/?mode=webrtc")
            page.wait_for_function("window.camstreamPage && window.camstreamPage.player && "
                                   "window.camstreamPage.player.hasAudio && window.camstreamPage.player.frames > 20",
                                   timeout=30000)
            page.click("#sound")
            page.wait_for_timeout(4000)  # the browser's A/V sync settles
            data = base64.b64decode(page.evaluate(RECORD_JS, int(seconds * 1000)))
        finally:
            browser.close()
    out = work / "web.webm"
    out.write_bytes(data)
    return avsync.measure(str(out))


class Rig:
    """PulseAudio with a drifting pipe source, the A/V generator and camstream, all torn down on close."""

    def __init__(self, work: Path, drift_ppm: float, audio: bool = True, size: str = "320x240", fps: int = 25):
        self.work = work
        self.video_fifo, self.audio_fifo = work / "cam.y4m", work / "mic.pcm"
        os.mkfifo(self.video_fifo)
        self.daemon, self.env = pulse_with_pipe_source(work / "pulse", self.audio_fifo)
        w, h = (int(v) for v in size.split("x"))
        self.source = AvSource(self.video_fifo, self.audio_fifo, w, h, fps, drift_ppm)
        self.source.start()
        self.rtsp, self.rtmp, self.web = free_port(), free_port(), free_port()
        self.cs = proc.Child("camstream", camstream_argv(self.video_fifo, work, self.rtsp, self.rtmp,
                                                         "pulse:drift" if audio else None, size, fps, self.web),
                             env=self.env, stop_signal=2)
        self.cs.start()
        self.started = time.monotonic()

    def wait_live(self, timeout: float = 60) -> None:
        """Until the status file shows frames and (with sound) live audio."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status = read_status(self.work / "state")
            if status and status.get("frames", 0) > 50:
                return
            if not self.cs.running():
                raise RuntimeError("camstream exited: " + "\n".join(self.cs.tail()[-10:]))
            time.sleep(0.5)
        raise RuntimeError("camstream did not go live: " + "\n".join(self.cs.tail()[-10:]))

    def measure(self, seconds: float = 8, web: bool = False) -> SyncPoint:
        """Offsets at both viewers and in the newest finished chunk."""
        rtmp = avsync.measure_stream(f"rtmp://127.0.0.1:{self.rtmp}/live/cam", self.work, seconds)
        rtsp = avsync.measure_stream(f"rtsp://127.0.0.1:{self.rtsp}/live", self.work, seconds)
        chunks = sorted((self.work / "ssd" / "video").glob("*.mp4"))
        chunk = avsync.measure(str(chunks[-1])) if chunks else avsync.report([])
        web_report = None
        if web:
            try:
                web_report = measure_web(self.web, self.work, seconds)
            except Exception as exc:  # no Chromium/Playwright here: the other three still count
                print(f"web view not measured: {exc}", file=sys.stderr)
        return SyncPoint(round((time.monotonic() - self.started) / 60, 1), rtmp, rtsp, chunk, web_report)

    def close(self) -> None:
        """Stop camstream, the generator and PulseAudio."""
        self.cs.stop(grace=10)
        self.source.stop()
        self.daemon.kill()
        self.daemon.wait()


def sync_run(minutes: float, drift_ppm: float, log=print) -> list[SyncPoint]:  # type: ignore[no-untyped-def]
    """Measure at the start and after `minutes` of running with a drifting microphone."""
    with tempfile.TemporaryDirectory(prefix="camstream-audio-") as tmp:
        rig = Rig(Path(tmp), drift_ppm)
        try:
            rig.wait_live()
            time.sleep(12)  # one finished 10 s chunk
            points = [rig.measure(web=True)]
            web = points[0].web.line() if points[0].web else "-"
            log(f"start: rtmp {points[0].rtmp.line()}; rtsp {points[0].rtsp.line()}; chunk {points[0].chunk.line()}; "
                f"web {web}")
            end = rig.started + minutes * 60
            while time.monotonic() < end - 10:
                time.sleep(min(60.0, max(0.0, end - 10 - time.monotonic())))
                if not rig.cs.running():
                    raise RuntimeError("camstream exited: " + "\n".join(rig.cs.tail()[-10:]))
            if minutes > 0.5:
                points.append(rig.measure(web=True))
                p = points[-1]
                log(f"{p.minute} min: rtmp {p.rtmp.line()}; rtsp {p.rtsp.line()}; chunk {p.chunk.line()}")
            return points
        finally:
            rig.close()


def cpu_seconds(tree_root: int) -> float:
    """User+system CPU seconds of a process and all its descendants."""
    total = 0.0
    try:
        root = psutil.Process(tree_root)
        for p in [root, *root.children(recursive=True)]:
            try:
                t = p.cpu_times()
                total += t.user + t.system + t.children_user + t.children_system
            except psutil.NoSuchProcess:
                pass
    except psutil.NoSuchProcess:
        pass
    return total


def cpu_run(audio: bool, seconds: float, size: str) -> float:
    """camstream's CPU (seconds per minute, whole process tree) over `seconds`, with or without the microphone.

    The generator and PulseAudio run in both cases and are not counted.
    """
    with tempfile.TemporaryDirectory(prefix="camstream-audio-cpu-") as tmp:
        rig = Rig(Path(tmp), 0.0, audio=audio, size=size, fps=30)
        try:
            rig.wait_live()
            time.sleep(3)
            assert rig.cs.pid is not None
            before, t0 = cpu_seconds(rig.cs.pid), time.monotonic()
            time.sleep(seconds)
            used, elapsed = cpu_seconds(rig.cs.pid) - before, time.monotonic() - t0
            return used / elapsed * 60
        finally:
            rig.close()


def render_sync(points: list[SyncPoint], minutes: float, drift_ppm: float) -> str:
    """The A/V sync section of bench/audio.md."""
    lines = [
        "## A/V sync: audio onset minus flash (positive = sound late)",
        "",
        f"Camera: Y4M pipe, 320x240@25, a white frame every second. Microphone: a PulseAudio pipe source that "
        f"beeps at the same instants and delivers {drift_ppm:g} ppm more samples than it claims "
        f"(a fast crystal: {drift_ppm * 60 / 1000:.1f} ms of extra audio per minute if nothing compensated). "
        f"Each viewer records 8 s (about 7 events); the chunk is the newest 10 s one. Target |offset| <= "
        f"{TARGET_MS:g} ms.",
        "",
        "| when | where | events | median ms | worst ms | target |",
        "|---|---|---|---|---|---|",
    ]
    for p in points:
        rows = [("RTMP viewer", p.rtmp), ("RTSP viewer", p.rtsp), ("recorded chunk", p.chunk)]
        if p.web is not None:
            rows.append(("web view, Chromium WebRTC (MediaRecorder)", p.web))
        for where, rep in rows:
            ok = "PASS" if rep.events and abs(rep.worst_ms) <= TARGET_MS else "MISS"
            lines.append(f"| {p.minute:g} min | {where} | {rep.events} | {rep.median_ms:+.0f} | {rep.worst_ms:+.0f} "
                         f"| {ok} |")
    if len(points) > 1:
        span = points[-1].minute - points[0].minute
        lines.append("")
        for name in ("rtmp", "rtsp", "chunk"):
            a, b = getattr(points[0], name), getattr(points[-1], name)
            if a.events and b.events and span > 0:
                lines.append(f"- drift of the median at the {name}: {(b.median_ms - a.median_ms) / span:+.2f} ms/min "
                             f"(uncompensated it would be {drift_ppm * 60 / 1000:+.1f} ms/min)")
    if minutes < 30:
        lines.append(f"\nThis run lasted {minutes:g} minutes, not the 30 the issue asks for (`--minutes 30`).")
    return "\n".join(lines) + "\n"


def render_cpu(cpu: tuple[float, float], size: str) -> str:
    """The CPU section of bench/audio.md."""
    without, with_audio = cpu
    return "\n".join([
        "## CPU cost of sound",
        "",
        f"camstream's whole process tree (supervisor, FFmpeg, RTSP server, nginx, audio device reader), "
        f"{size}@30 libx264, RTSP + RTMP + record + the web view (no viewer); CPU seconds per minute, median of 3 runs:",
        "",
        "| case | CPU s/min |",
        "|---|---|",
        f"| video only | {without:.1f} |",
        f"| video + microphone (device reader, feeder, aresample, AAC 96 kb/s mono, Opus for the web view) "
        f"| {with_audio:.1f} |",
        f"| cost of sound | {with_audio - without:+.1f} ({(with_audio / without - 1) * 100:+.0f}%) |",
    ]) + "\n"


def update_section(text: str, name: str, body: str) -> str:
    """Replace (or append) the part of bench/audio.md between <!-- name --> markers."""
    return report.put_section(text, name, body, title="# Sound: A/V sync and CPU (`make bench-audio`, bench/audio.py)\n")


def main(argv: list[str] | None = None) -> int:
    """Run the sync and CPU measurements; write bench/audio.md."""
    parser = argparse.ArgumentParser(prog="python -m bench.audio", description=__doc__)
    parser.add_argument("--minutes", type=float, default=30, help="length of the drift run (default 30)")
    parser.add_argument("--drift-ppm", type=float, default=1000, help="microphone clock error (default 1000 ppm)")
    parser.add_argument("--cpu-seconds", type=float, default=60, help="CPU window per case (default 60; 0 = skip)")
    parser.add_argument("--size", default="1280x720", help="video size for the CPU cases")
    parser.add_argument("--no-sync", action="store_true", help="skip the sync run")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ns = parser.parse_args(argv)
    # SIGTERM (e.g. `kill`, or a background job that ignores SIGINT) unwinds through the finally blocks, so
    # camstream, the generator and PulseAudio are always stopped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    text = ns.out.read_text() if ns.out.exists() else ""
    if ns.cpu_seconds > 0:
        runs = [(cpu_run(False, ns.cpu_seconds, ns.size), cpu_run(True, ns.cpu_seconds, ns.size)) for _ in range(3)]
        cpu = (statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs))
        print(f"cpu: video only {cpu[0]:.1f}, with sound {cpu[1]:.1f} CPU s/min")
        text = update_section(text, "audio-cpu", render_cpu(cpu, ns.size))
        ns.out.write_text(text)
    if not ns.no_sync:
        points = sync_run(ns.minutes, ns.drift_ppm)
        text = update_section(text, "audio-sync", render_sync(points, ns.minutes, ns.drift_ppm))
        ns.out.write_text(text)
    print(f"wrote {ns.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
