"""MediaHub in a real Chromium (Playwright, /usr/bin/chromium): WebRTC (WHEP) and the fMP4/WebSocket fallback.

Real FFmpeg publishes a test pattern into the hub exactly as camstream's tee output does; the page counts the
frames its <video> presents (requestVideoFrameCallback, in player.js).
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from media_support import (
    CHROMIUM,
    CHROMIUM_ARGS,
    MediaApp,
    Publisher,
    frame_ratio,
    media_app,
    netns_available,
    netns_lan,
    wait_frames,
)

pytestmark = pytest.mark.slow
playwright_sync = pytest.importorskip("playwright.sync_api")


@pytest.fixture(scope="module")
def pw() -> Iterator[object]:
    """One Playwright driver for the module."""
    with playwright_sync.sync_playwright() as p:
        yield p


@pytest.fixture
def launch(pw: object) -> Iterator:  # type: ignore[type-arg]
    """Factory: a Chromium (optionally another executable, e.g. a netns wrapper); all closed afterwards."""
    browsers = []

    def start(executable: str = CHROMIUM) -> object:
        browser = pw.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)  # type: ignore[attr-defined]
        browsers.append(browser)
        return browser

    yield start
    for browser in browsers:
        browser.close()


@pytest.fixture
def app(tmp_path: Path) -> Iterator[MediaApp]:
    """The media web process."""
    with media_app(tmp_path) as running:
        yield running


@pytest.fixture
def publisher(app: MediaApp) -> Iterator[Publisher]:
    """FFmpeg publishing constrained baseline at FPS into the hub."""
    pub = Publisher(app.ingest_port, app.stats)
    pub.start()
    yield pub
    pub.stop()


def open_page(browser: object, url: str, mode: str) -> tuple[object, float]:
    """A new page at `url?mode=mode`; (page, monotonic time the load started)."""
    # A context (window) of its own: a second page of one context is a background tab, throttled by Chromium.
    page = browser.new_context().new_page()  # type: ignore[attr-defined]
    start = time.monotonic()
    page.goto(f"{url}?mode={mode}")
    return page, start


def assert_plays(page: object, start: float, mode: str, app: MediaApp, within: float = 3) -> None:
    """Frames within `within` s of load, then >= 90% of the source's frames, in the mode asked for.

    The 3 s bound of the issue is checked by test_frames_advance_within_3s and the offline-LAN test; tests
    about something else allow more, so a loaded machine fails only the tests that are about start-up time.
    """
    try:
        wait_frames(page, 1, max(100, within * 1000 - (time.monotonic() - start) * 1000))
    except playwright_sync.TimeoutError:
        pytest.fail(f"no frame within {within:g} s of load: {page.evaluate('window.player && window.player.stats()')}")
    # "advancing frames at >= 90% of the source rate within 3 s of load": the rate from 3 s after load on.
    time.sleep(max(0.0, start + 3 - time.monotonic()))
    assert_rate(page, app)
    stats = page.evaluate("window.player.stats()")  # type: ignore[attr-defined]
    assert stats["mode"] == mode, stats


def assert_rate(page: object, app: MediaApp, seconds: float = 4) -> None:
    """The page presents >= 90% of the frames the hub receives."""
    ratio = frame_ratio(page, app.stats, seconds)
    assert ratio >= 0.9, (f"{ratio:.0%} of the source's frames presented: {page.evaluate('window.player.stats()')}"
                          f" hub: {app.stats()}")


@pytest.mark.parametrize("mode", ["webrtc", "mse"], ids=["webrtc", "fallback-forced"])
def test_frames_advance_within_3s(launch, app: MediaApp, publisher: Publisher, mode: str) -> None:  # type: ignore[no-untyped-def]
    page, start = open_page(launch(), app.url(), mode)
    assert_plays(page, start, mode, app)
    viewers = app.stats()["viewers"]
    assert viewers == {"webrtc": 1, "mse": 0} if mode == "webrtc" else {"webrtc": 0, "mse": 1}


def test_auto_falls_back_when_webrtc_does_not_connect(launch, app: MediaApp, publisher: Publisher) -> None:  # type: ignore[no-untyped-def]
    # The answer reaches the browser, but its ICE candidates point at a port nothing listens on (as when a
    # firewall drops the media): no frame within connectTimeoutMs, so the player switches to the fallback.
    page = launch().new_page()

    def unreachable(route) -> None:  # type: ignore[no-untyped-def]
        resp = route.fetch()
        body = re.sub(r"(a=candidate:\S+ \d+ \S+ \d+ \S+) \d+ ", r"\1 9 ", resp.text())
        route.fulfill(response=resp, body=body)

    page.route("**/live/whep", unreachable)
    page.goto(f"{app.url()}?mode=auto")
    wait_frames(page, 1, 9000)
    stats = page.evaluate("window.player.stats()")
    assert stats["mode"] == "mse" and stats["fallbacks"] == 1, stats
    time.sleep(1)  # the switch itself (a new MediaSource) is not what this measures
    assert_rate(page, app)


@pytest.mark.parametrize("profile,plid", [("baseline", "42c0"), ("main", "4d40")])
def test_answer_states_the_stream_profile(launch, app: MediaApp, profile: str, plid: str) -> None:  # type: ignore[no-untyped-def]
    # x264's ultrafast preset can only make baseline; veryfast makes a real main stream.
    pub = Publisher(app.ingest_port, app.stats, profile=profile, preset="ultrafast" if profile == "baseline" else "veryfast")
    pub.start()
    try:
        page, start = open_page(launch(), app.url(), "webrtc")
        assert_plays(page, start, "webrtc", app, within=8)
        assert page.evaluate("window.player.stats().codec").startswith(f"avc1.{plid}")
        assert app.stats()["profile_level_id"].startswith(plid)
    finally:
        pub.stop()


def test_auto_falls_back_when_the_browser_cannot_decode_high(launch, app: MediaApp) -> None:  # type: ignore[no-untyped-def]
    # Debian's Chromium offers no H.264 High for WebRTC (MSE plays it): the hub answers 406, the player switches.
    pub = Publisher(app.ingest_port, app.stats, profile="high", preset="veryfast")
    pub.start()
    try:
        page, start = open_page(launch(), app.url(), "auto")
        assert_plays(page, start, "mse", app, within=8)
        stats = page.evaluate("window.player.stats()")
        assert stats["fallbacks"] == 1 and "WHEP 406" in stats["error"] and "42e01f" in stats["error"], stats
        assert app.stats()["profile"] == "high"
    finally:
        pub.stop()


def test_auto_plays_webrtc_and_whep_session_is_deleted(launch, app: MediaApp, publisher: Publisher) -> None:  # type: ignore[no-untyped-def]
    page, start = open_page(launch(), app.url(), "auto")
    assert_plays(page, start, "webrtc", app, within=8)
    assert page.evaluate("window.player.stats().codec") == "avc1.42c00d"  # the answer states the real profile
    page.evaluate("window.player.close()")
    deadline = time.monotonic() + 5
    while app.stats()["viewers"]["webrtc"] and time.monotonic() < deadline:
        time.sleep(0.1)
    assert app.stats()["viewers"]["webrtc"] == 0


def test_live_view_asks_for_no_playout_delay(launch, app: MediaApp, publisher: Publisher) -> None:  # type: ignore[no-untyped-def]
    # Both ends ask Chromium to show each frame as soon as it is decoded: the receiver's jitterBufferTarget is 0
    # (player.js), and the answer carries the playout-delay extension under the id the browser offered it (the
    # hub then writes min = max = 0 into every packet: test_webrtc_packets_carry_playout_delay_zero).
    page, start = open_page(launch(), app.url(), "webrtc")
    assert_plays(page, start, "webrtc", app, within=8)
    got = page.evaluate("""() => {
        const pc = window.player.conn.pc, uri = "http://www.webrtc.org/experiments/rtp-hdrext/playout-delay";
        const id = (sdp) => { const m = sdp.split("\\r\\n").find(l => l.startsWith("a=extmap:") && l.endsWith(" " + uri));
                              return m ? parseInt(m.slice(9), 10) : null; };
        return {target: pc.getReceivers()[0].jitterBufferTarget, offered: id(pc.localDescription.sdp),
                answered: id(pc.remoteDescription.sdp)};
    }""")
    assert got["target"] == 0 and got["offered"] is not None and got["answered"] == got["offered"], got


def test_encoder_sigkill_page_recovers(launch, app: MediaApp, publisher: Publisher) -> None:  # type: ignore[no-untyped-def]
    browser = launch()
    pages = []
    for mode in ("webrtc", "mse"):
        page, start = open_page(browser, app.url(), mode)
        assert_plays(page, start, mode, app, within=8)
        pages.append((page, start))
    publisher.kill()
    time.sleep(1)
    before = [page.evaluate("window.player.frames") for page, _ in pages]
    publisher.start()
    restarted = time.monotonic()
    for (page, _), count in zip(pages, before, strict=True):
        wait_frames(page, count + 10, max(100, 5000 - (time.monotonic() - restarted) * 1000))
    time.sleep(2)  # recovered; the rate is then measured past the seam (the fallback jumps the gap, a new GOP)
    for page, _ in pages:
        assert_rate(page, app)


INBOUND_VIDEO_JS = """async () => {
  const pc = window.player.conn && window.player.conn.pc;
  const out = {};
  if (pc) (await pc.getStats()).forEach(s => { if (s.type === "inbound-rtp" && s.kind === "video") Object.assign(out, s); });
  return out;
}"""


def test_lost_packets_are_retransmitted(launch, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    # There is no way to ask FFmpeg for a keyframe, so a viewer that loses a packet must get it again (NACK,
    # RTX: RFC 4588) or wait for the next GOP. Every 20th video packet is lost on its way out (~1 a second).
    with media_app(tmp_path, "--drop-every", "20") as app:
        pub = Publisher(app.ingest_port, app.stats)
        pub.start()
        try:
            page, start = open_page(launch(), app.url(), "webrtc")
            assert_plays(page, start, "webrtc", app, within=8)
            rtp = page.evaluate(INBOUND_VIDEO_JS)  # type: ignore[attr-defined]
        finally:
            pub.stop()
    assert rtp["nackCount"] >= 2 and rtp["retransmittedPacketsReceived"] >= 2, rtp
    assert rtp["pliCount"] == 0 and rtp["freezeCount"] <= 1, rtp


needs_netns = pytest.mark.skipif(netns_available() is not None, reason=str(netns_available()))


@needs_netns
@pytest.mark.parametrize("mode", ["webrtc", "mse"], ids=["webrtc", "fallback-forced"])
def test_offline_lan_browser_in_netns(launch, tmp_path: Path, mode: str) -> None:  # type: ignore[no-untyped-def]
    with media_app(tmp_path) as app, netns_lan(tmp_path) as lan:
        pub = Publisher(app.ingest_port, app.stats)
        pub.start()
        try:
            page, start = open_page(launch(str(lan.wrapper)), app.url(lan.host_ip), mode)
            assert_plays(page, start, mode, app)
        finally:
            pub.stop()


@needs_netns
@pytest.mark.parametrize("mode", ["webrtc", "mse"], ids=["webrtc", "fallback-forced"])
def test_viewer_network_drop_5s_recovers(launch, tmp_path: Path, mode: str) -> None:  # type: ignore[no-untyped-def]
    with media_app(tmp_path) as app, netns_lan(tmp_path) as lan:
        pub = Publisher(app.ingest_port, app.stats)
        pub.start()
        try:
            page, start = open_page(launch(str(lan.wrapper)), app.url(lan.host_ip), mode)
            assert_plays(page, start, mode, app, within=8)
            lan.set_blackout(True)
            time.sleep(5)
            stalled = page.evaluate("window.player.frames")
            lan.set_blackout(False)
            restored = time.monotonic()
            wait_frames(page, stalled + 10, 5000)
            print(f"{mode}: frames again {time.monotonic() - restored:.2f} s after the network came back")
            time.sleep(1)
            assert_rate(page, app)
        finally:
            lan.set_blackout(False)
            pub.stop()


def test_player_stamp_decoder_matches_latency_py(launch, app: MediaApp) -> None:  # type: ignore[no-untyped-def]
    from camstream.latency import stamp_rows

    page = launch().new_page()
    page.goto(app.url())
    for width, ms in ((320, 1796305373881), (640, 1234567890123)):
        rows = list(stamp_rows(width, ms))
        assert page.evaluate(f"CamstreamPlayer.decodeStamp(new Uint8Array({rows}), {width}, {len(rows) // width})") == ms
        rows[width * 2 + 20] ^= 0xFF  # one cell's centre flipped: the checksum refuses it, as in latency.py
        rows[width * 2 + 21] ^= 0xFF
    broken = bytearray(stamp_rows(320, 42))
    broken[:] = bytes(len(broken))
    assert page.evaluate(f"CamstreamPlayer.decodeStamp(new Uint8Array({list(broken)}), 320, 4)") is None
