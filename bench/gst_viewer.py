"""A second latency viewer built on GStreamer, to tell server delay from FFmpeg-client delay.

`camstream probe` plays streams with FFmpeg. For RTSP, FFmpeg's RTP demuxer hands H.264 over in RTP-sized
pieces and its H.264 parser (need_parsing = full, libavformat/rtpdec_h264.c) finds the end of a frame only
when the next frame starts, so an FFmpeg RTSP viewer shows every frame at least one frame interval late,
whatever the server does. GStreamer's rtph264depay ends a frame at the RTP marker bit instead. Reading the
same wall-clock stamps (camstream.latency) through both viewers shows where a path's latency lives.
"""

from __future__ import annotations

import os
import selectors
import tempfile
import time
from urllib.parse import urlsplit

from camstream import latency as stamp
from camstream import proc
from camstream.probe import LatencyStats, latency_stats

# Seconds to wait for the first frame before giving up.
CONNECT_TIMEOUT_S = 10.0


def viewer_argv(url: str, width: int, out: str, gst: str = "gst-launch-1.0") -> list[str]:
    """gst-launch argv that plays `url` and writes the top stamp rows of each decoded frame, GRAY8, to `out`."""
    if urlsplit(url).scheme == "rtsp":
        # latency=0 buffer-mode=none: no jitterbuffer wait and no timestamp smoothing (rtspsrc docs), the
        # equivalent of FFmpeg's -flags low_delay for this client; UDP as the probe's default.
        source = ["rtspsrc", f"location={url}", "latency=0", "buffer-mode=none", "protocols=udp", "!", "rtph264depay"]
    else:
        source = ["rtmp2src", f"location={url}", "!", "flvdemux", "!", "h264parse"]
    return [
        gst, "-q", *source, "!", "avdec_h264", "!", "videoconvert", "!", "video/x-raw,format=GRAY8", "!",
        # Keep only the stamp rows (as the probe's crop filter does): videocrop -1 crops to the caps that follow.
        "videocrop", "bottom=-1", "!", f"video/x-raw,height={stamp.cell_size(width)}", "!",
        # No clock sync: each frame is written the moment it is decoded.
        "filesink", f"location={out}", "sync=false", "buffer-mode=unbuffered",
    ]  # fmt: skip


def watch(url: str, seconds: float, width: int) -> LatencyStats:
    """Play `url` with GStreamer for `seconds` after the first frame; latency of the stamped frames."""
    rows = stamp.cell_size(width)
    frame_size = width * rows
    latencies: list[float] = []
    unreadable = 0
    with tempfile.TemporaryDirectory(prefix="camstream-gstview-") as tmp:
        path = os.path.join(tmp, "frames")
        os.mkfifo(path)
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
        child = proc.Child("gst-viewer", viewer_argv(url, width, path))
        selector = selectors.DefaultSelector()
        selector.register(fd, selectors.EVENT_READ)
        buffer = bytearray()
        first: float | None = None
        try:
            child.start()
            started = time.monotonic()
            while True:
                now = time.monotonic()
                if first is not None and now - first >= seconds:
                    break
                if first is None and now - started >= CONNECT_TIMEOUT_S:
                    break
                if not selector.select(timeout=0.1):
                    if not child.running():
                        break
                    continue
                try:
                    chunk = os.read(fd, 1 << 20)
                except BlockingIOError:
                    continue
                if not chunk:
                    break
                buffer += chunk
                while len(buffer) >= frame_size:
                    received_ms = time.time() * 1000.0
                    first = first or time.monotonic()
                    stamped = stamp.decode_stamp(bytes(buffer[:frame_size]), width, rows)
                    if stamped is None:
                        unreadable += 1
                    else:
                        latencies.append(received_ms - stamped)
                    del buffer[:frame_size]
        finally:
            selector.close()
            os.close(fd)
            child.stop(grace=2.0)
    return latency_stats(latencies, unreadable)
