"""Builtin RTSP server: gst-rtsp-server in its own process, fed by camstream's FFmpeg over local TCP.

Run by camstream as
    python -m camstream.servers.rtsp_builtin --address 0.0.0.0 --port 8554 --mount /live \
        --ingest-port <port> [--user U] [--status-file PATH]
with the password (when --user is given) in the environment variable CAMSTREAM_RTSP_PASSWORD,
so it never shows in `ps`. FFmpeg publishes MPEG-TS to tcp://127.0.0.1:<ingest-port>; the server
prints one line "listening rtsp://..." on stdout when both ports are open.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from camstream.errors import ConfigError, MissingToolError, ServerError
from camstream.net import check_port_free, free_port
from camstream.servers.base import Launch, ManagedServer
from camstream.servers.mediamtx import choose_rtsp_server
from camstream.storage.layout import RTSP_STATUS_FILE

if TYPE_CHECKING:
    from camstream.config import Config

log = logging.getLogger(__name__)

MODULE = "camstream.servers.rtsp_builtin"
PASSWORD_ENV = "CAMSTREAM_RTSP_PASSWORD"
STATUS_FILE_NAME = RTSP_STATUS_FILE
READY_PREFIX = "listening rtsp://"
# Printed by the server, once a second, while it cannot write or even touch its status file (a read-only state
# directory: an SD card that the kernel remounted read-only after errors), so camstream still sees it is alive.
HEARTBEAT_LINE = "alive"
# The server rewrites its status every second; older than this means it is not current.
STATUS_STALE_S = 5.0
# No new status for this long while the process lives: the server is hung and is restarted.
HUNG_S = 10.0

# Debian packages that provide what the server process imports and links.
APT_PACKAGES = (
    "gir1.2-gst-rtsp-server-1.0",
    "gir1.2-gst-plugins-base-1.0",
    "gstreamer1.0-plugins-base",
    "gstreamer1.0-plugins-good",
    "gstreamer1.0-plugins-bad",
)
# GStreamer elements the two pipelines use, and the package each comes from.
ELEMENTS = {
    "tcpserversrc": "gstreamer1.0-plugins-base",
    "appsrc": "gstreamer1.0-plugins-base",
    "appsink": "gstreamer1.0-plugins-base",
    "tsdemux": "gstreamer1.0-plugins-bad",
    "h264parse": "gstreamer1.0-plugins-bad",
    "rtph264pay": "gstreamer1.0-plugins-good",
    "aacparse": "gstreamer1.0-plugins-good",
    "rtpmp4gpay": "gstreamer1.0-plugins-good",
}


TYPELIBS = ("Gst-1.0", "GstApp-1.0", "GstRtsp-1.0", "GstRtspServer-1.0")


def _typelib_dirs() -> list[Path]:
    # Where gobject-introspection looks: $GI_TYPELIB_PATH, then its libdir (Debian: multiarch /usr/lib/<triplet>).
    dirs = [Path(d) for d in os.environ.get("GI_TYPELIB_PATH", "").split(os.pathsep) if d]
    for root in ("/usr/lib", "/usr/local/lib", "/usr/lib64"):
        dirs += sorted(Path(root).glob("*/girepository-1.0")) + [Path(root) / "girepository-1.0"]
    return [d for d in dirs if d.is_dir()]


def bindings_installed() -> tuple[bool, str]:
    """The supervisor's check before it plans a run: PyGObject and the typelibs, without loading GStreamer.

    Loading gi and GStreamer costs ~17 MB of RSS for the life of the process (issue 17); only the server process
    needs them, and it runs the full check (available(), plugins included) and exits 2 with its reason.
    """
    import importlib.util

    if importlib.util.find_spec("gi") is None:
        return available()  # says how to install PyGObject
    dirs = _typelib_dirs()
    if not dirs:
        return available()  # an unusual layout: ask GStreamer itself
    missing = [name for name in TYPELIBS if not any((d / f"{name}.typelib").exists() for d in dirs)]
    if missing:
        return False, f"GStreamer RTSP server bindings missing ({', '.join(missing)}): sudo apt install " \
                      f"{' '.join(APT_PACKAGES)}"
    return True, "PyGObject and the gst-rtsp-server bindings are installed"


def available() -> tuple[bool, str]:
    """Whether this Python can run the builtin server; when not, the reason and what to install."""
    try:
        import gi
    except ImportError:
        return False, (
            "PyGObject is not installed: pip install 'camstream[rtsp]' "
            "(building it needs `sudo apt install libgirepository1.0-dev libcairo2-dev pkg-config`)"
        )
    try:
        gi.require_version("Gst", "1.0")
        gi.require_version("GstApp", "1.0")
        gi.require_version("GstRtspServer", "1.0")
        from gi.repository import Gst, GstApp, GstRtspServer  # noqa: F401
    except (ValueError, ImportError) as exc:
        return False, f"GStreamer RTSP server bindings missing ({exc}): sudo apt install {' '.join(APT_PACKAGES)}"
    ok, _argv = Gst.init_check(None)
    if not ok:
        return False, "GStreamer failed to initialise"
    missing = sorted({pkg for name, pkg in ELEMENTS.items() if Gst.ElementFactory.find(name) is None})
    if missing:
        return False, f"GStreamer plugins missing: sudo apt install {' '.join(missing)}"
    return True, f"GStreamer {Gst.version_string()} with gst-rtsp-server"


def server_argv(
    python: str,
    *,
    address: str,
    port: int,
    mount: str,
    ingest_port: int,
    user: str | None = None,
    status_file: str | None = None,
    audio: bool = False,
) -> list[str]:
    """The command line that runs the server process (pure)."""
    argv = [python, "-m", MODULE, "--address", address, "--port", str(port), "--mount", mount]
    argv += ["--ingest-port", str(ingest_port)]
    if user is not None:
        argv += ["--user", user]
    if status_file is not None:
        argv += ["--status-file", status_file]
    if audio:
        argv += ["--audio"]
    return argv


class BuiltinRtspServer(ManagedServer):
    """camstream's handle on the builtin RTSP server process: start, wait until ready, watch, stop."""

    role = "rtsp"
    label = "builtin RTSP server"
    RTSP_PORT_FIX = "--rtsp-port or rtsp.port"
    INGEST_PORT_FIX = "rtsp.ingest_port (0 picks a free port)"

    def __init__(
        self,
        port: int = 8554,
        mount: str = "/live",
        ingest_port: int = 0,
        address: str = "0.0.0.0",
        user: str | None = None,
        password: str | None = None,
        state_dir: str | os.PathLike[str] | None = None,
        python: str = sys.executable,
        audio: bool = False,
    ) -> None:
        super().__init__()
        if not mount.startswith("/") or mount == "/":
            raise ConfigError(f"RTSP mount {mount!r} is not valid: use a path like /live (rtsp.mount)")
        if (user is None) != (password is None):
            raise ConfigError("RTSP user and password must be set together: set both rtsp.user and rtsp.password")
        self.port = port
        self.mount = mount
        self.ingest_port = ingest_port
        self.address = address
        self.user = user
        self.password = password
        self.python = python
        self.audio = audio
        self.status_file = str(Path(state_dir) / STATUS_FILE_NAME) if state_dir is not None else None
        self._ready_line = threading.Event()
        self._last_stamp: object = None
        self._stamp_seen_at: float | None = None
        self._heartbeat = 0  # HEARTBEAT_LINEs seen so far

    @classmethod
    def wanted(cls, cfg: Config) -> bool:
        """RTSP on, and rtsp.server is builtin (or auto without mediamtx)."""
        return cfg.rtsp.enabled and choose_rtsp_server(cfg) == "builtin"

    @classmethod
    def from_config(cls, cfg: Config, *, dry_run: bool = False) -> BuiltinRtspServer:
        """The server for rtsp.*; its ingest port is picked now so the FFmpeg argv can name it."""
        ok, why = bindings_installed()  # not available(): that loads GStreamer into the supervisor
        if not ok:
            raise ConfigError(f"rtsp.server=builtin: {why}")
        if not dry_run:
            check_port_free(cfg.rtsp.address, cfg.rtsp.port, cls.RTSP_PORT_FIX)
        return cls(port=cfg.rtsp.port, mount="/" + cfg.rtsp.path, ingest_port=free_port(), address=cfg.rtsp.address,
                   user=cfg.rtsp.user or None, password=cfg.rtsp.password or None, state_dir=cfg.state_dir,
                   audio=cfg.audio.enabled)

    def argv(self) -> list[str]:
        """The server's command line (pure; the password travels in the environment)."""
        return server_argv(
            self.python,
            address=self.address,
            port=self.port,
            mount=self.mount,
            ingest_port=self.ingest_port,
            user=self.user,
            status_file=self.status_file,
            audio=self.audio,
        )

    def env(self) -> dict[str, str]:
        """Environment additions for the server process."""
        # Import the same camstream as this process, installed or run from a checkout.
        root = str(Path(__file__).resolve().parents[2])
        paths = [root] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p and p != root]
        env = {"PYTHONPATH": os.pathsep.join(paths)}
        if self.password is not None:
            env[PASSWORD_ENV] = self.password
        return env

    def url(self, host: str) -> str:
        """The URL a viewer on `host` opens (no credentials in it)."""
        return f"rtsp://{host}:{self.port}{self.mount}"

    def viewer_urls(self, hosts: Sequence[str]) -> list[str]:
        """rtsp://<host>:<port>/<path> for each host."""
        return [self.url(h) for h in hosts]

    def ingest_url(self) -> str:
        """Where FFmpeg publishes MPEG-TS (known once the ingest port is chosen, i.e. after start() when 0)."""
        if self.ingest_port == 0:
            raise ServerError("the builtin RTSP server has no ingest port yet: call start() first")
        return f"tcp://127.0.0.1:{self.ingest_port}"

    def publish_url(self) -> str:
        """FFmpeg's MPEG-TS ingest (see ingest_url)."""
        return self.ingest_url()

    def _launch(self) -> Launch:
        """Check the bindings and both ports, then run `python -m camstream.servers.rtsp_builtin`."""
        ok, why = bindings_installed()
        if not ok:
            raise MissingToolError("gst-rtsp-server for Python", why)
        check_port_free(self.address, self.port, self.RTSP_PORT_FIX)
        if self.ingest_port == 0:
            self.ingest_port = free_port()
        else:
            check_port_free("127.0.0.1", self.ingest_port, self.INGEST_PORT_FIX)
        if self.status_file is not None:
            Path(self.status_file).parent.mkdir(parents=True, exist_ok=True)
        self._ready_line.clear()
        return Launch(self.argv(), env=self.env(), on_stdout_line=self._on_stdout, on_stderr_line=self._on_stderr)

    def _on_stdout(self, line: str) -> None:
        if line == HEARTBEAT_LINE:
            self._heartbeat += 1  # not logged: one a second
            return
        if line.startswith(READY_PREFIX):
            self._ready_line.set()
        log.info("rtsp-server: %s", line)

    def _on_stderr(self, line: str) -> None:
        # The server's warnings (a viewer dropped for being too slow, ingest errors) belong in camstream's log,
        # one line each; everything else stays in the stderr ring buffer for error reports.
        level, _, rest = line.partition(" ")
        if level in ("WARNING", "ERROR", "CRITICAL"):
            log.warning("rtsp-server: %s", rest.partition(": ")[2] or rest)

    def hung(self, now: float | None = None) -> str | None:
        """Why the running server counts as hung (its status file stopped changing for HUNG_S), else None.

        The server rewrites its status every second from its main loop; when that stops, the loop is stuck
        (deadlock, SIGSTOP) and no viewer is served. Judged on the monotonic clock, so a wall-clock jump
        (NTP after boot without an RTC) is never mistaken for a hang. The file's mtime counts as a sign of life
        too: when the state directory is full the server cannot rewrite the file, only touch it; and when it
        cannot even do that (read-only), the heartbeat lines it prints on stdout.
        """
        now = time.monotonic() if now is None else now
        st = self.status()
        stamp = (st.get("updated_at") if st else None, _mtime_ns(self.status_file), self._heartbeat)
        if stamp != self._last_stamp or self._stamp_seen_at is None:
            self._last_stamp, self._stamp_seen_at = stamp, now
            return None
        if now - self._stamp_seen_at > HUNG_S:
            self._stamp_seen_at = None  # judged once per hang; the restart starts a fresh watch
            return f"hung (no status for {HUNG_S:g} s)"
        return None

    def _ready(self) -> bool:
        """It prints "listening rtsp://..." once both ports are open."""
        return self._ready_line.is_set()

    def status(self) -> dict[str, object] | None:
        """The last status the server wrote, or None when there is none (not running, or not yet)."""
        if self.status_file is None:
            return None
        return read_status(self.status_file)

    def viewers(self) -> int | None:
        """Viewers playing right now (None when unknown: not running, or no fresh status)."""
        st = self._fresh_status()
        viewers = st.get("viewers") if st is not None else None
        return viewers if isinstance(viewers, int) else None

    def ingest_bytes(self) -> int | None:
        """Bytes of the encode the server has received since it started (None when unknown or not current)."""
        st = self._fresh_status()
        value = st.get("ingest_bytes") if st is not None else None
        return value if isinstance(value, int) else None

    def _fresh_status(self) -> dict[str, object] | None:
        st = self.status() if self.running() else None
        updated = st.get("updated_at") if st is not None else None
        if not isinstance(updated, (int, float)) or time.time() - updated > STATUS_STALE_S:
            return None  # the server stopped writing: its counts are not current
        return st

    def _stopped(self) -> None:
        """Remove the status file: a stopped server has no viewers."""
        if self.status_file is not None:
            try:
                Path(self.status_file).unlink(missing_ok=True)
            except OSError:  # a read-only state directory: the process is stopped all the same
                pass
        self._ready_line.clear()


def _mtime_ns(path: str | os.PathLike[str] | None) -> int | None:
    """The file's modification time in ns, None when there is no such file."""
    if path is None:
        return None
    try:
        return os.stat(path).st_mtime_ns
    except OSError:
        return None


def read_status(path: str | os.PathLike[str]) -> dict[str, object] | None:
    """The JSON status a server wrote at `path`, or None if missing or unreadable."""
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def parse_args(args: Sequence[str] | None = None) -> argparse.Namespace:
    """Command-line flags of the server process."""
    parser = argparse.ArgumentParser(prog=f"python -m {MODULE}", description="camstream's builtin RTSP server")
    parser.add_argument("--address", default="0.0.0.0", help="address to serve RTSP on (default 0.0.0.0)")
    parser.add_argument("--port", type=int, default=8554, help="RTSP port (default 8554)")
    parser.add_argument("--mount", default="/live", help="path of the stream (default /live)")
    parser.add_argument("--ingest-port", type=int, required=True, help="local TCP port FFmpeg sends MPEG-TS to")
    parser.add_argument("--user", help=f"require this user; the password is read from ${PASSWORD_ENV}")
    parser.add_argument("--status-file", help="write JSON status here every second")
    parser.add_argument("--audio", action="store_true", help="the ingest carries AAC too: serve it as a second stream")
    parser.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    ns = parser.parse_args(args)
    if not ns.mount.startswith("/") or ns.mount == "/":
        parser.error(f"--mount {ns.mount!r}: use a path like /live")
    if ns.user is not None and PASSWORD_ENV not in os.environ:
        parser.error(f"--user needs the password in ${PASSWORD_ENV}")
    return ns


def main(args: Sequence[str] | None = None) -> int:
    """Entry point of the server process."""
    ns = parse_args(args)
    # gi imports asyncio, and asyncio imports ssl when it can: libssl and libcrypto, ~4.5 MB of RSS in this
    # process, which speaks no TLS. asyncio runs without ssl (it treats ImportError as "no TLS"); a None entry in
    # sys.modules makes that import fail (Python reference, "The module cache"). Issue 17: server <= 35 MB.
    sys.modules.setdefault("ssl", None)  # type: ignore[arg-type]
    logging.basicConfig(level=ns.log_level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    ok, why = available()
    if not ok:
        print(f"error: {why}", file=sys.stderr)
        return 2
    from camstream.servers import rtsp_gst  # needs gi: imported only in this process

    settings = rtsp_gst.Settings(
        address=ns.address,
        port=ns.port,
        mount=ns.mount,
        ingest_port=ns.ingest_port,
        user=ns.user,
        password=os.environ.get(PASSWORD_ENV) if ns.user is not None else None,
        status_file=ns.status_file,
        audio=ns.audio,
    )
    return rtsp_gst.serve(settings)


if __name__ == "__main__":
    sys.exit(main())
