"""Helpers for tests that run real processes: free ports, the CLI, a `camstream run` subprocess, ffprobe."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Protocol

import psutil

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    """A TCP port nobody listens on right now (UDP pair+1 is usually free too)."""
    while True:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        if port < 65000:
            return port


def camstream_cmd(*args: str) -> list[str]:
    """argv that runs this checkout's camstream CLI with the current interpreter."""
    return [sys.executable, "-m", "camstream", *args]


def run_cli(*args: str, env: dict[str, str] | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run the CLI to completion (real process), capturing stdout and stderr separately."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(camstream_cmd(*args), capture_output=True, text=True, timeout=timeout, env=full_env,
                          stdin=subprocess.DEVNULL, cwd=ROOT)


class Camstream:
    """A `camstream run` subprocess in its own process group; always reaped by the fixture."""

    def __init__(self, args: list[str], log_path: Path, env: dict[str, str] | None = None) -> None:
        self.log_path = log_path
        self._log = log_path.open("w")
        self.proc = subprocess.Popen(
            camstream_cmd("run", *args), stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True, env={**os.environ, **(env or {})}, cwd=ROOT,
        )

    def log(self) -> str:
        """Everything camstream printed so far."""
        self._log.flush()
        return self.log_path.read_text()

    def children(self) -> list[psutil.Process]:
        """camstream's child processes (ffmpeg, servers)."""
        try:
            return psutil.Process(self.proc.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            return []

    def child(self, name: str) -> psutil.Process:
        """The first child whose program is `name` (e.g. ffmpeg) or that runs module `name` with -m."""
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            for child in self.children():
                try:
                    argv = child.cmdline()
                except psutil.NoSuchProcess:
                    continue
                if argv and (os.path.basename(argv[0]) == name or name in argv[1:3]):
                    return child
            time.sleep(0.1)
        raise AssertionError(f"no child process {name!r}; log:\n{self.log()}")

    def wait_for(self, predicate, timeout: float, what: str):  # type: ignore[no-untyped-def]
        """Poll `predicate` until it returns something truthy; fail with the log otherwise."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = predicate()
            if value:
                return value
            if self.proc.poll() is not None:
                raise AssertionError(f"camstream exited ({self.proc.returncode}) while waiting for {what}:\n{self.log()}")
            time.sleep(0.2)
        raise AssertionError(f"timed out waiting for {what}; log:\n{self.log()}")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
        """Signal camstream and wait for it to exit."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        finally:
            self._log.flush()

    def kill(self) -> None:
        """Kill camstream's whole process group and reap it."""
        descendants = self.children()
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        for p in descendants:
            try:
                p.kill()
            except psutil.NoSuchProcess:
                pass
        self.proc.wait(10)
        psutil.wait_procs(descendants, timeout=5)
        self._log.close()


def ffprobe_stream(url: str, *extra: str, timeout: float = 15) -> dict:  # type: ignore[type-arg]
    """codec/size of the first video stream ffprobe reads from `url` ({} when it cannot)."""
    argv = ["ffprobe", "-v", "error", *extra, "-select_streams", "v:0",
            "-show_entries", "stream=codec_name,width,height", "-of", "json", url]
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        return {}
    streams = json.loads(out.stdout or "{}").get("streams") or [{}]
    return streams[0]


def media_duration(path: Path) -> float:
    """Container duration in seconds, from ffprobe."""
    out = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", str(path)],
                         capture_output=True, text=True, timeout=30, check=True)
    return float(out.stdout.strip())


def decodes_cleanly(path: Path) -> bool:
    """True when FFmpeg decodes every frame of `path` without an error."""
    out = subprocess.run(["ffmpeg", "-v", "error", "-i", str(path), "-f", "null", "-"],
                         capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    return out.returncode == 0 and not out.stderr.strip()


class StartCamstream(Protocol):
    """The `camstream_run` fixture: start `camstream run ARGS...` (reaped after the test) and get its handle."""

    def __call__(self, *args: str, env: dict[str, str] | None = None) -> Camstream:
        """Start it; `env` adds to this process's environment."""
        ...
