"""camstream.service: render the systemd unit (pure) and plan its install / uninstall."""

from __future__ import annotations

import grp
import os
import pwd
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

import yaml

from camstream.config import SETTINGS
from camstream.errors import ConfigError, UsageError
from camstream.install import viewers
from camstream.install.plan import Host, RemoveFile, Run, Step, WriteFile

UNIT_NAME = "camstream.service"
UNIT_PATH = f"/etc/systemd/system/{UNIT_NAME}"
CONFIG_DIR = "/etc/camstream"
DEFAULT_CONFIG = viewers.DEFAULT_CONFIG
BACKUP_SUFFIX = ".bak"
DEFAULT_USER = "camstream"
# ProtectHome= covers exactly these (systemd.exec(5), "ProtectHome=").
HOME_DIRS = ("/home", "/root", "/run/user")
# PrivateTmp=yes gives the service its own empty /tmp and /var/tmp (systemd.exec(5), "PrivateTmp=").
TMP_DIRS = ("/tmp", "/var/tmp")


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
    env: tuple[tuple[str, str], ...] = ()  # Environment= pairs from --env
    # Other paths the program reads at start: the interpreter behind a venv's symlink, the standard library,
    # an editable install's source tree. They must stay visible in the sandbox just like the program itself.
    read_paths: tuple[str, ...] = ()


@dataclass(frozen=True)
class ServiceConfig:
    """The YAML file the service runs with: where it goes, its text, the group that may read it, what it replaces."""

    path: str
    text: str
    group: str
    previous: str | None = None  # the file's current text, kept as <path>.bak when it changes


def service_config_path(given: str | None) -> str:
    """Where the service's config lives: a file already in /etc/camstream stays put, anything else is copied in.

    The unit must not point outside what its sandbox shows (a /tmp file vanishes under PrivateTmp=, a /home file
    under ProtectHome=), and /etc/camstream keeps the settings with the system, not with a user's checkout.
    """
    if given and PurePosixPath(os.path.abspath(given)).is_relative_to(CONFIG_DIR):
        return os.path.abspath(given)
    return DEFAULT_CONFIG


def yaml_value(key: str, raw: Any) -> Any:
    """A flag's text as the YAML value a person would write: numbers and switches typed, sizes/durations as given."""
    if isinstance(raw, bool | int | float):
        return raw
    text = str(raw).strip()
    parsed = SETTINGS[key].parser(text)  # raises ValueError; callers check flags through load_config first
    if isinstance(parsed, bool):
        return parsed
    if isinstance(parsed, int | float) and re.fullmatch(r"[+-]?\d+(\.\d+)?", text):
        return parsed
    return text


def merge_yaml(base_text: str | None, settings: Mapping[str, Any], source: str | None = None) -> str:
    """`base_text` with the dotted-key `settings` set (e.g. {"video.fps": 25}); the base is returned unchanged
    when there is nothing to set, so a copied file keeps its comments."""
    if not settings:
        return base_text if base_text is not None else ""
    data = yaml.safe_load(base_text or "") or {}
    if not isinstance(data, dict):
        raise ConfigError("the service config is not a mapping of settings: fix it or pass --config FILE")
    order = list(SETTINGS)
    for key, value in sorted(settings.items(), key=lambda kv: order.index(kv[0])):
        node = data
        *parents, leaf = key.split(".")
        for part in parents:
            child = node.get(part)
            if not isinstance(child, dict):
                child = node[part] = {}
            node = child
        node[leaf] = yaml_value(key, value)
    origin = f"{source} and the flags" if source else "its flags"
    header = (f"# camstream settings for camstream.service, written by `camstream install-service` from {origin}.\n"
              f"# A file this one replaced is kept next to it as *{BACKUP_SUFFIX}. Edit, then: sudo systemctl "
              "restart camstream\n")
    return header + yaml.safe_dump(data, sort_keys=False, default_flow_style=False)


def primary_group(user: str) -> str:
    """The user's primary group (the default `camstream` user gets its own group from useradd --user-group)."""
    try:
        return grp.getgrgid(pwd.getpwnam(user).pw_gid).gr_name
    except KeyError:
        return user


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
    if not spec.exec_argv or not spec.exec_argv[0].startswith("/"):
        raise UsageError("the camstream program path must be absolute: install camstream so `camstream` is on PATH")
    checked = [("--config", spec.config_file), ("paths.ssd_path", spec.ssd_path), ("paths.state_dir", spec.state_dir),
               ("the camstream program", spec.exec_argv[0]), *(("camstream's Python", p) for p in spec.read_paths)]
    for label, value in checked:
        if not value.startswith("/"):
            raise ConfigError(f"{label} must be an absolute path for the service (got {value!r}): use a path starting with /")
        if "\n" in value:
            raise ConfigError(f"{label} contains a newline: choose a path without one")
        hidden = [d for d in TMP_DIRS if _under(value, d)]
        if hidden:
            raise ConfigError(f"{label} {value} is under {hidden[0]}, which the service's PrivateTmp=yes replaces "
                              "with an empty directory: use a path outside /tmp and /var/tmp")
    for name, value in spec.env:
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name) or "\n" in value:
            raise UsageError(f"--env {name}=...: use NAME=VALUE with a shell-style variable name and a one-line value")


def render_unit(spec: ServiceSpec) -> str:
    """The full text of camstream.service."""
    validate(spec)
    after = ["network-online.target"] + (["nginx.service"] if spec.system_nginx else [])
    write_paths = [spec.ssd_path, spec.state_dir]
    read_paths = [spec.exec_argv[0], spec.config_file, *spec.read_paths]
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


def plan_install(spec: ServiceSpec, *, user_exists: bool, config: ServiceConfig | None = None) -> list[Step]:
    """Create the user if it is the default one and missing, the config, the writable dirs, the unit; then enable
    and (re)start, so a changed config takes effect."""
    steps: list[Step] = []
    if not user_exists:
        if spec.user != DEFAULT_USER:
            raise UsageError(f"user {spec.user!r} does not exist: create it (sudo adduser {spec.user}) or pass --user NAME")
        steps.append(Run(("useradd", "--system", "--user-group", "--no-create-home", "--home-dir", "/nonexistent",
                          "--shell", "/usr/sbin/nologin", DEFAULT_USER)))
    if config is not None and config.text != config.previous:
        if config.previous is not None:
            # Root-only: the old file may hold a stream key or RTSP password.
            steps.append(WriteFile(config.path + BACKUP_SUFFIX, config.previous, 0o600))
        # 0640 root:<service group>: the service reads it, other local users cannot read its credentials.
        steps.append(WriteFile(config.path, config.text, 0o640))
        steps.append(Run(("chgrp", config.group, config.path)))
    # ReadWritePaths= entries must exist or the unit fails with status 226/NAMESPACE.
    for path in (spec.ssd_path, spec.state_dir):
        steps.append(Run(("install", "-d", "-o", spec.user, "-m", "0755", path)))
    steps.append(WriteFile(UNIT_PATH, render_unit(spec)))
    steps.append(Run(("systemctl", "daemon-reload")))
    steps.append(Run(("systemctl", "enable", UNIT_NAME)))
    # restart starts a stopped unit and reloads a running one's config (systemctl(1), "restart").
    steps.append(Run(("systemctl", "restart", UNIT_NAME)))
    return steps


def plan_uninstall(host: Host, *, purge: bool = False) -> list[Step]:
    """Stop, disable and remove camstream.service; the config stays unless `purge`. Empty when nothing is there."""
    configs = [p for p in (DEFAULT_CONFIG, DEFAULT_CONFIG + BACKUP_SUFFIX) if host.path(p).exists()] if purge else []
    steps: list[Step] = [RemoveFile(p) for p in configs]
    if not host.path(UNIT_PATH).exists():
        return steps
    return [
        Run(("systemctl", "stop", UNIT_NAME), check=False),
        Run(("systemctl", "disable", UNIT_NAME), check=False),
        RemoveFile(UNIT_PATH),
        Run(("systemctl", "daemon-reload")),
        *steps,
    ]


def camstream_program(executable: str, which: Callable[[str], str]) -> tuple[str, ...]:
    """Absolute path of the `camstream` command: the one next to this Python (venv), else the one on PATH."""
    sibling = os.path.join(os.path.dirname(executable), "camstream")
    if os.path.isfile(sibling) and os.access(sibling, os.X_OK):
        return (os.path.abspath(sibling),)
    return (os.path.abspath(which("camstream")),)
