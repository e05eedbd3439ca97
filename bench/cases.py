"""Every command line the benchmark runs, as pure functions (argv lists, config dicts). No I/O here."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path

from camstream.config import VideoConfig
from camstream.encoders import Knobs, libx264_args
from camstream.graph import INBAND_HEADERS_BSF
from camstream.latency import stamp_filter
from camstream.sources import clock_overlay


@dataclass(frozen=True)
class Video:
    """The synthetic source every case encodes."""

    width: int = 1280
    height: int = 720
    fps: int = 30
    bitrate: int = 2_000_000

    @property
    def size(self) -> str:
        """WIDTHxHEIGHT."""
        return f"{self.width}x{self.height}"

    def knobs(self) -> Knobs:
        """The encoder settings every case uses: veryfast, main, one keyframe per second (camstream's config for
        the camstream cases pins the same, so preset=auto cannot pick another preset on a different machine)."""
        return Knobs(preset="veryfast", profile="main", gop_frames=self.fps)

    def config(self) -> VideoConfig:
        """camstream's VideoConfig for these settings (to reuse its libx264 preset verbatim)."""
        return dataclasses.replace(
            VideoConfig(), width=self.width, height=self.height, fps=self.fps, bitrate=self.bitrate,
            preset=self.knobs().preset, profile=self.knobs().profile,
        )


@dataclass(frozen=True)
class CpuCase:
    """One row of the CPU/RSS table."""

    key: str
    title: str
    kind: str  # "camstream", "ffmpeg" or "gst"
    outputs: tuple[str, ...] = ()  # camstream outputs switched on


CPU_CASES: tuple[CpuCase, ...] = (
    CpuCase("a", "camstream: RTSP + RTMP + record + 1 fps snapshots", "camstream",
            ("rtsp", "rtmp", "record", "snapshots")),
    CpuCase("b", "bare ffmpeg (libx264, camstream's preset) -> one RTSP publish", "ffmpeg"),
    CpuCase("c", "first seed's design in gst-launch: tee, 2x x264enc (record + RTSP), 1 fps JPEG", "gst"),
    CpuCase("d-rtsp", "camstream: RTSP only", "camstream", ("rtsp",)),
    CpuCase("d-rtmp", "camstream: RTMP only", "camstream", ("rtmp",)),
    CpuCase("d-record", "camstream: record only", "camstream", ("record",)),
    CpuCase("d-snapshots", "camstream: snapshots only", "camstream", ("snapshots",)),
)  # fmt: skip


def generator_argv(video: Video, fifo: str | Path, ffmpeg: str = "ffmpeg") -> list[str]:
    """The shared "camera": raw 4:2:0 Y4M of FFmpeg's testsrc2 at real-time pace into a named pipe."""
    # -re paces lavfi to real time (ffmpeg: -re), as a camera delivers frames; every case reads the same
    # bytes, so capture costs the same everywhere and the generator itself is not counted.
    return [
        ffmpeg, "-hide_banner", "-nostdin", "-loglevel", "error", "-re",
        "-f", "lavfi", "-i", f"testsrc2=size={video.size}:rate={video.fps}",
        "-pix_fmt", "yuv420p", "-f", "yuv4mpegpipe", "-y", str(fifo),
    ]  # fmt: skip


def camstream_config(
    *,
    source: str,
    video: Video,
    outputs: tuple[str, ...],
    rtsp_port: int,
    rtmp_port: int,
    stat_port: int,
    ssd_path: Path,
    state_dir: Path,
    clock: bool = False,
) -> dict[str, object]:
    """The camstream YAML settings for one run (every key explicit, so no ambient env/YAML leaks in)."""
    return {
        "source": source,
        "video": {"width": video.width, "height": video.height, "fps": video.fps, "bitrate": video.bitrate,
                  "encoder": "libx264", "preset": video.knobs().preset, "profile": video.knobs().profile,
                  "gop": 1, "clock": clock},
        "rtsp": {"enabled": "rtsp" in outputs, "server": "builtin", "address": "127.0.0.1", "port": rtsp_port},
        "rtmp": {"enabled": "rtmp" in outputs, "server": "managed", "port": rtmp_port, "stat_port": stat_port},
        "srt": {"enabled": False},
        # The web page is measured in its own cases; here every case compares like for like with the peers.
        "web": {"enabled": False},
        "record": {"enabled": "record" in outputs},
        "snapshots": {"enabled": "snapshots" in outputs, "interval": 1},
        "paths": {"ssd_path": str(ssd_path), "state_dir": str(state_dir)},
        "log": {"level": "warning"},
    }  # fmt: skip


def render_config(settings: dict[str, object]) -> str:
    """YAML text for camstream_config (JSON is a subset of YAML 1.2 and needs no extra dependency)."""
    return json.dumps(settings, indent=1) + "\n"


def camstream_argv(camstream: str, config: Path, duration: float) -> list[str]:
    """`camstream run` with everything taken from the config file; --duration is only a safety net."""
    return [camstream, "run", "--config", str(config), "--duration", f"{duration:g}", "--quiet"]


def bare_rtsp_argv(video: Video, fifo: str | Path, ingest_port: int, ffmpeg: str = "ffmpeg") -> list[str]:
    """Case (b): FFmpeg encoding with camstream's libx264 preset, MPEG-TS over local TCP into the RTSP server."""
    return [
        ffmpeg, "-hide_banner", "-nostdin", "-loglevel", "error",
        "-probesize", "32768", "-i", str(fifo),
        "-vf", "format=yuv420p", *libx264_args(video.config(), video.knobs()),
        # The same in-band SPS/PPS, flushing and PES lengths camstream's RTSP tee slave uses (camstream.outputs.rtsp).
        "-bsf:v", INBAND_HEADERS_BSF, "-an", "-f", "mpegts", "-flush_packets", "1", "-omit_video_pes_length", "0",
        f"tcp://127.0.0.1:{ingest_port}",
    ]  # fmt: skip


def x264enc(video: Video) -> str:
    """gst x264enc with the settings of camstream's libx264 preset (veryfast, zerolatency, CBR-ish, GOP = fps)."""
    kbps = video.bitrate // 1000
    # vbv-buf-capacity is in ms: 1000 = -bufsize equal to one second of -maxrate, as in camstream.encoders.
    return (
        f"x264enc speed-preset=veryfast tune=zerolatency bitrate={kbps} vbv-buf-capacity=1000 "
        f"key-int-max={video.fps} bframes=0 ! video/x-h264,profile=main"
    )


def gst_seed_argv(
    video: Video, fifo: str | Path, ingest_port: int, record_dir: Path, images_dir: Path, gst: str = "gst-launch-1.0"
) -> list[str]:
    """Case (c): the first seed's graph in one gst-launch: capture once, tee, two x264enc, 1 fps JPEG.

    Recording: x264enc -> splitmuxsink, ~5.5 s MP4 chunks (the seed's). Snapshots: 1 fps jpegenc.
    Live: a second x264enc (leaky queue in front, as the seed) -> MPEG-TS over local TCP into the same
    builtin RTSP server cases (a) and (b) use, so the server costs the same in every case.
    """
    enc = x264enc(video)
    desc = (
        f"filesrc location={fifo} ! y4mdec ! tee name=t "
        f"t. ! queue ! {enc} ! h264parse ! splitmuxsink name=rec max-size-time=5500000000 "
        f"location={record_dir}/chunk%05d.mp4 "
        "t. ! queue leaky=downstream max-size-buffers=2 ! videorate drop-only=true ! video/x-raw,framerate=1/1 ! "
        f"jpegenc ! multifilesink sync=false location={images_dir}/img%05d.jpg "
        f"t. ! queue leaky=downstream max-size-buffers=2 ! {enc} ! h264parse config-interval=-1 ! "
        f"mpegtsmux ! tcpclientsink sync=false host=127.0.0.1 port={ingest_port}"
    )
    return [gst, "-q", "-e", *desc.split(" ")]


def reader_argv(url: str, transport: str = "tcp", ffmpeg: str = "ffmpeg") -> list[str]:
    """A viewer that receives the stream without decoding it (-c copy to null), reporting frames on stdout."""
    rtsp = ["-rtsp_transport", transport] if url.startswith("rtsp://") else []
    return [
        ffmpeg, "-hide_banner", "-nostdin", "-loglevel", "error",
        "-progress", "pipe:1", "-stats_period", "0.5",
        *rtsp, "-i", url, "-map", "0:v", "-c", "copy", "-f", "null", "-",
    ]  # fmt: skip


def frame_clock_argv(url: str, ffmpeg: str = "ffmpeg") -> list[str]:
    """A decoding RTSP viewer that logs one showinfo line per frame (arrival times for the recovery test)."""
    # A 16x16 crop before showinfo keeps its per-frame checksum cheap (ffmpeg-filters: showinfo).
    return [
        ffmpeg, "-hide_banner", "-nostdin", "-loglevel", "info", "-nostats",
        "-rtsp_transport", "tcp", "-i", url, "-vf", "crop=16:16:0:0,showinfo", "-f", "null", "-",
    ]  # fmt: skip


def bare_rtmp_publisher_argv(video: Video, rtmp_url: str, ffmpeg: str = "ffmpeg") -> list[str]:
    """The bare latency pipeline's publisher: the same testsrc2, clock overlay, stamp and encoder as camstream."""
    # The filter chain camstream builds for `--source testsrc --clock` (camstream.graph.prefilters), so both
    # pipelines stamp frames at the same point and pay the same filter cost.
    chain = ",".join([clock_overlay(), stamp_filter(video.width, video.height), "format=yuv420p"])
    return [
        ffmpeg, "-hide_banner", "-nostdin", "-loglevel", "error",
        "-re", "-f", "lavfi", "-i", f"testsrc2=size={video.size}:rate={video.fps}",
        "-vf", chain, *libx264_args(video.config(), video.knobs()),
        "-an", "-f", "flv", "-flvflags", "no_duration_filesize", rtmp_url,
    ]  # fmt: skip


def stamped_generator_argv(video: Video, fifo: str | Path, ffmpeg: str = "ffmpeg") -> list[str]:
    """The seed anchor's "camera": testsrc2 with camstream's clock overlay and latency stamp, raw Y4M into a FIFO."""
    # The same filter chain as camstream's `--source testsrc --clock` (and the bare RTMP publisher), applied
    # before the frames leave the generator, so the stamp is taken at "capture" in both designs.
    chain = ",".join([clock_overlay(), stamp_filter(video.width, video.height), "format=yuv420p"])
    return [
        ffmpeg, "-hide_banner", "-nostdin", "-loglevel", "error", "-re",
        "-f", "lavfi", "-i", f"testsrc2=size={video.size}:rate={video.fps}",
        "-vf", chain, "-f", "yuv4mpegpipe", "-y", str(fifo),
    ]  # fmt: skip


def seed_rtsp_launch(video: Video, fifo: str | Path) -> str:
    """The first seed's RTSP media: raw frames -> leaky queue -> x264enc (camstream's settings) -> rtph264pay.

    The seed reads its raw frames from an SHM socket; here a Y4M FIFO carries them (shmsrc needs a feeder process
    of its own). Its "tiny leaky queue in front of the encoder", config-interval=-1 for late joiners, one shared
    media for every viewer (bench/seed_rtsp.py).
    """
    return (
        f"filesrc location={fifo} ! y4mdec ! queue leaky=downstream max-size-buffers=2 ! {x264enc(video)} ! "
        "h264parse config-interval=-1 ! rtph264pay name=pay0 pt=96 config-interval=-1"
    )


def seed_rtsp_argv(python: str, port: int, launch: str) -> list[str]:
    """The seed RTSP server process (bench/seed_rtsp.py)."""
    return [python, "-m", "bench.seed_rtsp", "--port", str(port), "--launch", launch]
