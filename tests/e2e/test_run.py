"""`camstream run` end to end with real FFmpeg, a real nginx-rtmp and the builtin RTSP server."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import psutil
import pytest

from camstream.servers.nginx_rtmp import NginxRtmpServer
from support import decodes_cleanly, ffprobe_stream, free_port, media_duration, run_cli

SMALL = ["--source", "testsrc", "--resolution", "640x360", "--fps", "25", "--bitrate", "800k"]


def chunks(ssd: Path) -> list[Path]:
    """Finished chunks, oldest first."""
    return sorted((ssd / "video").glob("*Z.mp4"))


def test_record_and_snapshots_cover_the_run(camstream_run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    ssd = tmp_path / "ssd"
    cs = camstream_run(*SMALL, "--no-rtsp", "--ssd-path", str(ssd), "--state-dir", str(tmp_path / "state"),
                       "--duration", "20")
    latest_video, latest_image = ssd / "drone_temp" / "latest_video.mp4", ssd / "drone_temp" / "latest_image.jpg"
    checked: set[Path] = set()
    polls = 0
    while cs.proc.poll() is None:
        for link in (latest_video, latest_image):
            if link.is_symlink():
                target = link.resolve(strict=True)  # never dangling
                assert not target.name.endswith(".part")
                if target not in checked:
                    assert decodes_cleanly(target), target
                    checked.add(target)
                polls += 1
        time.sleep(0.5)
    assert cs.proc.returncode == 0, cs.log()
    assert polls > 20 and len(checked) >= 8

    files = chunks(ssd)
    assert len(files) >= 3, cs.log()
    durations = [media_duration(f) for f in files]
    for d in durations[:-1]:  # the last one is cut by the stop
        assert abs(d - 5.5) <= 1.0, durations
    # mtime = when the chunk closed; the next chunk starts where this one ended.
    ends = [f.stat().st_mtime for f in files]
    for i in range(1, len(files)):
        gap = (ends[i] - durations[i]) - ends[i - 1]
        assert gap < 1.0, (files[i].name, gap)
    assert sum(durations) > 20 - 4  # start-up (encoder probe, first frame) eats a little of the 20 s
    for f in files:
        assert decodes_cleanly(f), f

    images = sorted((ssd / "images").glob("*.jpg"))
    first, last = (int(time.mktime(time.strptime(p.stem, "%Y%m%dT%H%M%SZ"))) for p in (images[0], images[-1]))
    assert abs(len(images) - (last - first + 1)) <= 1, [p.name for p in images]
    assert len(images) >= 16
    assert latest_video.resolve() == files[-1]
    assert latest_image.resolve() == images[-1]


@pytest.fixture
def nginx(tmp_path: Path):  # type: ignore[no-untyped-def]
    """A real nginx-rtmp the test owns (camstream sees it as an external server)."""
    server = NginxRtmpServer(tmp_path / "nginx", port=free_port(), stat_port=free_port())
    server.start()
    server.wait_ready(10)
    yield server
    server.stop()


def test_rtmp_and_rtsp_readable_while_recording(camstream_run, nginx, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    ssd, rtsp_port = tmp_path / "ssd", free_port()
    rtmp_url = f"rtmp://127.0.0.1:{nginx.port}/live/cam"
    cs = camstream_run(*SMALL, "--server", f"rtmp://127.0.0.1:{nginx.port}/live", "--rtsp", "--rtsp-port",
                       str(rtsp_port), "--ssd-path", str(ssd), "--state-dir", str(tmp_path / "state"),
                       "--no-snapshots")
    cs.wait_for(lambda: chunks(ssd), 20, "a first chunk")
    expected = {"codec_name": "h264", "width": 640, "height": 360}
    assert cs.wait_for(lambda: ffprobe_stream(rtmp_url) == expected, 20, "RTMP stream")
    assert cs.wait_for(lambda: ffprobe_stream(f"rtsp://127.0.0.1:{rtsp_port}/live", "-rtsp_transport", "tcp")
                       == expected, 20, "RTSP stream")
    before = len(chunks(ssd))
    cs.wait_for(lambda: len(chunks(ssd)) > before, 15, "recording to continue")
    assert cs.stop() == 0


def test_rtmp_server_loss_does_not_gap_recording(camstream_run, nginx, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    ssd = tmp_path / "ssd"
    rtmp_url = f"rtmp://127.0.0.1:{nginx.port}/live/cam"
    cs = camstream_run(*SMALL, "--server", f"rtmp://127.0.0.1:{nginx.port}/live", "--no-rtsp", "--no-snapshots",
                       "--segment-seconds", "2", "--ssd-path", str(ssd), "--state-dir", str(tmp_path / "state"))
    cs.wait_for(lambda: ffprobe_stream(rtmp_url).get("codec_name") == "h264", 20, "RTMP stream")
    ffmpeg_pid = cs.child("ffmpeg").pid
    killed_at = time.time()
    nginx.child.signal(signal.SIGKILL)
    nginx.stop()
    time.sleep(4)
    nginx.start()
    nginx.wait_ready(10)
    assert cs.wait_for(lambda: ffprobe_stream(rtmp_url).get("codec_name") == "h264", 20, "RTMP to come back")
    cs.wait_for(lambda: len([c for c in chunks(ssd) if c.stat().st_mtime > time.time() - 1.5]), 10, "a new chunk")
    # Same FFmpeg process all along: the RTMP output reconnected on its own.
    assert cs.child("ffmpeg").pid == ffmpeg_pid
    assert cs.stop() == 0
    assert "restarting" not in cs.log(), cs.log()
    files = chunks(ssd)
    durations = [media_duration(f) for f in files]
    ends = [f.stat().st_mtime for f in files]
    around = [i for i in range(1, len(files)) if ends[i] > killed_at - 2]
    assert len(around) >= 3
    for i in around:
        gap = (ends[i] - durations[i]) - ends[i - 1]
        assert gap < 1.0, (files[i].name, gap)


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        pytest.param(["--fps", "0"], {}, "error: --fps 0: expected a whole number 1-240", id="fps-0"),
        pytest.param([], {"VIDEO_FPS": "abc"}, "error: VIDEO_FPS=abc: expected a whole number 1-240", id="env-fps"),
        pytest.param(["--bitrate", "-1"], {},
                     "error: --bitrate -1: expected bits per second 16000-100000000 (e.g. 2000000, 2M or 2000k)",
                     id="negative-bitrate"),
        pytest.param(["--resolution", "1280by720"], {},
                     "error: --resolution 1280by720: expected WIDTHxHEIGHT with even numbers 16-7680, e.g. 1280x720",
                     id="bad-resolution"),
        pytest.param(["--device", "/dev/video77"], {},
                     "error: source /dev/video77: no such device: plug the camera in, list cameras with "
                     "`camstream devices`, or try --source testsrc", id="missing-device"),
        pytest.param(["--ssd-path", "/etc/hostname/capture"], {},
                     "error: SSD_PATH=/etc/hostname/capture: not writable: choose a directory you can write to "
                     "(--ssd-path)", id="unwritable-ssd"),
        pytest.param([], {"CAMSTREAM_FFMPEG_PATH": "/nonexistent/ffmpeg"},
                     "error: /nonexistent/ffmpeg not found: install it with `sudo apt install ffmpeg`, or set "
                     "ffmpeg.path", id="ffmpeg-missing"),
    ],
)
def test_bad_input_is_one_line_exit_2(args: list[str], env: dict[str, str], message: str, tmp_path: Path) -> None:
    base = ["--source", "testsrc", "--state-dir", str(tmp_path / "state")]
    if "--ssd-path" not in args:
        base += ["--ssd-path", str(tmp_path / "ssd")]
    if "--device" in args:
        base = base[2:]
    result = run_cli("run", *base, *args, "--duration", "1", env={**env, "HOME": str(tmp_path)})
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().splitlines()[-1] == message
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "ssd").exists() and not (tmp_path / "state").exists()  # nothing half-written


def test_unknown_yaml_key_is_reported_with_file_and_line(tmp_path: Path) -> None:
    conf = tmp_path / "camstream.yaml"
    conf.write_text("source: testsrc\nvideo:\n  fps: 25\n  colour: red\n")
    result = run_cli("run", "--config", str(conf), "--dry-run")
    assert result.returncode == 2
    assert result.stderr.strip().startswith(f"error: {conf}:4: unknown setting 'video.colour': known settings in")


def test_dry_run_prints_command_and_files(tmp_path: Path) -> None:
    result = run_cli("run", "--source", "testsrc", "--rtmp", "--ssd-path", str(tmp_path / "ssd"), "--state-dir",
                     str(tmp_path / "state"), "--dry-run")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("# ffmpeg command\nffmpeg -hide_banner")
    assert f"# file {tmp_path / 'state' / 'nginx' / 'nginx.conf'}" in result.stdout
    assert not (tmp_path / "ssd").exists() and not (tmp_path / "state").exists()


def test_python_dash_m_and_entry_point_agree() -> None:
    assert run_cli("--version").stdout.splitlines()[0] == "camstream 0.1.0"
    assert os.access(Path(os.sys.executable).parent / "camstream", os.X_OK)


def test_stalled_rtmp_peer_never_stalls_recording(camstream_run, nginx, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """A peer that stops reading (SIGSTOP: its TCP window fills) costs that output packets, not the recording."""
    ssd = tmp_path / "ssd"
    rtmp_url = f"rtmp://127.0.0.1:{nginx.port}/live/cam"
    cs = camstream_run(*SMALL, "--server", f"rtmp://127.0.0.1:{nginx.port}/live", "--no-rtsp", "--no-snapshots",
                       "--segment-seconds", "2", "--bitrate", "3M", "--ssd-path", str(ssd),
                       "--state-dir", str(tmp_path / "state"))
    cs.wait_for(lambda: ffprobe_stream(rtmp_url).get("codec_name") == "h264", 20, "RTMP stream")
    ffmpeg_pid = cs.child("ffmpeg").pid
    nginx_pids = [nginx.child.pid] + [p.pid for p in psutil.Process(nginx.child.pid).children()]
    stalled_at = time.time()
    for pid in nginx_pids:
        os.kill(pid, signal.SIGSTOP)
    try:
        time.sleep(10)
        during = [c for c in chunks(ssd) if c.stat().st_mtime > stalled_at + 1]
        assert len(during) >= 3, cs.log()  # 2 s chunks kept closing while the peer was frozen
    finally:
        for pid in nginx_pids:
            os.kill(pid, signal.SIGCONT)
    assert cs.child("ffmpeg").pid == ffmpeg_pid and "restarting" not in cs.log()
    assert cs.wait_for(lambda: ffprobe_stream(rtmp_url).get("codec_name") == "h264", 30, "RTMP after the stall")
    assert cs.stop() == 0
    files = chunks(ssd)
    durations = [media_duration(f) for f in files]
    ends = [f.stat().st_mtime for f in files]
    for i in range(1, len(files)):
        gap = (ends[i] - durations[i]) - ends[i - 1]
        assert gap < 1.0, (files[i].name, gap)


def test_srt_output_reaches_a_real_listener(camstream_run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    import subprocess

    port = free_port()
    received = tmp_path / "srt.ts"
    listener = subprocess.Popen(
        ["ffmpeg", "-v", "error", "-i", f"srt://127.0.0.1:{port}?mode=listener", "-t", "4", "-c", "copy", "-f",
         "mpegts", str(received)], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        cs = camstream_run(*SMALL, "--no-rtsp", "--no-record", "--no-snapshots", "--srt-url",
                           f"srt://127.0.0.1:{port}?mode=caller", "--ssd-path", str(tmp_path / "ssd"),
                           "--state-dir", str(tmp_path / "state"))
        listener.wait(30)
        assert cs.stop() == 0
    finally:
        if listener.poll() is None:
            listener.kill()
        listener.wait()
    assert ffprobe_stream(str(received)) == {"codec_name": "h264", "width": 640, "height": 360}
    assert decodes_cleanly(received)


def test_port_in_use_is_one_line_exit_2(tmp_path: Path) -> None:
    import socket

    with socket.socket() as busy:
        busy.bind(("0.0.0.0", 0))
        busy.listen()
        taken = busy.getsockname()[1]
        result = run_cli("run", *SMALL, "--rtsp-port", str(taken), "--ssd-path", str(tmp_path / "ssd"),
                         "--state-dir", str(tmp_path / "state"), "--duration", "1")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == (
        f"error: port {taken} is already in use: choose another with --rtsp-port or rtsp.port")


def test_stopping_camstream_stops_its_servers(camstream_run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    import socket

    rtsp_port, rtmp_port = free_port(), free_port()
    cs = camstream_run(*SMALL, "--rtsp", "--rtsp-port", str(rtsp_port), "--rtmp", "--rtmp-port", str(rtmp_port),
                       "--rtmp-stat-port", str(free_port()),
                       "--no-record", "--no-snapshots", "--ssd-path", str(tmp_path / "ssd"),
                       "--state-dir", str(tmp_path / "state"), "--duration", "8")
    cs.wait_for(lambda: ffprobe_stream(f"rtmp://127.0.0.1:{rtmp_port}/live/cam", "-analyzeduration", "1000000")
                .get("codec_name") == "h264", 20, "RTMP from the managed nginx")
    children = cs.children()
    assert {p.name() for p in children} >= {"ffmpeg", "nginx"}
    assert cs.proc.wait(30) == 0  # --duration ends it cleanly
    gone, alive = psutil.wait_procs(children, timeout=5)
    assert not alive
    for port in (rtsp_port, rtmp_port):
        with socket.socket() as probe:
            assert probe.connect_ex(("127.0.0.1", port)) != 0, f"something still listens on {port}"


def test_log_json_lines(tmp_path: Path) -> None:
    import json

    result = run_cli("run", *SMALL, "--log-json", "--dry-run", "--ssd-path", str(tmp_path / "ssd"),
                     "--state-dir", str(tmp_path / "state"))
    assert result.returncode == 0
    records = [json.loads(line) for line in result.stderr.splitlines() if line.strip()]
    assert records and {"ts", "level", "logger", "msg"} <= set(records[0])
    assert any(r["msg"] == "RTSP server: builtin" for r in records)


def test_output_plugins_come_from_entry_points() -> None:
    from camstream.config import load_config
    from camstream.errors import ConfigError
    from camstream.outputs.base import enabled_outputs, load_outputs

    assert set(load_outputs()) >= {"rtsp", "rtmp", "srt", "record", "snapshots"}
    cfg = load_config(env={"CAMSTREAM_EXTRA_OUTPUTS": "webrtc"}, search_defaults=False)
    with pytest.raises(ConfigError, match=r"^extra_outputs: no output plug-in named webrtc: installed are "):
        enabled_outputs(cfg)


@pytest.mark.parametrize("server", ["builtin-rtsp", "managed-rtmp"])
def test_live_only_run_measures_the_bitrate(camstream_run, tmp_path: Path, server: str) -> None:  # type: ignore[no-untyped-def]
    # No chunks and no web page: the bitrate comes from what the local server receives of the encode
    # (FFmpeg's own -progress bitrate is N/A for the tee muxer).
    import json

    if server == "builtin-rtsp":
        live = ["--rtsp", "--rtsp-server", "builtin", "--rtsp-port", str(free_port()), "--no-rtmp"]
    else:
        live = ["--no-rtsp", "--rtmp", "--rtmp-port", str(free_port()), "--rtmp-stat-port", str(free_port())]
    state = tmp_path / "state"
    cs = camstream_run(*SMALL, *live, "--no-record", "--no-web", "--ssd-path", str(tmp_path / "ssd"),
                       "--state-dir", str(state))

    def status() -> dict:  # type: ignore[type-arg]
        try:
            return json.loads((state / "status.json").read_text())  # type: ignore[no-any-return]
        except (OSError, ValueError):
            return {}

    cs.wait_for(lambda: status().get("bitrate_bps"), 30, "a measured bitrate")
    time.sleep(3)  # a few seconds of readings
    s = status()
    assert s["state"] == "running" and s["last_chunk"] is None, s
    assert s["bitrate"].endswith("kbit/s") and 200_000 < s["bitrate_bps"] < 2_000_000, s  # --bitrate 800k
    assert cs.stop() == 0
