"""The status file a running instance writes (<state_dir>/status.json), and reading it back: what
`camstream status`, the live panel, scripts and health checks see."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from camstream.storage.atomic import write_atomic
from camstream.storage.layout import STATUS_FILE

__all__ = ["STATUS_FILE", "Status", "load_status", "pid_alive", "read_status", "remove_status", "write_status"]


@dataclass
class Status:
    """What `camstream status` and the live panel show."""

    pid: int
    state: str
    source: str
    encoder: str
    started_at: float
    uptime: float = 0.0
    frames: int = 0
    fps: float = 0.0
    bitrate: str = ""  # measured, e.g. "1987 kbit/s" ("" until measured)
    bitrate_bps: int | None = None
    speed: str = ""
    dropped_frames: int = 0
    restarts: int = 0
    last_restart_reason: str = ""
    recording_paused: bool = False
    disk_not_answering: bool = False  # the recording disk holds FFmpeg's writes (a stalled SD card)
    viewers: int | None = None
    viewers_by_protocol: dict[str, int] = field(default_factory=dict)
    restart_reasons: dict[str, int] = field(default_factory=dict)  # metrics.reason_kind -> count
    profile: str = ""
    disk_free_bytes: int | None = None
    last_chunk: str | None = None
    last_snapshot: str | None = None
    urls: list[str] = field(default_factory=list)
    # input, codec, state (live/silence/waiting), level_dbfs, last_error, device_restarts; None without sound.
    audio: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        """Plain dict for JSON."""
        return asdict(self)


def write_status(state_dir: Path, status: Status) -> None:
    """Replace the status file atomically; a full or read-only disk only costs this update."""
    try:
        write_atomic(state_dir / STATUS_FILE, json.dumps(status.to_json(), indent=1))
    except OSError:
        pass


def remove_status(state_dir: Path) -> None:
    """A stopped instance leaves no status behind (unless the state directory turned read-only: readers check
    that its pid is alive)."""
    try:
        (state_dir / STATUS_FILE).unlink(missing_ok=True)
    except OSError:
        pass


def pid_alive(pid: int) -> bool:
    """True when a process with this pid exists (signal 0 checks without sending anything)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists, it is just not ours (e.g. the service runs as another user)
    return True


def read_status(state_dir: Path) -> dict[str, Any] | None:
    """Status of a running instance, or None when none is running (a stale file from a crash is ignored)."""
    try:
        data = json.loads((state_dir / STATUS_FILE).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict):
        return None
    pid = data.get("pid")
    if not isinstance(pid, int) or not pid_alive(pid):
        return None
    return data


def load_status(config: Path | None = None, state_dir: str | None = None) -> dict[str, Any]:
    """The running instance's status for `camstream status` (the config finds the state directory)."""
    from camstream.errors import NotRunningError

    if state_dir and state_dir.strip() and config is None:
        # A flag beats the environment and YAML, so the config need not be loaded to know the directory: a
        # health check pays ~1 interpreter start, not the config loader too (issue 17). `~` as paths.state_dir.
        directory = Path(os.path.expanduser(state_dir.strip()))
    else:
        from camstream.config import load_config

        settings = {"paths.state_dir": ("--state-dir", state_dir)} if state_dir else {}
        directory = load_config(config, flags=settings).state_dir
    data = read_status(directory)
    if data is None:
        raise NotRunningError(f"camstream is not running (no live status in {directory}): "
                              "start it with `camstream run`")
    return data
