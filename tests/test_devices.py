"""`camstream devices`: the v4l2-ctl parser against real published outputs, old and new layouts."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from camstream import devices
from camstream.devices import FrameSize, PixelFormat, SizeRange

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).parent / "fixtures" / "v4l2"
UVC_RATES = [30.0, 24.0, 20.0, 15.0, 10.0, 7.5, 5.0]
PI_RANGE = SizeRange(32, 32, 2592, 1944, 2, 2)
CODEC_RANGE = SizeRange(32, 32, 1920, 1920, 2, 2)
NEW_RATES = [30.0, 27.5, 25.0, 22.5, 20.0, 17.5, 15.0, 12.5, 10.0, 7.5, 5.0]
MJPG_RATES = [30.0, 25.0, 20.0, 15.0, 10.0, 7.5, 5.0]


def _pi(fourcc: str, name: str, compressed: bool = False) -> PixelFormat:
    return PixelFormat(fourcc, name, "Video Capture", compressed, False, [], PI_RANGE)


def _codec(fourcc: str, name: str) -> PixelFormat:
    return PixelFormat(fourcc, name, "Video Capture Multiplanar", False, False, [], CODEC_RANGE)


# Fixture texts are published `v4l2-ctl --list-formats-ext` outputs, trimmed at a format/size boundary:
CASES = [
    # Logitech C920, v4l-utils ~1.10 (old layout, tabs): github.com/Motion-Project/motion/issues/86
    pytest.param("old_c920_tabs.txt", [PixelFormat("YUYV", "YUYV 4:2:2", sizes=[
        FrameSize(640, 480, UVC_RATES), FrameSize(160, 90, UVC_RATES), FrameSize(160, 120, UVC_RATES)])],
        id="old-c920-tabs"),
    # UVC webcam, old layout as pasted (tabs expanded): github.com/jacksonliam/mjpg-streamer/issues/169
    pytest.param("old_uvc_spaces.txt", [PixelFormat("YUYV", "YUYV 4:2:2", sizes=[
        FrameSize(640, 480, [30.0, 20.0, 15.0, 10.0, 7.5]), FrameSize(1280, 720, [10.0, 7.5]),
        FrameSize(960, 544, [20.0, 15.0, 10.0, 7.5])])], id="old-uvc-spaces"),
    # Raspberry Pi camera on bcm2835-v4l2 (mmal), old layout, Stepwise: github.com/Motion-Project/motion/issues/940
    pytest.param("old_pi_bcm2835_stepwise.txt", [
        _pi("YU12", "Planar YUV 4:2:0"), _pi("YUYV", "YUYV 4:2:2"), _pi("RGB3", "24-bit RGB 8-8-8"),
        _pi("JPEG", "JFIF JPEG", True), _pi("H264", "H.264", True), _pi("MJPG", "Motion-JPEG", True)],
        id="old-pi-camera-stepwise"),
    # UVC webcam, v4l-utils 1.22+ layout with tabs: github.com/vkohaupt/vokoscreenNG/issues/187
    pytest.param("new_uvc_tabs.txt", [PixelFormat("YUYV", "YUYV 4:2:2", sizes=[
        FrameSize(160, 120, NEW_RATES), FrameSize(176, 144, NEW_RATES)])], id="new-uvc-tabs"),
    # UVC webcam, new layout, compressed flag inside the parentheses: github.com/soyersoyer/cameractrls/issues/30
    pytest.param("new_uvc_mjpg_spaces.txt", [PixelFormat("MJPG", "Motion-JPEG", compressed=True, sizes=[
        FrameSize(640, 480, MJPG_RATES), FrameSize(320, 240, MJPG_RATES)])], id="new-uvc-mjpg"),
    # Raspberry Pi bcm2835-codec node, new layout, multiplanar + nested parentheses:
    # github.com/ayufan/camera-streamer/issues/27
    pytest.param("new_pi_codec_stepwise.txt", [
        _codec("YU12", "Planar YUV 4:2:0"), _codec("YV12", "Planar YVU 4:2:0"), _codec("NV12", "Y/CbCr 4:2:0"),
        _codec("NV21", "Y/CrCb 4:2:0"), _codec("NC12", "Y/CbCr 4:2:0 (128b cols)")], id="new-pi-codec-stepwise"),
    # A UVC metadata node lists no formats (same issue as above, /dev/video13).
    pytest.param("new_metadata_node.txt", [], id="new-empty-node"),
]


@pytest.mark.parametrize(("fixture", "expected"), CASES)
def test_parse_real_outputs(fixture: str, expected: list[PixelFormat]) -> None:
    assert devices.parse_list_formats_ext((FIXTURES / fixture).read_text()) == expected


def test_format_listing() -> None:
    c920 = devices.Device("/dev/video0", "HD Pro Webcam C920",
                          devices.parse_list_formats_ext((FIXTURES / "new_uvc_mjpg_spaces.txt").read_text()))
    pi = devices.Device("/dev/video2", "mmal service 16.1",
                        devices.parse_list_formats_ext((FIXTURES / "old_pi_bcm2835_stepwise.txt").read_text())[:1])
    meta = devices.Device("/dev/video1", "HD Pro Webcam C920", [])
    assert devices.format_devices([c920, meta, pi]) == (
        "/dev/video0  HD Pro Webcam C920\n"
        "  MJPG  Motion-JPEG (compressed)\n"
        "    640x480  30, 25, 20, 15, 10, 7.5, 5 fps\n"
        "    320x240  30, 25, 20, 15, 10, 7.5, 5 fps\n"
        "/dev/video1  HD Pro Webcam C920\n"
        "  no capture formats (a metadata or codec node, not a camera input)\n"
        "/dev/video2  mmal service 16.1\n"
        "  YU12  Planar YUV 4:2:0\n"
        "    any size 32x32 to 2592x1944 in steps of 2/2\n"
    )


def test_video_nodes_sorted_numerically(tmp_path: Path) -> None:
    for name in ("video10", "video2", "video0", "videofoo", "media0"):
        (tmp_path / name).touch()
    assert [p.name for p in devices.video_nodes(tmp_path)] == ["video0", "video2", "video10"]


def _cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run `camstream devices` on a re-rooted /dev with a stand-in v4l2-ctl that prints fixture text."""
    bindir = tmp_path / "bin"
    bindir.mkdir(exist_ok=True)
    fake = bindir / "v4l2-ctl"
    fake.write_text(
        f"#!{sys.executable}\nimport sys\n"
        "dev = sys.argv[2].rsplit('/', 1)[-1]\n"
        "if sys.argv[3] == '--info':\n"
        "    print('Driver Info:\\n\\tDriver name      : uvcvideo\\n\\tCard type        : HD Pro Webcam C920')\n"
        "else:\n"
        f"    print(open({str(FIXTURES)!r} + '/' + {{'video0': 'new_uvc_mjpg_spaces.txt'}}.get(dev, 'new_metadata_node.txt')).read(), end='')\n"
    )
    fake.chmod(0o755)
    env = {**os.environ, "PATH": f"{bindir}:{os.environ['PATH']}", "CAMSTREAM_HOST_ROOT": str(tmp_path / "root"),
           "PYTHONPATH": str(ROOT), "PULSE_SERVER": f"unix:{tmp_path}/no-pulse"}  # no sound server: no sources
    return subprocess.run([sys.executable, "-m", "camstream", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=60)


def test_cli_lists_devices(tmp_path: Path) -> None:
    (tmp_path / "root/dev").mkdir(parents=True)
    (tmp_path / "root/dev/video0").touch()
    (tmp_path / "root/dev/video1").touch()
    result = _cli(tmp_path, "devices")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("/dev/video0  HD Pro Webcam C920\n  MJPG  Motion-JPEG (compressed)\n")
    assert result.stdout.endswith("/dev/video1  HD Pro Webcam C920\n"
                                  "  no capture formats (a metadata or codec node, not a camera input)\n"
                                  "sound: no capture devices (no ALSA card with a capture device, no PulseAudio "
                                  "source)\n")


def test_cli_says_clearly_when_there_is_no_camera(tmp_path: Path) -> None:
    (tmp_path / "root/dev").mkdir(parents=True)
    result = _cli(tmp_path, "devices")
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == (
        "error: no camera found (/dev/video* missing): plug in a USB camera (or enable the Pi camera), "
        "check `ls /dev/video*`, or use --source testsrc\n")
