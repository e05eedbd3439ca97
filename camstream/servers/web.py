"""The web server camstream manages: `python -m camstream.web` in its own process, fed by FFmpeg over local TCP.

The lifecycle is servers/base.py's; this says how to build it from web.*, how to run it, when it is ready (its
"listening http://" line), and reads the status file it rewrites every second (viewers by protocol, ingest bytes).
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from camstream.errors import ConfigError, ServerError
from camstream.net import check_port_free, free_port
from camstream.servers.base import Launch, ManagedServer

if TYPE_CHECKING:
    from camstream.config import Config

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


class WebServer(ManagedServer):
    """camstream's handle on the web server process: the page, the API, /metrics, WHEP and the TCP fallback."""

    role = "web"
    label = "web server"
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
        super().__init__()
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
        self._ready_line = threading.Event()

    @classmethod
    def wanted(cls, cfg: Config) -> bool:
        """A live output is on and web.enabled; without aiohttp the page is skipped with a warning."""
        if not cfg.web_view:
            return False
        ok, why = available()
        if not ok:
            log.warning("web view off: %s", why)
        return ok

    @classmethod
    def from_config(cls, cfg: Config, *, dry_run: bool = False) -> WebServer:
        """The server for web.*; its ingest port is picked now so the FFmpeg argv can name it."""
        if not dry_run:
            check_port_free(cfg.web.address, cfg.web.port, cls.PORT_FIX)
        # web.user/web.password when set, else the RTSP viewer credentials: the page shows the same video.
        user, password = (cfg.web.user, cfg.web.password) if cfg.web.user else (cfg.rtsp.user, cfg.rtsp.password)
        ice = IceOptions(udp_port=cfg.web.ice_udp_port, stun=cfg.web.stun, turn=cfg.web.turn,
                         turn_user=cfg.web.turn_user, turn_password=cfg.web.turn_password)
        paths = WebPaths(cfg.state_dir, cfg.video_dir, cfg.images_dir, cfg.latest_dir)
        return cls(paths, port=cfg.web.port, address=cfg.web.address, ingest_port=0, path=cfg.rtsp.path,
                   user=user or None, password=password or None, ice=ice, ffmpeg=cfg.ffmpeg.path)

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

    def viewer_urls(self, hosts: Sequence[str]) -> list[str]:
        """The page at each host, or only at web.address when it is bound to one."""
        return [self.url(h) for h in (hosts if self.address in ("0.0.0.0", "::", "") else [self.address])]

    def ingest_url(self) -> str | None:
        """Where FFmpeg sends MPEG-TS for the live view (None: the page runs without live video)."""
        return None if self.ingest_port is None else f"tcp://127.0.0.1:{self.ingest_port}"

    def publish_url(self) -> str | None:
        """FFmpeg's MPEG-TS ingest into the media hub (see ingest_url)."""
        return self.ingest_url()

    def _launch(self) -> Launch:
        """Check aiohttp and the port, then run `python -m camstream.web`."""
        ok, why = available()
        if not ok:
            raise ServerError(f"web server: {why}")
        check_port_free(self.address, self.port, self.PORT_FIX)
        self.paths.state_dir.mkdir(parents=True, exist_ok=True)
        self._ready_line.clear()
        return Launch(self.argv(), env=self.env(), on_stdout_line=self._on_stdout)

    def _on_stdout(self, line: str) -> None:
        from camstream.web.server import READY_PREFIX

        if line.startswith(READY_PREFIX):
            self._ready_line.set()
        log.info("web: %s", line)

    def _ready(self) -> bool:
        """It prints "listening http://..." once the page is served."""
        return self._ready_line.is_set()

    def wait_ready(self, timeout: float = 10.0) -> None:
        """Only checks the process did not die at once: the page must not hold FFmpeg back.

        The supervisor starts FFmpeg once every server is ready; the web process (Python, aiohttp, GStreamer)
        is the slowest to come up on a loaded board and would delay RTSP, RTMP and recording by seconds. Its tee
        slave is isolated (fifo recovery, graph.py), so FFmpeg connects to the hub whenever it listens; a process
        that dies later is restarted by the supervisor like any server.
        """
        child = self.child
        if child is None:
            raise ServerError(f"the {self.label} was not started: call start() first")
        code = child.poll()
        if code is not None:
            raise self._exited(code, child.stop(0).tail)

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
        """Browser viewers right now, per protocol (webrtc, mse, ...); None when unknown."""
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

    def _stopped(self) -> None:
        """Remove the status file: a stopped server has no viewers."""
        try:
            self.status_file.unlink(missing_ok=True)
        except OSError:  # a read-only state directory: the process is stopped all the same
            pass
        self._ready_line.clear()


