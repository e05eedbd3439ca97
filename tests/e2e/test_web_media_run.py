"""`camstream run` with the web view: five browsers, an RTSP and an RTMP viewer, all from one FFmpeg and one encode."""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from camstream.servers.nginx_rtmp import NginxRtmpServer
from media_support import CHROMIUM, CHROMIUM_ARGS
from support import free_port

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(importlib.util.find_spec("camstream.servers.web") is None,
                       reason="needs camstream run's managed web server (camstream/servers/web.py)"),
]
playwright_sync = pytest.importorskip("playwright.sync_api")
FPS = 15  # five software-decoding browsers share 2 cores with the encoder: keep each one light
WATCH_S = 10


@pytest.fixture
def nginx(tmp_path: Path) -> Iterator[NginxRtmpServer]:
    """A real nginx-rtmp the test owns."""
    server = NginxRtmpServer(tmp_path / "nginx", port=free_port(), stat_port=free_port())
    server.start()
    server.wait_ready(10)
    yield server
    server.stop()


def ffmpeg_viewer(url: str, *extra: str) -> subprocess.Popen[str]:
    """An FFmpeg client decoding `WATCH_S` seconds of the stream; its -progress output reports the frames."""
    return subprocess.Popen(
        ["ffmpeg", "-hide_banner", "-loglevel", "error", *extra, "-i", url, "-t", str(WATCH_S), "-f", "null", "-",
         "-progress", "pipe:1", "-nostats"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def frames_of(viewer: subprocess.Popen[str]) -> int:
    """Frames an ffmpeg_viewer decoded (waits for it)."""
    out, _err = viewer.communicate(timeout=60)
    found = re.findall(r"^frame=(\d+)", out, re.MULTILINE)
    return int(found[-1]) if found else 0


def test_five_browsers_rtsp_and_rtmp_from_one_encode(camstream_run, nginx: NginxRtmpServer, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    web_port, rtsp_port = free_port(), free_port()
    cs = camstream_run(
        "--source", "testsrc", "--resolution", "320x240", "--fps", str(FPS), "--bitrate", "400k",
        "--rtsp", "--rtsp-server", "builtin", "--rtsp-port", str(rtsp_port),
        "--server", f"rtmp://127.0.0.1:{nginx.port}/live", "--web-port", str(web_port),
        "--ssd-path", str(tmp_path / "ssd"), "--state-dir", str(tmp_path / "state"),
    )
    base = f"http://127.0.0.1:{web_port}"

    def info() -> dict:  # type: ignore[type-arg]
        with urllib.request.urlopen(f"{base}/api/info", timeout=5) as resp:
            return json.loads(resp.read())  # type: ignore[no-any-return]

    cs.wait_for(lambda: "web: listening http://" in cs.log(), 30, "the web server")
    cs.wait_for(lambda: info().get("media", {}).get("profile_level_id"), 30, "video in the web media hub")
    modes = ["webrtc", "webrtc", "webrtc", "mse", "mse"]
    with playwright_sync.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            pages = []
            for mode in modes:
                # A context of its own per viewer: its own window, so no page is a background tab whose frame
                # callbacks Chromium throttles.
                page = browser.new_context().new_page()
                page.goto(f"{base}/?mode={mode}")
                pages.append(page)
            for page in pages:
                page.wait_for_function("window.camstreamPage && window.camstreamPage.player && "
                                       "window.camstreamPage.player.frames > 10", timeout=20000)
            cs.wait_for(lambda: info()["media"]["viewers"] == {"webrtc": 3, "mse": 2}, 15, "3 WebRTC + 2 fallback viewers")
            rtsp = ffmpeg_viewer(f"rtsp://127.0.0.1:{rtsp_port}/live", "-rtsp_transport", "tcp")
            rtmp = ffmpeg_viewer(f"rtmp://127.0.0.1:{nginx.port}/live/cam")
            time.sleep(2)  # two more decoders starting on a 2-core box: measure once they run
            # Reference: the rate the hub received frames at in the same window (what FFmpeg really delivered);
            # each page's rate on its own clock (pages answer one after another on a loaded machine).
            hub0, t0 = info()["media"]["frames_in"], time.monotonic()
            start = [p.evaluate("[performance.now(), window.camstreamPage.player.frames]") for p in pages]
            time.sleep(6)
            end = [p.evaluate("[performance.now(), window.camstreamPage.player.frames]") for p in pages]
            hub_rate = (info()["media"]["frames_in"] - hub0) / (time.monotonic() - t0)
            rates = [(e[1] - s[1]) / ((e[0] - s[0]) / 1000) / hub_rate for s, e in zip(start, end, strict=True)]
            stats = [p.evaluate("window.camstreamPage.player.stats()") for p in pages]
            assert [s["mode"] for s in stats] == modes, stats
            encoders = [p for p in cs.children() if p.name() == "ffmpeg"]
            assert len(encoders) == 1, [" ".join(p.cmdline()) for p in encoders]
            argv = encoders[0].cmdline()
            h264 = [argv[i + 1] for i, a in enumerate(argv[:-1]) if a == "-c:v" and "264" in argv[i + 1]]
            assert h264 == ["libx264"], argv  # one H.264 encode for every output (the other -c:v is the JPEGs)
            counts = {"rtsp": frames_of(rtsp), "rtmp": frames_of(rtmp)}
        finally:
            browser.close()
    print(f"hub {hub_rate:.1f} fps; browser frame ratios {rates} (fps {[s['fps'] for s in stats]}, reconnects {[s['reconnects'] for s in stats]}); RTSP/RTMP frames in {WATCH_S} s: {counts}")
    assert all(n >= 0.9 * FPS * WATCH_S for n in counts.values()), counts
    assert cs.stop() == 0
    # Each viewer >= 90% of the frames the hub received (issue 13). The early WebRTC viewers used to fall to
    # 2-80%: every viewer re-stamped one shared buffer (see camstream/gstbuffer.py).
    assert all(rate >= 0.9 for rate in rates), (rates, stats)
