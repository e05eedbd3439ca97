"""One lifecycle for every server camstream runs as its own child: start, wait until ready, watch, stop.

A subclass says only what differs (streamlink's output base / mediamtx's per-server packages): how it is built
from the config (`from_config`), what it checks and writes before starting (`_launch`), when it is ready
(`_ready`), and optionally where FFmpeg publishes to it, the URLs viewers open and how many are watching.
The base owns the child process, the one wait-until-ready loop and the stop/reap.
"""

from __future__ import annotations

import os
import signal
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, Self

from camstream import proc
from camstream.errors import CamstreamError, ServerError

if TYPE_CHECKING:
    from camstream.config import Config


class Server(Protocol):
    """What the supervisor needs from a server (ManagedServer implements it; tests use small fakes)."""

    @property
    def role(self) -> str:
        """What it serves in the plan ("rtsp", "rtmp", "web"): the name in logs and restart reasons."""
        ...

    def start(self) -> None:
        """Start the server process."""
        ...

    def wait_ready(self, timeout: float = 10.0) -> None:
        """Block until it accepts connections; raise ServerError if it does not."""
        ...

    def running(self) -> bool:
        """True while its process is alive."""
        ...

    def tail(self) -> list[str]:
        """Its last stderr lines."""
        ...

    def stop(self, grace: float = 5.0) -> proc.ExitInfo | None:
        """Stop and reap it; how it ended, or None if it never started."""
        ...

    def viewers(self) -> int | None:
        """Viewers right now, or None when the server cannot tell."""
        ...


@dataclass(frozen=True)
class Launch:
    """How to run a server's process: argv, environment additions, working directory."""

    argv: list[str]
    env: Mapping[str, str] | None = None
    cwd: str | None = None
    on_stdout_line: Callable[[str], None] | None = field(default=None, compare=False)
    # Sees every stderr line too (they are kept in the ring buffer either way), e.g. to relay warnings.
    on_stderr_line: Callable[[str], None] | None = field(default=None, compare=False)
    # Descriptors the process inherits (a listening socket camstream made for it); closed here once it started.
    pass_fds: Sequence[int] = ()


def last_lines(tail: Sequence[str], n: int = 3) -> str:
    """The last `n` lines of a child's stderr for an error message."""
    return " | ".join(tail[-n:]) or "no output"


class ManagedServer(ABC):
    """A server camstream runs and supervises as its own child process."""

    role: str = ""  # "rtsp", "rtmp", "web": what it serves (Server.role)
    label: str = ""  # in messages: "builtin RTSP server", "mediamtx", "nginx-rtmp"
    stop_signal: int = signal.SIGTERM
    death_signal: int = signal.SIGKILL  # what the child gets if camstream dies first (proc.Child, PDEATHSIG)
    READY_POLL_S = 0.05

    def __init__(self) -> None:
        self.child: proc.Child | None = None

    # -- what each server declares ----------------------------------------------
    @classmethod
    @abstractmethod
    def wanted(cls, cfg: Config) -> bool:
        """Whether this run needs this server (pure, from the config)."""

    @classmethod
    @abstractmethod
    def from_config(cls, cfg: Config, *, dry_run: bool = False) -> Self:
        """The server for this run; ConfigError/PortInUseError (exit 2) for what the user must fix.

        With dry_run, nothing on the machine is checked (ports may be in use by a running instance)."""

    @abstractmethod
    def _launch(self) -> Launch:
        """Check what must hold and write what the process reads; return how to run it."""

    @abstractmethod
    def _ready(self) -> bool:
        """True once it serves (its ports accept connections, or it printed its ready line)."""

    def files(self) -> dict[Path, str]:
        """Config files it runs with, rendered (shown by --dry-run, written before the run)."""
        return {}

    def publish_url(self) -> str | None:
        """Where camstream's FFmpeg sends it the stream, or None when it takes none."""
        return None

    def viewer_urls(self, hosts: Sequence[str]) -> list[str]:
        """The URLs a viewer on each of `hosts` opens."""
        return []

    def viewers(self) -> int | None:
        """Viewers right now, or None when the server cannot tell."""
        return None

    def _exited(self, code: int | None, tail: list[str]) -> CamstreamError:
        """The error for a process that died before it was ready."""
        return ServerError(f"{self.label} exited with code {code}: {last_lines(tail)}")

    def _stopped(self) -> None:
        """Clean-up after the process is gone (status files, flags)."""

    # -- the one lifecycle ------------------------------------------------------------
    @property
    def name(self) -> str:
        """The role, under the name the supervisor used before the base existed."""
        return self.role

    def start(self) -> None:
        """Run the checks, write the files, start the process (see wait_ready)."""
        if self.running():
            return
        launch = self._launch()
        self.child = proc.Child(self.label, launch.argv, env=launch.env, cwd=launch.cwd,
                                stop_signal=self.stop_signal, death_signal=self.death_signal,
                                on_stdout_line=launch.on_stdout_line, on_stderr_line=launch.on_stderr_line,
                                pass_fds=launch.pass_fds)
        try:
            self.child.start()
        finally:
            for fd in launch.pass_fds:  # the child has its own copies now (or failed to start)
                os.close(fd)

    def wait_ready(self, timeout: float = 10.0) -> None:
        """Block until it serves; ServerError (with its last stderr) if it dies first or takes too long."""
        child = self.child
        if child is None:
            raise ServerError(f"the {self.label} was not started: call start() first")
        deadline = time.monotonic() + timeout
        while not self._ready():
            code = child.poll()
            if code is not None:
                raise self._exited(code, child.stop(0).tail)
            if time.monotonic() >= deadline:
                info = child.stop(1.0)
                raise ServerError(f"{self.label} not ready after {timeout:g}s: {last_lines(info.tail)}")
            time.sleep(self.READY_POLL_S)

    def running(self) -> bool:
        """True while the process is alive."""
        return self.child is not None and self.child.running()

    def poll(self) -> int | None:
        """The exit code once the process has exited, else None."""
        return self.child.poll() if self.child else None

    def tail(self) -> list[str]:
        """The process's last stderr lines (kept after it stopped)."""
        return self.child.tail() if self.child else []

    def stop(self, grace: float = 5.0) -> proc.ExitInfo | None:
        """Stop signal, wait `grace`, then kill the whole group; always reaped. None if it never started."""
        info = self.child.stop(grace) if self.child is not None else None
        self._stopped()
        return info
