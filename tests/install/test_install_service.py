"""camstream.service: exact unit text, the real `systemd-analyze verify`, and install/uninstall against a
recording stand-in systemctl."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import stat
import subprocess
import sys
from pathlib import Path, PurePosixPath

import pytest
import yaml

from _checkout import HIDDEN_BY, needs_visible_checkout
from _standins import StandIns
from camstream.install import service
from camstream.install.plan import Run, WriteFile
from camstream.config import SETTINGS, load_config
from camstream.errors import ConfigError
from camstream.install import viewers
from camstream.install.service import ServiceSpec

ROOT = Path(__file__).resolve().parents[2]

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


def _assert_verified(result: subprocess.CompletedProcess[str]) -> None:
    assert result.returncode == 0, result.stderr
    # verify exits 0 on unknown keys and bad values; it only warns. Any line about our file is a failure.
    assert [line for line in result.stderr.splitlines() if service.UNIT_NAME in line] == []


needs_systemd_analyze = pytest.mark.skipif(shutil.which("systemd-analyze") is None,
                                           reason="systemd-analyze not installed")


@needs_systemd_analyze
@pytest.mark.parametrize("variant", [
    pytest.param({}, id="plain"),
    pytest.param({"system_nginx": True}, id="after-nginx"),
    pytest.param({"env": (("CAMSTREAM_RTMP_SERVER", "rtmp://localhost:1935/live"),
                          ("CAMSTREAM_SOURCE", 'my "cam" 100%'))}, id="quoted-env"),
    pytest.param({"read_paths": ("/home/pi/.pyenv/versions/3.11/bin/python3.11",)}, id="python-in-home"),
])
def test_real_systemd_analyze_verify_accepts_unit(tmp_path: Path, variant: dict[str, object]) -> None:
    # ExecStart must name an existing executable; the other paths need not exist for verify.
    spec = ServiceSpec(**{**SPEC.__dict__, "user": "daemon", "exec_argv": (shutil.which("true") or "/bin/true",),
                          "ssd_path": "/srv/cam dir", **variant})
    _assert_verified(_verify(tmp_path, service.render_unit(spec)))


@needs_systemd_analyze
def test_real_systemd_analyze_catches_mistakes(tmp_path: Path) -> None:
    text = UNIT.replace("/opt/camstream/bin/camstream", shutil.which("true") or "/bin/true")
    bad_key = _verify(tmp_path, text.replace("DevicePolicy=closed", "DevicePolicy=closed\nDeviceAllowed=/dev/video0"))
    assert "Unknown key 'DeviceAllowed'" in bad_key.stderr
    missing_program = _verify(tmp_path, UNIT)
    assert missing_program.returncode != 0


# ------------------------------------------------------------------- the sandbox never hides what the unit needs


def _unit_settings(text: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for line in text.splitlines():
        if "=" in line and not line.startswith("#"):
            key, _, value = line.partition("=")
            out.setdefault(key, []).append(value)
    return out


def _paths_in(values: list[str]) -> list[str]:
    words = [w.strip('"') for v in values for w in shlex.split(v)]
    return [w.partition("=")[2] if "=" in w else w for w in words if "/" in w and (w.startswith("/") or "=/" in w)]


def hidden_by_sandbox(spec: ServiceSpec) -> list[str]:
    """Paths the unit (and the program it starts) needs that its own sandboxing would hide or make read-only."""
    unit = _unit_settings(service.render_unit(spec))
    needed_read = [*_paths_in(unit["ExecStart"]), *_paths_in(unit.get("Environment", [])), *spec.read_paths]
    needed_write = _paths_in(unit["ReadWritePaths"])
    hidden: list[str] = []
    if unit["PrivateTmp"] == ["yes"]:
        hidden += ["/tmp", "/var/tmp"]
    if unit["ProtectHome"] == ["yes"]:
        hidden += ["/home", "/root", "/run/user"]
    bad = [p for p in needed_read + needed_write if any(PurePosixPath(p).is_relative_to(h) for h in hidden)]
    # ProtectSystem=strict: everything is read-only except ReadWritePaths=, which must list every written path.
    assert unit["ProtectSystem"] == ["strict"]
    bad += [p for p in (spec.ssd_path, spec.state_dir) if p not in needed_write]
    return bad


@pytest.mark.parametrize("variant", [
    pytest.param({}, id="system-paths"),
    pytest.param({"exec_argv": ("/home/pi/venv/bin/camstream",)}, id="venv-in-home"),
    pytest.param({"read_paths": ("/root/.pyenv/versions/3.11.7/bin/python3.11", "/root/.pyenv/versions/3.11.7")},
                 id="venv-python-links-into-root"),
    pytest.param({"read_paths": ("/home/pi/src/camstream",)}, id="editable-install-in-home"),
    pytest.param({"ssd_path": "/home/pi/capture"}, id="ssd-in-home"),
    pytest.param({"state_dir": "/run/user/1000/camstream"}, id="state-in-run-user"),
    pytest.param({"env": (("CAMSTREAM_PATHS_LATEST_DIR", "/mnt/ssd/camstream/latest"),)}, id="env-path"),
])
def test_rule_unit_never_references_a_path_its_sandbox_hides(variant: dict[str, object]) -> None:
    assert hidden_by_sandbox(ServiceSpec(**{**SPEC.__dict__, **variant})) == []


@pytest.mark.parametrize(("variant", "message"), [
    pytest.param({"config_file": "/tmp/x.yaml"}, "--config /tmp/x.yaml is under /tmp", id="config-in-tmp"),
    pytest.param({"ssd_path": "/var/tmp/capture"}, "paths.ssd_path /var/tmp/capture is under /var/tmp", id="ssd-in-var-tmp"),
    pytest.param({"exec_argv": ("/tmp/venv/bin/camstream",)}, "the camstream program /tmp/venv/bin/camstream is under /tmp",
                 id="venv-in-tmp"),
    pytest.param({"read_paths": ("/tmp/py/bin/python3",)}, "camstream's Python /tmp/py/bin/python3 is under /tmp",
                 id="python-in-tmp"),
])
def test_rule_paths_private_tmp_would_hide_are_refused(variant: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match="PrivateTmp=yes") as err:
        service.render_unit(ServiceSpec(**{**SPEC.__dict__, **variant}))
    assert str(err.value).startswith(message)


# ------------------------------------------------------------------------------------------------ plans


def test_plan_install_creates_default_user_config_dirs_unit_then_starts() -> None:
    spec = ServiceSpec(**{**SPEC.__dict__, "user": "camstream"})
    config = service.ServiceConfig("/etc/camstream/camstream.yaml", "video:\n  fps: 25\n", "camstream")
    assert service.plan_install(spec, user_exists=False, config=config) == [
        Run(("useradd", "--system", "--user-group", "--no-create-home", "--home-dir", "/nonexistent",
             "--shell", "/usr/sbin/nologin", "camstream")),
        WriteFile("/etc/camstream/camstream.yaml", "video:\n  fps: 25\n", 0o640),
        Run(("chgrp", "camstream", "/etc/camstream/camstream.yaml")),
        Run(("install", "-d", "-o", "camstream", "-m", "0755", "/mnt/ssd/camstream")),
        Run(("install", "-d", "-o", "camstream", "-m", "0755", "/var/lib/camstream")),
        WriteFile("/etc/systemd/system/camstream.service", service.render_unit(spec)),
        Run(("systemctl", "daemon-reload")),
        Run(("systemctl", "enable", "camstream.service")),
        Run(("systemctl", "restart", "camstream.service")),
    ]


def test_plan_install_backs_up_a_changed_config_and_leaves_an_unchanged_one() -> None:
    changed = service.ServiceConfig("/etc/camstream/camstream.yaml", "new\n", "pi", previous="old\n")
    steps = service.plan_install(SPEC, user_exists=True, config=changed)
    assert steps[:3] == [WriteFile("/etc/camstream/camstream.yaml.bak", "old\n", 0o600),
                         WriteFile("/etc/camstream/camstream.yaml", "new\n", 0o640),
                         Run(("chgrp", "pi", "/etc/camstream/camstream.yaml"))]
    same = service.ServiceConfig("/etc/camstream/camstream.yaml", "old\n", "pi", previous="old\n")
    assert not any(isinstance(s, WriteFile) and "camstream.yaml" in s.path
                   for s in service.plan_install(SPEC, user_exists=True, config=same))


@pytest.mark.parametrize(("base", "settings", "expected"), [
    pytest.param(None, {"source": "/dev/video0", "rtsp.enabled": True, "video.fps": "25", "video.bitrate": "2M",
                        "record.max_age": "7d", "paths.ssd_path": "/srv/cam"},
                 "source: /dev/video0\nvideo:\n  fps: 25\n  bitrate: 2M\nrtsp:\n  enabled: true\nrecord:\n"
                 "  max_age: 7d\npaths:\n  ssd_path: /srv/cam\n", id="fresh-in-model-order"),
    pytest.param("video:\n  fps: 30\n  width: 640\nlog:\n  level: debug\n", {"video.fps": "12", "rtmp.enabled": False},
                 "video:\n  fps: 12\n  width: 640\nlog:\n  level: debug\nrtmp:\n  enabled: false\n", id="merge-keeps-rest"),
    pytest.param("rtsp: {port: 9000}\n", {"rtsp.path": "cams/front", "record.segment_seconds": "5.5"},
                 "rtsp:\n  port: 9000\n  path: cams/front\nrecord:\n  segment_seconds: 5.5\n", id="flow-style-base"),
])
def test_merge_yaml(base: str | None, settings: dict[str, object], expected: str) -> None:
    text = service.merge_yaml(base, settings)
    assert text.startswith("# camstream settings for camstream.service, written by `camstream install-service`")
    assert "\n".join(line for line in text.splitlines() if not line.startswith("#")) + "\n" == expected


def test_merge_yaml_without_settings_keeps_the_file_verbatim() -> None:
    assert service.merge_yaml("video:\n  fps: 25  # low light\n", {}) == "video:\n  fps: 25  # low light\n"


@pytest.mark.parametrize(("given", "expected"), [
    pytest.param(None, "/etc/camstream/camstream.yaml", id="default"),
    pytest.param("/tmp/x.yaml", "/etc/camstream/camstream.yaml", id="tmp-copied-in"),
    pytest.param("/home/pi/cam.yaml", "/etc/camstream/camstream.yaml", id="home-copied-in"),
    pytest.param("/etc/camstream/front.yaml", "/etc/camstream/front.yaml", id="already-there"),
    pytest.param("/etc/camstreamx/a.yaml", "/etc/camstream/camstream.yaml", id="prefix-is-not-inside"),
])
def test_service_config_path(given: str | None, expected: str) -> None:
    assert service.service_config_path(given) == expected


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
    empty = tmp_path / "empty-cwd"
    empty.mkdir()
    standins = StandIns(tmp_path, ("systemctl", "install", "useradd", "chgrp"))
    config = tmp_path / "camstream.yaml"
    config.write_text("# my camera\npaths:\n  ssd_path: /mnt/ssd/cam\nrtmp:\n  enabled: true\n"
                      "  server: rtmp://localhost:1935/live\n")
    env = {**os.environ, **standins.env(), "CAMSTREAM_HOST_ROOT": str(root), "PYTHONPATH": str(ROOT),
           "CAMSTREAM_HOST_EUID": "0"}
    env.pop("SUDO_USER", None)
    return {"root": root, "standins": standins, "config": config, "env": env, "tmp": tmp_path, "cwd": empty}


def _camstream(box: dict[str, object], *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "camstream", *args], cwd=box["cwd"],  # type: ignore[call-overload]
                          env={**box["env"], **env},  # type: ignore[dict-item]
                          capture_output=True, text=True, timeout=60)


def _written(stdout: str, path: str) -> str:
    """The text --dry-run prints for one file."""
    start = stdout.index(f"# write {path} (")
    body = stdout[stdout.index("\n", start) + 1:stdout.index(f"# end of {path}\n")]
    return body


PROGRAM = str(Path(sys.executable).parent / "camstream")
DONE_WHEN_YAML = """\
# camstream settings for camstream.service, written by `camstream install-service` from its flags.
# A file this one replaced is kept next to it as *.bak. Edit, then: sudo systemctl restart camstream
source: /dev/video0
rtsp:
  enabled: true
rtmp:
  enabled: true
paths:
  ssd_path: /srv/camstream
  state_dir: /var/lib/camstream
"""


@pytest.mark.skipif(not os.access(PROGRAM, os.X_OK), reason="camstream is not installed next to this Python")
@needs_visible_checkout
def test_dry_run_with_run_flags_and_no_config_anywhere(box: dict[str, object], tmp_path: Path) -> None:
    result = _camstream(box, "install-service", "--dry-run", "--device", "/dev/video0", "--rtsp", "--rtmp",
                        "--ssd-path", "/srv/camstream", CAMSTREAM_HOST_EUID="1000")
    assert (result.returncode, result.stderr) == (0, "")
    assert "# write /etc/camstream/camstream.yaml (mode 0640)\n" in result.stdout
    assert _written(result.stdout, "/etc/camstream/camstream.yaml") == DONE_WHEN_YAML
    unit = _written(result.stdout, "/etc/systemd/system/camstream.service")
    assert f"\nExecStart={PROGRAM} run --config /etc/camstream/camstream.yaml\n" in unit
    assert "\nReadWritePaths=/srv/camstream /var/lib/camstream\n" in unit
    assert "$ chgrp camstream /etc/camstream/camstream.yaml\n" in result.stdout
    # The closing lines name what a viewer opens, for every address of this machine.
    tail = result.stdout[result.stdout.index("viewers open:\n"):].splitlines()[1:]
    assert tail and tail[0].startswith("  http://") and all(u.startswith(("  http://", "  rtsp://", "  rtmp://"))
                                                            for u in tail)
    assert any(u.endswith(":8554/live") for u in tail) and any(u.endswith(":1935/live/cam") for u in tail)
    assert list(box["root"].iterdir()) == []  # type: ignore[attr-defined]
    if shutil.which("systemd-analyze"):
        _assert_verified(_verify(tmp_path, unit))


@pytest.mark.skipif(not os.access(PROGRAM, os.X_OK), reason="camstream is not installed next to this Python")
@needs_visible_checkout
def test_dry_run_with_config_in_tmp_uses_the_copy(box: dict[str, object], tmp_path: Path) -> None:
    result = _camstream(box, "install-service", "--dry-run", "--user", "daemon", "--config", str(box["config"]))
    assert (result.returncode, result.stderr) == (0, "")
    unit = _written(result.stdout, "/etc/systemd/system/camstream.service")
    assert f"\nExecStart={PROGRAM} run --config /etc/camstream/camstream.yaml\n" in unit
    assert str(box["tmp"]) not in unit
    copy = _written(result.stdout, "/etc/camstream/camstream.yaml")
    assert f"from {box['config']} and the flags" in copy.splitlines()[0]
    assert yaml.safe_load(copy) == {"paths": {"ssd_path": "/mnt/ssd/cam", "state_dir": "/var/lib/camstream"},
                                    "rtmp": {"enabled": True, "server": "rtmp://localhost:1935/live"}}
    assert "$ chgrp daemon /etc/camstream/camstream.yaml\n" in result.stdout
    if shutil.which("systemd-analyze"):
        _assert_verified(_verify(tmp_path, unit))


@needs_visible_checkout
def test_install_reinstall_uninstall_purge_against_standins(box: dict[str, object]) -> None:
    standins: StandIns = box["standins"]  # type: ignore[assignment]
    root: Path = box["root"]  # type: ignore[assignment]
    etc_config = root / "etc/camstream/camstream.yaml"
    result = _camstream(box, "install-service", "--user", "daemon", "--config", str(box["config"]), "--fps", "25")
    assert result.returncode == 0, result.stderr
    assert standins.calls() == [
        ["chgrp", "daemon", "/etc/camstream/camstream.yaml"],
        ["install", "-d", "-o", "daemon", "-m", "0755", "/mnt/ssd/cam"],
        ["install", "-d", "-o", "daemon", "-m", "0755", "/var/lib/camstream"],
        ["systemctl", "daemon-reload"],
        ["systemctl", "enable", "camstream.service"],
        ["systemctl", "restart", "camstream.service"],
    ]
    assert stat.S_IMODE(etc_config.stat().st_mode) == 0o640
    first = yaml.safe_load(etc_config.read_text())
    assert first["video"] == {"fps": 25} and first["rtmp"]["server"] == "rtmp://localhost:1935/live"
    unit = (root / "etc/systemd/system/camstream.service").read_text()
    assert "ExecStart=" in unit and " run --config /etc/camstream/camstream.yaml\n" in unit
    assert "User=daemon\n" in unit
    assert "After=network-online.target nginx.service\n" in unit  # RTMP pushes to localhost: system nginx
    assert "ReadWritePaths=/mnt/ssd/cam /var/lib/camstream\n" in unit
    assert "viewers open:\n" in result.stdout and "/live/cam\n" in result.stdout

    # Flags alone, no --config: merged over the installed file, which is kept as .bak (root only).
    standins.clear()
    before = etc_config.read_text()
    result = _camstream(box, "install-service", "--user", "daemon", "--bitrate", "3M", "--no-record")
    assert result.returncode == 0, result.stderr
    assert (root / "etc/camstream/camstream.yaml.bak").read_text() == before
    assert stat.S_IMODE((root / "etc/camstream/camstream.yaml.bak").stat().st_mode) == 0o600
    merged = yaml.safe_load(etc_config.read_text())
    assert merged["video"] == {"fps": 25, "bitrate": "3M"} and merged["record"] == {"enabled": False}
    assert merged["paths"]["ssd_path"] == "/mnt/ssd/cam"
    assert standins.calls()[0] == ["chgrp", "daemon", "/etc/camstream/camstream.yaml"]

    standins.clear()
    result = _camstream(box, "uninstall-service")
    assert result.returncode == 0, result.stderr
    assert result.stdout.endswith("camstream.service removed; kept /etc/camstream/camstream.yaml (--purge removes it)\n")
    assert standins.calls() == [
        ["systemctl", "stop", "camstream.service"],
        ["systemctl", "disable", "camstream.service"],
        ["systemctl", "daemon-reload"],
    ]
    assert not (root / "etc/systemd/system/camstream.service").exists()
    assert etc_config.exists()
    assert _camstream(box, "uninstall-service").stdout == "camstream.service is not installed; nothing to do\n"
    purge = _camstream(box, "uninstall-service", "--purge")
    assert purge.returncode == 0, purge.stderr
    assert sorted(p.name for p in (root / "etc/camstream").iterdir()) == []


@needs_visible_checkout
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
    assert lines[0] == "# write /etc/camstream/camstream.yaml (mode 0640)"
    assert "$ install -d -o daemon -m 0755 /mnt/ssd/cam" in lines
    end = lines.index("# end of /etc/systemd/system/camstream.service")
    assert lines[end:end + 4] == ["# end of /etc/systemd/system/camstream.service", "$ systemctl daemon-reload",
                                  "$ systemctl enable camstream.service", "$ systemctl restart camstream.service"]
    assert standins.calls() == []
    assert list(box["root"].iterdir()) == []  # type: ignore[attr-defined]


@pytest.mark.parametrize(("args", "message"), [
    pytest.param(["--user", "root"], "--user root: the service must run as a normal user in the video group; pass --user NAME", id="root-user"),
    pytest.param(["--user", "no-such-user-xyz"], "user 'no-such-user-xyz' does not exist: create it (sudo adduser no-such-user-xyz) or pass --user NAME", id="unknown-user"),
    pytest.param(["--user", "daemon", "--env", "FPS=30"], "--env FPS=30: use CAMSTREAM_<SECTION>_<NAME>=VALUE, e.g. CAMSTREAM_VIDEO_FPS=30", id="bad-env"),
    pytest.param(["--user", "daemon", "--env", "CAMSTREAM_VIDEO_FPS=0"], "CAMSTREAM_VIDEO_FPS=0: expected a whole number 1-240", id="bad-setting"),
    pytest.param(["--user", "daemon", "--fps", "fast"], "--fps fast: expected a whole number 1-240", id="bad-flag"),
    pytest.param(["--user", "daemon", "--ssd-path", "/tmp/cam"], "paths.ssd_path /tmp/cam is under /tmp, which the "
                 "service's PrivateTmp=yes replaces with an empty directory", id="ssd-in-tmp"),
])
def test_install_rejects_bad_input_with_exit_2(box: dict[str, object], args: list[str], message: str) -> None:
    result = _camstream(box, "install-service", "--config", str(box["config"]), *args)
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr.startswith("error: ") and message in result.stderr
    assert box["standins"].calls() == []  # type: ignore[attr-defined]
    assert list(box["root"].iterdir()) == []  # type: ignore[attr-defined]


@needs_visible_checkout
def test_install_needs_an_explicit_ssd_path(box: dict[str, object]) -> None:
    config: Path = box["tmp"] / "bare.yaml"  # type: ignore[operator]
    config.write_text("video:\n  fps: 25\n")
    result = _camstream(box, "install-service", "--user", "daemon", "--config", str(config), "--dry-run")
    assert (result.returncode, result.stderr) == (
        2, f"error: {config}: paths.ssd_path is not set (the default is a home directory): pass --ssd-path DIR, "
           "e.g. --ssd-path /mnt/ssd/camstream\n")
    bare = _camstream(box, "install-service", "--user", "daemon", "--dry-run")
    assert (bare.returncode, bare.stderr) == (
        2, "error: no recording root given (the default is a home directory): pass --ssd-path DIR, "
           "e.g. --ssd-path /mnt/ssd/camstream\n")
    ok = _camstream(box, "install-service", "--user", "daemon", "--config", str(config), "--dry-run",
                    "--ssd-path", "/mnt/ssd/x")
    assert ok.returncode == 0 and "ReadWritePaths=/mnt/ssd/x /var/lib/camstream\n" in ok.stdout


# ------------------------------------------------------------------------------------------------ viewer URLs


@pytest.mark.parametrize(("yaml_text", "expected"), [
    pytest.param("", ["http://10.42.0.1:8080/", "rtsp://10.42.0.1:8554/live"], id="defaults"),
    pytest.param("web: {enabled: false}\n", ["rtsp://10.42.0.1:8554/live"], id="no-web"),
    pytest.param("web: {port: 9090, address: 10.42.0.1}\nrtsp: {enabled: false}\nrtmp: {enabled: true}\n",
                 ["http://10.42.0.1:9090/", "rtmp://10.42.0.1:1935/live/cam"], id="web-port"),
    pytest.param("rtsp: {port: 9554, path: cams/front}\nrtmp: {enabled: true, stream_key: k1, port: 1936}\n",
                 ["http://10.42.0.1:8080/", "rtsp://10.42.0.1:9554/cams/front", "rtmp://10.42.0.1:1936/live/k1"],
                 id="managed-servers"),
    pytest.param("rtmp: {enabled: true, server: 'rtmp://localhost:1935/live'}\n",
                 ["http://10.42.0.1:8080/", "rtsp://10.42.0.1:8554/live", "rtmp://10.42.0.1:1935/live/cam"],
                 id="system-nginx-here"),
    pytest.param("rtsp: {enabled: false}\nrtmp: {enabled: true, server: 'rtmp://user:pw@ingest.example:1935/app'}\n",
                 ["http://10.42.0.1:8080/", "rtmp://***:***@ingest.example:1935/app/cam"], id="remote-ingest-scrubbed"),
    pytest.param("rtsp: {server: external, url: 'rtsp://10.0.0.2:8554/cam'}\n",
                 ["http://10.42.0.1:8080/", "rtsp://10.0.0.2:8554/cam"], id="external-rtsp"),
])
def test_viewer_urls(tmp_path: Path, yaml_text: str, expected: list[str]) -> None:
    config = tmp_path / "c.yaml"
    config.write_text(yaml_text)
    cfg = load_config(config, env={}, search_defaults=False)
    assert viewers.viewer_urls(cfg, ["10.42.0.1"]) == expected


@needs_visible_checkout
def test_install_service_names_the_hotspot_address_first(box: dict[str, object]) -> None:
    state = box["root"] / "var/lib/camstream/hotspot/state.json"  # type: ignore[operator]
    state.parent.mkdir(parents=True)
    state.write_text(json.dumps({"backend": "hostapd", "address": "192.168.50.1/24"}))
    result = _camstream(box, "install-service", "--dry-run", "--user", "daemon", "--ssd-path", "/srv/cam",
                        "--rtsp-port", "8555")
    assert result.returncode == 0, result.stderr
    tail = result.stdout.split("viewers open:\n")[1].splitlines()
    assert tail[0] == "  http://192.168.50.1:8080/"  # the page first, at the hotspot's address first
    assert next(u for u in tail if "rtsp://" in u) == "  rtsp://192.168.50.1:8555/live"


@pytest.mark.skipif("web.port" not in SETTINGS, reason="the web view's settings (issue 13) are not merged yet")
@pytest.mark.parametrize(("yaml_text", "expected"), [
    pytest.param("web: {port: 8081}\n", ["http://10.42.0.1:8081/", "rtsp://10.42.0.1:8554/live"], id="web-on"),
    pytest.param("web: {enabled: false}\n", ["rtsp://10.42.0.1:8554/live"], id="web-off"),
    pytest.param("rtsp: {enabled: false}\n", [], id="no-live-output-no-page"),
])
def test_viewer_urls_include_the_web_view_when_it_is_on(tmp_path: Path, yaml_text: str, expected: list[str]) -> None:
    config = tmp_path / "c.yaml"
    config.write_text(yaml_text)
    cfg = load_config(config, env={}, search_defaults=False)
    assert viewers.viewer_urls(cfg, ["10.42.0.1"]) == expected


@needs_visible_checkout
def test_config_already_in_etc_camstream_is_used_in_place(box: dict[str, object]) -> None:
    root: Path = box["root"]  # type: ignore[assignment]
    front = root / "etc/camstream/front.yaml"
    front.parent.mkdir(parents=True)
    front.write_text("paths:\n  ssd_path: /srv/front\n  state_dir: /var/lib/camstream-front\n")
    result = _camstream(box, "install-service", "--dry-run", "--user", "daemon", "--config", "/etc/camstream/front.yaml",
                        "--fps", "12")
    assert (result.returncode, result.stderr) == (0, "")
    assert " run --config /etc/camstream/front.yaml\n" in result.stdout
    assert "# write /etc/camstream/camstream.yaml" not in result.stdout
    # The file it replaces is itself: backed up, then written with the flag merged in.
    assert _written(result.stdout, "/etc/camstream/front.yaml.bak") == front.read_text()
    assert yaml.safe_load(_written(result.stdout, "/etc/camstream/front.yaml")) == {
        "video": {"fps": 12}, "paths": {"ssd_path": "/srv/front", "state_dir": "/var/lib/camstream-front"}}
    assert "ReadWritePaths=/srv/front /var/lib/camstream-front\n" in result.stdout


@pytest.mark.skipif(HIDDEN_BY is None, reason="the checkout is outside /tmp and /var/tmp: the installs above run instead")
def test_checkout_under_tmp_is_refused(tmp_path: Path) -> None:
    (tmp_path / "root").mkdir()
    result = subprocess.run([sys.executable, "-m", "camstream", "install-service", "--dry-run", "--ssd-path", "/mnt/ssd/cam"],
                            capture_output=True, text=True, timeout=60, cwd=tmp_path,
                            env={**os.environ, "CAMSTREAM_HOST_ROOT": str(tmp_path / "root"), "PYTHONPATH": str(ROOT)})
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("error: ") and "PrivateTmp=yes replaces with an empty directory" in result.stderr
    assert "Traceback" not in result.stderr and not any((tmp_path / "root").iterdir())
