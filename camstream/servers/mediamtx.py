"""mediamtx as camstream's RTSP server: render a minimal mediamtx.yml, find the binary, run and watch it."""

from __future__ import annotations

import ipaddress
import json
import logging
import os
import re
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from camstream import proc
from camstream.errors import ConfigError, PortInUseError
from camstream.net import check_port_free, port_accepts, tcp_port_free, udp_port_free
from camstream.servers.base import Launch, ManagedServer
from camstream.storage.atomic import write_atomic

if TYPE_CHECKING:
    from camstream.config import Config

log = logging.getLogger(__name__)

# The one mediamtx release camstream renders its config for and installs. Every key below exists in
# this version's mediamtx.yml (rtspTransports replaced `protocols` in v1.11; authInternalUsers since v1.8).
MEDIAMTX_VERSION = "v1.15.6"
INSTALL_PATH = "/usr/local/bin/mediamtx"
DEFAULT_RTSP_PORT = 8554
DEFAULT_RTP_PORT = 8000
DEFAULT_API_PORT = 9997
DEFAULT_METRICS_PORT = 9998
DEFAULT_PATH = "live"
TRANSPORTS = ("udp", "tcp")
# Only camstream's own FFmpeg, on this machine, may publish.
LOCAL_PUBLISHERS: tuple[str, ...] = ("127.0.0.1", "::1")
# How camstream's FFmpeg publishes: RTSP over interleaved TCP, so no RTP packet of a keyframe is lost on the
# way in (RTP over loopback UDP was measured to drop slices of 720p keyframes; see issue 3).
PUBLISH_FFMPEG_ARGS: tuple[str, ...] = ("-f", "rtsp", "-rtsp_transport", "tcp")
PUBLISH_TEE_OPTIONS: dict[str, str] = {"f": "rtsp", "rtsp_transport": "tcp"}
_PATH_NAME = re.compile(r"[A-Za-z0-9_-]+")


def _q(value: str) -> str:
    """A YAML double-quoted scalar (JSON string syntax is valid YAML), so passwords with ':' or '#' survive."""
    return json.dumps(value)


def _check_port(port: int, setting: str) -> None:
    if not 1 <= port <= 65535:
        raise ConfigError(f"{setting} {port} is not a port: use 1-65535")


def render_mediamtx_yml(
    *,
    rtsp_port: int = DEFAULT_RTSP_PORT,
    rtp_port: int = DEFAULT_RTP_PORT,
    path: str = DEFAULT_PATH,
    transports: Sequence[str] = TRANSPORTS,
    reader_user: str | None = None,
    reader_pass: str | None = None,
    publishers: Sequence[str] = LOCAL_PUBLISHERS,
    api_port: int = DEFAULT_API_PORT,
    metrics_port: int = DEFAULT_METRICS_PORT,
    log_level: str = "info",
) -> str:
    """mediamtx.yml for MEDIAMTX_VERSION: RTSP only, `path` fed by a local publisher, API/metrics on localhost."""
    for port, setting in ((rtsp_port, "rtsp.port"), (rtp_port, "rtsp.rtp_port"), (api_port, "rtsp.api_port"),
                          (metrics_port, "rtsp.metrics_port")):
        _check_port(port, setting)
    # mediamtx requires an even RTP port with RTCP on the next one (RFC 3550 section 11 convention).
    if rtp_port % 2 or rtp_port + 1 > 65535:
        raise ConfigError(f"rtsp.rtp_port {rtp_port} must be even (RTCP uses the next port): e.g. 8000")
    if not transports or any(t not in TRANSPORTS for t in transports):
        raise ConfigError(f"rtsp.transports {list(transports)} is not allowed: use any of udp, tcp")
    if (reader_user is None) != (reader_pass is None) or reader_user == "":
        raise ConfigError("rtsp.reader_user and rtsp.reader_password go together: set both, or neither")
    if reader_user is not None and reader_user.lower() == "any":
        raise ConfigError("rtsp.reader_user 'any' means anonymous in mediamtx: choose another user name")
    if not _PATH_NAME.fullmatch(path):
        raise ConfigError(f"rtsp.path {path!r} is not a simple name: use letters, digits, - and _, e.g. live")
    for address in publishers:
        try:
            ipaddress.ip_network(address, strict=False)
        except ValueError:
            raise ConfigError(f"publisher address {address!r} is not an IP address or network") from None
    ips = ", ".join(f"'{address}'" for address in publishers)
    if reader_user is None:
        reader = ["  # Anyone who can reach the RTSP port may watch.", "- user: any", "  pass: ''", "  ips: []"]
    else:
        reader = [
            "  # Viewers must log in (RTSP basic auth).",
            f"- user: {_q(reader_user)}",
            f"  pass: {_q(reader_pass or '')}",
            "  ips: []",
        ]
    lines = [
        f"# Rendered by camstream for mediamtx {MEDIAMTX_VERSION}; rewritten on every start.",
        f"logLevel: {log_level}",
        "logDestinations: [stdout]",
        "",
        "authMethod: internal",
        "authInternalUsers:",
        "  # camstream's FFmpeg publishes from this machine; nobody else may publish.",
        "- user: any",
        "  pass: ''",
        f"  ips: [{ips}]",
        "  permissions:",
        "  - action: publish",
        f"    path: {path}",
        "  - action: api",
        "  - action: metrics",
        *reader,
        "  permissions:",
        "  - action: read",
        f"    path: {path}",
        "",
        "api: true",
        f"apiAddress: 127.0.0.1:{api_port}",
        "metrics: true",
        f"metricsAddress: 127.0.0.1:{metrics_port}",
        "pprof: false",
        "playback: false",
        "",
        "rtsp: true",
        f"rtspTransports: [{', '.join(transports)}]",
        f"rtspAddress: :{rtsp_port}",
        f"rtpAddress: :{rtp_port}",
        f"rtcpAddress: :{rtp_port + 1}",
        "",
        # camstream serves RTMP and SRT itself; mediamtx only does RTSP.
        "rtmp: false",
        "hls: false",
        "webrtc: false",
        "srt: false",
        "",
        "paths:",
        f"  {path}:",
        "    source: publisher",
    ]
    return "\n".join(lines) + "\n"


def find_mediamtx(configured_path: str | None = None) -> str | None:
    """The mediamtx binary: `configured_path` (MissingToolError if absent), else PATH or INSTALL_PATH, else None."""
    if configured_path:
        return proc.which("mediamtx", configured_path)
    found = shutil.which("mediamtx")
    if found:
        return found
    if os.path.isfile(INSTALL_PATH) and os.access(INSTALL_PATH, os.X_OK):
        return INSTALL_PATH
    return None


def installed_version(binary: str) -> str | None:
    """What `mediamtx --version` prints (e.g. v1.15.6), or None when it says nothing usable."""
    result = proc.run([binary, "--version"], timeout=10)
    text = (result.stdout or result.stderr).strip()
    return text.splitlines()[-1].strip() if result.returncode == 0 and text else None


def choose_rtsp_server(cfg: Config) -> str:
    """rtsp.server, with auto resolved: mediamtx when its binary is found, else builtin."""
    if cfg.rtsp.server != "auto":
        return cfg.rtsp.server
    return "mediamtx" if find_mediamtx(cfg.rtsp.mediamtx_path or None) else "builtin"


class MediamtxServer(ManagedServer):
    """A mediamtx child with camstream's rendered config in `state_dir`."""

    role = "rtsp"
    label = "mediamtx"

    def __init__(
        self,
        state_dir: str | os.PathLike[str],
        *,
        binary: str | None = None,
        rtsp_port: int = DEFAULT_RTSP_PORT,
        rtp_port: int = DEFAULT_RTP_PORT,
        path: str = DEFAULT_PATH,
        transports: Sequence[str] = TRANSPORTS,
        reader_user: str | None = None,
        reader_pass: str | None = None,
        api_port: int = DEFAULT_API_PORT,
        metrics_port: int = DEFAULT_METRICS_PORT,
    ) -> None:
        super().__init__()
        self.state_dir = Path(state_dir).absolute()
        self.binary = binary
        self.rtsp_port = rtsp_port
        self.rtp_port = rtp_port
        self.path = path
        self.transports = tuple(transports)
        self.reader_user = reader_user
        self.reader_pass = reader_pass
        self.api_port = api_port
        self.metrics_port = metrics_port

    @classmethod
    def wanted(cls, cfg: Config) -> bool:
        """RTSP on, and rtsp.server is mediamtx (or auto with mediamtx installed)."""
        return cfg.rtsp.enabled and choose_rtsp_server(cfg) == "mediamtx"

    @classmethod
    def from_config(cls, cfg: Config, *, dry_run: bool = False) -> MediamtxServer:
        """mediamtx for rtsp.*, its config in <state_dir>/mediamtx."""
        if not dry_run:
            check_port_free(cfg.rtsp.address, cfg.rtsp.port, "--rtsp-port or rtsp.port")
        return cls(cfg.state_dir / "mediamtx", binary=cfg.rtsp.mediamtx_path or None, rtsp_port=cfg.rtsp.port,
                   path=cfg.rtsp.path, reader_user=cfg.rtsp.user or None, reader_pass=cfg.rtsp.password or None)

    def files(self) -> dict[Path, str]:
        """mediamtx.yml."""
        return {self.conf_path: self.render()}

    @property
    def conf_path(self) -> Path:
        """Where mediamtx.yml is written."""
        return self.state_dir / "mediamtx.yml"

    def argv(self, binary: str) -> list[str]:
        """mediamtx takes its config file as the only argument."""
        return [binary, str(self.conf_path)]

    def render(self) -> str:
        """The mediamtx.yml this server runs with."""
        return render_mediamtx_yml(
            rtsp_port=self.rtsp_port,
            rtp_port=self.rtp_port,
            path=self.path,
            transports=self.transports,
            reader_user=self.reader_user,
            reader_pass=self.reader_pass,
            api_port=self.api_port,
            metrics_port=self.metrics_port,
        )

    def write_config(self) -> Path:
        """Write mediamtx.yml (mode 0600: it may hold the reader password)."""
        self.state_dir.mkdir(parents=True, exist_ok=True)
        return write_atomic(self.conf_path, self.render(), mode=0o600)

    def _check_ports_free(self) -> None:
        if not tcp_port_free(self.rtsp_port):
            raise PortInUseError(f"port {self.rtsp_port} is already in use: choose another with --rtsp-port or rtsp.port")
        for port in (self.rtp_port, self.rtp_port + 1):
            if "udp" in self.transports and not udp_port_free(port):
                raise PortInUseError(f"UDP port {port} is already in use: choose another pair with rtsp.rtp_port")
        for port, setting in ((self.api_port, "rtsp.api_port"), (self.metrics_port, "rtsp.metrics_port")):
            if not tcp_port_free(port):
                raise PortInUseError(f"port {port} is already in use: choose another with {setting}")

    def _launch(self) -> Launch:
        """Find the binary, check ports, write the config."""
        binary = self.binary or find_mediamtx() or proc.which("mediamtx")
        version = installed_version(binary)
        if version and version != MEDIAMTX_VERSION:
            log.warning("mediamtx %s found, camstream's config is written for %s", version, MEDIAMTX_VERSION)
        self._check_ports_free()
        self.write_config()
        return Launch(self.argv(binary), cwd=str(self.state_dir), on_stdout_line=self._log_line)

    def _log_line(self, line: str) -> None:
        log.debug("mediamtx: %s", line)

    def _ready(self) -> bool:
        """The RTSP port accepts connections."""
        return port_accepts(self.rtsp_port)

    def url(self, host: str) -> str:
        """The viewer URL on `host` (credentials are never put in it)."""
        return f"rtsp://{host}:{self.rtsp_port}/{self.path}"

    def viewer_urls(self, hosts: Sequence[str]) -> list[str]:
        """rtsp://<host>:<port>/<path> for each host."""
        return [self.url(h) for h in hosts]

    def publish_url(self) -> str:
        """Where camstream's FFmpeg publishes: localhost, with PUBLISH_FFMPEG_ARGS (RTSP over TCP)."""
        return f"rtsp://127.0.0.1:{self.rtsp_port}/{self.path}"
