"""Exact FFmpeg argv for the main graph shapes, built from shared fragments (streamlink test_ffmpegmux style)."""

from __future__ import annotations

from pathlib import Path

import pytest

from camstream.config import Config, load_config
from camstream.graph import FIFO_OPTIONS, build_argv, tee_slave
from camstream.outputs.base import Endpoints, EncodedSink, Sink
from camstream.outputs.record import RecordOutput
from camstream.outputs.rtmp import RtmpOutput
from camstream.outputs.rtsp import RtspOutput
from camstream.outputs.snapshots import SnapshotsOutput
from camstream.outputs.srt import SrtOutput
from camstream.sources import Source, SourceKind

SSD = "/srv/cam"
SEGMENTS = Path("/run/cam/segments.csv")

HEAD = ["ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "warning", "-nostats",
        "-progress", "pipe:1", "-stats_period", "0.5"]
TESTSRC_IN = ["-re", "-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=30"]
V4L2_IN = ["-f", "v4l2", "-thread_queue_size", "64", "-input_format", "mjpeg", "-video_size", "1280x720",
           "-framerate", "30", "-i", "/dev/video0"]
CLOCK = "drawtext=text=%{localtime}:x=16:y=h-th-16:fontsize=h/18:fontcolor=white:box=1:boxcolor=black@0.6"
X264 = ["-c:v", "libx264", "-preset", "veryfast", "-tune", "zerolatency", "-profile:v", "main",
        "-b:v", "2000000", "-maxrate", "2000000", "-bufsize", "2000000", "-g", "30", "-keyint_min", "30",
        "-bf", "0", "-sc_threshold", "0"]
V4L2M2M = ["-c:v", "h264_v4l2m2m", "-profile:v", "77", "-b:v", "2000000", "-g", "30", "-num_capture_buffers", "16"]
CHUNK_KEYFRAMES = ["-force_key_frames", "expr:gte(t,n_forced*5.5)"]
TEE = ["-flags", "+global_header", "-an", "-f", "tee", "-use_fifo", "1", "-fifo_options", FIFO_OPTIONS]
RECORD_SLAVE = (
    "[f=segment:onfail=ignore:segment_time=5.5:segment_format=mp4"
    ":segment_format_options=movflags=+frag_keyframe+empty_moov+default_base_moof\\\\:flush_packets=1"
    ":reset_timestamps=1:strftime=1:segment_list=/run/cam/segments.csv:segment_list_type=csv]"
    "/srv/cam/video/%Y%m%dT%H%M%SZ.mp4.part"
)
RTMP_SLAVE = "[f=flv:bsfs/v=dump_extra=freq=keyframe:onfail=ignore:flvflags=no_duration_filesize]rtmp://127.0.0.1:1935/live/cam"
RTSP_INGEST_SLAVE = "[f=mpegts:bsfs/v=dump_extra=freq=keyframe:onfail=ignore:flush_packets=1:omit_video_pes_length=0]tcp://127.0.0.1:40000"
SRT_SLAVE = "[f=mpegts:bsfs/v=dump_extra=freq=keyframe:onfail=ignore:flush_packets=1]srt://10.9.9.9:9000"
# Snapshots go through a one-slave tee with fifo: a failed JPEG write (disk full) must not end FFmpeg (issue 12).
SNAPSHOT_OUT = ["-map", "[frames0]", "-c:v", "mjpeg", "-q:v", "3", "-f", "tee", "-use_fifo", "1", "-fifo_options",
                "queue_size=90:drop_pkts_on_overflow=1:attempt_recovery=1:recover_any_error=1:recovery_wait_time=1"
                ":restart_with_keyframe=1",
                "[f=image2:onfail=ignore:strftime=1:atomic_writing=1]/srv/cam/images/%Y%m%dT%H%M%SZ.jpg"]
SNAP_FILTER = "fps=1/1,format=yuvj420p"

OUTPUTS = [RecordOutput(), RtmpOutput(), RtspOutput(), SnapshotsOutput(), SrtOutput()]
TESTSRC = Source(SourceKind.TESTSRC, "testsrc")
V4L2 = Source(SourceKind.V4L2, "/dev/video0")


def make_cfg(**flags: str | bool) -> Config:
    """Defaults plus the given dotted settings (no env, no files)."""
    # The web page (on by default with a live output) switches profile=auto to baseline: tests/test_web_unit.py.
    settings = {"paths.ssd_path": ("--ssd-path", SSD), "paths.state_dir": ("--state-dir", "/run/cam"),
                "web.enabled": ("--no-web", False)}
    settings.update({k: (k, v) for k, v in flags.items()})
    return load_config(env={}, flags=settings, search_defaults=False)


def sinks_for(cfg: Config) -> list[Sink]:
    """The sinks the enabled outputs ask for, with the endpoints the runner would resolve."""
    endpoints = Endpoints(rtsp_publish="tcp://127.0.0.1:40000", segment_list=SEGMENTS)
    return [s for o in OUTPUTS if o.enabled(cfg) for s in o.sinks(cfg, endpoints)]


CASES = [
    pytest.param(
        dict(**{"rtmp.enabled": True, "srt.enabled": True, "srt.url": "srt://10.9.9.9:9000"}),
        TESTSRC, "libx264",
        [*HEAD, *TESTSRC_IN,
         "-filter_complex",
         f"[0:v]{CLOCK},split=2[b0][b1];[b0]format=yuv420p[live];[b1]{SNAP_FILTER}[frames0]",
         "-map", "[live]", *X264, *CHUNK_KEYFRAMES, *TEE,
         "|".join([RECORD_SLAVE, RTMP_SLAVE, RTSP_INGEST_SLAVE, SRT_SLAVE]), *SNAPSHOT_OUT],
        id="testsrc-all-outputs",
    ),
    pytest.param(
        {}, V4L2, "libx264",
        [*HEAD, *V4L2_IN,
         "-filter_complex", f"[0:v]null,split=2[b0][b1];[b0]format=yuv420p[live];[b1]{SNAP_FILTER}[frames0]",
         "-map", "[live]", *X264, *CHUNK_KEYFRAMES, *TEE, "|".join([RECORD_SLAVE, RTSP_INGEST_SLAVE]),
         *SNAPSHOT_OUT],
        id="v4l2-mjpeg-720p30-libx264",
    ),
    pytest.param(
        {"snapshots.enabled": False, "record.enabled": False}, V4L2, "h264_v4l2m2m",
        [*HEAD, *V4L2_IN, "-filter_complex", "[0:v]null,format=yuv420p[live]",
         "-map", "[live]", *V4L2M2M, *TEE, RTSP_INGEST_SLAVE],
        id="v4l2-h264_v4l2m2m-rtsp",
    ),
    pytest.param(
        {"rtsp.enabled": False, "rtmp.enabled": True, "record.enabled": False, "snapshots.enabled": False},
        TESTSRC, "libx264",
        [*HEAD, *TESTSRC_IN, "-filter_complex", f"[0:v]{CLOCK},format=yuv420p[live]",
         "-map", "[live]", *X264, *TEE, RTMP_SLAVE],
        id="rtmp-only",
    ),
    pytest.param(
        {"rtsp.enabled": False, "snapshots.enabled": False}, TESTSRC, "libx264",
        [*HEAD, *TESTSRC_IN, "-filter_complex", f"[0:v]{CLOCK},format=yuv420p[live]",
         "-map", "[live]", *X264, *CHUNK_KEYFRAMES, *TEE, RECORD_SLAVE],
        id="record-only",
    ),
    pytest.param(
        {"rtsp.enabled": False, "record.enabled": False}, TESTSRC, "libx264",
        [*HEAD, *TESTSRC_IN, "-filter_complex", f"[0:v]{CLOCK},{SNAP_FILTER}[frames0]", *SNAPSHOT_OUT],
        id="snapshots-only",
    ),
    pytest.param(
        {"rtsp.enabled": False, "record.enabled": False, "video.input_format": "h264"}, V4L2, "libx264",
        [*HEAD, "-skip_frame", "nokey", *V4L2_IN[:5], "h264", *V4L2_IN[6:],
         "-filter_complex", f"[0:v]null,{SNAP_FILTER}[frames0]",
         *SNAPSHOT_OUT],
        id="v4l2-h264-passthrough-snapshots",
    ),
]


@pytest.mark.parametrize(("flags", "source", "encoder", "expected"), CASES)
def test_build_argv(flags: dict[str, object], source: Source, encoder: str, expected: list[str]) -> None:
    cfg = make_cfg(**flags)  # type: ignore[arg-type]
    assert build_argv(cfg, source, encoder, sinks_for(cfg)) == expected


def test_h264_passthrough_copies_the_camera_stream() -> None:
    cfg = make_cfg(**{"video.input_format": "h264", "snapshots.enabled": False, "record.enabled": False})
    argv = build_argv(cfg, V4L2, "libx264", sinks_for(cfg))
    assert argv[argv.index("-map"):] == ["-map", "0:v", "-c:v", "copy", "-an", "-f", "tee", "-use_fifo", "1",
                                         "-fifo_options", FIFO_OPTIONS, RTSP_INGEST_SLAVE]


@pytest.mark.parametrize(
    ("target", "options", "expected"),
    [
        pytest.param("/a b/c.mp4", (), "[f=mp4:onfail=ignore]/a b/c.mp4", id="space-in-path"),
        pytest.param("/x|y.mp4", (), "[f=mp4:onfail=ignore]/x\\|y.mp4", id="pipe-in-path"),
        pytest.param("/x.mp4", (("segment_list", "/odd:dir/l.csv"),),
                     "[f=mp4:onfail=ignore:segment_list=/odd\\\\:dir/l.csv]/x.mp4", id="colon-in-option"),
    ],
)
def test_tee_slave_escaping(target: str, options: tuple[tuple[str, str], ...], expected: str) -> None:
    assert tee_slave(EncodedSink("t", "mp4", target, options)) == expected


def test_tee_escaping_survives_real_ffmpeg(tmp_path: Path) -> None:
    """A directory with a space and a colon, and a list file with '|', reach FFmpeg intact."""
    import subprocess

    from camstream.graph import tee_spec

    odd = tmp_path / "we ird:dir"
    odd.mkdir()
    spec = tee_spec([EncodedSink("r", "segment", str(odd / "c%03d.mp4"),
                                 (("segment_time", "1"), ("segment_list", str(odd / "l|x.csv")),
                                  ("segment_list_type", "csv")))])
    result = subprocess.run(
        ["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=160x120:rate=10", "-t", "2", "-map", "0:v",
         "-c:v", "libx264", "-g", "10", "-flags", "+global_header", "-f", "tee", spec],
        capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 0, result.stderr
    assert (odd / "c000.mp4").is_file()
    assert (odd / "l|x.csv").read_text().startswith("c000.mp4,")


# -- sound (issue 14): one AAC encode in the same FFmpeg, fed to every tee slave ------------------------------

FIFO = "/run/cam/audio.pcm"
TEE_HEAD = ["-f", "tee", "-use_fifo", "1", "-fifo_options", FIFO_OPTIONS]
AFILTER = ("aresample=async=1000:min_comp=0.02:comp_duration=2:min_hard_comp=0.5:first_pts=0,"
           "aformat=sample_rates=48000:channel_layouts=")
AAC_MONO = ["-c:a", "aac", "-b:a", "96000", "-ar", "48000", "-ac", "1"]
AAC_STEREO = ["-c:a", "aac", "-b:a", "96000", "-ar", "48000", "-ac", "2"]
TONE_IN = ["-re", "-f", "lavfi", "-i", "sine=frequency=1000:beep_factor=4:sample_rate=48000"]
FIFO_IN = ["-f", "s16le", "-sample_rate", "48000", "-channels", "1", "-use_wallclock_as_timestamps", "1",
           "-thread_queue_size", "1024", "-i", FIFO]
REBASE_V = "setpts=PTS-RTCSTART/(1000000*TB)"
REBASE_A = "asetpts=PTS-RTCSTART/(1000000*TB)"
PIPE = Source(SourceKind.PIPE, "/run/cam.y4m")
FILE = Source(SourceKind.FILE, "/media/clip.mp4")
FILE_IN = ["-re", "-stream_loop", "-1", "-i", "/media/clip.mp4"]
NO_SNAPS = {"snapshots.enabled": False}

AUDIO_CASES = [
    pytest.param(
        {**NO_SNAPS, "audio.input": "source", "rtmp.enabled": True}, TESTSRC,
        [*HEAD, *TESTSRC_IN, *TONE_IN, "-filter_complex", f"[0:v]{CLOCK},format=yuv420p[live]",
         "-map", "[live]", *X264, *CHUNK_KEYFRAMES, "-flags", "+global_header",
         "-map", "1:a:0", "-filter:a", AFILTER + "stereo", *AAC_STEREO, *TEE_HEAD,
         "|".join([RECORD_SLAVE, RTMP_SLAVE, RTSP_INGEST_SLAVE])],
        id="testsrc-tone-record-rtmp-rtsp",
    ),
    pytest.param(
        {**NO_SNAPS, "audio.input": "source", "audio.channels": "1", "record.enabled": False,
         "srt.enabled": True, "srt.url": "srt://10.9.9.9:9000"}, FILE,
        [*HEAD, *FILE_IN, "-filter_complex", "[0:v]null,format=yuv420p[live]",
         "-map", "[live]", *X264, "-flags", "+global_header",
         "-map", "0:a:0", "-filter:a", AFILTER + "mono", *AAC_MONO, *TEE_HEAD,
         "|".join([RTSP_INGEST_SLAVE, SRT_SLAVE])],
        id="file-own-track-rtsp-srt",
    ),
    pytest.param(
        {**NO_SNAPS, "audio.input": "pulse:mic.monitor"}, V4L2,
        [*HEAD, "-copyts", *V4L2_IN, *FIFO_IN, "-filter_complex",
         f"[0:v]{REBASE_V},format=yuv420p[live];[1:a:0]{REBASE_A},{AFILTER}mono[aud]",
         "-map", "[live]", *X264, *CHUNK_KEYFRAMES, "-flags", "+global_header",
         "-map", "[aud]", *AAC_MONO, *TEE_HEAD, "|".join([RECORD_SLAVE, RTSP_INGEST_SLAVE])],
        id="v4l2-pulse-record-rtsp-one-clock",
    ),
    pytest.param(
        {"audio.input": "hw:1,0", "record.enabled": False, "rtsp.enabled": False, "rtmp.enabled": True}, V4L2,
        [*HEAD, "-copyts", *V4L2_IN, *FIFO_IN,
         "-filter_complex", f"[0:v]{REBASE_V},split=2[b0][b1];[b0]format=yuv420p[live];[b1]{SNAP_FILTER}[frames0]"
         f";[1:a:0]{REBASE_A},{AFILTER}mono[aud]",
         "-map", "[live]", *X264, "-flags", "+global_header",
         "-map", "[aud]", *AAC_MONO, *TEE_HEAD, RTMP_SLAVE, *SNAPSHOT_OUT],
        id="v4l2-alsa-rtmp-snapshots-without-sound",
    ),
    pytest.param(
        {**NO_SNAPS, "audio.input": "pulse:mic.monitor", "record.enabled": False}, PIPE,
        [*HEAD, "-copyts", "-probesize", "32768", "-use_wallclock_as_timestamps", "1", "-i", "/run/cam.y4m",
         *FIFO_IN, "-filter_complex", f"[0:v]{REBASE_V},format=yuv420p[live];[1:a:0]{REBASE_A},{AFILTER}mono[aud]",
         "-map", "[live]", *X264, "-flags", "+global_header",
         "-map", "[aud]", *AAC_MONO, *TEE_HEAD, RTSP_INGEST_SLAVE],
        id="pipe-pulse-wall-clock-on-both",
    ),
    pytest.param(
        {**NO_SNAPS, "audio.input": "pulse:mic.monitor", "record.enabled": False}, TESTSRC,
        [*HEAD, *TESTSRC_IN, *FIFO_IN, "-filter_complex", f"[0:v]{CLOCK},format=yuv420p[live]",
         "-map", "[live]", *X264, "-flags", "+global_header",
         "-map", "1:a:0", "-filter:a", AFILTER + "mono", *AAC_MONO, *TEE_HEAD, RTSP_INGEST_SLAVE],
        id="testsrc-pulse-paced-by-re-keeps-its-own-clock",
    ),
    pytest.param(
        {**NO_SNAPS, "audio.input": "plughw:CARD=Device,DEV=0", "record.enabled": False,
         "video.input_format": "h264"}, V4L2,
        [*HEAD, *V4L2_IN[:5], "h264", *V4L2_IN[6:], *FIFO_IN,
         "-map", "0:v", "-c:v", "copy", "-map", "1:a:0", "-filter:a", AFILTER + "mono", *AAC_MONO, *TEE_HEAD,
         RTSP_INGEST_SLAVE],
        id="v4l2-h264-passthrough-alsa",
    ),
    pytest.param(
        {"audio.input": "source", "rtsp.enabled": False, "record.enabled": False}, TESTSRC,
        [*HEAD, *TESTSRC_IN, "-filter_complex", f"[0:v]{CLOCK},{SNAP_FILTER}[frames0]", *SNAPSHOT_OUT],
        id="snapshots-only-take-no-sound",
    ),
]


@pytest.mark.parametrize(("flags", "source", "expected"), AUDIO_CASES)
def test_build_argv_with_audio(flags: dict[str, object], source: Source, expected: list[str]) -> None:
    cfg = make_cfg(**flags)  # type: ignore[arg-type]
    assert build_argv(cfg, source, "libx264", sinks_for(cfg), audio_fifo=FIFO) == expected


def test_rtsp_publish_to_mediamtx_or_an_external_server_carries_the_aac() -> None:
    """mediamtx (and any RTSP server) gets the AAC as a second track of the same RTSP publish."""
    cfg = make_cfg(**{"audio.input": "pulse:mic.monitor", "snapshots.enabled": False, "record.enabled": False})
    sinks = RtspOutput().sinks(cfg, Endpoints(rtsp_publish="rtsp://127.0.0.1:8554/live"))
    argv = build_argv(cfg, V4L2, "libx264", sinks, audio_fifo=FIFO)
    assert argv[argv.index("+global_header") + 1:] == [
        "-map", "[aud]", *AAC_MONO, *TEE_HEAD,
        "[f=rtsp:onfail=ignore:rtsp_transport=tcp]rtsp://127.0.0.1:8554/live"]


# -- the web view's sound (issue 14): Opus encoded once more, only the web slave takes it ---------------------

WEB_INGEST = "tcp://127.0.0.1:40100"
OPUS_SECOND = ["-c:a:1", "libopus", "-b:a:1", "96000", "-ar:a:1", "48000", "-ac:a:1"]
AAC_FIRST = ["-c:a:0", "aac", "-b:a:0", "96000", "-ar:a:0", "48000", "-ac:a:0"]
# tee "select" (stream specifiers separated by commas); ':' is escaped once for the option value, and that
# backslash once more for the slave list (graph.py _escape_option_value/_escape_slave).
SELECT_AAC = ":select=v,a\\\\:0"
SELECT_OPUS = ":select=v,a\\\\:1"
WEB_SLAVE_OPUS = ("[f=mpegts:bsfs/v=dump_extra=freq=keyframe:onfail=ignore" + SELECT_OPUS +
                  ":flush_packets=1:omit_video_pes_length=0:pes_payload_size=0]" + WEB_INGEST)


def web_sinks(cfg: Config) -> list[Sink]:
    """sinks_for plus the web view's, as the runner resolves them with the web server's ingest."""
    from camstream.outputs.web import WebOutput

    endpoints = Endpoints(rtsp_publish="tcp://127.0.0.1:40000", segment_list=SEGMENTS,
                          publish={"web": WEB_INGEST})
    return [s for o in [*OUTPUTS, WebOutput()] if o.enabled(cfg) for s in o.sinks(cfg, endpoints)]


WEB_AUDIO_CASES = [
    pytest.param(
        {**NO_SNAPS, "web.enabled": True, "audio.input": "source", "rtmp.enabled": True}, TESTSRC,
        [*HEAD, *TESTSRC_IN, *TONE_IN, "-filter_complex",
         f"[0:v]{CLOCK},format=yuv420p[live];[1:a:0]{AFILTER}stereo,asplit=2[aud][aud_opus]",
         "-map", "[live]", *X264[:7], "baseline", *X264[8:], *CHUNK_KEYFRAMES, "-flags", "+global_header",
         "-map", "[aud]", *AAC_FIRST, "2", "-map", "[aud_opus]", *OPUS_SECOND, "2", *TEE_HEAD,
         "|".join([RECORD_SLAVE.replace("onfail=ignore", "onfail=ignore" + SELECT_AAC),
                   RTMP_SLAVE.replace("onfail=ignore", "onfail=ignore" + SELECT_AAC),
                   RTSP_INGEST_SLAVE.replace("onfail=ignore", "onfail=ignore" + SELECT_AAC),
                   WEB_SLAVE_OPUS])],
        id="testsrc-tone-aac-for-record-rtmp-rtsp-opus-for-web",
    ),
    pytest.param(
        {**NO_SNAPS, "web.enabled": True, "audio.input": "pulse:mic.monitor", "record.enabled": False}, V4L2,
        [*HEAD, "-copyts", *V4L2_IN, *FIFO_IN, "-filter_complex",
         f"[0:v]{REBASE_V},format=yuv420p[live];[1:a:0]{REBASE_A},{AFILTER}mono,asplit=2[aud][aud_opus]",
         "-map", "[live]", *X264[:7], "baseline", *X264[8:], "-flags", "+global_header",
         "-map", "[aud]", *AAC_FIRST, "1", "-map", "[aud_opus]", *OPUS_SECOND, "1", *TEE_HEAD,
         "|".join([RTSP_INGEST_SLAVE.replace("onfail=ignore", "onfail=ignore" + SELECT_AAC), WEB_SLAVE_OPUS])],
        id="v4l2-microphone-one-clock-split-between-aac-and-opus",
    ),
    pytest.param(
        {**NO_SNAPS, "web.enabled": True, "audio.input": "plughw:CARD=Device,DEV=0", "record.enabled": False,
         "video.input_format": "h264"}, V4L2,
        [*HEAD, *V4L2_IN[:5], "h264", *V4L2_IN[6:], *FIFO_IN,
         "-filter_complex", f"[1:a:0]{AFILTER}mono,asplit=2[aud][aud_opus]",
         "-map", "0:v", "-c:v", "copy", "-map", "[aud]", *AAC_FIRST, "1", "-map", "[aud_opus]", *OPUS_SECOND, "1",
         *TEE_HEAD, "|".join([RTSP_INGEST_SLAVE.replace("onfail=ignore", "onfail=ignore" + SELECT_AAC),
                              WEB_SLAVE_OPUS])],
        id="h264-passthrough-audio-only-graph",
    ),
]


@pytest.mark.parametrize(("flags", "source", "expected"), WEB_AUDIO_CASES)
def test_build_argv_web_view_gets_opus(flags: dict[str, object], source: Source, expected: list[str]) -> None:
    cfg = make_cfg(**flags)  # type: ignore[arg-type]
    assert build_argv(cfg, source, "libx264", web_sinks(cfg), audio_fifo=FIFO) == expected


def test_web_view_without_sound_is_unchanged() -> None:
    """No --audio: the web slave has no select and no pes_payload_size; the argv has -an."""
    cfg = make_cfg(**{**NO_SNAPS, "web.enabled": True, "record.enabled": False})
    argv = build_argv(cfg, TESTSRC, "libx264", web_sinks(cfg), audio_fifo=FIFO)
    assert argv[-8:] == ["-an", *TEE_HEAD, "|".join([
        RTSP_INGEST_SLAVE,
        "[f=mpegts:bsfs/v=dump_extra=freq=keyframe:onfail=ignore:flush_packets=1:omit_video_pes_length=0]"
        + WEB_INGEST])]
