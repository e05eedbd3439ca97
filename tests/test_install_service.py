"""camstream.service: exact unit text, the real `systemd-analyze verify`, and install/uninstall against a
recording stand-in systemctl."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from _standins import StandIns
from camstream.install import service
from camstream.install.plan import Run, WriteFile
from camstream.install.service import ServiceSpec

ROOT = Path(__file__).resolve().parents[1]

SPEC = ServiceSpec(
    user="pi",
    exec_argv=("/opt/camstream/bin/camstream",),
    config_file="/etc/camstream/camstream.yaml",
    ssd_path="/mnt/ssd/camstream",
    state_dir="/var/lib/camstream",
    env=(("CAMSTREAM_PATHS_SSD_PATH", "/mnt/ssd/camstream"), ("CAMSTREAM_PATHS_STATE_DIR", "/var/lib/camstream")),
)

UNIT = """\
# camstream.service: rendered by `camstream install-service`; re-run it instead of editing this file.
[Unit]
Description=camstream camera streamer (RTSP/RTMP/SRT live, MP4 chunks, snapshots)
Documentation=https://github.com/camstream/camstream
Wants=network-online.target
After=network-online.target
RequiresMountsFor=/mnt/ssd/camstream /var/lib/camstream
StartLimitIntervalSec=0

[Service]
Type=exec
User=pi
SupplementaryGroups=video
ExecStart=/opt/camstream/bin/camstream run --config /etc/camstream/camstream.yaml
KillSignal=SIGINT
KillMode=mixed
TimeoutStopSec=20
Restart=always
RestartSec=2
Environment=PYTHONUNBUFFERED=1
Environment="CAMSTREAM_PATHS_SSD_PATH=/mnt/ssd/camstream"
Environment="CAMSTREAM_PATHS_STATE_DIR=/var/lib/camstream"
StandardOutput=journal
StandardError=journal
SyslogIdentifier=camstream
RuntimeDirectory=camstream
NoNewPrivileges=yes
ProtectSystem=strict
ReadWritePaths=/mnt/ssd/camstream /var/lib/camstream
ProtectHome=yes
PrivateTmp=yes
DevicePolicy=closed
DeviceAllow=char-video4linux rw
DeviceAllow=char-media rw
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectKernelLogs=yes
ProtectControlGroups=yes
ProtectClock=yes
ProtectHostname=yes
RestrictSUIDSGID=yes
RestrictRealtime=yes
RestrictNamespaces=yes
LockPersonality=yes
SystemCallArchitectures=native
RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6 AF_NETLINK
UMask=0022

[Install]
WantedBy=multi-user.target
"""


def test_unit_exact() -> None:
    assert service.render_unit(SPEC) == UNIT


def test_unit_with_system_nginx_orders_after_it() -> None:
    lines = service.render_unit(ServiceSpec(**{**SPEC.__dict__, "system_nginx": True})).splitlines()
    assert lines[4:6] == ["Wants=network-online.target nginx.service", "After=network-online.target nginx.service"]


@pytest.mark.parametrize(("program", "config", "ssd", "expected"), [
    pytest.param("/usr/local/bin/camstream", "/etc/camstream/c.yaml", "/mnt/ssd", "yes", id="all-system-paths"),
    pytest.param("/home/pi/venv/bin/camstream", "/etc/camstream/c.yaml", "/mnt/ssd", "read-only", id="venv-in-home"),
    pytest.param("/usr/local/bin/camstream", "/home/pi/camstream.yaml", "/mnt/ssd", "read-only", id="config-in-home"),
    pytest.param("/usr/local/bin/camstream", "/etc/camstream/c.yaml", "/home/pi/capture", "read-only", id="ssd-in-home"),
    pytest.param("/usr/local/bin/camstream", "/etc/camstream/c.yaml", "/root/capture", "read-only", id="ssd-in-root"),
    pytest.param("/usr/local/bin/camstream", "/etc/camstream/c.yaml", "/homes/x", "yes", id="homes-is-not-home"),
])
def test_protect_home_keeps_needed_paths_reachable(program: str, config: str, ssd: str, expected: str) -> None:
    assert service.protect_home([program, config], [ssd, "/var/lib/camstream"]) == expected


def _verify(unit_dir: Path, text: str) -> subprocess.CompletedProcess[str]:
    unit = unit_dir / service.UNIT_NAME
    unit.write_text(text)
    return subprocess.run([shutil.which("systemd-analyze") or "systemd-analyze", "verify", "--man=no", str(unit)],
                          capture_output=True, text=True, timeout=60)


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed")
@pytest.mark.parametrize("variant", [
    pytest.param({}, id="plain"),
    pytest.param({"system_nginx": True}, id="after-nginx"),
    pytest.param({"env": (("CAMSTREAM_RTMP_SERVER", "rtmp://localhost:1935/live"),
                          ("CAMSTREAM_SOURCE", 'my "cam" 100%'))}, id="quoted-env"),
])
def test_real_systemd_analyze_verify_accepts_unit(tmp_path: Path, variant: dict[str, object]) -> None:
    # ExecStart must name an existing executable and the ReadWritePaths must exist, as on a real install.
    ssd, state = tmp_path / "ssd dir", tmp_path / "state"
    ssd.mkdir()
    state.mkdir()
    spec = ServiceSpec(**{**SPEC.__dict__, "user": "daemon", "exec_argv": (shutil.which("true") or "/bin/true",),
                          "config_file": str(tmp_path / "camstream.yaml"), "ssd_path": str(ssd),
                          "state_dir": str(state), **variant})
    result = _verify(tmp_path, service.render_unit(spec))
    assert result.returncode == 0, result.stderr
    # verify exits 0 on unknown keys and bad values; it only warns. Any line about our file is a failure.
    assert [line for line in result.stderr.splitlines() if service.UNIT_NAME in line] == []


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed")
def test_real_systemd_analyze_catches_mistakes(tmp_path: Path) -> None:
    text = UNIT.replace("/opt/camstream/bin/camstream", shutil.which("true") or "/bin/true")
    bad_key = _verify(tmp_path, text.replace("DevicePolicy=closed", "DevicePolicy=closed\nDeviceAllowed=/dev/video0"))
    assert "Unknown key 'DeviceAllowed'" in bad_key.stderr
    missing_program = _verify(tmp_path, UNIT)
    assert missing_program.returncode != 0


def test_plan_install_creates_default_user_dirs_unit_then_starts() -> None:
    spec = ServiceSpec(**{**SPEC.__dict__, "user": "camstream"})
    assert service.plan_install(spec, user_exists=False) == [
        Run(("useradd", "--system", "--user-group", "--no-create-home", "--home-dir", "/nonexistent",
             "--shell", "/usr/sbin/nologin", "camstream")),
        Run(("install", "-d", "-o", "camstream", "-m", "0755", "/mnt/ssd/camstream")),
        Run(("install", "-d", "-o", "camstream", "-m", "0755", "/var/lib/camstream")),
        WriteFile("/etc/systemd/system/camstream.service", service.render_unit(spec)),
        Run(("systemctl", "daemon-reload")),
        Run(("systemctl", "enable", "--now", "camstream.service")),
    ]


@pytest.mark.parametrize(("environ", "expected"), [
    pytest.param({"SUDO_USER": "pi"}, "pi", id="sudo-user"),
    pytest.param({"SUDO_USER": "root"}, "camstream", id="sudo-from-root"),
    pytest.param({}, "camstream", id="no-sudo"),
])
def test_default_user(environ: dict[str, str], expected: str) -> None:
    assert service.default_user(environ) == expected


# ------------------------------------------------------------------------------------------------ CLI


@pytest.fixture
def box(tmp_path: Path) -> dict[str, object]:
    root = tmp_path / "root"
    root.mkdir()
    standins = StandIns(tmp_path, ("systemctl", "install", "useradd"))
    config = tmp_path / "camstream.yaml"
    config.write_text(f"paths:\n  ssd_path: {tmp_path}/ssd\nrtmp:\n  enabled: true\n"
                      "  server: rtmp://localhost:1935/live\n")
    env = {**os.environ, **standins.env(), "CAMSTREAM_HOST_ROOT": str(root), "PYTHONPATH": str(ROOT),
           "CAMSTREAM_HOST_EUID": "0"}
    env.pop("SUDO_USER", None)
    return {"root": root, "standins": standins, "config": config, "env": env, "tmp": tmp_path}


def _camstream(box: dict[str, object], *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "camstream", *args], cwd=ROOT,
                          env={**box["env"], **env},  # type: ignore[dict-item]
                          capture_output=True, text=True, timeout=60)


def test_install_and_uninstall_run_the_exact_commands(box: dict[str, object]) -> None:
    standins: StandIns = box["standins"]  # type: ignore[assignment]
    root: Path = box["root"]  # type: ignore[assignment]
    tmp: Path = box["tmp"]  # type: ignore[assignment]
    result = _camstream(box, "install-service", "--user", "daemon", "--config", str(box["config"]))
    assert result.returncode == 0, result.stderr
    assert standins.calls() == [
        ["install", "-d", "-o", "daemon", "-m", "0755", f"{tmp}/ssd"],
        ["install", "-d", "-o", "daemon", "-m", "0755", "/var/lib/camstream"],
        ["systemctl", "daemon-reload"],
        ["systemctl", "enable", "--now", "camstream.service"],
    ]
    unit = (root / "etc/systemd/system/camstream.service").read_text()
    program = str(Path(sys.executable).parent / "camstream") if (Path(sys.executable).parent / "camstream").exists() \
        else shutil.which("camstream")
    assert f"ExecStart={program} run --config {box['config']}\n" in unit
    assert "User=daemon\n" in unit
    assert "After=network-online.target nginx.service\n" in unit  # RTMP pushes to localhost: system nginx
    assert f'Environment="CAMSTREAM_PATHS_SSD_PATH={tmp}/ssd"\nEnvironment="CAMSTREAM_PATHS_STATE_DIR=/var/lib/camstream"\n' in unit
    assert f"ReadWritePaths={tmp}/ssd /var/lib/camstream\n" in unit

    standins.clear()
    result = _camstream(box, "uninstall-service")
    assert result.returncode == 0, result.stderr
    assert standins.calls() == [
        ["systemctl", "stop", "camstream.service"],
        ["systemctl", "disable", "camstream.service"],
        ["systemctl", "daemon-reload"],
    ]
    assert not (root / "etc/systemd/system/camstream.service").exists()
    assert _camstream(box, "uninstall-service").stdout == "camstream.service is not installed; nothing to do\n"


def test_install_without_root_refuses_and_dry_run_does_not(box: dict[str, object]) -> None:
    standins: StandIns = box["standins"]  # type: ignore[assignment]
    result = _camstream(box, "install-service", "--user", "daemon", "--config", str(box["config"]),
                        CAMSTREAM_HOST_EUID="1000")
    assert (result.returncode, result.stderr) == (2, "error: camstream install-service changes the system and needs "
                                                     "root: run it with sudo, or add --dry-run to see what it would do\n")
    assert standins.calls() == []
    result = _camstream(box, "install-service", "--user", "daemon", "--config", str(box["config"]), "--dry-run",
                        CAMSTREAM_HOST_EUID="1000")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == f"$ install -d -o daemon -m 0755 {box['tmp']}/ssd"
    assert lines[2] == "# write /etc/systemd/system/camstream.service (mode 0644)"
    assert lines[-3:] == ["# end of /etc/systemd/system/camstream.service", "$ systemctl daemon-reload",
                          "$ systemctl enable --now camstream.service"]
    assert standins.calls() == []
    assert list(box["root"].iterdir()) == []  # type: ignore[union-attr]


@pytest.mark.parametrize(("args", "message"), [
    pytest.param(["--user", "root"], "--user root: the service must run as a normal user in the video group; pass --user NAME", id="root-user"),
    pytest.param(["--user", "no-such-user-xyz"], "user 'no-such-user-xyz' does not exist: create it (sudo adduser no-such-user-xyz) or pass --user NAME", id="unknown-user"),
    pytest.param(["--user", "daemon", "--env", "FPS=30"], "--env FPS=30: use CAMSTREAM_<SECTION>_<NAME>=VALUE, e.g. CAMSTREAM_VIDEO_FPS=30", id="bad-env"),
    pytest.param(["--user", "daemon", "--env", "CAMSTREAM_VIDEO_FPS=0"], "CAMSTREAM_VIDEO_FPS=0: expected a whole number 1-240", id="bad-setting"),
])
def test_install_rejects_bad_input_with_exit_2(box: dict[str, object], args: list[str], message: str) -> None:
    result = _camstream(box, "install-service", "--config", str(box["config"]), *args)
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr.startswith("error: ") and message in result.stderr
    assert box["standins"].calls() == []  # type: ignore[union-attr]


def test_install_needs_an_explicit_ssd_path(box: dict[str, object]) -> None:
    config: Path = box["tmp"] / "bare.yaml"  # type: ignore[operator]
    config.write_text("video:\n  fps: 25\n")
    result = _camstream(box, "install-service", "--user", "daemon", "--config", str(config), "--dry-run")
    assert (result.returncode, result.stderr) == (
        2, f"error: {config}: paths.ssd_path is not set (the default is a home directory): set it to the SSD, "
           "e.g. ssd_path: /mnt/ssd/camstream, or pass --ssd-path\n")
    ok = _camstream(box, "install-service", "--user", "daemon", "--config", str(config), "--dry-run",
                    "--ssd-path", "/mnt/ssd/x")
    assert ok.returncode == 0 and "ReadWritePaths=/mnt/ssd/x /var/lib/camstream\n" in ok.stdout
