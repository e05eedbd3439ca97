"""`python -m bench.web_media`: browser glass-to-glass latency (WebRTC, fMP4 fallback) next to RTSP, and CPU per viewer.

One FFmpeg encodes a stamped test pattern once (camstream.latency.stamp_filter: the wall clock burnt into every
frame) and sends the same MPEG-TS over local TCP to the builtin RTSP server and to the web media hub, as
`camstream run` does. Then, in the same run:
- RTSP: the GStreamer viewer (bench/gst_viewer.py) reads the stamp from each decoded frame;
- WebRTC and the fallback: Chromium plays the page, player.js reads the stamp from each presented frame
  (requestVideoFrameCallback + canvas) and compares it with the wall clock at display time;
- CPU per viewer: the hub process's CPU with no viewer and with N browser viewers of each kind.
Target: WebRTC p50 within 1.5x of the RTSP/GStreamer-viewer p50 of the same run.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import psutil

from bench import report

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results.md"
SECTION = "bench.web_media"  # its markers in results.md (bench.report.put_section)
TARGET_RATIO = 1.5


@dataclass
class LatencyRow:
    """One viewer path's glass-to-glass latency (ms)."""

    path: str
    samples: int
    p50: float | None
    p90: float | None
    p99: float | None


@dataclass
class CpuRow:
    """The hub process's CPU (% of one core) with `viewers` viewers of one kind."""

    kind: str
    viewers: int
    percent: float


def percentile(values: list[float], q: float) -> float | None:
    """The q-quantile (nearest rank) of values, None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def latency_row(path: str, values: list[float]) -> LatencyRow:
    """Percentiles of one path's samples."""
    return LatencyRow(path, len(values), percentile(values, 0.5), percentile(values, 0.9), percentile(values, 0.99))


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"


def render(latency: list[LatencyRow], cpu: list[CpuRow], meta: str) -> str:
    """The markdown section."""
    rtsp = next((r.p50 for r in latency if r.path.startswith("RTSP")), None)
    webrtc = next((r.p50 for r in latency if r.path == "WebRTC (WHEP)"), None)
    lines = ["## Browser live view (bench/web_media.py)", "", meta, "",
             "Glass-to-glass latency, ms (wall-clock stamp burnt in before the encoder, read back from the frame the "
             "viewer shows; one encode feeds all paths in the same run). The GStreamer viewer stops at its decoder's "
             "output; the browser rows run to the rendering step that shows the frame (requestVideoFrameCallback's "
             "time), and the 'at decoder output' row is WebRTC at the GStreamer viewer's point "
             "(receiveTime + processingDuration).", "",
             "| path | frames | p50 | p90 | p99 |", "|---|---|---|---|---|"]
    for r in latency:
        lines.append(f"| {r.path} | {r.samples} | {_ms(r.p50)} | {_ms(r.p90)} | {_ms(r.p99)} |")
    if rtsp and webrtc:
        verdict = "met" if webrtc <= TARGET_RATIO * rtsp else "NOT met"
        lines += ["", f"Target WebRTC p50 <= {TARGET_RATIO}x RTSP/GStreamer p50: {webrtc:.0f} / {rtsp:.0f} ms = "
                      f"{webrtc / rtsp:.2f}x, {verdict}."]
    else:
        lines += ["", f"Target WebRTC p50 <= {TARGET_RATIO}x RTSP/GStreamer p50: not measured (a path had no samples)."]
    base = next((c.percent for c in cpu if c.viewers == 0), None)
    lines += ["", "Web media process CPU, % of one core (the hub: ingest, per-viewer payloading/SRTP or fMP4 and "
                  "WebSocket; the browsers' own decoding is not included).", "",
              "| viewers | CPU | per viewer |", "|---|---|---|"]
    for c in cpu:
        per = "-" if base is None or c.viewers == 0 else f"{(c.percent - base) / c.viewers:.1f}%"
        lines.append(f"| {c.viewers} {c.kind} | {c.percent:.1f}% | {per} |")
    return "\n".join(lines) + "\n"



def publisher_argv(width: int, height: int, fps: int, rtsp_ingest: int, web_ingest: int) -> list[str]:
    """One stamped encode, teed as MPEG-TS to the RTSP server's and the web hub's ingests (as camstream run does)."""
    from camstream.latency import stamp_filter

    ts = "f=mpegts:onfail=ignore:mpegts_flags=+resend_headers"
    return [
        "ffmpeg", "-hide_banner", "-loglevel", "error", "-re", "-f", "lavfi",
        "-i", f"testsrc2=size={width}x{height}:rate={fps}", "-vf", stamp_filter(width, height),
        "-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-profile:v", "baseline",
        "-g", str(fps), "-pix_fmt", "yuv420p", "-flush_packets", "1", "-omit_video_pes_length", "0",
        "-map", "0:v", "-f", "tee",
        f"[{ts}]tcp://127.0.0.1:{rtsp_ingest}|[{ts}]tcp://127.0.0.1:{web_ingest}",
    ]


def _cpu_percent(proc: psutil.Process, seconds: float) -> float:
    before = proc.cpu_times()
    time.sleep(seconds)
    after = proc.cpu_times()
    return 100.0 * ((after.user - before.user) + (after.system - before.system)) / seconds


def main(argv: list[str] | None = None) -> int:
    """Measure and write the section."""
    parser = argparse.ArgumentParser(prog="python -m bench.web_media")
    parser.add_argument("--quick", action="store_true", help="short runs")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--size", default="640x360")
    ns = parser.parse_args(argv)
    quick = ns.quick or os.environ.get("CAMSTREAM_BENCH_QUICK") == "1"
    seconds = 4.0 if quick else 20.0
    cpu_seconds = 3.0 if quick else 10.0
    viewers = 2 if quick else 3
    width, height = (int(v) for v in ns.size.split("x"))
    fps = 30

    sys.path.insert(0, str(ROOT / "tests"))
    from media_support import CHROMIUM, CHROMIUM_ARGS, media_app  # type: ignore[import-not-found]  # tests/ helper
    from playwright.sync_api import sync_playwright

    from bench import gst_viewer
    from camstream.servers.rtsp_builtin import BuiltinRtspServer

    load = os.getloadavg()
    latency: list[LatencyRow] = []
    cpu: list[CpuRow] = []
    with tempfile.TemporaryDirectory(prefix="camstream-bench-web-") as tmp:
        rtsp = BuiltinRtspServer(port=_free_port(), ingest_port=0)
        rtsp.start()
        try:
            rtsp.wait_ready()
            with media_app(Path(tmp)) as app:
                ffmpeg = subprocess.Popen(publisher_argv(width, height, fps, rtsp.ingest_port, app.ingest_port))
                try:
                    _wait(lambda: bool(app.stats().get("profile_level_id")), 10)
                    stats = gst_viewer.watch(rtsp.url("127.0.0.1"), seconds, width)
                    latency.append(LatencyRow("RTSP (GStreamer viewer, UDP)", stats.samples, stats.p50_ms,
                                              stats.p90_ms, stats.p99_ms))
                    hub = psutil.Process(app.proc.pid)
                    cpu.append(CpuRow("", 0, _cpu_percent(hub, cpu_seconds)))
                    with sync_playwright() as pw:
                        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                        try:
                            for mode, label in (("webrtc", "WebRTC (WHEP)"), ("mse", "fMP4 over WebSocket (MSE)")):
                                pages = [browser.new_page() for _ in range(viewers)]
                                for page in pages:
                                    page.goto(f"{app.url()}?mode={mode}")
                                for page in pages:
                                    page.wait_for_function("window.player.latencies.length > 0", timeout=15000)
                                cpu.append(CpuRow(label, viewers, _cpu_percent(hub, cpu_seconds)))
                                for page in pages[1:]:
                                    page.close()
                                pages[0].evaluate("window.player.latencies.length = 0; "
                                                  "window.player.decodedLatencies.length = 0")
                                time.sleep(seconds)
                                latency.append(latency_row(label, pages[0].evaluate("window.player.latencies")))
                                decoded = pages[0].evaluate("window.player.decodedLatencies")
                                if decoded:
                                    latency.append(latency_row(f"{label}, at decoder output", decoded))
                                pages[0].close()
                        finally:
                            browser.close()
                finally:
                    ffmpeg.terminate()
                    ffmpeg.wait(10)
        finally:
            rtsp.stop()
    meta = (f"{width}x{height}@{fps}, x264 ultrafast constrained baseline, GOP 1 s; {seconds:g} s per latency path, "
            f"{viewers} browser viewers for CPU; headless Chromium (software decoding); load average at start "
            f"{load[0]:.1f} on {os.cpu_count()} cores.")
    section = render(latency, cpu, meta)
    report.write_section(ns.out, SECTION, section)
    print(section)
    return 0


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait(cond: object, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():  # type: ignore[operator]
            return
        time.sleep(0.1)
    raise RuntimeError("the web media hub never received the stream")


if __name__ == "__main__":
    sys.exit(main())
