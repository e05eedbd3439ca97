"""`camstream doctor`: each check's pass/warn/fail and fix, with the real ffmpeg trial encode and real sockets."""

from __future__ import annotations

import shutil
import socket
from pathlib import Path

import pytest

from camstream import doctor
from camstream.devices import Device, PixelFormat, FrameSize, SizeRange
from camstream.errors import MissingToolError, SourceError
from camstream.install.plan import Host


def _which_only(*present: str):
    def which(tool: str) -> str:
        if tool in present:
            return f"/usr/bin/{tool}"
        raise MissingToolError(tool, f"install {tool}")
    return which


def test_libx264_trial_encode_passes_with_real_ffmpeg() -> None:
    result = doctor.check_encoder(shutil.which("ffmpeg"), "libx264", required=True)
    assert (result.status, result.detail) == (doctor.PASS, "one-frame trial encode works")


def test_missing_hardware_encoder_is_a_warning_but_missing_libx264_fails() -> None:
    ffmpeg = shutil.which("ffmpeg")
    bogus = doctor.check_encoder(ffmpeg, "no_such_encoder_x", required=True)
    assert bogus.status == doctor.FAIL and bogus.fix.startswith("install a full FFmpeg build")
    hw = doctor.check_encoder(ffmpeg, "h264_v4l2m2m", required=False,
                              trial=lambda _f, _e: (False, "Could not find a valid device"))
    assert hw == doctor.CheckResult("encoder h264_v4l2m2m", doctor.WARN,
                                    "unavailable (Could not find a valid device); libx264 is used instead",
                                    "only on a Raspberry Pi with /dev/video11 (bcm2835-codec); nothing to fix elsewhere")


def test_ffmpeg_missing_fails_with_fix() -> None:
    assert doctor.check_ffmpeg("ffmpeg", _which_only(), lambda argv: (0, "")) == doctor.CheckResult(
        "ffmpeg", doctor.FAIL, "ffmpeg not found", "sudo apt install ffmpeg (or set ffmpeg.path)")


def test_ffmpeg_version_from_real_binary() -> None:
    result = doctor.check_ffmpeg("ffmpeg", doctor.proc.which, doctor.hotspot.run_tool)
    assert result.status == doctor.PASS and "ffmpeg version" in result.detail


@pytest.mark.parametrize(("found", "status", "detail"), [
    pytest.param(SourceError("no camera found (/dev/video* missing): x"), doctor.FAIL,
                 "no camera found (/dev/video* missing): x", id="none"),
    pytest.param([Device("/dev/video1", "C920", [])], doctor.FAIL,
                 "1 /dev/video* node(s), none offers capture sizes", id="metadata-only"),
    pytest.param([Device("/dev/video0", "C920", [PixelFormat("MJPG", "Motion-JPEG", sizes=[FrameSize(640, 480, [30.0])])])],
                 doctor.PASS, "/dev/video0 (C920: MJPG)", id="uvc"),
    pytest.param([Device("/dev/video0", "mmal", [PixelFormat("YU12", "x", size_range=SizeRange(32, 32, 64, 64))])],
                 doctor.PASS, "/dev/video0 (mmal: YU12)", id="stepwise"),
])
def test_cameras(found: object, status: str, detail: str) -> None:
    def lister() -> list[Device]:
        if isinstance(found, Exception):
            raise found
        return found  # type: ignore[return-value]
    result = doctor.check_cameras(lister)
    assert (result.status, result.detail) == (status, detail)


def test_port_in_use_fails_unless_the_service_holds_it() -> None:
    with socket.socket() as holder:
        holder.bind(("0.0.0.0", 0))
        holder.listen()
        port = holder.getsockname()[1]
        assert not doctor.port_free(port)
        taken = doctor.check_port("RTSP", port, service_active=False)
        assert (taken.status, taken.detail) == (doctor.FAIL, "in use by another program")
        assert doctor.check_port("RTSP", port, service_active=True).status == doctor.PASS
    assert doctor.port_free(port)


def test_disk_threshold(tmp_path: Path) -> None:
    assert doctor.check_disk(tmp_path, min_free_bytes=1).status == doctor.PASS
    low = doctor.check_disk(tmp_path / "not" / "yet", min_free_bytes=1 << 62)
    assert low.status == doctor.FAIL and f"(not created yet; measured at {tmp_path})" in low.detail


@pytest.mark.parametrize(("enabled", "active", "status"), [
    pytest.param("enabled", "active", doctor.PASS, id="running"),
    pytest.param("enabled", "failed", doctor.FAIL, id="failed"),
    pytest.param("", "inactive", doctor.WARN, id="not-installed"),
])
def test_service(enabled: str, active: str, status: str) -> None:
    assert doctor.check_service(enabled, active).status == status


def test_hotspot_not_set_up_is_a_warning(tmp_path: Path) -> None:
    result = doctor.check_hotspot(Host(root=tmp_path, euid=0), "/var/lib/camstream/hotspot", lambda argv: (0, ""))
    assert result.status == doctor.WARN


def test_hotspot_down_fails(tmp_path: Path) -> None:
    state = tmp_path / "var/lib/camstream/hotspot/state.json"
    state.parent.mkdir(parents=True)
    state.write_text('{"backend": "hostapd", "interface": "wlan0", "ssid": "cam", "address": "192.168.50.1/24"}')
    result = doctor.check_hotspot(Host(root=tmp_path, euid=0), "/var/lib/camstream/hotspot",
                                  lambda argv: (3, "inactive\n"))
    assert result == doctor.CheckResult("hotspot", doctor.FAIL, "hostapd, SSID 'cam', 192.168.50.1/24, 0 client(s) but down",
                                        "journalctl -u camstream-hostapd.service -n 50 shows why")


def test_run_all_and_failed(tmp_path: Path) -> None:
    results = doctor.run_all(doctor.DoctorInputs(ssd_path=tmp_path, rtsp_port=0, rtmp_port=0), Host(root=tmp_path, euid=0),
                             list_devices=lambda: [], run=lambda argv: (1, ""), list_cameras=lambda: [])
    names = [r.name for r in results]
    assert names == ["ffmpeg", "encoder libx264", "encoder h264_v4l2m2m", "ffprobe", "camera", "audio", "libcamera camera",
                     "nginx-rtmp",
                     "gst-rtsp-server", "mediamtx", "port 0 (RTSP)", "port 0 (RTMP)", "disk", "service", "hotspot"]
    assert doctor.failed(results)  # ffmpeg -version through the failing runner, and no camera


@pytest.mark.slow
def test_cli_table_and_exit_code_1_without_camera(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys
    root = Path(__file__).resolve().parents[1]
    (tmp_path / "dev").mkdir()
    config = tmp_path / "c.yaml"
    config.write_text(f"paths:\n  ssd_path: {tmp_path}\n")
    result = subprocess.run([sys.executable, "-m", "camstream", "doctor", "--config", str(config)], cwd=root,
                            env={**os.environ, "CAMSTREAM_HOST_ROOT": str(tmp_path), "PYTHONPATH": str(root)},
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 1, result.stderr
    camera_row = next(line for line in result.stdout.splitlines() if line.startswith("│ camera"))
    assert "fail" in camera_row and "no camera found" in camera_row
    assert any(line.startswith("│ encoder libx264") and "pass" in line for line in result.stdout.splitlines())
