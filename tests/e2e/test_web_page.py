"""The page in real Chromium (Debian's /usr/bin/chromium driven by Playwright): live status, snapshot, recordings,
a chunk playing in the page, the download link, the profile, and HTTP Basic auth."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from support import free_port

pytestmark = pytest.mark.slow

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SMALL = ["--source", "testsrc", "--resolution", "320x240", "--fps", "25", "--bitrate", "400k",
         "--segment-seconds", "2", "--rtsp", "--rtsp-server", "builtin"]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One headless Chromium for the module (never `playwright install`: the system's browser)."""
    sync_api = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():
        pytest.skip("no /usr/bin/chromium: sudo apt install chromium")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield b
        finally:
            b.close()


def start(camstream_run, tmp_path: Path, *extra: str, env: dict[str, str] | None = None) -> tuple[Any, int]:  # type: ignore[no-untyped-def]
    port = free_port()
    state = tmp_path / "state"
    cs = camstream_run(*SMALL, "--rtsp-port", str(free_port()), "--web-port", str(port), "--ssd-path",
                       str(tmp_path / "ssd"), "--state-dir", str(state), *extra, env=env)

    def running() -> bool:
        try:
            return json.loads((state / "status.json").read_text()).get("state") == "running"
        except (OSError, ValueError):
            return False

    cs.wait_for(lambda: "web: listening http://" in cs.log() and running(), 40, "camstream and its web page")
    return cs, port


def field(page: Any, name: str) -> str:
    return str(page.locator(f'#status tr[data-field="{name}"] td').inner_text())


def test_page_shows_live_status_snapshot_recordings_and_plays_a_chunk(camstream_run, browser, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    cs, port = start(camstream_run, tmp_path)
    # Wait for two chunks so the recordings list has something to play.
    cs.wait_for(lambda: len(list((tmp_path / "ssd" / "video").glob("*Z.mp4"))) >= 2, 40, "two chunks")
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        page.goto(f"http://127.0.0.1:{port}/", wait_until="load")
        # The status panel shows every field of /api/status, and they update live.
        page.wait_for_function("document.querySelectorAll('#status tr[data-field]').length >= 20", timeout=15000)
        status = json.loads(page.evaluate("fetch('/api/status').then(r => r.text())"))
        rendered = page.eval_on_selector_all("#status tr[data-field]", "rows => rows.map(r => r.dataset.field)")
        assert set(rendered) == set(status), (set(status) - set(rendered))
        assert field(page, "state") == "running" and field(page, "source") == "testsrc"
        assert field(page, "encoder") == "libx264"
        assert field(page, "bitrate").endswith("kbit/s")  # measured, no more N/A
        assert "rtsp 0" in field(page, "viewers_by_protocol")
        assert page.locator("#profile").inner_text().startswith("constrained baseline")
        frames_before = int(field(page, "frames"))
        page.wait_for_function(f"+document.querySelector('#status tr[data-field=\"frames\"] td').textContent"
                               f" > {frames_before + 25}", timeout=10000)
        # The latest snapshot is shown and refreshed.
        page.wait_for_function("document.getElementById('snapshot').naturalWidth === 320", timeout=10000)
        first_src = page.get_attribute("#snapshot", "src")
        page.wait_for_function(f"document.getElementById('snapshot').src !== {json.dumps(first_src)}", timeout=10000)
        # Recordings by day and hour; a chunk plays in the page.
        page.locator("button.hour").first.click()
        page.wait_for_selector("button.chunk", timeout=15000)
        page.locator("button.chunk").first.click()
        page.wait_for_function("(() => { const v = document.getElementById('playback');"
                               " return v.readyState >= 2 && v.currentTime > 0.5 && v.videoWidth === 320; })()",
                               timeout=15000)
        # "Download this time range" points at the export of the chunk's range, and it downloads an MP4.
        href = page.get_attribute("#range-download", "href")
        assert href is not None and href.startswith("/api/export?from=")
        with page.expect_download(timeout=30000) as download_info:
            page.click("#range-download")
        saved = tmp_path / "range.mp4"
        download_info.value.save_as(saved)
        assert saved.stat().st_size > 1000 and saved.read_bytes()[4:8] == b"ftyp"
        # The live view fills the phone's screen, with the fullscreen button and the connection indicator.
        box = page.locator("#video").bounding_box()
        assert box is not None and box["width"] == 390 and box["height"] >= 800
        assert page.locator("#fullscreen").is_visible() and page.locator("#conn").is_visible()
    finally:
        context.close()
    assert not errors, errors


def test_page_asks_for_credentials_when_set(camstream_run, browser, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    cs, port = start(camstream_run, tmp_path, "--no-record",
                     env={"CAMSTREAM_RTSP_USER": "ann", "CAMSTREAM_RTSP_PASSWORD": "s3cret"})
    anonymous = browser.new_context()
    try:
        # Headless Chromium has nobody to type a password: it gives up on the 401 challenge.
        with pytest.raises(Exception, match="ERR_INVALID_AUTH_CREDENTIALS"):
            anonymous.new_page().goto(f"http://127.0.0.1:{port}/")
        assert anonymous.request.get(f"http://127.0.0.1:{port}/api/status").status == 401
    finally:
        anonymous.close()
    context = browser.new_context(http_credentials={"username": "ann", "password": "s3cret"})
    try:
        page = context.new_page()
        response = page.goto(f"http://127.0.0.1:{port}/")
        assert response is not None and response.status == 200
        page.wait_for_function("document.querySelector('#status tr[data-field=\"state\"] td')?.textContent"
                               " === 'running'", timeout=15000)
    finally:
        context.close()


# webrtc: the default profile (auto -> constrained baseline with the page on) negotiates over WebRTC (issue 15).
@pytest.mark.parametrize("mode", ["", "?mode=mse", "?mode=webrtc"], ids=["auto", "fallback", "webrtc"])
def test_page_live_view_indicator_and_latency(camstream_run, browser, tmp_path: Path, mode: str) -> None:  # type: ignore[no-untyped-def]
    """With the media hub (camstream.web.media) present: frames advance, the indicator says live, the --clock
    stamp gives a latency readout, and the status counts the browser viewer under its protocol."""
    pytest.importorskip("camstream.web.media")
    cs, port = start(camstream_run, tmp_path, "--clock", "--no-record")
    page = browser.new_page()
    try:
        page.goto(f"http://127.0.0.1:{port}/{mode}")
        page.wait_for_function("document.getElementById('conn').dataset.state === 'live'", timeout=20000)
        frames = page.evaluate("""() => new Promise(done => {
            const v = document.getElementById('video'); let n = 0; const t0 = performance.now();
            const cb = () => { n++; if (performance.now() - t0 < 2000) v.requestVideoFrameCallback(cb); else done(n); };
            v.requestVideoFrameCallback(cb); })""")
        assert frames >= 25, frames  # 25 fps source over 2 s, at least half even on a loaded 2-core box
        page.wait_for_function("+document.getElementById('latency-ms').textContent > 0", timeout=30000)
        # auto may fall back to mse on a loaded box (no WebRTC frame within the player's connect timeout)
        protocol = page.evaluate("window.camstreamPage.player.mode")
        assert protocol == mode.removeprefix("?mode=") if mode else protocol in ("webrtc", "mse")
        page.wait_for_function(f"document.querySelector('#status tr[data-field=\"viewers_by_protocol\"] td')"
                               f".textContent.includes('{protocol} 1')", timeout=15000)
        # Constrained baseline in the stream itself (the hub reads the SPS; the page refreshes /api/info every 5 s).
        page.wait_for_function("document.getElementById('profile').textContent.includes('stream 42')",
                               timeout=15000)
    finally:
        page.close()
