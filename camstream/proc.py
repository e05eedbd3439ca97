"""The one place that starts processes: short tool runs and long-lived supervised children."""

from __future__ import annotations

import collections
import logging
import os
import re
import shlex
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from camstream.errors import MissingToolError

log = logging.getLogger(__name__)

# How to get each external tool on Debian / Raspberry Pi OS, for "not found" errors.
INSTALL_HINTS: dict[str, str] = {
    "ffmpeg": "install it with `sudo apt install ffmpeg`, or set ffmpeg.path",
    "ffprobe": "install it with `sudo apt install ffmpeg`",
    "ffplay": "install it with `sudo apt install ffmpeg`",
    "nginx": "install it with `sudo apt install nginx libnginx-mod-rtmp`",
    "gst-launch-1.0": "install it with `sudo apt install gstreamer1.0-tools`",
    "mediamtx": "install it with `camstream install-server mediamtx`, or set rtsp.mediamtx_path",
    "v4l2-ctl": "install it with `sudo apt install v4l-utils`",
    "nmcli": "install it with `sudo apt install network-manager`",
    "hostapd": "install it with `sudo apt install hostapd`",
    "dnsmasq": "install it with `sudo apt install dnsmasq`",
    "systemctl": "camstream needs systemd for this command",
}

_CREDENTIALS = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)[^/@\s:]+:[^/@\s]*@")


def scrub(text: str) -> str:
    """Hide user:password in URLs so logs never carry credentials."""
    return _CREDENTIALS.sub(r"\g<scheme>***:***@", text)


def quote(argv: Sequence[str]) -> str:
    """The argv as one shell-quoted line a user can paste, credentials hidden."""
    return scrub(shlex.join(argv))


def which(tool: str, path: str | None = None) -> str:
    """Absolute path of `tool` (or of the configured `path`), else MissingToolError with an install hint."""
    found = shutil.which(path or tool)
    if not found:
        raise MissingToolError(path or tool, INSTALL_HINTS.get(tool, f"install {tool}"))
    return found


def run(
    argv: Sequence[str],
    *,
    timeout: float = 30.0,
    env: Mapping[str, str] | None = None,
    input: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run a short-lived tool to completion and capture its output (never raises on exit status)."""
    log.debug("run: %s", quote(argv))
    full_env = None if env is None else {**os.environ, **env}
    try:
        return subprocess.run(
            list(argv),
            capture_output=True,
            text=True,
            timeout=timeout,
            env=full_env,
            input=input,
            stdin=None if input is not None else subprocess.DEVNULL,
            start_new_session=True,
            check=False,
        )
    except FileNotFoundError as exc:
        raise MissingToolError(argv[0], INSTALL_HINTS.get(os.path.basename(argv[0]), f"install {argv[0]}")) from exc
    except subprocess.TimeoutExpired as exc:
        # subprocess.run already killed the child; report as a failed run.
        return subprocess.CompletedProcess(list(argv), returncode=-9, stdout=_text(exc.stdout), stderr=_text(exc.stderr) + "\n(timed out)")


def _text(data: bytes | str | None) -> str:
    if data is None:
        return ""
    return data if isinstance(data, str) else data.decode(errors="replace")


@dataclass
class ExitInfo:
    """How a child ended: its return code and the last stderr lines it wrote."""

    returncode: int | None
    tail: list[str]


class Child:
    """A long-running child process in its own session, stdin closed, stderr kept in a ring buffer.

    Stop is graceful first (`stop_signal`, e.g. SIGINT so FFmpeg finalises its files),
    then SIGTERM, then SIGKILL to the whole process group, and always reaped.
    """

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        cwd: str | None = None,
        stop_signal: int = signal.SIGTERM,
        on_stdout_line: Callable[[str], None] | None = None,
        on_stderr_line: Callable[[str], None] | None = None,
        tail_lines: int = 50,
        raw_stdout: bool = False,
    ) -> None:
        self.name = name
        # raw_stdout: stdout is a binary pipe the owner reads itself (e.g. PCM from an audio device).
        self.raw_stdout = raw_stdout
        self.argv = list(argv)
        self.env = env
        self.cwd = cwd
        self.stop_signal = stop_signal
        self._on_stdout_line = on_stdout_line
        self._on_stderr_line = on_stderr_line
        self._tail: collections.deque[str] = collections.deque(maxlen=tail_lines)
        self._tail_lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self.proc: subprocess.Popen[bytes] | None = None
        self.started_at: float | None = None

    @property
    def pid(self) -> int | None:
        """Process id while started."""
        return self.proc.pid if self.proc else None

    def start(self) -> None:
        """Start the child; raise MissingToolError when its program is not installed."""
        log.debug("start %s: %s", self.name, quote(self.argv))
        full_env = None if self.env is None else {**os.environ, **self.env}
        try:
            self.proc = subprocess.Popen(
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE if (self._on_stdout_line or self.raw_stdout) else subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                env=full_env,
                cwd=self.cwd,
                start_new_session=True,
            )
        except FileNotFoundError as exc:
            tool = os.path.basename(self.argv[0])
            raise MissingToolError(self.argv[0], INSTALL_HINTS.get(tool, f"install {tool}")) from exc
        self.started_at = time.monotonic()
        assert self.proc.stderr is not None
        self._reader(self.proc.stderr, self._keep_stderr)
        if self._on_stdout_line:
            assert self.proc.stdout is not None
            self._reader(self.proc.stdout, self._on_stdout_line)

    def _keep_stderr(self, line: str) -> None:
        clean = scrub(line)
        with self._tail_lock:
            self._tail.append(clean)
        if self._on_stderr_line:
            self._on_stderr_line(clean)

    def _reader(self, stream: object, sink: Callable[[str], None]) -> None:
        def pump() -> None:
            for raw in iter(stream.readline, b""):  # type: ignore[attr-defined]
                line = raw.decode(errors="replace").rstrip("\r\n")
                if line:
                    try:
                        sink(line)
                    except Exception:  # a bad callback must not kill the pump and block the child
                        log.exception("%s: output handler failed", self.name)
            stream.close()  # type: ignore[attr-defined]

        thread = threading.Thread(target=pump, name=f"{self.name}-reader", daemon=True)
        thread.start()
        self._threads.append(thread)

    def tail(self) -> list[str]:
        """The last stderr lines, credentials scrubbed."""
        with self._tail_lock:
            return list(self._tail)

    def poll(self) -> int | None:
        """Return code if the child has exited, else None."""
        return self.proc.poll() if self.proc else None

    def running(self) -> bool:
        """True while the child has been started and has not exited."""
        return self.proc is not None and self.proc.poll() is None

    def wait(self, timeout: float | None = None) -> int | None:
        """Wait for exit; None on timeout."""
        if not self.proc:
            return None
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def signal(self, sig: int) -> None:
        """Send `sig` to the child's whole process group."""
        if self.proc and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, sig)
            except ProcessLookupError:
                pass

    def stop(self, grace: float = 5.0) -> ExitInfo:
        """Graceful signal, timed wait, SIGTERM, SIGKILL; always reaps the child and its group."""
        if not self.proc:
            return ExitInfo(None, [])
        if self.proc.poll() is None:
            self.signal(signal.SIGCONT)  # a stopped (SIGSTOP) child cannot act on anything else
            self.signal(self.stop_signal)
            if self.wait(grace) is None and self.stop_signal != signal.SIGTERM:
                self.signal(signal.SIGTERM)
                self.wait(2.0)
        # Kill whatever is left in the group (grandchildren too), then reap.
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        code = self.proc.wait()
        for thread in self._threads:
            thread.join(timeout=2.0)
        return ExitInfo(code, self.tail())
