"""Headless stream check: connect to a URL, count frames for a while, report what arrived and why not.

Two steps, both real FFmpeg tools run through camstream.proc:
  1. ffprobe reads the stream parameters (codec, size, declared frame rate) or fails with a reason;
  2. ffmpeg plays the stream for `seconds`, writing the compressed packets and a small gray crop of every
     decoded frame to two named pipes; Python times each arrival (frames, fps, bitrate, gaps) and, with
     latency on, reads the wall-clock stamp from the crop (camstream.latency).
"""

from __future__ import annotations

import json
import math
import os
import re
import selectors
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from urllib.parse import urlsplit

from camstream import latency as stamp
from camstream import proc
from camstream.errors import UsageError

TRANSPORTS = ("udp", "tcp")
REASONS = ("refused", "timeout", "not found", "unauthorized", "unreachable", "no frames", "error")
# A frame interval longer than this many nominal intervals counts as a gap.
GAP_FACTOR = 3.0
# Rows of each decoded frame handed over when only counting frames: a 16x2 gray corner is 32 bytes.
COUNT_CROP = (16, 2)

# Low-latency input options shared by both steps. -probesize 32 / -analyzeduration 0 stop FFmpeg from
# buffering seconds of stream to guess parameters (ffmpeg-formats: "Format Options"); RTMP carries them in
# onMetaData and RTSP in the SDP, so nothing is lost. -flags low_delay cuts the decoder queue (ffmpeg-codecs
# flags). No -fflags nobuffer: it discards the packets read while probing, and with a 32-byte probe that is
# the very first keyframe, so the decoder waits a whole GOP for the next one (time_to_first_frame ~1 s
# worse at -g 30; measured by bench/). With probesize 32 only that one packet is buffered, so latency is
# unchanged.
LOW_LATENCY_INPUT = ["-flags", "low_delay", "-probesize", "32", "-analyzeduration", "0"]


@dataclass
class LatencyStats:
    """Glass-to-glass latency over the run, from the wall-clock stamps on the frames (ms)."""

    samples: int
    unreadable: int
    p50_ms: float | None
    p90_ms: float | None
    p99_ms: float | None
    max_ms: float | None


@dataclass
class ProbeResult:
    """What `probe` saw: stream parameters, frame flow and (optionally) latency, or why nothing came."""

    url: str
    ok: bool
    reason: str | None = None
    detail: str | None = None
    codec: str | None = None
    width: int | None = None
    height: int | None = None
    fps: float | None = None
    transport: str | None = None
    time_to_first_frame: float | None = None
    frames: int = 0
    duration: float = 0.0
    measured_fps: float | None = None
    bitrate: float | None = None
    gaps: int = 0
    longest_gap: float | None = None
    latency: LatencyStats | None = None
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> str:
        """The result as one JSON object (seconds, bits/s, ms)."""
        return json.dumps(asdict(self), sort_keys=False)


def scheme_of(url: str) -> str:
    """Lower-case URL scheme, or a UsageError when the URL has none."""
    scheme = urlsplit(url).scheme.lower()
    if not scheme:
        raise UsageError(f"stream URL {proc.scrub(url)!r} has no scheme: use rtsp://, rtmp:// or srt://")
    return scheme


def check_transport(transport: str | None) -> None:
    """Reject a transport other than udp/tcp."""
    if transport is not None and transport not in TRANSPORTS:
        raise UsageError(f"--transport {transport!r} is not supported: use udp or tcp")


def input_options(url: str, transport: str | None, timeout: float) -> list[str]:
    """FFmpeg/ffprobe input options for `url`: low latency, a socket timeout and the RTSP transport."""
    check_transport(transport)
    micros = str(int(timeout * 1_000_000))
    argv = list(LOW_LATENCY_INPUT)
    if scheme_of(url) in ("rtsp", "rtsps"):
        if transport:
            argv += ["-rtsp_transport", transport]
        # ffmpeg-protocols rtsp: -timeout is the socket I/O timeout in microseconds (also how long UDP waits
        # for RTP before falling back to TCP; the default is 10 s).
        argv += ["-timeout", micros]
    else:
        # Generic URL protocol option (ffmpeg-protocols "Protocol Options"): fail a read stuck this long.
        argv += ["-rw_timeout", micros]
    return argv


def ffprobe_argv(url: str, transport: str | None, timeout: float, ffprobe: str = "ffprobe") -> list[str]:
    """ffprobe argv that prints the first video stream's parameters as JSON.

    -v debug makes the RTMP handshake visible on stderr (connect, createStream, play), which is how
    `classify` tells an unknown application from a stream name nobody publishes.
    """
    return [
        ffprobe, "-hide_banner", "-v", "debug",
        *input_options(url, transport, timeout),
        "-select_streams", "v:0",
        "-show_entries", "stream=codec_name,width,height,avg_frame_rate,r_frame_rate",
        "-of", "json",
        url,
    ]  # fmt: skip


def ffmpeg_argv(
    url: str,
    transport: str | None,
    timeout: float,
    packets: str,
    frames: str,
    crop: tuple[str, int],
    ffmpeg: str = "ffmpeg",
) -> list[str]:
    """ffmpeg argv that copies the video packets to `packets` and writes gray crops of decoded frames to `frames`.

    `crop` is (width expression, rows) of the top-left corner kept from each frame.
    """
    crop_w, rows = crop
    return [
        ffmpeg, "-hide_banner", "-nostdin", "-v", "warning",
        *input_options(url, transport, timeout),
        "-i", url,
        # Output 1: compressed packets, counted for the bitrate. The "data" muxer writes packet payloads only.
        "-map", "0:v:0", "-c", "copy", "-f", "data", "-flush_packets", "1", "-y", packets,
        # Output 2: a gray crop per decoded frame. passthrough keeps FFmpeg from duplicating or dropping
        # frames to fake a constant rate (ffmpeg: -fps_mode), so gaps stay visible; flush_packets hands
        # each frame over at once instead of filling a 32 KiB buffer first.
        "-map", "0:v:0", "-vf", f"crop={crop_w}:{rows}:0:0", "-pix_fmt", "gray", "-fps_mode", "passthrough",
        "-f", "rawvideo", "-flush_packets", "1", "-y", frames,
    ]  # fmt: skip


# (reason, stderr pattern, detail) in the order they are tried: the most specific first.
_PATTERNS: list[tuple[str, re.Pattern[str], str]] = [
    ("unauthorized", re.compile(r"401 Unauthorized|authoriz\w* failed|Connect\.Rejected|Authentication", re.I),
     "the server wants credentials: put user:password@ in the URL"),
    ("not found", re.compile(r"404 Not Found|No such stream|StreamNotFound", re.I),
     "the server has no stream at this path"),
    ("refused", re.compile(r"Connection refused", re.I), "nothing listens on that port"),
    ("unreachable", re.compile(r"No route to host|Network is unreachable|Name or service not known|"
                               r"Temporary failure in name resolution|Host is unreachable", re.I),
     "the host cannot be reached"),
    ("timeout", re.compile(r"timed out|Operation timed out|Connection timed out", re.I),
     "the server did not answer in time"),
]  # fmt: skip


def classify(stderr: str, url: str) -> tuple[str, str]:
    """The reason (one of REASONS) and a one-line detail for a failed connection, from FFmpeg's stderr."""
    for reason, pattern, detail in _PATTERNS:
        if pattern.search(stderr):
            return reason, detail
    if scheme_of(url) in ("rtmp", "rtmps"):
        # nginx-rtmp closes the connection right after `connect` when the application does not exist, and
        # accepts `play` of a stream name nobody publishes, then sends nothing (live, idle_streams on).
        path = urlsplit(url).path.strip("/").split("/")
        if "Sending play command" in stderr:
            name = path[-1] if path else ""
            return "no frames", f"the server accepted play of {name!r} but sent nothing: is anything publishing it?"
        if "Proto = rtmp" in stderr or "Handshaking" in stderr:
            app = path[0] if path else ""
            return "not found", f"the server closed the connection at connect: no application {app!r}?"
    if "Successfully connected" in stderr or "Input/output error" in stderr or "End of file" in stderr:
        return "no frames", "connected, but no video arrived"
    last = [line for line in stderr.splitlines() if line.strip()]
    return "error", last[-1].strip() if last else "ffmpeg failed without a message"


def _rate(text: str | None) -> float | None:
    if not text or "/" not in text:
        return None
    num, den = text.split("/", 1)
    try:
        value = float(num) / float(den)
    except (ValueError, ZeroDivisionError):
        return None
    # 90000 or 1000 "fps" is a timebase guess from too few frames, not a frame rate.
    return round(value, 3) if 0 < value <= 240 else None


def parse_ffprobe(stdout: str) -> tuple[str | None, int | None, int | None, float | None] | None:
    """(codec, width, height, declared fps) of the first video stream in ffprobe JSON, or None without video."""
    try:
        streams = json.loads(stdout or "{}").get("streams") or []
    except json.JSONDecodeError:
        return None
    if not streams:
        return None
    stream = streams[0]
    fps = _rate(stream.get("avg_frame_rate")) or _rate(stream.get("r_frame_rate"))
    return stream.get("codec_name"), stream.get("width"), stream.get("height"), fps


def transport_used(url: str, requested: str | None, stderr: str) -> str | None:
    """Transport the media actually rode on: RTSP's choice (or FFmpeg's UDP-to-TCP fallback), TCP for RTMP."""
    scheme = scheme_of(url)
    if scheme in ("rtsp", "rtsps"):
        if requested:
            return requested
        # FFmpeg tries UDP first and logs this warning when it switches to interleaved TCP (libavformat/rtsp.c).
        return "tcp" if "retrying with TCP" in stderr else "udp"
    if scheme in ("rtmp", "rtmps", "http", "https"):
        return "tcp"
    if scheme in ("srt", "udp", "rtp"):
        return "udp"
    return None


def percentile(ordered: list[float], pct: float) -> float:
    """Nearest-rank percentile of an ascending list."""
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[rank - 1]


def latency_stats(latencies_ms: list[float], unreadable: int) -> LatencyStats:
    """p50/p90/p99/max of the per-frame latencies."""
    ordered = sorted(latencies_ms)
    if not ordered:
        return LatencyStats(0, unreadable, None, None, None, None)
    return LatencyStats(
        samples=len(ordered),
        unreadable=unreadable,
        p50_ms=percentile(ordered, 50),
        p90_ms=percentile(ordered, 90),
        p99_ms=percentile(ordered, 99),
        max_ms=ordered[-1],
    )


@dataclass
class _Flow:
    """Arrival bookkeeping for the measuring run."""

    frame_size: int
    started: float
    arrivals: list[float] = field(default_factory=list)
    packet_bytes: int = 0
    latencies: list[float] = field(default_factory=list)
    unreadable: int = 0
    exited: bool = False  # ffmpeg ended on its own (stream over or failed) rather than being stopped by us


def gap_stats(arrivals: list[float], nominal_fps: float | None) -> tuple[int, float | None]:
    """(number of gaps, longest frame interval in s); a gap is an interval over GAP_FACTOR nominal intervals."""
    intervals = [b - a for a, b in zip(arrivals, arrivals[1:])]
    if not intervals:
        return 0, None
    fps = nominal_fps
    if not fps:
        span = arrivals[-1] - arrivals[0]
        fps = (len(arrivals) - 1) / span if span > 0 else None
    limit = GAP_FACTOR / fps if fps else math.inf
    return sum(1 for gap in intervals if gap > limit), max(intervals)


def probe(
    url: str,
    seconds: float = 5.0,
    transport: str | None = None,
    latency: bool = False,
    *,
    connect_timeout: float = 10.0,
    clock: Callable[[], float] = time.time,
) -> ProbeResult:
    """Connect to `url`, watch it for `seconds` after the first frame, and report (see ProbeResult)."""
    check_transport(transport)
    scheme_of(url)
    if seconds <= 0:
        raise UsageError(f"--seconds {seconds} must be positive")
    ffprobe = proc.which("ffprobe")
    ffmpeg = proc.which("ffmpeg")
    shown = proc.scrub(url)

    info = proc.run(ffprobe_argv(url, transport, connect_timeout, ffprobe), timeout=connect_timeout + 5)
    parsed = parse_ffprobe(info.stdout) if info.returncode == 0 else None
    if parsed is None:
        if info.returncode == 0:
            return ProbeResult(shown, False, "no frames", "the stream has no video track")
        if info.returncode == -9:
            return ProbeResult(shown, False, "timeout", f"no stream parameters within {connect_timeout:g} s")
        reason, detail = classify(info.stderr, url)
        return ProbeResult(shown, False, reason, detail)
    codec, width, height, fps = parsed
    result = ProbeResult(shown, False, codec=codec, width=width, height=height, fps=fps)

    if latency:
        if not width:
            result.reason, result.detail = "error", "the stream did not declare its width: cannot read latency stamps"
            return result
        try:
            crop: tuple[str, int] = (str(width), stamp.cell_size(width))
        except ValueError as exc:
            result.reason, result.detail = "error", str(exc)
            return result
        frame_width = width
    else:
        crop = (str(COUNT_CROP[0]), COUNT_CROP[1])
        frame_width = COUNT_CROP[0]

    with tempfile.TemporaryDirectory(prefix="camstream-probe-") as tmp:
        packets_path = os.path.join(tmp, "packets")
        frames_path = os.path.join(tmp, "frames")
        os.mkfifo(packets_path)
        os.mkfifo(frames_path)
        argv = ffmpeg_argv(url, transport, connect_timeout, packets_path, frames_path, crop, ffmpeg)
        child = proc.Child("probe-ffmpeg", argv, tail_lines=200)
        flow = _watch(child, packets_path, frames_path, frame_width * crop[1], seconds, connect_timeout, latency,
                      frame_width, crop[1], clock)  # fmt: skip
    tail = "\n".join(child.tail())
    result.transport = transport_used(url, transport, tail)
    return _summarise(result, flow, tail, url, latency, connect_timeout)


def _watch(
    child: proc.Child,
    packets_path: str,
    frames_path: str,
    frame_size: int,
    seconds: float,
    connect_timeout: float,
    latency: bool,
    width: int,
    rows: int,
    clock: Callable[[], float],
) -> _Flow:
    """Run ffmpeg and read both pipes until `seconds` after the first frame, a first-frame timeout, or its exit."""
    # Non-blocking read ends open at once without a writer, so ffmpeg's open() for writing never waits on us
    # and we never wait on an ffmpeg that failed before opening its outputs.
    packets_fd = os.open(packets_path, os.O_RDONLY | os.O_NONBLOCK)
    frames_fd = os.open(frames_path, os.O_RDONLY | os.O_NONBLOCK)
    selector = selectors.DefaultSelector()
    selector.register(packets_fd, selectors.EVENT_READ, "packets")
    selector.register(frames_fd, selectors.EVENT_READ, "frames")
    buffer = bytearray()
    flow = _Flow(frame_size, time.monotonic())
    open_fds = {packets_fd, frames_fd}
    try:
        child.start()
        flow.started = time.monotonic()
        while frames_fd in open_fds:
            now = time.monotonic()
            if flow.arrivals and now - flow.arrivals[0] >= seconds:
                break
            if not flow.arrivals and now - flow.started >= connect_timeout:
                break
            events = selector.select(timeout=0.1)
            if not events and not child.running():
                flow.exited = True
                break
            for key, _ in events:
                fd = key.fd
                try:
                    chunk = os.read(fd, 1 << 20)
                except BlockingIOError:
                    continue
                if not chunk:  # the writer closed: ffmpeg ended
                    selector.unregister(fd)
                    open_fds.discard(fd)
                    flow.exited = True
                    continue
                if key.data == "packets":
                    flow.packet_bytes += len(chunk)
                    continue
                buffer += chunk
                while len(buffer) >= frame_size:
                    received_ms = clock() * 1000.0
                    flow.arrivals.append(time.monotonic())
                    if latency:
                        stamped = stamp.decode_stamp(bytes(buffer[:frame_size]), width, rows)
                        if stamped is None:
                            flow.unreadable += 1
                        else:
                            flow.latencies.append(received_ms - stamped)
                    del buffer[:frame_size]
    finally:
        selector.close()
        for fd in (packets_fd, frames_fd):
            os.close(fd)
        child.stop(grace=3.0)
    return flow


def _summarise(
    result: ProbeResult, flow: _Flow, tail: str, url: str, latency: bool, connect_timeout: float
) -> ProbeResult:
    result.frames = len(flow.arrivals)
    if not flow.arrivals:
        reason, detail = classify(tail, url)
        if reason in ("no frames", "error") and not flow.exited:
            reason, detail = "no frames", f"the stream sent no video frame within {connect_timeout:g} s"
        result.reason, result.detail = reason, detail
        return result
    result.ok = True
    first, last = flow.arrivals[0], flow.arrivals[-1]
    result.time_to_first_frame = round(first - flow.started, 3)
    result.duration = round(last - first, 3)
    if len(flow.arrivals) > 1 and last > first:
        result.measured_fps = round((len(flow.arrivals) - 1) / (last - first), 2)
        result.bitrate = round(flow.packet_bytes * 8 / (last - first))
    if flow.exited:
        result.notes.append(f"the stream ended after {result.duration:g} s of video")
    result.gaps, longest = gap_stats(flow.arrivals, result.fps)
    result.longest_gap = None if longest is None else round(longest, 3)
    if latency:
        result.latency = latency_stats(flow.latencies, flow.unreadable)
        if not flow.latencies:
            result.notes.append("no frame carried a readable latency stamp: is the source stamped (--clock)?")
    return result
