"""Builtin RTSP server: exact argv, and the real server process fed by a real FFmpeg, read by real clients."""

from __future__ import annotations

import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import psutil
import pytest

from camstream import proc
from camstream.errors import ConfigError, PortInUseError, ServerError
from camstream.servers import rtsp_builtin
from camstream.net import check_port_free
from camstream.servers.rtsp_builtin import BuiltinRtspServer, server_argv
from support import free_port

AVAILABLE, WHY = rtsp_builtin.available()
# Tests that run the real server; the pure ones above them run everywhere.
needs_gst = pytest.mark.skipif(not AVAILABLE, reason=f"builtin RTSP server cannot run here: {WHY}")

PY = "/venv/bin/python"
MOD = ["-m", "camstream.servers.rtsp_builtin"]


# -- pure: the command line ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        pytest.param(
            {},
            [PY, *MOD, "--address", "0.0.0.0", "--port", "8554", "--mount", "/live", "--ingest-port", "9000"],
            id="defaults",
        ),
        pytest.param(
            {"port": 9554, "mount": "/cam 1", "address": "127.0.0.1", "user": "viewer", "password": "pw",
             "state_dir": "/run/camstream"},
            [PY, *MOD, "--address", "127.0.0.1", "--port", "9554", "--mount", "/cam 1", "--ingest-port", "9000",
             "--user", "viewer", "--status-file", "/run/camstream/rtsp_builtin.json"],
            id="user-and-status-file",
        ),
    ],
)  # fmt: skip
def test_argv_is_built_exactly(kwargs: dict[str, object], expected: list[str]) -> None:
    server = BuiltinRtspServer(ingest_port=9000, python=PY, **kwargs)  # type: ignore[arg-type]
    assert server.argv() == expected


def test_password_travels_in_the_environment_not_argv() -> None:
    server = BuiltinRtspServer(ingest_port=9000, user="viewer", password="s3cret", python=PY)
    assert "s3cret" not in server.argv()
    assert server.env()[rtsp_builtin.PASSWORD_ENV] == "s3cret"
    assert rtsp_builtin.PASSWORD_ENV not in BuiltinRtspServer(ingest_port=9000, python=PY).env()


def test_server_argv_without_options() -> None:
    assert server_argv("py", address="::", port=1, mount="/m", ingest_port=2) == [
        "py", *MOD, "--address", "::", "--port", "1", "--mount", "/m", "--ingest-port", "2",
    ]  # fmt: skip


def test_urls() -> None:
    server = BuiltinRtspServer(port=8555, mount="/cam", ingest_port=9100)
    assert server.url("192.168.1.20") == "rtsp://192.168.1.20:8555/cam"
    assert server.ingest_url() == "tcp://127.0.0.1:9100"


def test_ingest_url_needs_a_port() -> None:
    with pytest.raises(ServerError, match="no ingest port yet"):
        BuiltinRtspServer(ingest_port=0).ingest_url()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        pytest.param({"mount": "live"}, "RTSP mount 'live' is not valid: use a path like /live (rtsp.mount)",
                     id="mount-without-slash"),
        pytest.param({"user": "viewer"}, "RTSP user and password must be set together: set both rtsp.user and "
                     "rtsp.password", id="user-without-password"),
    ],
)  # fmt: skip
def test_bad_settings_are_config_errors(kwargs: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError) as err:
        BuiltinRtspServer(**kwargs)  # type: ignore[arg-type]
    assert str(err.value) == message


def test_port_in_use_is_one_line_error_naming_the_setting() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(PortInUseError) as err:
            check_port_free("127.0.0.1", port, "--rtsp-port or rtsp.port")
        assert str(err.value) == f"port {port} is already in use: choose another with --rtsp-port or rtsp.port"
        assert err.value.exit_code == 2
        check_port_free("127.0.0.1", free_port(), "unused")  # a free port passes


@pytest.mark.parametrize("which", [pytest.param("rtsp", id="rtsp-port"), pytest.param("ingest", id="ingest-port")])
def test_start_refuses_a_port_in_use_before_starting(which: str, tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        if which == "rtsp":
            server = BuiltinRtspServer(port=port, ingest_port=free_port(), address="127.0.0.1", state_dir=tmp_path)
            fix = "--rtsp-port or rtsp.port"
        else:
            server = BuiltinRtspServer(port=free_port(), ingest_port=port, address="127.0.0.1", state_dir=tmp_path)
            fix = "rtsp.ingest_port (0 picks a free port)"
        with pytest.raises(PortInUseError) as err:
            server.start()
        assert str(err.value) == f"port {port} is already in use: choose another with {fix}"
        assert server.child is None


def test_available_here_or_says_what_to_install() -> None:
    ok, why = rtsp_builtin.available()
    assert why
    if not ok:
        assert "install" in why


@needs_gst
def test_wait_ready_reports_a_server_that_dies(tmp_path: Path) -> None:
    # `false` stands in for a Python that exits at once: wait_ready must not hang, and must say so.
    server = BuiltinRtspServer(port=free_port(), ingest_port=free_port(), address="127.0.0.1",
                               state_dir=tmp_path, python=proc.which("false"))
    server.start()
    try:
        with pytest.raises(ServerError, match="^builtin RTSP server exited with code 1"):
            server.wait_ready(10)
    finally:
        server.stop()


# -- real server, real FFmpeg, real clients ------------------------------------------------------

StartServer = Callable[..., BuiltinRtspServer]
Publish = Callable[..., proc.Child]


@pytest.fixture
def rtsp_server(tmp_path: Path) -> Iterator[StartServer]:
    """Factory: a started, ready builtin server on free loopback ports; stopped and reaped after the test."""
    servers: list[BuiltinRtspServer] = []

    def start(**kwargs: object) -> BuiltinRtspServer:
        server = BuiltinRtspServer(port=free_port(), ingest_port=free_port(), address="127.0.0.1",
                                   state_dir=tmp_path / f"state{len(servers)}", **kwargs)  # type: ignore[arg-type]
        servers.append(server)
        server.start()
        server.wait_ready(15)
        return server

    try:
        yield start
    finally:
        for server in servers:
            server.stop(grace=5)


@pytest.fixture
def publish() -> Iterator[Publish]:
    """Factory: FFmpeg encoding H.264 once and pushing MPEG-TS to the server's ingest; every one reaped."""
    children: list[proc.Child] = []

    def start(server: BuiltinRtspServer, *, size: str = "640x360", image: Path | None = None,
              slices: int | None = None) -> proc.Child:
        source = (["-loop", "1", "-framerate", "25", "-i", str(image)] if image is not None
                  else ["-f", "lavfi", "-i", f"testsrc2=size={size}:rate=25"])
        argv = [proc.which("ffmpeg"), "-hide_banner", "-nostdin", "-loglevel", "error", "-re", *source,
                "-c:v", "libx264", "-preset", "veryfast", "-tune", "zerolatency", "-pix_fmt", "yuv420p",
                "-bf", "0", "-g", "25", "-flags", "+global_header", "-bsf:v", "dump_extra=freq=keyframe"]
        if slices is not None:
            # Several slices per picture, as x264 makes with sliced threads on a multi-core camera host.
            argv += ["-x264-params", f"slices={slices}"]
        argv += ["-f", "mpegts", server.ingest_url()]
        child = proc.Child(f"publisher{len(children)}", argv, stop_signal=signal.SIGINT)
        children.append(child)
        child.start()
        return child

    try:
        yield start
    finally:
        for child in children:
            child.stop(grace=2)


def wait_for(predicate: Callable[[], object], timeout: float, what: str) -> object:
    """Poll `predicate` until it returns something truthy."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def stat(server: BuiltinRtspServer, key: str) -> Any:
    """One value from the server's status file (None while there is no status file yet)."""
    st = server.status()
    return None if st is None else st[key]


def frames_flowing(server: BuiltinRtspServer) -> None:
    """Wait until the server reports frames arriving from the encoder."""
    wait_for(lambda: stat(server, "ingest_connected") and stat(server, "frames_in") > 0, 15,
             f"frames on the ingest; server stderr: {server.tail()}")


def ffprobe(url: str, transport: str) -> tuple[str, int, int] | None:
    """(codec, width, height) of the stream as ffprobe reads it over `transport`, None if it cannot."""
    done = proc.run([proc.which("ffprobe"), "-v", "error", "-rtsp_transport", transport, "-select_streams", "v:0",
                     "-show_entries", "stream=codec_name,width,height", "-of", "csv=p=0", url], timeout=20)
    if done.returncode != 0:
        return None
    codec, width, height = done.stdout.strip().split(",")
    return codec, int(width), int(height)


def gst_decodes(url: str, protocols: str, frames: int = 25) -> int:
    """Frames a GStreamer RTSP client decoded; it stops after `frames` (fewer means the stream broke off)."""
    # identity prints one "chain" line per decoded frame (-v). The exit code is not used: rtspsrc can
    # race its PAUSE against its own CLOSE while gst-launch shuts down after the last frame and report
    # "Could not send message" (seen with GST_DEBUG=rtspsrc:5; the server had received TEARDOWN).
    done = proc.run([proc.which("gst-launch-1.0"), "-v", "rtspsrc", f"location={url}", f"protocols={protocols}",
                     "!", "rtph264depay", "!", "avdec_h264", "!", "identity", "name=frames", "silent=false",
                     "!", "fakesink", f"num-buffers={frames}"], timeout=30)
    return done.stdout.count("GstIdentity:frames: last-message = chain")


@needs_gst
@pytest.mark.slow
@pytest.mark.parametrize("transport", [pytest.param("udp", id="udp"), pytest.param("tcp", id="tcp")])
def test_ffprobe_reads_the_stream(rtsp_server: StartServer, publish: Publish, transport: str) -> None:
    server = rtsp_server()
    publish(server)
    frames_flowing(server)
    assert ffprobe(server.url("127.0.0.1"), transport) == ("h264", 640, 360)


@needs_gst
@pytest.mark.slow
@pytest.mark.parametrize("protocols", [pytest.param("udp", id="udp"), pytest.param("tcp", id="tcp")])
def test_gstreamer_client_decodes_frames(rtsp_server: StartServer, publish: Publish, protocols: str) -> None:
    server = rtsp_server()
    publish(server)
    frames_flowing(server)
    assert gst_decodes(server.url("127.0.0.1"), protocols) == 25


@needs_gst
@pytest.mark.slow
def test_ten_clients_at_once_share_one_media(rtsp_server: StartServer, publish: Publish) -> None:
    server = rtsp_server()
    publish(server)
    frames_flowing(server)
    url = server.url("127.0.0.1")
    results: list[int] = []
    lock = threading.Lock()

    def client(protocols: str) -> None:
        decoded = gst_decodes(url, protocols, frames=100)  # ~4 s each, so all ten overlap
        with lock:
            results.append(decoded)

    threads = [threading.Thread(target=client, args=("udp" if i % 2 else "tcp",)) for i in range(10)]
    for thread in threads:
        thread.start()
    most = 0
    while any(t.is_alive() for t in threads):
        most = max(most, server.viewers() or 0)
        time.sleep(0.2)
    for thread in threads:
        thread.join()
    assert results == [100] * 10
    wait_for(lambda: server.viewers() == 0, 5, "the viewers to be counted out")
    assert most == 10
    # One ingest fed one shared media for all ten viewers.
    assert sum("media created" in line for line in server.tail()) == 1, server.tail()
    assert server.running()


@needs_gst
@pytest.mark.slow
def test_encoder_restart_does_not_need_a_server_restart(rtsp_server: StartServer, publish: Publish) -> None:
    server = rtsp_server()
    first = publish(server, size="640x360")
    frames_flowing(server)
    url = server.url("127.0.0.1")
    assert ffprobe(url, "tcp") == ("h264", 640, 360)
    pid = server.child.pid  # type: ignore[union-attr]

    first.signal(signal.SIGKILL)  # a crash: no clean end of stream
    first.stop(grace=1)
    wait_for(lambda: (server.status() or {}).get("ingest_connected") is False, 10, "the ingest to drop")

    publish(server, size="320x240")
    assert ffprobe(url, "udp") == ("h264", 320, 240)
    assert ffprobe(url, "tcp") == ("h264", 320, 240)
    assert gst_decodes(url, "udp") == 25
    assert server.running() and server.child.pid == pid  # type: ignore[union-attr]


@needs_gst
@pytest.mark.slow
@pytest.mark.parametrize("protocols", [pytest.param("udp", id="udp"), pytest.param("tcp", id="tcp")])
def test_viewer_keeps_playing_across_an_encoder_restart(
    rtsp_server: StartServer, publish: Publish, protocols: str
) -> None:
    server = rtsp_server()
    first = publish(server)
    frames_flowing(server)
    results: list[int] = []
    # 150 frames need 6 s at 25 fps: the viewer can only finish with frames from both encoders.
    viewer = threading.Thread(target=lambda: results.append(gst_decodes(server.url("127.0.0.1"), protocols, 150)))
    viewer.start()
    wait_for(lambda: stat(server, "viewers") == 1, 10, "the viewer to play")
    time.sleep(1.0)
    first.signal(signal.SIGKILL)
    first.stop(grace=1)
    wait_for(lambda: stat(server, "ingest_connected") is False, 10, "the ingest to drop")
    publish(server)
    viewer.join(40)
    assert results == [150]


@needs_gst
@pytest.mark.slow
def test_viewer_waiting_for_the_encoder_gets_the_stream_when_it_comes(
    rtsp_server: StartServer, publish: Publish
) -> None:
    server = rtsp_server()
    url = server.url("127.0.0.1")
    viewer = threading.Thread(target=lambda: results.append(ffprobe(url, "tcp")))
    results: list[tuple[str, int, int] | None] = []
    viewer.start()
    time.sleep(1.0)  # the viewer's DESCRIBE is now waiting for a media that has no frames
    # Meanwhile other requests are still answered (each connection has its own thread).
    wrong = proc.run([proc.which("ffprobe"), "-v", "error", "-rtsp_transport", "tcp", url + "x"], timeout=10)
    assert "404 Not Found" in wrong.stderr
    publish(server)
    viewer.join(30)
    assert results == [("h264", 640, 360)]


def rgb(path: Path, width: int, height: int) -> np.ndarray:
    """Pixels of an image file (any format FFmpeg reads) as a float array."""
    raw = path.with_suffix(".rgb")
    done = proc.run([proc.which("ffmpeg"), "-v", "error", "-y", "-i", str(path), "-f", "rawvideo",
                     "-pix_fmt", "rgb24", str(raw)])
    assert done.returncode == 0, done.stderr
    return np.fromfile(raw, dtype=np.uint8).reshape(height, width, 3).astype(np.float64)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """Peak signal-to-noise ratio in dB between two 8-bit pictures."""
    mse = float(np.mean((a - b) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)


@needs_gst
@pytest.mark.slow
@pytest.mark.parametrize("transport", [pytest.param("udp", id="udp"), pytest.param("tcp", id="tcp")])
def test_picture_is_intact(rtsp_server: StartServer, publish: Publish, transport: str, tmp_path: Path) -> None:
    source = tmp_path / "source.png"
    made = proc.run([proc.which("ffmpeg"), "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=25",
                     "-ss", "1", "-frames:v", "1", str(source)])
    assert made.returncode == 0, made.stderr
    server = rtsp_server()
    publish(server, image=source, slices=4)
    frames_flowing(server)
    captured = tmp_path / f"captured-{transport}.png"
    # Frame 30 comes after a second keyframe: both the first keyframe and a later one were intact.
    done = proc.run([proc.which("ffmpeg"), "-v", "error", "-y", "-rtsp_transport", transport,
                     "-i", server.url("127.0.0.1"), "-vf", r"select=gte(n\,30)", "-frames:v", "1", str(captured)],
                    timeout=30)
    assert done.returncode == 0, done.stderr
    assert psnr(rgb(captured, 1280, 720), rgb(source, 1280, 720)) > 35


@needs_gst
@pytest.mark.slow
def test_credentials_are_required_when_set(rtsp_server: StartServer, publish: Publish) -> None:
    server = rtsp_server(user="viewer", password="s3cret")
    publish(server)
    frames_flowing(server)
    anonymous = proc.run([proc.which("ffprobe"), "-v", "error", "-rtsp_transport", "tcp", server.url("127.0.0.1")],
                         timeout=20)
    assert anonymous.returncode != 0
    assert "401 Unauthorized" in anonymous.stderr
    wrong = ffprobe(server.url("127.0.0.1").replace("rtsp://", "rtsp://viewer:nope@"), "tcp")
    assert wrong is None
    url = server.url("127.0.0.1").replace("rtsp://", "rtsp://viewer:s3cret@")
    assert ffprobe(url, "tcp") == ("h264", 640, 360)
    assert ffprobe(url, "udp") == ("h264", 640, 360)
    # The password is in the server's environment, never on its command line.
    assert "s3cret" not in " ".join(psutil.Process(server.child.pid).cmdline())  # type: ignore[union-attr]


@needs_gst
@pytest.mark.slow
def test_status_file_reports_ingest_and_viewers(rtsp_server: StartServer, publish: Publish) -> None:
    server = rtsp_server()
    st = server.status()
    assert st is not None
    assert {k: st[k] for k in ("ingest_connected", "viewers", "frames_in", "last_frame_age")} == {
        "ingest_connected": False, "viewers": 0, "frames_in": 0, "last_frame_age": None,
    }  # fmt: skip
    publish(server)
    frames_flowing(server)
    assert 0 <= stat(server, "last_frame_age") < 2
    first = stat(server, "frames_in")
    wait_for(lambda: stat(server, "frames_in") > first, 5, "frames_in to grow")


@needs_gst
@pytest.mark.slow
def test_stalled_viewer_does_not_stall_the_others(rtsp_server: StartServer, publish: Publish) -> None:
    server = rtsp_server()
    publish(server)
    frames_flowing(server)
    url = server.url("127.0.0.1")
    # A TCP viewer that stops reading: its socket fills up while it is frozen.
    frozen = proc.Child("frozen-viewer", [proc.which("gst-launch-1.0"), "-q", "rtspsrc", f"location={url}",
                                          "protocols=tcp", "!", "fakesink"])
    frozen.start()
    try:
        wait_for(lambda: stat(server, "viewers") == 1, 10, "the viewer to play")
        frozen.signal(signal.SIGSTOP)
        before = stat(server, "frames_in")
        time.sleep(3)
        assert gst_decodes(url, "udp", frames=50) == 50
        assert gst_decodes(url, "tcp", frames=50) == 50
        # The ingest kept its pace (25 fps) the whole time: 3 s + 2 x 2 s of frames at least.
        assert stat(server, "frames_in") >= before + 125
        assert stat(server, "last_frame_age") < 1
    finally:
        frozen.stop(grace=1)


@needs_gst
@pytest.mark.slow
def test_stop_frees_the_ports_and_leaves_no_process(rtsp_server: StartServer, publish: Publish) -> None:
    server = rtsp_server()
    publish(server)
    frames_flowing(server)
    assert ffprobe(server.url("127.0.0.1"), "udp") == ("h264", 640, 360)
    pid = server.child.pid  # type: ignore[union-attr]
    status_file = Path(server.status_file)  # type: ignore[arg-type]
    assert status_file.exists()

    info = server.stop()
    assert info is not None and info.returncode == 0  # SIGTERM is a clean stop, exit code 0
    assert not psutil.pid_exists(pid)
    assert not [p for p in psutil.Process().children(recursive=True) if p.pid == pid]
    check_port_free("127.0.0.1", server.port, "rtsp")
    check_port_free("127.0.0.1", server.ingest_port, "ingest")
    with pytest.raises(ConnectionRefusedError), socket.create_connection(("127.0.0.1", server.port), timeout=2):
        pass
    assert not status_file.exists()
    assert not server.running()
    assert server.viewers() is None


@needs_gst
@pytest.mark.slow
@pytest.mark.parametrize("sig", [pytest.param(signal.SIGINT, id="sigint"), pytest.param(signal.SIGTERM, id="sigterm")])
def test_server_process_exits_zero_on_signal(sig: int) -> None:
    port, ingest = free_port(), free_port()
    ready = threading.Event()
    lines: list[str] = []

    def on_line(line: str) -> None:
        lines.append(line)
        ready.set()

    server = BuiltinRtspServer(port=port, ingest_port=ingest, address="127.0.0.1")  # for its env only
    child = proc.Child("rtsp", [sys.executable, *MOD, "--address", "127.0.0.1", "--port", str(port),
                                "--ingest-port", str(ingest)],
                       env=server.env(), stop_signal=sig, on_stdout_line=on_line)
    child.start()
    try:
        assert ready.wait(15), child.tail()
        assert lines == [f"listening rtsp://127.0.0.1:{port}/live ingest tcp://127.0.0.1:{ingest}"]
    finally:
        info = child.stop(grace=5)
    assert info.returncode == 0, info.tail
