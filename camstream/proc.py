"""The one place that starts processes: short tool runs and long-lived supervised children."""

from __future__ import annotations

import collections
import ctypes
import json
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
from pathlib import Path
from typing import IO, Any

from camstream.errors import MissingToolError
from camstream.storage.atomic import write_atomic

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
# Secrets passed as URL query options: SRT's passphrase (FFmpeg protocols manual, "srt"), generic passwords.
_SECRET_OPTIONS = re.compile(r"(?P<key>[?&](?:passphrase|password|pass|pwd)=)[^&\s'|\]]+", re.IGNORECASE)


def scrub(text: str) -> str:
    """Hide user:password in URLs and secret query options (SRT passphrase) so logs never carry credentials."""
    return _SECRET_OPTIONS.sub(r"\g<key>***", _CREDENTIALS.sub(r"\g<scheme>***:***@", text))


# prctl(2): PR_SET_PDEATHSIG = 1. The kernel sends the signal to the child when the thread that forked it
# dies, however it dies (SIGKILL, OOM killer, a crash): nothing camstream starts can outlive it.
_PR_SET_PDEATHSIG = 1
try:
    # Loaded once in the parent: the forked child must only call, never load (no locks taken after fork).
    _PRCTL: Any = ctypes.CDLL(None, use_errno=True).prctl
except (OSError, AttributeError):  # not Linux: children are still stopped by the ledger at the next start
    _PRCTL = None


def tie_to_parent(parent_pid: int, sig: int) -> Callable[[], None]:
    """preexec_fn for Popen: the child gets `sig` when camstream dies (PR_SET_PDEATHSIG, picamera2's way).

    The parent may die between fork and the prctl call; the signal would then never come, so the child
    checks that its parent is still the one that forked it and, if not, sends itself the signal.
    """

    def setup() -> None:
        if _PRCTL is not None:
            _PRCTL(_PR_SET_PDEATHSIG, sig, 0, 0, 0)
        if os.getppid() != parent_pid:
            os.kill(os.getpid(), sig)

    return setup


def blocked_on_io(pid: int) -> bool:
    """True when a thread of `pid` sleeps uninterruptibly (state D in /proc/PID/task/TID/stat, proc(5)).

    That is a write or read the kernel holds until a disk answers (an SD card or USB disk that stalls, a frozen
    filesystem): the process cannot run on, and cannot even be killed, until it does.
    """
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return False
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/stat", "rb") as fh:
                stat = fh.read()
        except OSError:
            continue
        end = stat.rfind(b")")  # the command name in parentheses may contain spaces and ')'
        if stat[end + 2 : end + 3] == b"D":
            return True
    return False


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
            preexec_fn=tie_to_parent(os.getpid(), signal.SIGKILL),
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


class Ledger:
    """The children camstream started, recorded in the state directory (pid, start time, command line).

    A camstream that was SIGKILLed cannot stop its children; the next instance with the same state
    directory reads this file and stops exactly those processes, and nothing else (`stop_leftovers`).
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._entries: dict[int, dict[str, Any]] = {}
        self._warned = False

    def add(self, pid: int, name: str, argv: Sequence[str]) -> None:
        """Record a child that was just started."""
        try:
            import psutil

            created = psutil.Process(pid).create_time()
        except Exception:  # it may already be gone; then there is nothing to stop later either
            return
        with self._lock:
            self._entries[pid] = {"pid": pid, "name": name, "create_time": created, "cmdline": list(argv)}
            self._save()

    def remove(self, pid: int) -> None:
        """Forget a child that was stopped and reaped."""
        with self._lock:
            if self._entries.pop(pid, None) is not None:
                self._save()

    def _save(self) -> None:
        try:
            write_atomic(self.path, json.dumps(list(self._entries.values())))
            self._warned = False
        except OSError as exc:
            # A full or read-only state directory must not stop the pipeline; PDEATHSIG still holds.
            if not self._warned:
                log.warning("cannot record child processes in %s: %s", self.path, exc)
                self._warned = True


_ledger: Ledger | None = None


def use_ledger(ledger: Ledger | None) -> None:
    """Record every Child started from now on in `ledger` (None: stop recording)."""
    global _ledger
    _ledger = ledger


def stop_leftovers(path: Path, grace: float = 3.0) -> list[str]:
    """Stop the children a dead camstream recorded in `path`; the names of what was stopped.

    A recorded process is only touched when its pid, start time and command line all match the record,
    so a pid reused by some other program is left alone. Its whole session goes with it (nginx workers);
    when the recorded leader is already gone, what is left of its session is stopped: Linux never hands
    out a pid that is still the id of a live session, so those processes can only be its own.
    """
    import psutil

    try:
        entries = json.loads(path.read_text())
    except (OSError, ValueError):
        return []
    groups: list[tuple[int, str]] = []
    for entry in entries if isinstance(entries, list) else []:
        try:
            pid, name = int(entry["pid"]), str(entry["name"])
            created, cmdline = float(entry["create_time"]), list(entry["cmdline"])
        except (KeyError, TypeError, ValueError):
            continue
        try:
            leader = psutil.Process(pid)
            if abs(leader.create_time() - created) > 0.05 or leader.cmdline() != cmdline:
                continue  # the pid now belongs to someone else
        except psutil.NoSuchProcess:
            pass
        except psutil.AccessDenied:
            continue
        if _session_members(pid):
            groups.append((pid, name))
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid, _name in groups:
            for member in _session_members(pid):
                try:
                    member.send_signal(sig)
                except psutil.Error:
                    pass
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and any(_session_members(pid) for pid, _ in groups):
            time.sleep(0.05)
    try:
        path.unlink()
    except OSError:
        pass
    return [f"{name} (pid {pid})" for pid, name in groups]


def _session_members(sid: int) -> list[Any]:
    """Live processes in session `sid` (camstream starts every child as a session leader)."""
    import psutil

    found = []
    for p in psutil.process_iter():
        try:
            if p.pid == sid or os.getsid(p.pid) == sid:
                if p.status() != psutil.STATUS_ZOMBIE:
                    found.append(p)
        except (OSError, psutil.Error):
            continue
    return found


class Child:
    """A long-running child process in its own session, stdin closed, stderr kept in a ring buffer.

    Stop is graceful first (`stop_signal`, e.g. SIGINT so FFmpeg finalises its files),
    then SIGTERM, then SIGKILL to the whole process group, and always reaped.
    The child receives `death_signal` if camstream dies first (PR_SET_PDEATHSIG). Start children from a
    thread that lives as long as they do: the kernel ties them to the forking thread, not the process.
    """

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        cwd: str | None = None,
        stop_signal: int = signal.SIGTERM,
        death_signal: int = signal.SIGKILL,
        on_stdout_line: Callable[[str], None] | None = None,
        on_stderr_line: Callable[[str], None] | None = None,
        tail_lines: int = 50,
        stdin_fd: int | None = None,
        stdout_fd: int | None = None,
        raw_stdout: bool = False,
        pass_fds: Sequence[int] = (),
    ) -> None:
        self.name = name
        self.pass_fds = tuple(pass_fds)  # open descriptors the child keeps under the same numbers (sockets)
        # Pipe ends for a producer -> consumer pair (see start_piped); None = stdin closed / stdout as below.
        self.stdin_fd = stdin_fd
        self.stdout_fd = stdout_fd
        # raw_stdout: stdout is a binary pipe the owner reads itself (e.g. PCM from an audio device).
        self.raw_stdout = raw_stdout
        self.argv = list(argv)
        self.env = env
        self.cwd = cwd
        self.stop_signal = stop_signal
        self.death_signal = death_signal
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
            stdout: int = subprocess.PIPE if (self._on_stdout_line or self.raw_stdout) else subprocess.DEVNULL
            self.proc = subprocess.Popen(
                self.argv,
                stdin=subprocess.DEVNULL if self.stdin_fd is None else self.stdin_fd,
                stdout=stdout if self.stdout_fd is None else self.stdout_fd,
                stderr=subprocess.PIPE,
                env=full_env,
                cwd=self.cwd,
                start_new_session=True,
                preexec_fn=tie_to_parent(os.getpid(), self.death_signal),
                pass_fds=self.pass_fds,
            )
        except FileNotFoundError as exc:
            tool = os.path.basename(self.argv[0])
            raise MissingToolError(self.argv[0], INSTALL_HINTS.get(tool, f"install {tool}")) from exc
        self.started_at = time.monotonic()
        if _ledger is not None:
            _ledger.add(self.proc.pid, self.name, self.argv)
        assert self.proc.stderr is not None
        self._reader(self.proc.stderr, self._keep_stderr)
        if self._on_stdout_line and self.stdout_fd is None:
            assert self.proc.stdout is not None
            self._reader(self.proc.stdout, self._on_stdout_line)

    def _keep_stderr(self, line: str) -> None:
        clean = scrub(line)
        with self._tail_lock:
            self._tail.append(clean)
        if self._on_stderr_line:
            self._on_stderr_line(clean)

    def _reader(self, stream: IO[bytes], sink: Callable[[str], None]) -> None:
        def pump() -> None:
            for raw in iter(stream.readline, b""):
                line = raw.decode(errors="replace").rstrip("\r\n")
                if line:
                    try:
                        sink(line)
                    except Exception:  # a bad callback must not kill the pump and block the child
                        log.exception("%s: output handler failed", self.name)
            stream.close()

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
        if _ledger is not None:
            _ledger.remove(self.proc.pid)
        for thread in self._threads:
            thread.join(timeout=2.0)
        return ExitInfo(code, self.tail())


def start_piped(producer: Child, consumer: Child) -> None:
    """Start `producer | consumer`: the producer's stdout feeds the consumer's stdin through one OS pipe.

    The parent keeps no end of the pipe, so when either side dies the other sees EOF or EPIPE and ends too.
    The consumer starts first so nothing the producer writes is lost; if the producer cannot start, the
    consumer is stopped again before the error propagates.
    """
    read_fd, write_fd = os.pipe()
    try:
        consumer.stdin_fd = read_fd
        consumer.start()
        os.close(read_fd)
        read_fd = -1
        producer.stdout_fd = write_fd
        try:
            producer.start()
        except BaseException:
            os.close(write_fd)
            write_fd = -1
            consumer.stop(grace=2.0)
            raise
    finally:
        for fd in (read_fd, write_fd):
            if fd >= 0:
                try:
                    os.close(fd)
                except OSError:
                    pass
