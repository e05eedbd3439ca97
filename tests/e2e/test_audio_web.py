"""The web view's sound (issue 14) in real Chromium: `camstream run --audio ...` with the page, over WebRTC.

FFmpeg encodes the sound once more as Opus for the web view only (camstream/graph.py, tee select); the media hub
demuxes it and every WebRTC viewer gets it as a second track. Chromium's own statistics say it arrived and was
not silence (inbound-rtp kind=audio: packetsReceived, totalAudioEnergy).
"""

from __future__ import annotations

import importlib.util
import json
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from media_support import CHROMIUM, CHROMIUM_ARGS
from pulse import MONITOR, Pulse
from support import free_port

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(importlib.util.find_spec("camstream.servers.web") is None,
                       reason="needs camstream run's managed web server (camstream/servers/web.py)"),
]
playwright_sync = pytest.importorskip("playwright.sync_api")

# Chromium's statistics of the received sound (W3C webrtc-stats RTCInboundRtpStreamStats).
AUDIO_STATS_JS = """async () => {
  const pc = window.camstreamPage.player.conn && window.camstreamPage.player.conn.pc;
  if (!pc) return null;
  let found = null;
  (await pc.getStats()).forEach((r) => {
    if (r.type === "inbound-rtp" && r.kind === "audio") {
      found = {packetsReceived: r.packetsReceived, packetsLost: r.packetsLost, audioLevel: r.audioLevel,
               totalAudioEnergy: r.totalAudioEnergy, totalSamplesReceived: r.totalSamplesReceived,
               concealedSamples: r.concealedSamples, codecId: r.codecId};
    }
  });
  if (found && found.codecId) {
    (await pc.getStats()).forEach((r) => { if (r.id === found.codecId) found.mimeType = r.mimeType; });
  }
  return found;
}"""


def get_json(url: str) -> Any:
    """GET and parse JSON."""
    with urllib.request.urlopen(url, timeout=5) as resp:
        return json.loads(resp.read())


@pytest.mark.parametrize("kind", ["tone", "pulse"])
def test_web_view_plays_the_sound(kind: str, request: pytest.FixtureRequest, camstream_run,  # type: ignore[no-untyped-def]
                                  tmp_path: Path) -> None:
    env: dict[str, str] = {}
    audio = "source"  # the test pattern gets a tone
    if kind == "pulse":
        pulse: Pulse = request.getfixturevalue("pulse")
        pulse.play_tone()
        env = pulse.env()
        audio = f"pulse:{MONITOR}"
    web_port = free_port()
    cs = camstream_run(
        "--source", "testsrc", "--resolution", "320x240", "--fps", "15", "--bitrate", "300k", "--audio", audio,
        "--rtsp", "--rtsp-server", "builtin", "--rtsp-port", str(free_port()), "--no-record", "--no-snapshots",
        "--web-port", str(web_port), "--ssd-path", str(tmp_path / "ssd"), "--state-dir", str(tmp_path / "state"),
        env=env,
    )
    base = f"http://127.0.0.1:{web_port}"
    cs.wait_for(lambda: "web: listening http://" in cs.log(), 30, "the web server")
    cs.wait_for(lambda: get_json(f"{base}/api/info").get("media", {}).get("audio", {}).get("codec") == "opus", 30,
                "Opus in the web media hub")
    with playwright_sync.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.goto(f"{base}/?mode=webrtc")
            page.wait_for_function("window.camstreamPage && window.camstreamPage.player && "
                                   "window.camstreamPage.player.frames > 10 && window.camstreamPage.player.hasAudio",
                                   timeout=20000)
            # Starts muted (autoplay policy); the speaker button shows once there is sound, one click unmutes.
            assert page.evaluate("document.getElementById('video').muted") is True
            page.click("#sound")
            assert page.evaluate("document.getElementById('video').muted") is False
            assert page.get_attribute("#sound", "aria-pressed") == "true"
            page.wait_for_timeout(4000)
            first = page.evaluate(AUDIO_STATS_JS)
            page.wait_for_timeout(2000)
            second = page.evaluate(AUDIO_STATS_JS)
            player = page.evaluate("window.camstreamPage.player.stats()")
            info = get_json(f"{base}/api/info")["media"]
        finally:
            browser.close()
    print(kind, first, second, player["fps"], info["audio"])
    assert player["mode"] == "webrtc" and player["audio"] is True
    assert first is not None and second is not None, "no inbound audio stream in Chromium"
    assert first["mimeType"].lower() == "audio/opus"
    assert second["packetsReceived"] > first["packetsReceived"] > 100  # 50 packets/s of 20 ms
    assert second["totalAudioEnergy"] > first["totalAudioEnergy"] > 0  # decoded and played: not silence
    # Contiguous RTP timestamps: NetEq made up (concealed) next to nothing. Timestamps that followed the frames'
    # transit delay packet by packet had it conceal ~25% (camstream/web/media/gst.py AUDIO_RESYNC_NS).
    played = second["totalSamplesReceived"] - first["totalSamplesReceived"]
    concealed = second["concealedSamples"] - first["concealedSamples"]
    assert played > 0 and concealed / played < 0.1, (concealed, played)
    assert info["audio"]["webrtc_viewers"] == 1
    status = get_json(f"{base}/api/status")
    assert status["audio"]["codec"] == "aac,opus" and status["audio"]["state"] == "live", status["audio"]
    assert cs.stop() == 0
