"""Pure parts of `camstream probe`: argv, error classification from real FFmpeg messages, statistics."""

from __future__ import annotations

import json

import pytest

from camstream import probe
from camstream.errors import UsageError

LOW = ["-flags", "low_delay", "-probesize", "32", "-analyzeduration", "0"]


@pytest.mark.parametrize(
    ("url", "transport", "expected"),
    [
        pytest.param("rtsp://127.0.0.1:8554/live", None, [*LOW, "-timeout", "5000000"], id="rtsp-auto"),
        pytest.param("rtsp://h/live", "tcp", [*LOW, "-rtsp_transport", "tcp", "-timeout", "5000000"], id="rtsp-tcp"),
        pytest.param("RTSP://h/live", "udp", [*LOW, "-rtsp_transport", "udp", "-timeout", "5000000"], id="rtsp-udp"),
        pytest.param("rtmp://h/live/cam", None, [*LOW, "-rw_timeout", "5000000"], id="rtmp"),
        pytest.param("rtmp://h/live/cam", "tcp", [*LOW, "-rw_timeout", "5000000"], id="rtmp-ignores-transport"),
        pytest.param("srt://h:8890", None, [*LOW, "-rw_timeout", "5000000"], id="srt"),
    ],
)
def test_input_options(url: str, transport: str | None, expected: list[str]) -> None:
    assert probe.input_options(url, transport, 5.0) == expected


def test_ffprobe_argv() -> None:
    assert probe.ffprobe_argv("rtsp://h/live", "udp", 2.5, "/usr/bin/ffprobe") == [
        "/usr/bin/ffprobe", "-hide_banner", "-v", "debug",
        *LOW, "-rtsp_transport", "udp", "-timeout", "2500000",
        "-select_streams", "v:0",
        "-show_entries", "stream=codec_name,width,height,avg_frame_rate,r_frame_rate",
        "-of", "json", "rtsp://h/live",
    ]  # fmt: skip


def test_ffmpeg_argv() -> None:
    assert probe.ffmpeg_argv("rtmp://h/live/cam", None, 10, "/t/p", "/t/f", ("1280", 16), "ffmpeg") == [
        "ffmpeg", "-hide_banner", "-nostdin", "-v", "warning",
        *LOW, "-rw_timeout", "10000000",
        "-i", "rtmp://h/live/cam",
        "-map", "0:v:0", "-c", "copy", "-f", "data", "-flush_packets", "1", "-y", "/t/p",
        "-map", "0:v:0", "-vf", "crop=1280:16:0:0", "-pix_fmt", "gray", "-fps_mode", "passthrough",
        "-f", "rawvideo", "-flush_packets", "1", "-y", "/t/f",
    ]  # fmt: skip


@pytest.mark.parametrize(
    "bad",
    [pytest.param(lambda: probe.input_options("rtsp://h/x", "quic", 1), id="transport"),
     pytest.param(lambda: probe.scheme_of("127.0.0.1:8554/live"), id="no-scheme")],
)  # fmt: skip
def test_bad_input_is_a_usage_error(bad: object) -> None:
    with pytest.raises(UsageError):
        bad()  # type: ignore[operator]


# stderr excerpts captured from ffmpeg/ffprobe 5.1 against nginx-rtmp 1.2.x and RTSP servers.
RTMP_REFUSED = """[tcp @ 0x5556600e6cc0] Connection to tcp://127.0.0.1:19351?tcp_nodelay=0 failed: Connection refused
[rtmp @ 0x5556600e6340] Cannot open connection tcp://127.0.0.1:19351?tcp_nodelay=0
rtmp://127.0.0.1:19351/live/cam: Connection refused"""
RTMP_NO_SUCH_STREAM = """[rtmp @ 0x558fde113340] Server error: No such stream
rtmp://127.0.0.1:19350/strict/nope: Operation not permitted"""
RTMP_UNKNOWN_APP = """[tcp @ 0x560486943a80] Successfully connected to 127.0.0.1 port 19350
[rtmp @ 0x55fb6a21c180] Handshaking...
[rtmp @ 0x55fb6a21c180] Proto = rtmp, path = /nosuchapp/cam, app = nosuchapp, fname = cam
rtmp://127.0.0.1:19350/nosuchapp/cam: Input/output error"""
RTMP_IDLE = """[rtmp @ 0x55e750240180] Proto = rtmp, path = /live/nope, app = live, fname = nope
[rtmp @ 0x55e750240180] Creating stream...
[rtmp @ 0x55e750240180] Sending play command for 'nope'
[rtmp @ 0x55e750240180] Deleting stream...
rtmp://127.0.0.1:19350/live/nope: Input/output error"""
RTSP_404 = """[rtsp @ 0x55d0] method DESCRIBE failed: 404 Not Found
rtsp://127.0.0.1:8554/nope: Server returned 404 Not Found"""
RTSP_401 = """[rtsp @ 0x55d0] method DESCRIBE failed: 401 Unauthorized
rtsp://127.0.0.1:8554/live: Server returned 401 Unauthorized (authorization failed)"""
TIMED_OUT = "rtsp://10.0.0.9:8554/live: Connection timed out"
NO_HOST = "rtsp://nosuchhost.invalid/live: Name or service not known"


@pytest.mark.parametrize(
    ("stderr", "url", "reason"),
    [
        pytest.param(RTMP_REFUSED, "rtmp://127.0.0.1:19351/live/cam", "refused", id="refused"),
        pytest.param(RTMP_NO_SUCH_STREAM, "rtmp://127.0.0.1:19350/strict/nope", "not found", id="rtmp-no-stream"),
        pytest.param(RTMP_UNKNOWN_APP, "rtmp://127.0.0.1:19350/nosuchapp/cam", "not found", id="rtmp-no-app"),
        pytest.param(RTMP_IDLE, "rtmp://127.0.0.1:19350/live/nope", "no frames", id="rtmp-idle-name"),
        pytest.param(RTSP_404, "rtsp://127.0.0.1:8554/nope", "not found", id="rtsp-404"),
        pytest.param(RTSP_401, "rtsp://127.0.0.1:8554/live", "unauthorized", id="rtsp-401"),
        pytest.param(TIMED_OUT, "rtsp://10.0.0.9:8554/live", "timeout", id="timeout"),
        pytest.param(NO_HOST, "rtsp://nosuchhost.invalid/live", "unreachable", id="unreachable"),
        pytest.param("something odd happened", "rtsp://h/live", "error", id="other"),
    ],
)
def test_classify(stderr: str, url: str, reason: str) -> None:
    assert probe.classify(stderr, url)[0] == reason


def test_classify_names_the_idle_stream_and_the_missing_app() -> None:
    assert "'nope'" in probe.classify(RTMP_IDLE, "rtmp://127.0.0.1:19350/live/nope")[1]
    assert "'nosuchapp'" in probe.classify(RTMP_UNKNOWN_APP, "rtmp://127.0.0.1:19350/nosuchapp/cam")[1]


@pytest.mark.parametrize(
    ("stdout", "expected"),
    [
        pytest.param(
            '{"streams": [{"codec_name": "h264", "width": 640, "height": 360, '
            '"r_frame_rate": "25/1", "avg_frame_rate": "25/1"}]}',
            ("h264", 640, 360, 25.0),
            id="rtmp",
        ),
        pytest.param(
            '{"streams": [{"codec_name": "h264", "width": 1280, "height": 720, '
            '"r_frame_rate": "30000/1001", "avg_frame_rate": "0/0"}]}',
            ("h264", 1280, 720, 29.97),
            id="ntsc-r-only",
        ),
        pytest.param(
            '{"streams": [{"codec_name": "h264", "width": 1280, "height": 720, '
            '"r_frame_rate": "90000/1", "avg_frame_rate": "0/0"}]}',
            ("h264", 1280, 720, None),
            id="timebase-not-fps",
        ),
        pytest.param('{"streams": []}', None, id="no-video"),
        pytest.param("", None, id="empty"),
    ],
)
def test_parse_ffprobe(stdout: str, expected: object) -> None:
    assert probe.parse_ffprobe(stdout) == expected


@pytest.mark.parametrize(
    ("url", "requested", "stderr", "used"),
    [
        pytest.param("rtsp://h/live", "tcp", "", "tcp", id="rtsp-forced-tcp"),
        pytest.param("rtsp://h/live", None, "", "udp", id="rtsp-auto-udp"),
        pytest.param("rtsp://h/live", None, "[rtsp @ 0x1] UDP timeout, retrying with TCP", "tcp", id="rtsp-fallback"),
        pytest.param("rtmp://h/live/cam", None, "", "tcp", id="rtmp"),
        pytest.param("srt://h:8890", None, "", "udp", id="srt"),
    ],
)
def test_transport_used(url: str, requested: str | None, stderr: str, used: str) -> None:
    assert probe.transport_used(url, requested, stderr) == used


def test_latency_stats_nearest_rank() -> None:
    stats = probe.latency_stats([float(v) for v in range(100, 0, -1)], unreadable=2)
    assert stats == probe.LatencyStats(100, 2, 50.0, 90.0, 99.0, 100.0)
    assert probe.latency_stats([], 3) == probe.LatencyStats(0, 3, None, None, None, None)


def test_gap_stats_counts_intervals_over_three_nominal() -> None:
    arrivals = [0.0, 0.04, 0.08, 0.30, 0.34, 0.60]
    assert probe.gap_stats(arrivals, 25.0) == (2, pytest.approx(0.26))
    assert probe.gap_stats([1.0], 25.0) == (0, None)


def test_result_json_round_trips() -> None:
    result = probe.ProbeResult("rtsp://h/live", True, codec="h264", latency=probe.LatencyStats(3, 0, 1, 2, 3, 4))
    data = json.loads(result.to_json())
    assert data["ok"] is True
    assert data["codec"] == "h264"
    assert data["latency"] == {"samples": 3, "unreadable": 0, "p50_ms": 1, "p90_ms": 2, "p99_ms": 3, "max_ms": 4}


def test_render_summary_shows_latency_and_failure_reason() -> None:
    from io import StringIO

    from rich.console import Console

    from camstream.cli.probe import render

    out = StringIO()
    ok = probe.ProbeResult(
        "rtsp://h/live", True, codec="h264", width=1280, height=720, fps=30.0, transport="udp",
        time_to_first_frame=0.8, frames=150, measured_fps=29.9, bitrate=2_000_000, gaps=1, longest_gap=0.4,
        latency=probe.LatencyStats(150, 0, 120.0, 140.0, 180.0, 190.0),
    )  # fmt: skip
    render(ok, Console(file=out, width=120))
    text = out.getvalue()
    assert "1280x720" in text
    assert "2000 kbit/s" in text
    assert "120 / 140 / 180 / 190 ms" in text
    assert "1 (longest interval 0.4 s)" in text

    out = StringIO()
    render(probe.ProbeResult("rtmp://h/live/cam", False, "refused", "nothing listens on that port"), Console(file=out))
    assert "no stream: refused: nothing listens on that port" in out.getvalue()
