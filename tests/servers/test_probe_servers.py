"""`camstream probe` against real servers on loopback: nginx-rtmp (own instance) and the builtin RTSP server."""

from __future__ import annotations

import json
import os
import socket
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from camstream import latency, proc
from camstream.probe import probe

pytestmark = pytest.mark.slow

RTMP_MODULE = Path("/usr/lib/nginx/modules/ngx_rtmp_module.so")
SIZE = (640, 360)
FPS = 25


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def nginx_conf(port: int) -> str:
    """Two live applications: `live` as nginx-rtmp ships it, `strict` refusing players of idle streams."""
    return f"""load_module {RTMP_MODULE};
worker_processes 1;
error_log logs/error.log info;
pid logs/nginx.pid;
events {{ worker_connections 64; }}
rtmp {{
    server {{
        listen 127.0.0.1:{port};
        application live {{ live on; record off; }}
        application strict {{ live on; record off; idle_streams off; }}
    }}
}}
"""


def wait_port(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise AssertionError(f"nothing listens on {port} after {timeout} s")


@pytest.fixture
def nginx(tmp_path: Path) -> Iterator[int]:
    """A private nginx-rtmp on a free loopback port; yields the port."""
    if not RTMP_MODULE.exists():
        pytest.skip("libnginx-mod-rtmp is not installed")
    prefix = tmp_path / "nginx"
    (prefix / "logs").mkdir(parents=True)
    port = free_port()
    (prefix / "nginx.conf").write_text(nginx_conf(port))
    child = proc.Child("nginx", [proc.which("nginx"), "-p", str(prefix), "-c", "nginx.conf", "-g", "daemon off;"])
    child.start()
    try:
        wait_port(port)
        yield port
    finally:
        child.stop(grace=5)


def publisher(url: str, *, stamped: bool = True, seconds: float = 60.0) -> proc.Child:
    """ffmpeg publishing testsrc (stamped with the wall clock) as H.264 in FLV to `url`, in real time."""
    width, height = SIZE
    argv = [
        proc.which("ffmpeg"), "-hide_banner", "-nostdin", "-v", "error", "-re",
        "-f", "lavfi", "-i", f"testsrc2=size={width}x{height}:rate={FPS}", "-t", str(seconds),
    ]  # fmt: skip
    if stamped:
        argv += ["-vf", latency.stamp_filter(width, height)]
    argv += [
        "-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-pix_fmt", "yuv420p",
        "-b:v", "1M", "-maxrate", "1M", "-bufsize", "500k", "-g", str(FPS), "-r", str(FPS),
        "-f", "flv", url,
    ]  # fmt: skip
    child = proc.Child("publisher", argv)
    child.start()
    return child


@pytest.fixture
def rtmp_stream(nginx: int) -> Iterator[str]:
    """A live stamped stream on the private nginx; yields its play URL."""
    url = f"rtmp://127.0.0.1:{nginx}/live/cam"
    child = publisher(url)
    try:
        yield url
    finally:
        child.stop(grace=3)


def test_rtmp_probe_reports_the_stream(rtmp_stream: str) -> None:
    result = probe(rtmp_stream, seconds=2, connect_timeout=10)
    assert result.ok, result
    assert (result.codec, result.width, result.height, result.fps) == ("h264", 640, 360, 25.0)
    assert result.transport == "tcp"
    assert result.time_to_first_frame is not None and 0 < result.time_to_first_frame < 10
    assert result.frames > 10
    assert result.measured_fps is not None and result.measured_fps > 0
    assert result.bitrate is not None and result.bitrate > 0
    assert result.latency is None


def test_rtmp_probe_latency_is_positive_and_below_a_second(rtmp_stream: str) -> None:
    result = probe(rtmp_stream, seconds=3, latency=True, connect_timeout=10)
    assert result.ok, result
    stats = result.latency
    assert stats is not None and stats.samples > 20, result
    assert stats.unreadable == 0
    assert stats.p50_ms is not None and stats.p99_ms is not None
    assert 0 < stats.p50_ms <= stats.p99_ms < 1000


def test_probe_cli_json_exit_0_when_frames_flow(rtmp_stream: str) -> None:
    done = proc.run([sys.executable, "-m", "camstream", "probe", rtmp_stream, "--seconds", "1", "--json"], timeout=60)
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["ok"] is True
    assert (data["codec"], data["width"], data["height"]) == ("h264", 640, 360)


def test_probe_cli_closed_port_exits_1_refused() -> None:
    url = f"rtmp://127.0.0.1:{free_port()}/live/cam"
    done = proc.run([sys.executable, "-m", "camstream", "probe", url, "--json"], timeout=60)
    assert done.returncode == 1
    assert json.loads(done.stdout)["reason"] == "refused"
    table = proc.run([sys.executable, "-m", "camstream", "probe", url], timeout=60)
    assert table.returncode == 1
    assert "refused" in table.stdout


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        # nginx-rtmp drops the connection at `connect` for an application it does not have.
        pytest.param("nosuchapp/cam", "not found", id="unknown-app"),
        # With idle_streams off nginx-rtmp answers play of an unpublished name with NetStream.Play.StreamNotFound.
        pytest.param("strict/nope", "not found", id="idle-streams-off"),
        # As shipped (idle_streams on) it accepts the play and waits for a publisher: nothing ever comes.
        pytest.param("live/nope", "no frames", id="idle-streams-on"),
    ],
)
def test_rtmp_wrong_path(nginx: int, path: str, reason: str) -> None:
    result = probe(f"rtmp://127.0.0.1:{nginx}/{path}", seconds=1, connect_timeout=2)
    assert not result.ok
    assert result.reason == reason, result
    assert result.frames == 0


def test_rtmp_stopped_stream_exits_1(nginx: int) -> None:
    url = f"rtmp://127.0.0.1:{nginx}/live/cam"
    child = publisher(url, seconds=5)
    try:
        before = probe(url, seconds=0.5, connect_timeout=10)
        assert before.ok, before
        child.wait(15)
    finally:
        child.stop(grace=2)
    result = probe(url, seconds=1, connect_timeout=2)
    assert not result.ok
    assert result.reason == "no frames", result
    done = proc.run([sys.executable, "-m", "camstream", "probe", url, "--timeout", "2", "--json"], timeout=60)
    assert done.returncode == 1


def test_probe_latency_on_camstream_run_fed_by_a_stamped_fifo(nginx: int, tmp_path: Path, camstream_run) -> None:  # type: ignore[no-untyped-def]
    """Glass to glass: Python stamps frames into a FIFO, `camstream run` encodes and publishes, probe reads them."""
    fifo = tmp_path / "camera.y4m"
    os.mkfifo(fifo)
    stop = threading.Event()
    writer = threading.Thread(
        target=latency.write_y4m_stamped, args=(fifo, 640, 360, FPS, 60), kwargs={"stop": stop.is_set}, daemon=True
    )
    writer.start()
    cs = camstream_run(
        "--source", str(fifo), "--resolution", "640x360", "--fps", str(FPS),
        "--no-rtsp", "--server", f"rtmp://127.0.0.1:{nginx}/live", "--no-record", "--no-snapshots",
        "--state-dir", str(tmp_path / "state"),
    )  # fmt: skip
    try:
        done = proc.run(
            [sys.executable, "-m", "camstream", "probe", f"rtmp://127.0.0.1:{nginx}/live/cam",
             "--latency", "--seconds", "3", "--timeout", "20", "--json"],
            timeout=90,
        )  # fmt: skip
    finally:
        stop.set()
        cs.stop()
        if writer.is_alive():  # still blocked opening the FIFO if camstream never read it: release it
            os.close(os.open(fifo, os.O_RDONLY | os.O_NONBLOCK))
        writer.join(timeout=10)
    assert done.returncode == 0, done.stdout + done.stderr + cs.log()
    data = json.loads(done.stdout)
    stats = data["latency"]
    assert stats["samples"] > 20 and stats["unreadable"] == 0, data
    assert 0 < stats["p50_ms"] <= stats["p99_ms"] <= stats["max_ms"] < 1000, data


@pytest.fixture
def rtsp_stream() -> Iterator[tuple[str, int]]:
    """The builtin RTSP server on a free loopback port, fed testsrc over its MPEG-TS ingest; yields (URL, port)."""
    rtsp_builtin = pytest.importorskip("camstream.servers.rtsp_builtin")
    ok, why = rtsp_builtin.available()
    if not ok:
        pytest.skip(why)
    server = rtsp_builtin.BuiltinRtspServer(port=free_port(), address="127.0.0.1")
    server.start()
    feeder: proc.Child | None = None
    try:
        server.wait_ready(15)
        width, height = SIZE
        feeder = proc.Child(
            "feeder",
            [
                proc.which("ffmpeg"), "-hide_banner", "-nostdin", "-v", "error", "-re",
                "-f", "lavfi", "-i", f"testsrc2=size={width}x{height}:rate={FPS}",
                "-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-pix_fmt", "yuv420p",
                "-b:v", "1M", "-g", str(FPS), "-bf", "0", "-f", "mpegts", server.ingest_url(),
            ],
        )  # fmt: skip
        feeder.start()
        yield server.url("127.0.0.1"), server.port
    finally:
        if feeder is not None:
            feeder.stop(grace=2)
        server.stop()


@pytest.mark.parametrize("transport", [pytest.param("udp", id="udp"), pytest.param("tcp", id="tcp")])
def test_rtsp_probe_reports_the_stream(rtsp_stream: tuple[str, int], transport: str) -> None:
    url, _ = rtsp_stream
    result = probe(url, seconds=2, transport=transport, connect_timeout=10)
    assert result.ok, result
    assert (result.codec, result.width, result.height) == ("h264", 640, 360)
    assert result.fps == 25.0
    assert result.transport == transport
    assert result.time_to_first_frame is not None and 0 < result.time_to_first_frame < 10
    assert result.frames > 10
    assert result.bitrate is not None and result.bitrate > 0


def test_rtsp_probe_without_transport_reports_udp(rtsp_stream: tuple[str, int]) -> None:
    url, _ = rtsp_stream
    done = proc.run([sys.executable, "-m", "camstream", "probe", url, "--seconds", "1", "--json"], timeout=60)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["transport"] == "udp"


@pytest.mark.parametrize("transport", [pytest.param("udp", id="udp"), pytest.param("tcp", id="tcp")])
def test_rtsp_wrong_path_is_not_found(rtsp_stream: tuple[str, int], transport: str) -> None:
    _, port = rtsp_stream
    done = proc.run(
        [sys.executable, "-m", "camstream", "probe", f"rtsp://127.0.0.1:{port}/nope", "--transport", transport,
         "--json"],
        timeout=60,
    )  # fmt: skip
    assert done.returncode == 1
    assert json.loads(done.stdout)["reason"] == "not found"


def test_rtsp_closed_port_is_refused() -> None:
    result = probe(f"rtsp://127.0.0.1:{free_port()}/live", seconds=1, transport="tcp", connect_timeout=3)
    assert (result.ok, result.reason) == (False, "refused")


def test_rtsp_stopped_stream_is_no_frames() -> None:
    """The server is up and answers DESCRIBE, but nothing feeds it: probe exits 1 with 'no frames'."""
    rtsp_builtin = pytest.importorskip("camstream.servers.rtsp_builtin")
    ok, why = rtsp_builtin.available()
    if not ok:
        pytest.skip(why)
    server = rtsp_builtin.BuiltinRtspServer(port=free_port(), address="127.0.0.1")
    server.start()
    try:
        server.wait_ready(15)
        done = proc.run(
            [sys.executable, "-m", "camstream", "probe", server.url("127.0.0.1"), "--transport", "tcp",
             "--timeout", "3", "--json"],
            timeout=60,
        )  # fmt: skip
    finally:
        server.stop()
    assert done.returncode == 1
    assert json.loads(done.stdout)["reason"] == "no frames"


def test_ffplay_accepts_the_low_latency_argv_and_keeps_playing(rtmp_stream: str) -> None:
    """Real ffplay with SDL's dummy drivers (no window): every flag is accepted and it keeps playing."""
    from camstream.player import ffplay_argv

    child = proc.Child(
        "ffplay",
        ffplay_argv(rtmp_stream, "tcp", proc.which("ffplay")),
        env={"SDL_VIDEODRIVER": "dummy", "SDL_AUDIODRIVER": "dummy"},
    )
    child.start()
    try:
        # An unknown option or a stream it cannot open makes ffplay exit at once.
        assert child.wait(4) is None, child.tail()
    finally:
        child.stop(grace=2)


def test_rtsp_without_credentials_is_unauthorized() -> None:
    rtsp_builtin = pytest.importorskip("camstream.servers.rtsp_builtin")
    ok, why = rtsp_builtin.available()
    if not ok:
        pytest.skip(why)
    server = rtsp_builtin.BuiltinRtspServer(port=free_port(), address="127.0.0.1", user="viewer", password="s3cret")
    server.start()
    try:
        server.wait_ready(15)
        url = server.url("127.0.0.1")
        done = proc.run([sys.executable, "-m", "camstream", "probe", url, "--transport", "tcp", "--json"], timeout=60)
        wrong = probe(url.replace("rtsp://", "rtsp://viewer:wrong@"), seconds=1, transport="tcp", connect_timeout=5)
    finally:
        server.stop()
    assert done.returncode == 1
    assert json.loads(done.stdout)["reason"] == "unauthorized"
    assert (wrong.reason, wrong.url) == ("unauthorized", url.replace("rtsp://", "rtsp://***:***@"))
