"""rpicam: source names, rpicam-vid's exact argv (what the stand-in cannot show: focus, exposure, flips),
the FFmpeg input for each mode, which mode is the default where, and --list-cameras parsing of real listings."""

from __future__ import annotations

from pathlib import Path

import pytest

from camstream import rpicam
from camstream.config import Config, load_config
from camstream.encoders import Knobs
from camstream.graph import build_argv
from camstream.sources import Source, SourceKind, classify, input_args, passthrough
from support import ROOT
from test_graph import HEAD, sinks_for

FIXTURES = ROOT / "tests" / "fixtures" / "rpicam"
BASE = ["rpicam-vid", "-t", "0", "--nopreview", "--camera", "0", "--width", "1280", "--height", "720",
        "--framerate", "30"]


def cfg_with(**flags: object) -> Config:
    """Defaults plus dotted settings, parsed like user input."""
    settings = {"paths.ssd_path": ("--ssd-path", "/srv/cam"), "paths.state_dir": ("--state-dir", "/run/cam")}
    settings.update({k: (k, v) for k, v in flags.items()})
    return load_config(env={}, flags=settings, search_defaults=False)


@pytest.mark.parametrize(("spec", "camera"), [("rpicam", 0), ("rpicam:1", 1), ("RPICAM:0", 0), ("libcamera", 0)])
def test_classify(spec: str, camera: int) -> None:
    source = classify(spec)
    assert source.kind is SourceKind.RPICAM and source.camera == camera and source.spec == f"rpicam:{camera}"


@pytest.mark.parametrize(
    ("flags", "h264", "expected"),
    [
        pytest.param({}, False, [*BASE, "--codec", "yuv420", "-o", "-"], id="yuv"),
        pytest.param({"video.gop": "2", "video.bitrate": "4M"}, True,
                     [*BASE, "--codec", "h264", "--inline", "--intra", "60", "--profile", "baseline", "--bitrate",
                      "4000000", "--low-latency", "--flush", "-o", "-"], id="h264"),
        pytest.param({"rpicam.rotation": "180", "rpicam.hflip": "1", "rpicam.vflip": "yes",
                      "rpicam.autofocus": "manual", "rpicam.lens_position": "0.5", "rpicam.shutter": "10000",
                      "rpicam.gain": "2", "rpicam.ev": "-1.5", "rpicam.awb": "daylight"}, False,
                     [*BASE, "--rotation", "180", "--hflip", "--vflip", "--autofocus-mode", "manual",
                      "--lens-position", "0.5", "--shutter", "10000", "--gain", "2", "--ev", "-1.5",
                      "--awb", "daylight", "--codec", "yuv420", "-o", "-"], id="camera-controls"),
        pytest.param({"rpicam.autofocus": "continuous"}, False,
                     [*BASE, "--autofocus-mode", "continuous", "--codec", "yuv420", "-o", "-"], id="autofocus"),
    ],
)
def test_vid_argv(flags: dict[str, object], h264: bool, expected: list[str]) -> None:
    cfg = cfg_with(**flags)
    knobs = Knobs("veryfast", "baseline", round(cfg.video.gop * cfg.video.fps))
    assert rpicam.vid_argv(Source(SourceKind.RPICAM, "rpicam:0", h264), cfg.video, cfg.rpicam, knobs) == expected


def test_camera_index_and_tool() -> None:
    cfg = cfg_with()
    argv = rpicam.vid_argv(classify("rpicam:2"), cfg.video, cfg.rpicam, Knobs(), tool="libcamera-vid")
    assert argv[:6] == ["libcamera-vid", "-t", "0", "--nopreview", "--camera", "2"]


@pytest.mark.parametrize("bad", [{"rpicam.autofocus": "macro"}, {"rpicam.ev": "11"}, {"rpicam.mode": "mjpeg"},
                                 {"rpicam.lens_position": "-1"}])
def test_bad_camera_settings(bad: dict[str, object]) -> None:
    from camstream.errors import ConfigError

    with pytest.raises(ConfigError, match=r"expected"):
        cfg_with(**bad)


@pytest.mark.parametrize(("requested", "hardware", "mode"),
                         [("auto", True, "h264"), ("auto", False, "yuv"), ("yuv", True, "yuv"), ("h264", False, "h264")])
def test_default_mode(requested: str, hardware: bool, mode: str) -> None:
    """Pi 4 (hardware encoder works): rpicam-vid's H.264. Pi 5 (none): raw YUV, camstream encodes."""
    assert rpicam.mode(requested, hardware) == mode


def test_ffmpeg_side_of_each_mode() -> None:
    cfg = cfg_with(**{"video.fps": "25", "rtsp.enabled": "0"})
    yuv = Source(SourceKind.RPICAM, "rpicam:0")
    h264 = Source(SourceKind.RPICAM, "rpicam:0", h264=True)
    assert input_args(yuv, cfg.video) == ["-f", "rawvideo", "-pix_fmt", "yuv420p", "-video_size", "1280x720",
                                          "-framerate", "25", "-i", "pipe:0"]
    assert input_args(h264, cfg.video) == ["-f", "h264", "-framerate", "25", "-probesize", "32768", "-i", "pipe:0"]
    assert not passthrough(yuv, cfg.video) and passthrough(h264, cfg.video)
    # H.264 mode: copied. The raw pipe has no timestamps, so the snapshot branch decodes every frame
    # (skip_frame would stall the copied stream's DTS in FFmpeg 5.1; see graph.build_argv).
    argv = build_argv(cfg, h264, "libx264", sinks_for(cfg))
    assert argv[:len(HEAD) + 6] == [*HEAD, "-f", "h264", "-framerate", "25", "-probesize", "32768"]
    assert "-skip_frame" not in argv and "libx264" not in argv
    assert argv[argv.index("-map"):argv.index("-map") + 4] == ["-map", "0:v", "-c:v", "copy"]


def test_parse_imx477_and_imx708_with_modes() -> None:
    cams = rpicam.parse_list_cameras((FIXTURES / "imx477-imx708-pi4.txt").read_text())
    assert [(c.index, c.sensor, c.width, c.height, c.path) for c in cams] == [
        (0, "imx477", 4056, 3040, "/base/soc/i2c0mux/i2c@1/imx477@1a"),
        (1, "imx708", 4608, 2592, "/base/soc/i2c0mux/i2c@0/imx708@1a"),
    ]
    assert [(m.format, m.width, m.height, m.fps) for m in cams[0].modes] == [
        ("SRGGB10_CSI2P", 1332, 990, 120.05), ("SRGGB12_CSI2P", 2028, 1080, 50.03),
        ("SRGGB12_CSI2P", 2028, 1520, 40.01), ("SRGGB12_CSI2P", 4056, 3040, 10.0)]
    assert cams[1].modes[0].crop == "(768, 432)/3072x1728"


def test_parse_imx219_two_raw_formats() -> None:
    cam, = rpicam.parse_list_cameras((FIXTURES / "imx219-pi5.txt").read_text())
    assert (cam.sensor, cam.bits) == ("imx219", "10-bit RGGB")
    assert len(cam.modes) == 8 and {m.format for m in cam.modes} == {"SRGGB10_CSI2P", "SRGGB8"}
    assert (cam.modes[5].width, cam.modes[5].fps) == (1640, 83.70)


def test_parse_pi5_camera_lines_and_none() -> None:
    cams = rpicam.parse_list_cameras((FIXTURES / "imx708-imx477-pi5.txt").read_text())
    assert [(c.sensor, c.bits, c.modes) for c in cams] == [("imx708", "10-bit RGGB", []), ("imx477", "12-bit RGGB", [])]
    assert rpicam.parse_list_cameras((FIXTURES / "none.txt").read_text()) == []


def test_format_cameras() -> None:
    cams = rpicam.parse_list_cameras((FIXTURES / "imx477-imx708-pi4.txt").read_text())
    text = rpicam.format_cameras(cams)
    assert text.splitlines()[0] == "rpicam:0  imx477 [4056x3040] /base/soc/i2c0mux/i2c@1/imx477@1a"
    assert "    SRGGB10_CSI2P  1536x864  up to 120.13 fps (crop (768, 432)/3072x1728)" in text.splitlines()


def test_list_cameras_runs_the_tool(tmp_path: Path) -> None:
    calls: list[list[str]] = []

    def run(argv: list[str]) -> str:
        calls.append(argv)
        return (FIXTURES / "imx219-pi4.txt").read_text()

    cams = rpicam.list_cameras(run, tool="/usr/bin/rpicam-hello")
    assert calls == [["/usr/bin/rpicam-hello", "--list-cameras"]] and cams[0].sensor == "imx219"


def test_doctor_reports_libcamera_cameras() -> None:
    from camstream import doctor
    from camstream.errors import MissingToolError

    cams = rpicam.parse_list_cameras((FIXTURES / "imx708-imx477-pi5.txt").read_text())
    assert doctor.check_libcamera(lambda: cams) == doctor.CheckResult(
        "libcamera camera", doctor.PASS, "rpicam:0 imx708 4608x2592; rpicam:1 imx477 4056x3040 (use --source rpicam:N)")
    assert doctor.check_libcamera(lambda: []).status == doctor.WARN

    def missing() -> list[rpicam.LibcameraCamera]:
        raise MissingToolError("rpicam-hello", "install it")

    assert doctor.check_libcamera(missing) == doctor.CheckResult(
        "libcamera camera", doctor.WARN, "rpicam-apps not installed (needed for the Pi camera module only)",
        "sudo apt install rpicam-apps")


def standin_env(tmp_path: Path, listing: str) -> dict[str, str]:
    """PATH with the stand-in rpicam-hello printing a real listing, and an empty re-rooted /dev."""
    import os
    import shutil

    bindir = tmp_path / "bin"
    bindir.mkdir()
    shutil.copy(ROOT / "tests" / "standins" / "rpicam-vid", bindir / "rpicam-hello")
    (tmp_path / "root" / "dev").mkdir(parents=True)
    return {"PATH": f"{bindir}{os.pathsep}{os.environ['PATH']}", "RPICAM_STANDIN_LIST": str(FIXTURES / listing),
            "RPICAM_STANDIN_LOG": str(tmp_path / "calls.log"), "CAMSTREAM_HOST_ROOT": str(tmp_path / "root")}


def test_cli_devices_lists_libcamera_cameras(tmp_path: Path) -> None:
    from support import run_cli

    result = run_cli("devices", env=standin_env(tmp_path, "imx477-imx708-pi4.txt"))
    assert result.returncode == 0, result.stderr
    expected = rpicam.format_cameras(rpicam.parse_list_cameras((FIXTURES / "imx477-imx708-pi4.txt").read_text()))
    assert result.stdout.startswith(expected)  # sound capture devices follow (camstream/audio_devices.py)
    assert result.stdout.splitlines()[5] == "rpicam:1  imx708 [4608x2592] /base/soc/i2c0mux/i2c@0/imx708@1a"
    assert '"--list-cameras"' in (tmp_path / "calls.log").read_text()


@pytest.mark.slow
def test_cli_doctor_reports_libcamera_cameras(tmp_path: Path) -> None:
    from support import run_cli

    config = tmp_path / "c.yaml"
    config.write_text(f"paths:\n  ssd_path: {tmp_path}\n")
    result = run_cli("doctor", "--config", str(config), env=standin_env(tmp_path, "imx219-pi4.txt"), timeout=120)
    rows = {line.split("│")[1].strip(): line for line in result.stdout.splitlines() if line.startswith("│ ")}
    assert "pass" in rows["libcamera camera"] and "rpicam:0 imx219 3280x2464" in rows["libcamera camera"]
    assert "warn" in rows["camera"]  # no USB camera, but the module is there: not a failure


def plan_for(tmp_path: Path, hardware: bool, **flags: object):  # type: ignore[no-untyped-def]
    """make_plan (dry run) on a Pi 4-like machine (h264_v4l2m2m works) or a Pi 5-like one (it does not)."""
    from camstream.app import make_plan
    from camstream.encoders import Capabilities

    caps = Capabilities("ffmpeg", "5.1", frozenset({"libx264", "h264_v4l2m2m"}),
                        {"libx264": True, "h264_v4l2m2m": hardware})
    settings = {"paths.ssd_path": ("--ssd-path", str(tmp_path)), "paths.state_dir": ("--state-dir", str(tmp_path)),
                "rtsp.enabled": ("--no-rtsp", False)}
    settings.update({k: (k, v) for k, v in flags.items()})
    return make_plan(load_config(env={}, flags=settings, search_defaults=False), caps, dry_run=True)


def test_plan_pi4_takes_rpicam_h264_pi5_takes_yuv(tmp_path: Path) -> None:
    pi4 = plan_for(tmp_path, True, source="rpicam:1")
    assert pi4.source.h264 and pi4.encoder == "copy"
    assert pi4.source_argv[:6] == ["rpicam-vid", "-t", "0", "--nopreview", "--camera", "1"]
    assert pi4.source_argv[pi4.source_argv.index("--codec") + 1] == "h264"
    pi5 = plan_for(tmp_path, False, source="rpicam:1")
    assert not pi5.source.h264 and pi5.encoder == "libx264"
    assert pi5.source_argv[pi5.source_argv.index("--codec") + 1] == "yuv420"
    assert pi5.argv[pi5.argv.index("-i") + 1] == "pipe:0"


def test_plan_hardware_limits(tmp_path: Path) -> None:
    from camstream.errors import ConfigError

    big = {"video.width": "1920", "video.height": "1080", "video.fps": "60"}
    with pytest.raises(ConfigError, match=r"^--resolution 1920x1080 --fps 60: h264_v4l2m2m \(H.264 level 4.1\)"):
        plan_for(tmp_path, True, source="rpicam", **big)  # Pi 4: rpicam-vid's hardware encoder
    assert plan_for(tmp_path, False, source="rpicam", **{"rpicam.mode": "h264"}, **big).source.h264  # Pi 5: software
    assert plan_for(tmp_path, True, source="testsrc", **big).encoder == "libx264"  # auto falls back
    with pytest.raises(ConfigError, match=r"h264_v4l2m2m"):
        plan_for(tmp_path, True, source="testsrc", **{"video.encoder": "h264_v4l2m2m"}, **big)
