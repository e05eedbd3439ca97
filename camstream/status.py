"""The status file a running instance writes, and reading it back (for `camstream status`, scripts, health checks).

Lean on purpose: `camstream status --json` reads it without importing the supervisor or the CLI library.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from camstream.storage.layout import STATUS_FILE  # the one table of file names


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
