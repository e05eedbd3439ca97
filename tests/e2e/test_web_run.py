"""The web view against a real `camstream run`: /api/status, /metrics, recordings, export, snapshot, auth."""

from __future__ import annotations

import base64
import http.client
import json
import os
import shutil
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from support import free_port, run_cli

pytestmark = pytest.mark.slow

SMALL = ["--source", "testsrc", "--resolution", "320x240", "--fps", "25", "--bitrate", "400k",
         "--segment-seconds", "2", "--rtsp", "--rtsp-server", "builtin"]


class Http:
    """Raw HTTP to the web server (http.client sends paths as given: no client-side normalisation)."""

    def __init__(self, port: int, auth: tuple[str, str] | None = None) -> None:
        self.port = port
        self.auth = auth

    def request(self, method: str, path: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        all_headers = dict(headers or {})
        if self.auth:
            all_headers["Authorization"] = "Basic " + base64.b64encode(":".join(self.auth).encode()).decode()
        try:
            conn.request(method, path, headers=all_headers)
            resp = conn.getresponse()
            return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
        finally:
            conn.close()

    def get(self, path: str, **kw: Any) -> tuple[int, dict[str, str], bytes]:
        return self.request("GET", path, **kw)

    def json(self, path: str) -> Any:
        status, _, body = self.get(path)
        assert status == 200, (path, status, body[:200])
        return json.loads(body)


def start(camstream_run, tmp_path: Path, *extra: str, env: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    web_port = free_port()
    cs = camstream_run(*SMALL, "--rtsp-port", str(free_port()), "--web-port", str(web_port),
                       "--ssd-path", str(tmp_path / "ssd"), "--state-dir", str(tmp_path / "state"), *extra, env=env)
    cs.wait_for(lambda: "web: listening http://" in cs.log(), 30, "the web server")
    # Fully up (FFmpeg producing frames) before the test goes on: a stop in mid-start-up waits for every start.
    cs.wait_for(lambda: _state(tmp_path / "state") == "running", 30, "the pipeline running")
    return cs, web_port


def _state(state_dir: Path) -> str | None:
    try:
        return str(json.loads((state_dir / "status.json").read_text()).get("state"))
    except (OSError, ValueError):
        return None


def metric_values(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for f in text_string_to_metric_families(text) for s in f.samples}


def test_status_metrics_recordings_snapshot_and_export(camstream_run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    cs, port = start(camstream_run, tmp_path)
    web = Http(port)
    state, ssd = tmp_path / "state", tmp_path / "ssd"
    viewer_lines = [line for line in cs.log().splitlines() if "INFO viewers: " in line]
    kinds = [line.split("viewers: ")[1].split("://")[0] for line in viewer_lines]
    assert kinds == sorted(kinds, key=lambda k: k != "http") and kinds[0] == "http", viewer_lines  # the page first
    assert viewer_lines[0].endswith(f":{port}/") and "rtsp" in kinds
    # A chunk has landed and the status knows it: bitrate is measured from it.
    cs.wait_for(lambda: (web.json("/api/status").get("bitrate_bps") or 0) > 0, 40, "a measured bitrate")

    # /api/status is `camstream status --json`.
    api = web.json("/api/status")
    cli = run_cli("status", "--json", "--state-dir", str(state))
    assert cli.returncode == 0, cli.stderr
    status = json.loads(cli.stdout)
    assert set(api) == set(status)
    for key in ("pid", "source", "encoder", "started_at", "urls", "profile"):
        assert api[key] == status[key], key
    assert api["state"] == "running" and api["source"] == "testsrc" and api["encoder"] == "libx264"
    assert api["profile"] == "constrained baseline"  # profile=auto with the page on
    assert api["bitrate"].endswith("kbit/s") and 100_000 < api["bitrate_bps"] < 2_000_000, api["bitrate"]
    assert api["urls"][0] == f"http://{api['urls'][0].split('//')[1].split(':')[0]}:{port}/"

    # /metrics against the same instance, parsed by Prometheus's own parser.
    code, headers, body = web.get("/metrics")
    assert code == 200 and headers["content-type"].startswith("text/plain; version=0.0.4")
    values = metric_values(body.decode())
    now_status = web.json("/api/status")
    assert values[("camstream_up", ())] == 1
    assert values[("camstream_frames_total", ())] > 25
    assert 20 <= values[("camstream_fps", ())] <= 30
    assert values[("camstream_dropped_frames_total", ())] >= 0
    assert values[("camstream_bitrate_bits_per_second", ())] > 100_000
    assert values[("camstream_viewers", (("protocol", "rtsp"),))] == 0
    assert values[("camstream_restarts_total", ())] == 0
    assert abs(values[("camstream_disk_free_bytes", ())] - shutil.disk_usage(ssd).free) < 500e6
    assert 0 <= values[("camstream_seconds_since_last_chunk", ())] < 10
    assert 0 <= values[("camstream_seconds_since_last_snapshot", ())] < 5
    info = next(k for k in values if k[0] == "camstream_info")
    assert dict(info[1]) == {"source": "testsrc", "encoder": "libx264", "profile": "constrained baseline",
                             "state": "running"}
    assert values[("camstream_uptime_seconds", ())] <= now_status["uptime"] + 1

    # Recordings by day and hour, then one chunk with a Range request.
    days = web.json("/api/recordings")["days"]
    today = datetime.now(UTC)
    assert days[0]["day"] == today.strftime("%Y-%m-%d") and days[0]["chunks"] >= 1
    hour = days[0]["hours"][-1]["hour"]
    listed = web.json(f"/api/recordings?day={days[0]['day']}&hour={hour}")["hours"]
    chunk = listed[-1]["chunks"][-1]
    assert chunk["url"] == f"/api/recordings/{chunk['name']}" and "path" not in chunk
    on_disk = (ssd / "video" / chunk["name"]).read_bytes()
    code, headers, body = web.get(chunk["url"], headers={"Range": "bytes=100-199"})
    assert code == 206 and body == on_disk[100:200], (code, headers)
    assert headers["content-range"] == f"bytes 100-199/{len(on_disk)}"
    code, headers, body = web.get(chunk["url"])
    assert code == 200 and body == on_disk and headers["content-type"] == "video/mp4"

    # Bad paths are refused: malformed ones 400, escapes 404; nothing leaks.
    secret = tmp_path / "secret.mp4"
    secret.write_bytes(b"SECRET")
    os.symlink(secret, ssd / "video" / "escape.mp4")
    for path, want in (("/api/recordings/..%2Fsecret.mp4", {400}), ("/api/recordings/..%2F..%2Fsecret.mp4", {400}),
                       ("/api/recordings/%2Fetc%2Fpasswd", {400}), ("/api/recordings/a%5C..%5Cb.mp4", {400}),
                       ("/api/recordings/escape.mp4", {404}), ("/api/recordings/nope.mp4", {404}),
                       ("/api/recordings/../../secret.mp4", {400, 404}), ("/api/recordings?day=2026-13-40", {400}),
                       ("/api/recordings?day=x&hour=1", {400})):
        code, _, body = web.get(path)
        assert code in want, (path, code, body)
        assert b"SECRET" not in body and b"root:" not in body
    # Read-only: nothing on the web side changes or deletes anything.
    for method in ("POST", "PUT", "DELETE"):
        code, _, _ = web.request(method, chunk["url"])
        assert code == 405
    assert (ssd / "video" / chunk["name"]).read_bytes() == on_disk

    # The latest snapshot.
    code, headers, body = web.get("/api/snapshot/latest.jpg")
    assert code == 200 and headers["content-type"] == "image/jpeg" and body[:2] == b"\xff\xd8"

    # Download a time range: the copy-only export, streamed, nothing left behind.
    start_t = datetime.fromisoformat(chunk["start"].replace("Z", "+00:00"))
    t0, t1 = (start_t - timedelta(seconds=4)).strftime("%Y-%m-%dT%H:%M:%SZ"), chunk["end"]
    code, headers, body = web.get(f"/api/export?from={t0}&to={t1}")
    assert code == 200, body[:300]
    assert headers["content-type"] == "video/mp4" and "attachment" in headers["content-disposition"]
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(body)
    probe = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "stream=codec_name:format=duration",
                            "-of", "json", str(clip)], capture_output=True, text=True, timeout=30, check=True)
    info_json = json.loads(probe.stdout)
    assert info_json["streams"][0]["codec_name"] == "h264" and float(info_json["format"]["duration"]) > 1
    assert not list((state / "web-export").iterdir())
    for bad in ("/api/export?from=yesterday&to=now", "/api/export?from=-1m", "/api/export?from=-1m&to=-2m",
                "/api/export?from=-7h&to=now"):
        code, _, _ = web.get(bad)
        assert code == 400, bad
    code, _, _ = web.get("/api/export?from=2000-01-01T00:00:00Z&to=2000-01-01T00:01:00Z")
    assert code == 404

    # The page and its files.
    code, headers, body = web.get("/")
    assert code == 200 and b"<video" in body and headers["content-type"].startswith("text/html")
    for static in ("/static/app.js", "/static/app.css"):
        assert web.get(static)[0] == 200
    assert cs.stop() == 0
    assert not (state / "web.json").exists()


def test_auth_on_every_route(camstream_run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    cs, port = start(camstream_run, tmp_path, "--no-record", "--no-snapshots",
                     env={"CAMSTREAM_RTSP_USER": "ann", "CAMSTREAM_RTSP_PASSWORD": "s3cret"})
    web_process = cs.child("camstream.web")
    assert "s3cret" not in " ".join(web_process.cmdline())  # the password travels in the environment
    routes = ("/", "/static/app.js", "/api/status", "/api/info", "/api/recordings", "/api/snapshot/latest.jpg",
              "/api/recordings/x.mp4", "/api/export?from=-1m&to=now", "/metrics", "/live/whep", "/live/ws")
    for creds in (None, ("ann", "wrong"), ("bob", "s3cret")):
        for route in routes:
            code, headers, body = Http(port, creds).get(route)
            assert code == 401, (route, creds, code)
            assert headers["www-authenticate"].startswith('Basic realm="camstream"')
            assert b"running" not in body
        assert Http(port, creds).request("POST", "/live/whep")[0] == 401
    good = Http(port, ("ann", "s3cret"))
    cs.wait_for(lambda: good.get("/api/status")[0] == 200, 20, "the status with credentials")
    assert good.get("/")[0] == 200
    assert metric_values(good.get("/metrics")[2].decode())[("camstream_up", ())] in (0, 1)


def test_separate_web_credentials_and_no_web(camstream_run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    cs, port = start(camstream_run, tmp_path, "--no-record", "--no-snapshots",
                     env={"CAMSTREAM_RTSP_USER": "ann", "CAMSTREAM_RTSP_PASSWORD": "s3cret",
                          "CAMSTREAM_WEB_USER": "viewer", "CAMSTREAM_WEB_PASSWORD": "look"})
    assert Http(port, ("ann", "s3cret")).get("/api/info")[0] == 401
    assert Http(port, ("viewer", "look")).get("/api/info")[0] == 200
    cs.stop()

    other = tmp_path / "other"
    cs2 = camstream_run(*SMALL, "--no-web", "--rtsp-port", str(free_port()), "--no-record", "--no-snapshots",
                        "--state-dir", str(other), "--ssd-path", str(other))
    cs2.wait_for(lambda: (other / "status.json").exists() and json.loads((other / "status.json").read_text())
                 .get("state") == "running", 30, "running")
    assert not any("camstream.web" in " ".join(c.cmdline()) for c in cs2.children())
    assert "http://" not in cs2.log()


def test_web_port_in_use_is_one_line_error(tmp_path: Path) -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("0.0.0.0", 0))
        sock.listen()
        port = sock.getsockname()[1]
        result = run_cli("run", *SMALL, "--rtsp-port", str(free_port()), "--web-port", str(port),
                         "--ssd-path", str(tmp_path), "--state-dir", str(tmp_path / "st"), "--duration", "5")
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().splitlines()[-1] == \
        f"error: port {port} is already in use: choose another with --web-port or web.port"
    assert "Traceback" not in result.stderr


def test_time_api_is_the_hosts_clock(camstream_run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    cs, port = start(camstream_run, tmp_path, "--no-record", "--no-snapshots")
    before = time.time() * 1000
    ms = Http(port).json("/api/time")["ms"]
    assert before - 50 <= ms <= time.time() * 1000 + 50


def test_web_server_crash_is_restarted_without_touching_ffmpeg(camstream_run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    import signal

    cs, port = start(camstream_run, tmp_path, "--no-record", "--no-snapshots")
    ffmpeg_pid = cs.child("ffmpeg").pid
    web_process = cs.child("camstream.web")
    web_process.send_signal(signal.SIGKILL)
    web = Http(port)

    def back() -> bool:
        try:
            return web.get("/api/status")[0] == 200
        except OSError:
            return False

    cs.wait_for(lambda: cs.child("camstream.web").pid != web_process.pid and back(), 30, "the web server back")
    status = web.json("/api/status")
    assert status["restart_reasons"] == {"server_exited": 1} and status["last_restart_reason"] == "web server exited"
    assert cs.child("ffmpeg").pid == ffmpeg_pid  # capture never stopped for the page
    values = metric_values(web.get("/metrics")[2].decode())
    assert values[("camstream_restart_reasons_total", (("reason", "server_exited"),))] == 1


def test_viewers_by_protocol_count_real_rtsp_and_rtmp_viewers(camstream_run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    rtsp_port, rtmp_port = free_port(), free_port()
    cs, port = start(camstream_run, tmp_path, "--rtsp-port", str(rtsp_port), "--rtmp", "--rtmp-port", str(rtmp_port),
                     "--rtmp-stat-port", str(free_port()), "--no-record", "--no-snapshots")
    web = Http(port)

    def viewers() -> dict[str, float]:
        values = metric_values(web.get("/metrics")[2].decode())
        return {dict(k[1])["protocol"]: v for k, v in values.items() if k[0] == "camstream_viewers"}

    cs.wait_for(lambda: viewers().get("rtmp") == 0 and viewers().get("rtsp") == 0, 30, "both servers counting")
    clients = [subprocess.Popen(["ffmpeg", "-nostdin", "-v", "error", *extra, "-i", url, "-c", "copy", "-f", "null", "-"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
               for url, extra in ((f"rtsp://127.0.0.1:{rtsp_port}/live", ["-rtsp_transport", "tcp"]),
                                  (f"rtmp://127.0.0.1:{rtmp_port}/live/cam", []))]
    try:
        cs.wait_for(lambda: (viewers().get("rtsp"), viewers().get("rtmp")) == (1, 1), 20, "one RTSP and one RTMP viewer")
        status = web.json("/api/status")
        assert status["viewers_by_protocol"]["rtmp"] == 1 and status["viewers_by_protocol"]["rtsp"] == 1, status
    finally:
        for client in clients:
            client.kill()
            client.wait()
    cs.wait_for(lambda: (viewers().get("rtsp"), viewers().get("rtmp")) == (0, 0), 30, "the viewers gone")
    assert cs.stop() == 0
