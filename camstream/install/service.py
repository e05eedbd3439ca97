"""camstream.service: render the systemd unit (pure) and plan its install / uninstall."""

from __future__ import annotations

import os
import pwd
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath

from camstream.errors import ConfigError, UsageError
from camstream.install.plan import Host, RemoveFile, Run, Step, WriteFile

UNIT_NAME = "camstream.service"
UNIT_PATH = f"/etc/systemd/system/{UNIT_NAME}"
DEFAULT_CONFIG = "/etc/camstream/camstream.yaml"
DEFAULT_USER = "camstream"
# ProtectHome= covers exactly these (systemd.exec(5), "ProtectHome=").
HOME_DIRS = ("/home", "/root", "/run/user")


@dataclass(frozen=True)
class ServiceSpec:
    """Everything the unit depends on; the CLI fills it from flags and the camstream config."""

    user: str
    exec_argv: tuple[str, ...]  # e.g. ("/usr/local/bin/camstream",): absolute program, then fixed args
    config_file: str
    ssd_path: str
    state_dir: str
    system_nginx: bool = False
    stop_timeout: int = 20
    env: tuple[tuple[str, str], ...] = ()  # Environment= pairs, e.g. the paths the sandbox allows


def default_user(environ: Mapping[str, str]) -> str:
    """The account to run as: whoever ran sudo (e.g. `pi`), else a dedicated `camstream` system user."""
    sudo_user = environ.get("SUDO_USER", "")
    return sudo_user if sudo_user and sudo_user != "root" else DEFAULT_USER


def _under(path: str, parent: str) -> bool:
    return PurePosixPath(path).is_relative_to(parent)


def protect_home(read_paths: Sequence[str], write_paths: Sequence[str]) -> str:
    """ProtectHome= value: `yes` hides /home, /root, /run/user; `read-only` when camstream must reach into them.

    With `yes` the directories are replaced by empty inaccessible ones, so a nested ReadWritePaths= entry
    (an SSD mounted under /home/pi) or a venv in /home/pi could not be reached at all; `read-only` keeps
    them visible and ReadWritePaths= re-opens just the listed paths for writing.
    """
    if any(_under(p, home) for p in (*read_paths, *write_paths) for home in HOME_DIRS):
        return "read-only"
    return "yes"


def _exec_quote(arg: str) -> str:
    """Quote one ExecStart= word: systemd expands %specifiers and $VARIABLES, and splits on whitespace."""
    escaped = arg.replace("\\", "\\\\").replace('"', '\\"').replace("%", "%%").replace("$", "$$")
    return f'"{escaped}"' if any(c in arg for c in ' \t"\\\'') else escaped


def _path_quote(path: str) -> str:
    """Quote one path in a space-separated path list (specifiers are expanded there, variables are not)."""
    escaped = path.replace("\\", "\\\\").replace('"', '\\"').replace("%", "%%")
    return f'"{escaped}"' if any(c in path for c in ' \t"\\\'') else escaped


def _env_quote(name: str, value: str) -> str:
    """One Environment= assignment, quoted as a whole (systemd.exec(5), "Environment=")."""
    escaped = f"{name}={value}".replace("\\", "\\\\").replace('"', '\\"').replace("%", "%%")
    return f'"{escaped}"'


def validate(spec: ServiceSpec) -> None:
    """Reject specs that would render a unit systemd refuses or that runs as root (UsageError, exit 2)."""
    if spec.user in ("root", "0"):
        raise UsageError("--user root: the service must run as a normal user in the video group; pass --user NAME")
    for label, value in (("--config", spec.config_file), ("paths.ssd_path", spec.ssd_path), ("paths.state_dir", spec.state_dir)):
        if not value.startswith("/"):
            raise ConfigError(f"{label} must be an absolute path for the service (got {value!r}): use a path starting with /")
        if "\n" in value:
            raise ConfigError(f"{label} contains a newline: choose a path without one")
    if not spec.exec_argv or not spec.exec_argv[0].startswith("/"):
        raise UsageError("the camstream program path must be absolute: install camstream so `camstream` is on PATH")
    for name, value in spec.env:
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name) or "\n" in value:
            raise UsageError(f"--env {name}=...: use NAME=VALUE with a shell-style variable name and a one-line value")


def render_unit(spec: ServiceSpec) -> str:
    """The full text of camstream.service."""
    validate(spec)
    after = ["network-online.target"] + (["nginx.service"] if spec.system_nginx else [])
    write_paths = [spec.ssd_path, spec.state_dir]
    read_paths = [spec.exec_argv[0], spec.config_file]
    exec_start = " ".join(_exec_quote(a) for a in (*spec.exec_argv, "run", "--config", spec.config_file))
    rw = " ".join(_path_quote(p) for p in write_paths)
    lines = [
        f"# {UNIT_NAME}: rendered by `camstream install-service`; re-run it instead of editing this file.",
        "[Unit]",
        "Description=camstream camera streamer (RTSP/RTMP/SRT live, MP4 chunks, snapshots)",
        "Documentation=https://github.com/camstream/camstream",
        # network-online so RTMP/SRT pushes to other hosts resolve on boot (systemd.special(7)).
        f"Wants={' '.join(after)}",
        f"After={' '.join(after)}",
        # Wait for the SSD mount instead of writing into an empty mount point on the SD card.
        f"RequiresMountsFor={rw}",
        # An unattended camera must never stay down: the default start limit (5 starts in 10 s) would
        # leave the unit failed for good; camstream's own supervisor rate-limits FFmpeg restarts.
        "StartLimitIntervalSec=0",
        "",
        "[Service]",
        # exec: the start fails visibly when the program cannot be executed (systemd.service(5)).
        "Type=exec",
        f"User={spec.user}",
        "SupplementaryGroups=video",
        f"ExecStart={exec_start}",
        # camstream finalises the open MP4 chunk on SIGINT; only the main process gets it (KillMode=mixed),
        # camstream then stops its own children; SIGKILL for everyone only after TimeoutStopSec.
        "KillSignal=SIGINT",
        "KillMode=mixed",
        f"TimeoutStopSec={spec.stop_timeout}",
        "Restart=always",
        "RestartSec=2",
        "Environment=PYTHONUNBUFFERED=1",
        *(f"Environment={_env_quote(name, value)}" for name, value in spec.env),
        "StandardOutput=journal",
        "StandardError=journal",
        "SyslogIdentifier=camstream",
        "RuntimeDirectory=camstream",
        # Hardening (systemd.exec(5), "Sandboxing"): everything read-only except the SSD and state dir,
        # devices limited to V4L2 (cameras and the Pi's /dev/video10-12 codec) and media controllers.
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        f"ReadWritePaths={rw}",
        f"ProtectHome={protect_home(read_paths, write_paths)}",
        "PrivateTmp=yes",
        "DevicePolicy=closed",
        "DeviceAllow=char-video4linux rw",
        "DeviceAllow=char-media rw",
        "ProtectKernelTunables=yes",
        "ProtectKernelModules=yes",
        "ProtectKernelLogs=yes",
        "ProtectControlGroups=yes",
        "ProtectClock=yes",
        "ProtectHostname=yes",
        "RestrictSUIDSGID=yes",
        "RestrictRealtime=yes",
        "RestrictNamespaces=yes",
        "LockPersonality=yes",
        "SystemCallArchitectures=native",
        # AF_NETLINK: getifaddrs() for the "stream is at rtsp://<address>" lines. No MemoryDenyWriteExecute=:
        # PyGObject callbacks (embedded RTSP server) need writable+executable libffi trampolines.
        "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6 AF_NETLINK",
        "UMask=0022",
        "",
        "[Install]",
        "WantedBy=multi-user.target",
    ]
    return "\n".join(lines) + "\n"


def user_exists(name: str) -> bool:
    """True when the account exists on this machine."""
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


def plan_install(spec: ServiceSpec, *, user_exists: bool) -> list[Step]:
    """Create the user if it is the default one and missing, the writable dirs, the unit; then enable and start."""
    steps: list[Step] = []
    if not user_exists:
        if spec.user != DEFAULT_USER:
            raise UsageError(f"user {spec.user!r} does not exist: create it (sudo adduser {spec.user}) or pass --user NAME")
        steps.append(Run(("useradd", "--system", "--user-group", "--no-create-home", "--home-dir", "/nonexistent",
                          "--shell", "/usr/sbin/nologin", DEFAULT_USER)))
    # ReadWritePaths= entries must exist or the unit fails with status 226/NAMESPACE.
    for path in (spec.ssd_path, spec.state_dir):
        steps.append(Run(("install", "-d", "-o", spec.user, "-m", "0755", path)))
    steps.append(WriteFile(UNIT_PATH, render_unit(spec)))
    steps.append(Run(("systemctl", "daemon-reload")))
    steps.append(Run(("systemctl", "enable", "--now", UNIT_NAME)))
    return steps


def plan_uninstall(host: Host) -> list[Step]:
    """Stop, disable and remove camstream.service; empty when it is not installed."""
    if not host.path(UNIT_PATH).exists():
        return []
    return [
        Run(("systemctl", "stop", UNIT_NAME), check=False),
        Run(("systemctl", "disable", UNIT_NAME), check=False),
        RemoveFile(UNIT_PATH),
        Run(("systemctl", "daemon-reload")),
    ]


def camstream_program(executable: str, which: Callable[[str], str]) -> tuple[str, ...]:
    """Absolute path of the `camstream` command: the one next to this Python (venv), else the one on PATH."""
    sibling = os.path.join(os.path.dirname(executable), "camstream")
    if os.path.isfile(sibling) and os.access(sibling, os.X_OK):
        return (os.path.abspath(sibling),)
    return (os.path.abspath(which("camstream")),)
