"""scripts/install_streamer_service.sh and scripts/setup_hotspot.sh: thin wrappers mapping the seed's variables."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml

from _checkout import needs_visible_checkout
from _standins import StandIns

ROOT = Path(__file__).resolve().parents[2]


def _camstream_shim(tmp_path: Path) -> str:
    shim = tmp_path / "camstream-shim"
    shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m camstream "$@"\n')
    shim.chmod(0o755)
    return str(shim)


@needs_visible_checkout
def test_service_wrapper_maps_seed_variables(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("paths:\n  ssd_path: /mnt/ssd/cam\n")
    (tmp_path / "root").mkdir()  # the service config is read and written below this root, never the real /etc
    env = {**os.environ, "CAMSTREAM": _camstream_shim(tmp_path), "PYTHONPATH": str(ROOT), "DEVICE": "/dev/video2",
           "CAMSTREAM_HOST_ROOT": str(tmp_path / "root"),
           "WIDTH": "1920", "HEIGHT": "1080", "FPS": "25", "BITRATE": "3M", "SERVER_URL": "rtmp://localhost:1935/live",
           "STREAM_KEY": "cam", "INPUT_FORMAT": "mjpeg", "ENCODER": "h264_v4l2m2m"}
    result = subprocess.run(["bash", str(ROOT / "scripts/install_streamer_service.sh"), "--user", "daemon",
                             "--config", str(config), "--dry-run"], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    env_lines = [line for line in result.stdout.splitlines() if line.startswith("Environment=")]
    assert env_lines == ["Environment=PYTHONUNBUFFERED=1"]
    # The seed's settings land in the service's own config file, which the unit runs with.
    start = result.stdout.index("# write /etc/camstream/camstream.yaml (mode 0640)\n")
    written = yaml.safe_load(result.stdout[start:result.stdout.index("# end of /etc/camstream/camstream.yaml")])
    assert written == {
        "source": "/dev/video2",
        "video": {"width": 1920, "height": 1080, "fps": 25, "bitrate": "3M", "encoder": "h264_v4l2m2m",
                  "input_format": "mjpeg"},
        "rtmp": {"enabled": True, "server": "rtmp://localhost:1935/live", "stream_key": "cam"},
        "paths": {"ssd_path": "/mnt/ssd/cam", "state_dir": "/var/lib/camstream"},
    }
    assert " run --config /etc/camstream/camstream.yaml\n" in result.stdout
    assert "After=network-online.target nginx.service" in result.stdout


def test_service_wrapper_reports_bad_seed_value(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("paths:\n  ssd_path: /mnt/ssd/cam\n")
    env = {**os.environ, "CAMSTREAM": _camstream_shim(tmp_path), "PYTHONPATH": str(ROOT), "FPS": "fast",
           "CAMSTREAM_HOST_ROOT": str(tmp_path)}
    result = subprocess.run(["bash", str(ROOT / "scripts/install_streamer_service.sh"), "--user", "daemon",
                             "--config", str(config), "--dry-run"], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert result.stderr == "error: --fps fast: expected a whole number 1-240\n"


def test_hotspot_wrapper_dry_run_and_validation(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "sys/class/net/wlan0/phy80211").mkdir(parents=True)  # cfg80211 marks it as Wi-Fi
    standins = StandIns(tmp_path, ("nmcli", "systemctl", "ip", "hostapd", "dnsmasq"))
    standins.respond("nmcli -t -f DEVICE,TYPE,STATE,CONNECTION device", "wlan0:wifi:unmanaged:\n")
    env = {**os.environ, **standins.env(), "CAMSTREAM": _camstream_shim(tmp_path), "PYTHONPATH": str(ROOT),
           "CAMSTREAM_HOST_ROOT": str(root), "CAMSTREAM_HOST_EUID": "1000",
           "SSID": "PiCam", "PASSWORD": "raspberry-cam", "COUNTRY": "GB", "CHANNEL": "1"}
    script = str(ROOT / "scripts/setup_hotspot.sh")
    result = subprocess.run(["bash", script, "--dry-run"], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "ssid=PiCam\nutf8_ssid=1\ncountry_code=GB\nieee80211d=1\nhw_mode=g\nchannel=1\n" in result.stdout
    assert result.stdout.endswith("$ systemctl enable --now camstream-hostapd.service camstream-dnsmasq.service\n"
                                  "hotspot 'PiCam' would be up (hostapd); viewers would join it and open:\n"
                                  "  http://192.168.50.1:8080/\n  rtsp://192.168.50.1:8554/live\n")
    bad = subprocess.run(["bash", script], env={**env, "PASSWORD": "short"}, capture_output=True, text=True, timeout=60)
    assert (bad.returncode, bad.stderr) == (2, "error: --password is 5 characters: WPA2 needs 8 to 63 characters\n")
    assert [c for c in standins.calls() if c[1:2] not in (["-t"], ["-json"], ["is-enabled"], ["is-active"])] == []
    assert sorted(p.name for p in root.iterdir()) == ["sys"]
