"""--preset, --profile, --gop: exact encoder argv per encoder, the automatic choices, the hardware limits of
h264_v4l2m2m, and bad values rejected with the allowed list (issue 15)."""

from __future__ import annotations

import dataclasses
import subprocess
from pathlib import Path

import pytest

from camstream import encoders
from camstream.config import Config, VideoConfig, load_config
from camstream.encoders import Knobs
from camstream.errors import ConfigError
from camstream.graph import build_argv
from camstream.sources import Source, SourceKind
from support import run_cli
from test_graph import sinks_for

RATE = ["-b:v", "2000000", "-maxrate", "2000000", "-bufsize", "2000000"]


def video(**values: object) -> VideoConfig:
    """VideoConfig through the real loader, so values are parsed as a user's would be."""
    flags = {f"video.{k}": (f"--{k}", v) for k, v in values.items()}
    return load_config(env={}, flags=flags, search_defaults=False).video


@pytest.mark.parametrize(
    ("encoder", "knobs", "expected"),
    [
        pytest.param("libx264", Knobs("ultrafast", "baseline", 50),
                     ["-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-profile:v", "baseline",
                      *RATE, "-g", "50", "-keyint_min", "50", "-bf", "0", "-sc_threshold", "0"], id="x264-baseline"),
        pytest.param("libx264", Knobs("medium", "high", 30),
                     ["-c:v", "libx264", "-preset", "medium", "-tune", "zerolatency", "-profile:v", "high",
                      *RATE, "-g", "30", "-keyint_min", "30", "-bf", "0", "-sc_threshold", "0"], id="x264-high"),
        pytest.param("h264_v4l2m2m", Knobs("ultrafast", "baseline", 60),
                     ["-c:v", "h264_v4l2m2m", "-profile:v", "578", "-b:v", "2000000", "-g", "60",
                      "-num_capture_buffers", "16"], id="v4l2m2m-constrained-baseline"),
        pytest.param("h264_v4l2m2m", Knobs("veryfast", "high", 30),
                     ["-c:v", "h264_v4l2m2m", "-profile:v", "100", "-b:v", "2000000", "-g", "30",
                      "-num_capture_buffers", "16"], id="v4l2m2m-high"),
        pytest.param("h264_vaapi", Knobs("veryfast", "baseline", 30),
                     ["-c:v", "h264_vaapi", "-profile:v", "constrained_baseline", *RATE, "-g", "30",
                      "-keyint_min", "30", "-bf", "0"], id="vaapi-baseline"),
        pytest.param("h264_nvenc", Knobs("veryfast", "main", 15),
                     ["-c:v", "h264_nvenc", "-preset", "p1", "-tune", "ll", "-profile:v", "main", *RATE,
                      "-g", "15", "-keyint_min", "15", "-bf", "0"], id="nvenc-main"),
    ],
)
def test_encoder_argv(encoder: str, knobs: Knobs, expected: list[str]) -> None:
    assert encoders.PRESETS[encoder].args(VideoConfig(), knobs) == expected


@pytest.mark.parametrize(
    ("values", "cores", "web", "expected"),
    [
        pytest.param({}, 2, False, Knobs("veryfast", "main", 30), id="720p30-2-cores"),
        pytest.param({"width": 1920, "height": 1080}, 4, False, Knobs("superfast", "main", 30), id="1080p30-4-cores"),
        pytest.param({"width": 1920, "height": 1080}, 2, False, Knobs("ultrafast", "main", 30), id="1080p30-2-cores"),
        pytest.param({"width": 1920, "height": 1080}, 1, True, Knobs("ultrafast", "baseline", 30), id="web-on"),
        pytest.param({"fps": 25, "gop": "2"}, 4, False, Knobs("veryfast", "main", 50), id="gop-2s"),
        pytest.param({"fps": 25, "gop": "0.5"}, 4, False, Knobs("veryfast", "main", 12), id="gop-rounds"),
        pytest.param({"preset": "slow", "profile": "high"}, 1, True, Knobs("slow", "high", 30), id="explicit-wins"),
    ],
)
def test_resolve(values: dict[str, object], cores: int, web: bool, expected: Knobs) -> None:
    assert encoders.resolve(video(**values), cores, web) == expected


def test_auto_profile_follows_the_web_view() -> None:
    from types import SimpleNamespace as NS

    assert encoders.auto_profile(True) == "baseline"
    assert encoders.auto_profile(False) == "main"
    # The one point that reads the web view's settings (issue 13): cfg.web_view where the config has it, else
    # cfg.web.enabled, else off. Duck-typed stand-ins, so this holds before and after the web section lands.
    assert encoders.web_view_enabled(NS()) is False  # type: ignore[arg-type]
    assert encoders.web_view_enabled(NS(web=NS(enabled=True))) is True  # type: ignore[arg-type]
    assert encoders.web_view_enabled(NS(web=NS(enabled=True), web_view=False)) is False  # type: ignore[arg-type]
    assert encoders.web_view_enabled(NS(web=NS(enabled=False), web_view=True)) is True  # type: ignore[arg-type]


def test_knobs_reach_the_graph() -> None:
    cfg = load_config(env={}, search_defaults=False, flags={
        "paths.ssd_path": ("--ssd-path", "/srv/cam"), "paths.state_dir": ("--state-dir", "/run/cam"),
        "video.preset": ("--preset", "fast"), "video.profile": ("--profile", "high"), "video.gop": ("--gop", "2")})
    argv = build_argv(cfg, Source(SourceKind.TESTSRC, "testsrc"), "libx264", sinks_for(cfg),
                      knobs=encoders.resolve(cfg.video, 4, False))
    i = argv.index("-c:v")
    assert argv[i:i + 8] == ["-c:v", "libx264", "-preset", "fast", "-tune", "zerolatency", "-profile:v", "high"]
    assert argv[argv.index("-g") + 1] == "60"


@pytest.mark.parametrize(
    ("values", "message"),
    [
        pytest.param({"width": 2560, "height": 1440},
                     "--resolution 2560x1440: h264_v4l2m2m encodes at most 2032 px wide and 8192 macroblocks a "
                     "frame (1920x1080): lower it or use --encoder libx264", id="too-big"),
        pytest.param({"width": 2048, "height": 512},
                     "--resolution 2048x512: h264_v4l2m2m encodes at most 2032 px wide and 8192 macroblocks a "
                     "frame (1920x1080): lower it or use --encoder libx264", id="too-wide"),
        pytest.param({"width": 1920, "height": 1080, "fps": 60},
                     "--resolution 1920x1080 --fps 60: h264_v4l2m2m (H.264 level 4.1) encodes at most 245760 "
                     "macroblocks a second (1080p30, 720p60): lower it or use --encoder libx264", id="1080p60"),
        pytest.param({"bitrate": "30M"},
                     "--bitrate 30000000: h264_v4l2m2m fails above 25000000 bits/s: lower it or use --encoder "
                     "libx264", id="bitrate"),
    ],
)
def test_v4l2m2m_limits(values: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError) as err:
        encoders.check_limits("h264_v4l2m2m", video(**values))
    assert str(err.value) == message
    encoders.check_limits("libx264", video(**values))  # software has no such limits


@pytest.mark.parametrize("values", [{"width": 1920, "height": 1080, "fps": 30}, {"width": 1280, "height": 720,
                                    "fps": 60}, {"bitrate": "25M"}])
def test_v4l2m2m_takes_what_the_hardware_can(values: dict[str, object]) -> None:
    encoders.check_limits("h264_v4l2m2m", video(**values))


def test_doctor_trial_uses_the_run_argv() -> None:
    """The trial encode runs exactly the encoder argv (and pixel format) a run would use."""
    v = video(width=640, height=360, fps=25, preset="superfast", profile="baseline")
    knobs = encoders.resolve(v, 2, False)
    cfg = load_config(env={}, search_defaults=False, flags={
        "paths.ssd_path": ("--ssd-path", "/srv/cam"), "paths.state_dir": ("--state-dir", "/run/cam"),
        "video.width": ("--resolution", 640), "video.height": ("--resolution", 360), "video.fps": ("--fps", 25),
        "video.preset": ("--preset", "superfast"), "video.profile": ("--profile", "baseline"),
        "record.enabled": ("--no-record", False), "snapshots.enabled": ("--no-snapshots", False)})
    for encoder in ("libx264", "h264_v4l2m2m"):
        run = build_argv(cfg, Source(SourceKind.TESTSRC, "testsrc"), encoder, sinks_for(cfg), knobs=knobs)
        trial = encoders.trial_argv("ffmpeg", encoder, v, knobs)
        codec = encoders.PRESETS[encoder].args(v, knobs)
        start = run.index("-c:v")
        assert run[start:start + len(codec)] == codec
        assert trial[trial.index("-vf"):] == ["-vf", "format=yuv420p", *codec, "-f", "null", "-"]
        assert "testsrc2=size=640x360:rate=25" in trial


@pytest.mark.slow  # each case is a `camstream run` that must exit 2
@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(["--preset", "turbo"], "error: --preset turbo: expected one of auto, ultrafast, superfast, "
                     "veryfast, faster, fast, medium, slow, slower, veryslow, placebo", id="preset"),
        pytest.param(["--profile", "main10"], "error: --profile main10: expected one of auto, baseline, main, high",
                     id="profile"),
        pytest.param(["--gop", "0"], "error: --gop 0: expected seconds 0.1-60", id="gop"),
        pytest.param(["--encoder", "libx264", "--rotation", "90"], "error: --rotation 90: expected one of 0, 180",
                     id="rotation"),
    ],
)
def test_bad_knob_values_exit_2(args: list[str], message: str, tmp_path: Path) -> None:
    result = run_cli("run", "--source", "testsrc", "--ssd-path", str(tmp_path), "--dry-run", *args)
    assert result.returncode == 2
    assert result.stderr.strip() == message
    assert result.stdout == ""


@pytest.mark.slow
@pytest.mark.parametrize(("profile", "shown"), [("baseline", "Constrained Baseline"), ("main", "Main"),
                                                ("high", "High")])
def test_profiles_are_what_ffprobe_sees(profile: str, shown: str, tmp_path: Path) -> None:
    """A real libx264 encode with the run's argv carries the profile asked for (baseline = constrained)."""
    v = video(width=320, height=240, fps=10)
    out = tmp_path / "p.mp4"
    # veryfast: ultrafast turns CABAC off, and x264 then signals constrained baseline whatever the profile cap.
    argv = encoders.trial_argv("ffmpeg", "libx264", v, Knobs("veryfast", profile, 10), frames=10)
    argv = [*argv[:-3], "-y", str(out)]  # same argv, to a file instead of the null muxer
    subprocess.run(argv, check=True, timeout=60, stdin=subprocess.DEVNULL)
    probe = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "stream=profile", "-of", "csv=p=0", str(out)],
                           capture_output=True, text=True, timeout=30, check=True)
    assert probe.stdout.strip() == shown


def keyframes_with_sps(path: Path) -> tuple[int, int]:
    """(keyframes, keyframes whose packet carries an SPS) in a file, read with FFmpeg's trace_headers."""
    out = subprocess.run(["ffmpeg", "-v", "trace", "-i", str(path), "-map", "0:v", "-c", "copy", "-bsf:v",
                          "trace_headers", "-f", "null", "-"], capture_output=True, text=True, timeout=60,
                         stdin=subprocess.DEVNULL).stderr
    keys = with_sps = 0
    in_key = False
    for line in out.splitlines():
        if "trace_headers" not in line:
            continue
        if "Packet:" in line:
            in_key = "key frame" in line
            keys += in_key
        elif line.rstrip().endswith("Sequence Parameter Set") and in_key:
            with_sps += 1
            in_key = False
    return keys, with_sps


@pytest.mark.slow
def test_network_outputs_carry_sps_pps_on_every_keyframe(tmp_path: Path) -> None:
    """The RTSP ingest (MPEG-TS) and RTMP (FLV) sinks, encoded with +global_header as a run does, repeat the
    parameter sets in every keyframe; a file sink without the filter does not (so the check can fail)."""
    from camstream.graph import tee_spec
    from camstream.outputs.base import EncodedSink, Endpoints
    from camstream.outputs.rtmp import RtmpOutput
    from camstream.outputs.rtsp import RtspOutput

    cfg = load_config(env={}, search_defaults=False, flags={"rtmp.enabled": ("--rtmp", True),
                                                            "rtsp.server": ("--rtsp-server", "builtin")})
    ends = Endpoints(rtsp_publish="tcp://127.0.0.1:9", rtmp_publish="rtmp://127.0.0.1/live/cam")
    # The sinks a run builds, pointed at files instead of the servers.
    rtsp_sink, = RtspOutput().sinks(cfg, ends)
    rtmp_sink, = RtmpOutput().sinks(cfg, ends)
    sinks = [dataclasses.replace(rtsp_sink, target=str(tmp_path / "rtsp.ts"), isolate=False),
             dataclasses.replace(rtmp_sink, target=str(tmp_path / "rtmp.flv"), isolate=False),
             EncodedSink("plain", "flv", str(tmp_path / "plain.flv"), isolate=False)]
    v = video(width=160, height=120, fps=10)
    codec = encoders.PRESETS["libx264"].args(v, Knobs("ultrafast", "baseline", 10))
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=160x120:rate=10", "-t", "3",
                    "-map", "0:v", *codec, "-flags", "+global_header", "-f", "tee", tee_spec(sinks)],
                   check=True, timeout=60, stdin=subprocess.DEVNULL)
    for name in ("rtsp.ts", "rtmp.flv"):
        keys, with_sps = keyframes_with_sps(tmp_path / name)
        assert keys >= 3 and with_sps == keys, (name, keys, with_sps)
    assert keyframes_with_sps(tmp_path / "plain.flv")[1] == 0


def test_v4l2m2m_every_network_output_gets_inband_headers() -> None:
    """h264_v4l2m2m with +global_header (needed by MP4) stops repeating SPS/PPS in-band on the Pi's FFmpeg:
    every network slave re-inserts them before each keyframe; the MP4 record slave keeps them in avcC."""
    from test_graph import FIFO_OPTIONS, RECORD_SLAVE, RTMP_SLAVE, RTSP_INGEST_SLAVE, SRT_SLAVE, make_cfg

    cfg = make_cfg(**{"rtmp.enabled": True, "srt.enabled": True, "srt.url": "srt://10.9.9.9:9000",
                      "snapshots.enabled": False, "video.profile": "baseline", "video.gop": "2"})
    argv = build_argv(cfg, Source(SourceKind.V4L2, "/dev/video0"), "h264_v4l2m2m", sinks_for(cfg),
                      knobs=encoders.resolve(cfg.video, 4, False))
    i = argv.index("-map")
    assert argv[i:] == [
        "-map", "[live]", "-c:v", "h264_v4l2m2m", "-profile:v", "578", "-b:v", "2000000", "-g", "60",
        "-num_capture_buffers", "16", "-force_key_frames", "expr:gte(t,n_forced*5.5)", "-flags", "+global_header",
        "-an", "-f", "tee", "-use_fifo", "1", "-fifo_options", FIFO_OPTIONS,
        "|".join([RECORD_SLAVE, RTMP_SLAVE, RTSP_INGEST_SLAVE, SRT_SLAVE])]
    for slave in (RTMP_SLAVE, RTSP_INGEST_SLAVE, SRT_SLAVE):
        assert "bsfs/v=dump_extra=freq=keyframe" in slave
    assert argv[argv.index("-filter_complex") + 1] == "[0:v]null,format=yuv420p[live]"  # yuv420p input only


@pytest.mark.slow
def test_h264_passthrough_with_keyframe_only_snapshots_runs_clean(tmp_path: Path) -> None:
    """The V4L2 H.264 passthrough graph, fed a timestamped H.264 stream in place of the camera: chunks copy
    every frame cleanly and snapshots come from keyframes alone (-skip_frame nokey), without timestamp errors."""
    clip = tmp_path / "camera.ts"
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25", "-t", "4",
                    "-c:v", "libx264", "-g", "25", "-bf", "0", str(clip)], check=True, timeout=60,
                   stdin=subprocess.DEVNULL)
    cfg = load_config(env={}, search_defaults=False, flags={
        "paths.ssd_path": ("--ssd-path", str(tmp_path)), "paths.state_dir": ("--state-dir", str(tmp_path / "st")),
        "video.input_format": ("--input-format", "h264"), "rtsp.enabled": ("--no-rtsp", False),
        "record.segment_seconds": ("--segment-seconds", "2")})
    from camstream.outputs.base import Endpoints
    from camstream.outputs.record import RecordOutput
    from camstream.outputs.snapshots import SnapshotsOutput

    ends = Endpoints(segment_list=tmp_path / "segments.csv")
    sinks = [s for o in (RecordOutput(), SnapshotsOutput()) for s in o.sinks(cfg, ends)]
    argv = build_argv(cfg, Source(SourceKind.V4L2, "/dev/video0"), "libx264", sinks)
    assert argv[argv.index("-skip_frame") + 1] == "nokey" and argv.index("-skip_frame") < argv.index("-i")
    # The camera's input options (-f v4l2 ... -i /dev/video0) replaced by the clip, read in real time as a camera
    # delivers (chunk names have 1 s resolution); everything else as built.
    start, end = argv.index("-f"), argv.index("-i") + 2
    argv = [*argv[:start], "-re", "-i", str(clip), *argv[end:]]  # -re: real time, like a camera
    (tmp_path / "video").mkdir()
    (tmp_path / "images").mkdir()
    (tmp_path / "st").mkdir()
    result = subprocess.run(argv, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL,
                            env={**__import__("os").environ, "TZ": "UTC"})
    assert result.returncode == 0, result.stderr
    assert "Non-monotonous" not in result.stderr and "Timestamps are unset" not in result.stderr
    parts = sorted((tmp_path / "video").glob("*.part"))
    frames = 0
    for part in parts:
        out = subprocess.run(["ffprobe", "-v", "error", "-count_frames", "-show_entries", "stream=nb_read_frames",
                              "-of", "csv=p=0", str(part)], capture_output=True, text=True, timeout=60)
        frames += int(out.stdout.strip())
    assert frames == 100  # every frame copied
    assert len(list((tmp_path / "images").glob("*.jpg"))) >= 1
