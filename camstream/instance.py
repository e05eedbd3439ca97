"""One camstream per state directory: a lock that dies with its holder, and the leftovers of a killed one."""

from __future__ import annotations

import fcntl
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

from camstream import proc
from camstream.errors import AlreadyRunningError, ConfigError

log = logging.getLogger("camstream")

LOCK_FILE = "camstream.lock"
CHILDREN_FILE = "children.json"


@dataclass
class Instance:
    """This process's claim on a state directory; the lock is held until the process exits."""

    state_dir: Path
    fd: int | None = None
    stopped: list[str] = field(default_factory=list)

    def hold(self) -> None:
        """Lock the state directory (creating it), stop a dead instance's leftovers, record our children."""
        if self.fd is not None:
            return
        state_dir = self.state_dir
        try:
            state_dir.mkdir(parents=True, exist_ok=True)
            fd = os.open(state_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            raise ConfigError(f"paths.state_dir={state_dir}: {exc.strerror}: choose a directory you can write "
                              "to (--state-dir)") from None
        try:
            # flock, not a pid file: the kernel releases it when its holder dies, however it dies.
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = _read_pid(fd)
            os.close(fd)
            who = f"pid {holder}" if holder else "another process"
            raise AlreadyRunningError(
                f"camstream is already running with state directory {state_dir} ({who}): stop it first, "
                "or give this one its own --state-dir") from None
        self.fd = fd
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        except OSError:
            pass  # a full disk must not stop us; the lock itself is what counts
        self.stopped = proc.stop_leftovers(state_dir / CHILDREN_FILE)
        for what in self.stopped:
            log.warning("stopped %s left running by an earlier camstream that did not exit cleanly", what)
        proc.use_ledger(proc.Ledger(state_dir / CHILDREN_FILE))

    def release(self) -> None:
        """Stop recording children and give up the lock (the kernel also drops it when we die)."""
        proc.use_ledger(None)
        if self.fd is not None:
            try:
                os.close(self.fd)
            except OSError:
                pass
            self.fd = None


def claim(state_dir: Path) -> Instance:
    """Claim `state_dir` for this run, before any port check.

    Refuses (AlreadyRunningError, exit 2) when a live camstream holds it: a second instance started by
    mistake must not touch the first one or its children. A directory that does not exist yet holds no
    leftovers and is not created here (bad input must leave nothing behind); `hold()` locks it once the
    run has been checked and its directories are made.
    """
    instance = Instance(state_dir)
    if state_dir.is_dir():
        instance.hold()
    return instance


def _read_pid(fd: int) -> int | None:
    try:
        return int(os.pread(fd, 32, 0).decode().strip() or 0) or None
    except (OSError, ValueError):
        return None
