"""bench.gst_viewer: the GStreamer cross-check viewer's gst-launch argv, compared whole."""

from __future__ import annotations

import pytest

from bench import gst_viewer

DECODE = ["!", "avdec_h264", "!", "videoconvert", "!", "video/x-raw,format=GRAY8", "!", "videocrop", "bottom=-1", "!"]
SINK = ["!", "filesink", "location=/t/frames", "sync=false", "buffer-mode=unbuffered"]


@pytest.mark.parametrize(
    ("url", "width", "expected"),
    [
        pytest.param(
            "rtsp://127.0.0.1:8554/live", 1280,
            ["gst-launch-1.0", "-q", "rtspsrc", "location=rtsp://127.0.0.1:8554/live", "latency=0",
             "buffer-mode=none", "protocols=udp", "!", "rtph264depay", *DECODE, "video/x-raw,height=16", *SINK],
            id="rtsp-udp-720p",
        ),
        pytest.param(
            "rtmp://127.0.0.1:1935/live/cam", 320,
            ["gst-launch-1.0", "-q", "rtmp2src", "location=rtmp://127.0.0.1:1935/live/cam", "!", "flvdemux", "!",
             "h264parse", *DECODE, "video/x-raw,height=4", *SINK],
            id="rtmp-320",
        ),
    ],
)  # fmt: skip
def test_viewer_argv(url: str, width: int, expected: list[str]) -> None:
    assert gst_viewer.viewer_argv(url, width, "/t/frames") == expected
