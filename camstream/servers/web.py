"""The web server camstream manages: `python -m camstream.web` in its own process, fed by FFmpeg over local TCP.

Same lifecycle as the builtin RTSP server: start, wait for the ready line, watch, read the status file every
second writes (viewers by protocol, ingest bytes), stop and reap.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from camstream import proc
from camstream.errors import ConfigError, ServerError
from camstream.net import check_port_free, free_port

log = logging.getLogger(__name__)

STATUS_STALE_S = 5.0


def available() -> tuple[bool, str]:
    """Whether this Python can run the web server; when not, what to install."""
    try:
        import aiohttp  # noqa: F401
    except ImportError:
        return False, "aiohttp is not installed: pip install 'camstream[web]'"
    return True, "aiohttp"


@dataclass(frozen=True)
class WebPaths:
    """The folders the web view reads (never writes, except its own temporary exports under state_dir)."""

    state_dir: Path
    video_dir: Path
    images_dir: Path
    latest_dir: Path


@dataclass(frozen=True)
class IceOptions:
    """WebRTC connectivity settings passed to the media hub (web.ice_udp_port, web.stun, web.turn...)."""

    udp_port: int = 0
    stun: str = ""
    turn: str = ""
    turn_user: str = ""
    turn_password: str = ""


class WebServer:
    """camstream's handle on the web server process: the page, the API, /metrics, WHEP and the TCP fallback."""

    name = "web"
    PORT_FIX = "--web-port or web.port"

    def __init__(
        self,
        paths: WebPaths,
        port: int = 8080,
        address: str = "0.0.0.0",
        ingest_port: int | None = 0,
        path: str = "live",
        user: str | None = None,
        password: str | None = None,
        ice: IceOptions = IceOptions(),
        ffmpeg: str = "ffmpeg",
        profile: str = "",
        python: str = sys.executable,
    ) -> None:
        if (user is None) != (password is None):
            raise ConfigError("web user and password must be set together: set both web.user and web.password")
        self.paths = paths
        self.port = port
        self.address = address
        self.ingest_port = free_port() if ingest_port == 0 else ingest_port
        self.path = path.strip("/")
        self.user = user
        self.password = password
        self.ice = ice
        self.ffmpeg = ffmpeg
        self.profile = profile
        self.python = python
        self.status_file = paths.state_dir / "web.json"
        self.child: proc.Child | None = None
        self._ready = threading.Event()

    def argv(self) -> list[str]:
        """The server's command line (pure; passwords travel in the environment)."""
        from camstream.web.server import server_argv

        return server_argv(
            self.python, address=self.address, port=self.port, state_dir=str(self.paths.state_dir),
            video_dir=str(self.paths.video_dir), images_dir=str(self.paths.images_dir),
            latest_dir=str(self.paths.latest_dir), ffmpeg=self.ffmpeg, ingest_port=self.ingest_port,
            path=self.path, user=self.user, ice_udp_port=self.ice.udp_port, stun=self.ice.stun,
            turn=self.ice.turn, turn_user=self.ice.turn_user, profile=self.profile,
            status_file=str(self.status_file),
        )

    def env(self) -> dict[str, str]:
        """Environment additions for the server process."""
        from camstream.web.server import PASSWORD_ENV, TURN_PASSWORD_ENV

        root = str(Path(__file__).resolve().parents[2])
        paths = [root] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p and p != root]
        env = {"PYTHONPATH": os.pathsep.join(paths)}
        if self.password is not None:
            env[PASSWORD_ENV] = self.password
        if self.ice.turn_password:
            env[TURN_PASSWORD_ENV] = self.ice.turn_password
        return env

    def url(self, host: str) -> str:
        """The page a viewer on `host` opens."""
        return f"http://{host}:{self.port}/"

    def ingest_url(self) -> str | None:
        """Where FFmpeg sends MPEG-TS for the live view (None: the page runs without live video)."""
        return None if self.ingest_port is None else f"tcp://127.0.0.1:{self.ingest_port}"

    def start(self) -> None:
        """Check the port, then start the server process (see wait_ready)."""
        if self.running():
            return
        ok, why = available()
        if not ok:
            raise ServerError(f"web server: {why}")
        check_port_free(self.address, self.port, self.PORT_FIX)
        self.paths.state_dir.mkdir(parents=True, exist_ok=True)
        self._ready.clear()
        from camstream.web.server import READY_PREFIX

        def on_stdout(line: str) -> None:
            if line.startswith(READY_PREFIX):
                self._ready.set()
            log.info("web: %s", line)

        self.child = proc.Child("web", self.argv(), env=self.env(), stop_signal=signal.SIGTERM,
                                on_stdout_line=on_stdout)
        self.child.start()

    def wait_ready(self, timeout: float = 10.0) -> None:
        """Block until the server listens; ServerError (with its last stderr) if it dies or hangs."""
        if self.child is None:
            raise ServerError("the web server was not started")
        step = 0.05
        waited = 0.0
        while not self._ready.wait(step):
            waited += step
            code = self.child.poll()
            if code is not None:
                info = self.child.stop(0)
                raise ServerError(f"web server exited with code {code}: {_last(info.tail)}")
            if waited >= timeout:
                info = self.child.stop(1.0)
                raise ServerError(f"web server not ready after {timeout:g}s: {_last(info.tail)}")

    def running(self) -> bool:
        """True while the server process is alive."""
        return self.child is not None and self.child.running()

    def poll(self) -> int | None:
        """The server's exit code once it has exited, else None."""
        return self.child.poll() if self.child else None

    def tail(self) -> list[str]:
        """The server's last stderr lines."""
        return self.child.tail() if self.child else []

    def status(self) -> dict[str, object] | None:
        """The server's last fresh status (None when not running or not written for STATUS_STALE_S)."""
        if not self.running():
            return None
        from camstream.servers.rtsp_builtin import read_status

        st = read_status(self.status_file)
        updated = st.get("updated_at") if st else None
        if st is None or not isinstance(updated, int | float) or time.time() - updated > STATUS_STALE_S:
            return None
        return st

    def viewers_by_protocol(self) -> dict[str, int] | None:
        """Browser viewers right now, per protocol (webrtc, ws, ...); None when unknown."""
        st = self.status()
        counts = st.get("viewers_by_protocol") if st else None
        if not isinstance(counts, dict):
            return None
        return {str(k): v for k, v in counts.items() if isinstance(v, int)}

    def viewers(self) -> int | None:
        """Browser viewers right now (None when unknown)."""
        counts = self.viewers_by_protocol()
        return None if counts is None else sum(counts.values())

    def ingest_bytes(self) -> int | None:
        """MPEG-TS bytes the media hub has received so far, when it counts them."""
        st = self.status()
        value = st.get("ingest_bytes") if st else None
        return value if isinstance(value, int) else None

    def stop(self, grace: float = 5.0) -> int | None:
        """SIGTERM, wait, kill if needed; reaps the process, removes its status file, returns its exit code."""
        code = None
        if self.child is not None:
            code = self.child.stop(grace).returncode
        self.status_file.unlink(missing_ok=True)
        self._ready.clear()
        return code


def _last(tail: list[str]) -> str:
    return tail[-1] if tail else "(no output)"
