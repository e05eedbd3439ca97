"""nginx with the RTMP module: render its config, run it as camstream's own child, read its /stat page."""

from __future__ import annotations

import ipaddress
import logging
import os
import signal
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from camstream import proc
from camstream.errors import CamstreamError, ConfigError, MissingToolError, PortInUseError, ServerError
from camstream.net import check_port_free, listening_socket, port_accepts, tcp_port_free
from camstream.servers.base import Launch, ManagedServer
from camstream.storage.atomic import write_atomic

if TYPE_CHECKING:
    import xml.etree.ElementTree as ET

    from camstream.config import Config

# The supervisor reads /stat for the RTMP viewer count, so the page is fetched over a plain socket: urllib.request
# (http.client, ssl) would cost it ~7 MB of RSS for the life of the run (issue 17); ElementTree, imported where
# /stat is parsed, costs 0.7 MB.

log = logging.getLogger(__name__)

DEFAULT_PORT = 1935
DEFAULT_STAT_PORT = 8089
DEFAULT_APP = "live"
DEFAULT_STREAM_KEY = "cam"
DEFAULT_DROP_IDLE_PUBLISHER = "10s"
# Kernel send buffer of every RTMP connection (the kernel doubles it): a player that stops reading fills it within a
# second or two and nginx's `timeout` starts; 256 kB still carries 20 Mbit/s over a 100 ms round trip, and nginx
# queues a moment's hiccup in its own out_queue. The builtin RTSP server bounds its viewers the same way.
PLAYER_SEND_BUFFER = 256 * 1024
# Where Debian / Raspberry Pi OS (libnginx-mod-rtmp) and other common layouts put the dynamic module.
RTMP_MODULE_CANDIDATES: tuple[str, ...] = (
    "/usr/lib/nginx/modules/ngx_rtmp_module.so",
    "/usr/lib64/nginx/modules/ngx_rtmp_module.so",
    "/usr/local/lib/nginx/modules/ngx_rtmp_module.so",
    "/usr/local/nginx/modules/ngx_rtmp_module.so",
)
RTMP_MODULE_HINT = "install it with `sudo apt install libnginx-mod-rtmp`"
# The only publisher camstream's managed server accepts by default is camstream's own FFmpeg.
# The rtmp block listens on IPv4 only (`listen <port>`), so ::1 would never match and is left out.
LOCAL_PUBLISHERS: tuple[str, ...] = ("127.0.0.1",)


def find_rtmp_module(candidates: Sequence[str] = RTMP_MODULE_CANDIDATES) -> str:
    """Absolute path of ngx_rtmp_module.so, else MissingToolError with the apt hint."""
    for path in candidates:
        if os.path.isfile(path):
            return path
    raise MissingToolError("ngx_rtmp_module.so", RTMP_MODULE_HINT)


def _publish_rules(allow_publish: Sequence[str] | str, indent: str) -> list[str]:
    """nginx-rtmp access rules for publishing: first matching rule wins (nginx-rtmp wiki, Directives: allow/deny)."""
    if isinstance(allow_publish, str):
        allow_publish = (allow_publish,)
    if not allow_publish:
        raise ConfigError("rtmp.allow_publish is empty: give 'all' or one or more addresses/networks")
    if "all" in allow_publish:
        return [f"{indent}allow publish all;"]
    lines = []
    for entry in allow_publish:
        try:
            ipaddress.ip_network(entry, strict=False)
        except ValueError:
            raise ConfigError(
                f"rtmp.allow_publish entry {entry!r} is not an address or network: use e.g. 127.0.0.1, 10.42.0.0/24 or all"
            ) from None
        lines.append(f"{indent}allow publish {entry};")
    lines.append(f"{indent}deny publish all;")
    return lines


def _check_port(port: int, setting: str) -> None:
    if not 1 <= port <= 65535:
        raise ConfigError(f"{setting} {port} is not a TCP port: use 1-65535")


def render_managed_conf(
    state_dir: str | os.PathLike[str],
    *,
    port: int = DEFAULT_PORT,
    stat_port: int = DEFAULT_STAT_PORT,
    app: str = DEFAULT_APP,
    allow_publish: Sequence[str] | str = LOCAL_PUBLISHERS,
    drop_idle_publisher: str = DEFAULT_DROP_IDLE_PUBLISHER,
    module_path: str | None = RTMP_MODULE_CANDIDATES[0],
) -> str:
    """nginx.conf for a camstream-managed nginx run as an ordinary user with `-p <state_dir> -c <conf>`."""
    _check_port(port, "rtmp.port")
    _check_port(stat_port, "rtmp.stat_port")
    if port == stat_port:
        raise ConfigError(f"rtmp.stat_port {stat_port} equals rtmp.port: give /stat its own port")
    state = os.path.abspath(state_dir)
    lines: list[str] = ["# Rendered by camstream for its managed nginx-rtmp; rewritten on every start."]
    if module_path:
        # Absolute path: a relative load_module resolves against the -p prefix (the state dir), not /usr/lib/nginx.
        lines += [f"load_module {module_path};", ""]
    lines += [
        # One worker: nginx-rtmp keeps live streams per worker, so with several workers a player may land on a
        # worker that has no publisher (nginx-rtmp README: "Multi-worker live streaming" needs rtmp_auto_push).
        "worker_processes 1;",
        f"pid {state}/nginx.pid;",
        # Debian builds nginx with paths under /var and /run that an ordinary user cannot write; everything
        # nginx writes goes into the state dir. The stderr copy lands in camstream's child log ring buffer.
        f"error_log {state}/logs/error.log info;",
        "error_log stderr warn;",
        "",
        "events {",
        "    worker_connections 256;",
        "}",
        "",
        "rtmp {",
        # nginx-rtmp's own access log defaults to the compiled-in /var/log/nginx/access.log (ngx_rtmp_log_module).
        f"    access_log {state}/logs/rtmp-access.log;",
        "",
        "    server {",
        f"        listen {port};",
        "        chunk_size 8192;",
        # A player that stops reading (or a vanished publisher) is dropped after 15 s of blocked writes, and
        # RTMP pings find dead peers within 15 s (nginx-rtmp Directives: timeout, ping, ping_timeout; the
        # defaults, 1 min and 3 min + 30 s, keep a half-open phone connection for minutes). Its buffers are
        # its own: other players and the publisher are not held up by it.
        "        timeout 15s;",
        "        ping 10s;",
        "        ping_timeout 5s;",
        "",
        f"        application {app} {{",
        "            live on;",
        "            record off;",
        # Close a publisher that stops sending audio/video, so a hung FFmpeg frees the stream name for its
        # restart (nginx-rtmp Directives: drop_idle_publisher).
        f"            drop_idle_publisher {drop_idle_publisher};",
        *_publish_rules(allow_publish, "            "),
        "            allow play all;",
        "        }",
        "    }",
        "}",
        "",
        "http {",
        f"    access_log {state}/logs/access.log;",
        f"    client_body_temp_path {state}/temp/client_body;",
        f"    proxy_temp_path {state}/temp/proxy;",
        f"    fastcgi_temp_path {state}/temp/fastcgi;",
        f"    uwsgi_temp_path {state}/temp/uwsgi;",
        f"    scgi_temp_path {state}/temp/scgi;",
        "",
        "    server {",
        f"        listen 127.0.0.1:{stat_port};",
        "        location /stat {",
        "            rtmp_stat all;",
        "        }",
        "    }",
        "}",
    ]
    return "\n".join(lines) + "\n"


def render_system_conf(*, port: int = DEFAULT_PORT, app: str = DEFAULT_APP) -> str:
    """The rtmp block for the system nginx (config/nginx/rtmp.conf): open to the LAN/hotspot, as the seed was."""
    _check_port(port, "rtmp.port")
    return f"""\
# RTMP endpoint for the system nginx, installed by scripts/install_rtmp_server.sh
# (or `camstream install-server nginx`). It must sit at the top level of nginx.conf,
# outside http {{ }}: the installer adds one `include` line for it to /etc/nginx/nginx.conf.
# Needs the RTMP module: sudo apt install libnginx-mod-rtmp (Debian loads it from
# /etc/nginx/modules-enabled/50-mod-rtmp.conf).
#
# Viewers: rtmp://<host-ip>:{port}/{app}/<stream-key>   (camstream's key is "cam")

rtmp {{
    server {{
        listen {port};
        chunk_size 8192;

        application {app} {{
            live on;
            record off;
            # Drop a publisher that stops sending media, so a restarted streamer can take the name again.
            drop_idle_publisher 10s;

            # SECURITY: anyone who can reach this port may PUBLISH (replace the picture) and play.
            # That suits a closed hotspot/LAN, like the original setup. To accept only a streamer running
            # on this machine, replace the next line with:
            #     allow publish 127.0.0.1;
            #     deny publish all;
            allow publish all;
            allow play all;
        }}
    }}
}}
"""


@dataclass
class RtmpStream:
    """One live stream on the server, from /stat."""

    app: str
    name: str
    publishing: bool
    viewers: int
    bytes_in: int
    bw_in: int
    codec: str | None = None
    width: int | None = None
    height: int | None = None


@dataclass
class RtmpStat:
    """What nginx-rtmp's /stat page says: its streams (publishers and viewer counts)."""

    streams: list[RtmpStream] = field(default_factory=list)

    def stream(self, name: str, app: str = DEFAULT_APP) -> RtmpStream | None:
        """The stream `app/name`, or None when nothing is published or played under that name."""
        for stream in self.streams:
            if stream.app == app and stream.name == name:
                return stream
        return None

    @property
    def viewers(self) -> int:
        """Players across all streams."""
        return sum(stream.viewers for stream in self.streams)


def _int(element: ET.Element | None, tag: str) -> int:
    text = element.findtext(tag) if element is not None else None
    try:
        return int(text) if text else 0
    except ValueError:
        return 0


def parse_stat(xml_text: str) -> RtmpStat:
    """Parse nginx-rtmp's `rtmp_stat all` XML (rtmp/server/application/live/stream/client)."""
    import xml.etree.ElementTree as ET

    try:
        root = ET.fromstring(xml_text)
    except ET.ParseError as exc:
        raise ServerError(f"nginx-rtmp /stat is not valid XML: {exc}") from None
    stat = RtmpStat()
    for application in root.iter("application"):
        app_name = application.findtext("name") or ""
        live = application.find("live")
        if live is None:
            continue
        for stream in live.findall("stream"):
            clients = stream.findall("client")
            video = stream.find("meta/video")
            width = _int(video, "width") or None
            height = _int(video, "height") or None
            stat.streams.append(
                RtmpStream(
                    app=app_name,
                    name=stream.findtext("name") or "",
                    publishing=stream.find("publishing") is not None,
                    viewers=sum(1 for client in clients if client.find("publishing") is None),
                    bytes_in=_int(stream, "bytes_in"),
                    bw_in=_int(stream, "bw_in"),
                    codec=(video.findtext("codec") if video is not None else None) or None,
                    width=width,
                    height=height,
                )
            )
    return stat


def _local_http_get(port: int, path: str, timeout: float) -> str:
    """The body of `GET http://127.0.0.1:<port><path>`; ValueError unless the answer is 200."""
    import socket

    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as conn:
        # HTTP/1.0: nginx answers without chunked encoding and closes, so the body is everything up to EOF.
        conn.sendall(f"GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n".encode())
        chunks = []
        while data := conn.recv(65536):
            chunks.append(data)
    head, _, body = b"".join(chunks).partition(b"\r\n\r\n")
    status = head.split(b"\r\n", 1)[0].decode("latin-1")
    if status.split()[1:2] != ["200"]:
        raise ValueError(f"answered {status or 'nothing'!r}")
    return body.decode("utf-8", errors="replace")


class NginxRtmpServer(ManagedServer):
    """camstream's own nginx-rtmp: config in `state_dir`, run in the foreground as a supervised child."""

    role = "rtmp"
    label = "nginx-rtmp"
    # If camstream dies, SIGTERM (not SIGKILL) reaches the master: nginx workers do not notice a killed
    # master and would keep the port, while a terminated master stops them first (nginx docs, "Controlling nginx").
    death_signal = signal.SIGTERM

    def __init__(
        self,
        state_dir: str | os.PathLike[str],
        *,
        port: int = DEFAULT_PORT,
        stat_port: int = DEFAULT_STAT_PORT,
        app: str = DEFAULT_APP,
        allow_publish: Sequence[str] | str = LOCAL_PUBLISHERS,
        drop_idle_publisher: str = DEFAULT_DROP_IDLE_PUBLISHER,
        nginx_path: str | None = None,
        module_path: str | None = None,
        stream_key: str = DEFAULT_STREAM_KEY,
    ) -> None:
        super().__init__()
        self.state_dir = Path(state_dir).absolute()
        self.port = port
        self.stat_port = stat_port
        self.app = app
        self.allow_publish = allow_publish
        self.drop_idle_publisher = drop_idle_publisher
        self.nginx_path = nginx_path
        self.module_path = module_path
        self.stream_key = stream_key

    @classmethod
    def wanted(cls, cfg: Config) -> bool:
        """RTMP on with rtmp.server=managed."""
        return cfg.rtmp.enabled and cfg.rtmp.server == "managed"

    @classmethod
    def from_config(cls, cfg: Config, *, dry_run: bool = False) -> NginxRtmpServer:
        """nginx-rtmp for rtmp.*, its config in <state_dir>/nginx."""
        if not dry_run:
            check_port_free("0.0.0.0", cfg.rtmp.port, "--rtmp-port or rtmp.port")
        allow: Sequence[str] | str = "all" if cfg.rtmp.allow_publish == "all" else LOCAL_PUBLISHERS
        return cls(cfg.state_dir / "nginx", port=cfg.rtmp.port, stat_port=cfg.rtmp.stat_port, allow_publish=allow,
                   stream_key=cfg.rtmp.stream_key)

    def files(self) -> dict[Path, str]:
        """nginx.conf."""
        return {self.conf_path: self.render()}

    @property
    def conf_path(self) -> Path:
        """Where the rendered nginx.conf is written."""
        return self.state_dir / "nginx.conf"

    @property
    def error_log(self) -> Path:
        """nginx's error log inside the state dir."""
        return self.state_dir / "logs" / "error.log"

    def argv(self, nginx: str) -> list[str]:
        """nginx in the foreground (`daemon off`) so camstream supervises it; prefix and config in the state dir."""
        return [nginx, "-p", f"{self.state_dir}/", "-c", str(self.conf_path), "-g", "daemon off;"]

    def render(self) -> str:
        """The nginx.conf this server runs with."""
        return render_managed_conf(
            self.state_dir,
            port=self.port,
            stat_port=self.stat_port,
            app=self.app,
            allow_publish=self.allow_publish,
            drop_idle_publisher=self.drop_idle_publisher,
            module_path=self.module_path or find_rtmp_module(),
        )

    def write_config(self) -> Path:
        """Render nginx.conf and create the log and temp dirs it names."""
        text = self.render()
        for sub in ("logs", "temp"):
            (self.state_dir / sub).mkdir(parents=True, exist_ok=True)
        return write_atomic(self.conf_path, text)

    def check_config(self, nginx: str) -> None:
        """`nginx -t` on the written config; ServerError with nginx's own words when it is rejected."""
        result = proc.run([*self.argv(nginx), "-t"], timeout=20)
        if result.returncode != 0:
            lines = [line for line in result.stderr.splitlines() if "[emerg]" in line or "[crit]" in line]
            detail = (lines or result.stderr.strip().splitlines() or ["no output"])[-1]
            raise ServerError(f"nginx rejected {self.conf_path}: {detail}")

    def _check_ports_free(self) -> None:
        if not tcp_port_free(self.port):
            raise PortInUseError(f"port {self.port} is already in use: choose another with --rtmp-port or rtmp.port")
        if not tcp_port_free(self.stat_port, "127.0.0.1"):
            raise PortInUseError(f"port {self.stat_port} is already in use: choose another with rtmp.stat_port")

    def _launch(self) -> Launch:
        """Check ports, write and test the config; nginx runs in the foreground on the RTMP socket we made."""
        nginx = proc.which("nginx", self.nginx_path)
        self._check_ports_free()
        self.write_config()
        self.check_config(nginx)
        # nginx-rtmp has no sndbuf setting, and Linux grows a player's send buffer up to tcp_wmem's maximum (4 MB)
        # while nginx's writes succeed: a player that stopped reading held that much and was only dropped once it
        # was full, ~35 s at 1 Mbit/s, before the `timeout` even started. So camstream binds the RTMP port itself
        # with a bounded SO_SNDBUF, which every accepted connection inherits, and nginx takes the socket over
        # through its NGINX environment variable (the inherited sockets of nginx's binary upgrade, "using
        # inherited sockets from" in its log; it matches the `listen` by address).
        sock = listening_socket("0.0.0.0", self.port, "--rtmp-port or rtmp.port", send_buffer=PLAYER_SEND_BUFFER)
        fd = sock.detach()
        return Launch(self.argv(nginx), env={"NGINX": f"{fd};"}, pass_fds=(fd,))

    def _ready(self) -> bool:
        """The RTMP and /stat ports accept connections."""
        return port_accepts(self.port) and port_accepts(self.stat_port)

    def _exited(self, code: int | None, tail: list[str]) -> CamstreamError:
        """A port taken between the check and the bind is the user's to fix (exit 2)."""
        if any("Address already in use" in line for line in tail):
            return PortInUseError(
                f"port {self.port} or {self.stat_port} is already in use: "
                "choose another with --rtmp-port / rtmp.port or rtmp.stat_port"
            )
        return super()._exited(code, tail)

    def url(self, host: str, key: str = DEFAULT_STREAM_KEY) -> str:
        """RTMP URL for publishing or playing `key` on `host`."""
        return f"rtmp://{host}:{self.port}/{self.app}/{key}"

    def viewer_urls(self, hosts: Sequence[str]) -> list[str]:
        """rtmp://<host>:<port>/live/<stream_key> for each host."""
        return [self.url(h, self.stream_key) for h in hosts]

    def publish_url(self) -> str:
        """camstream's FFmpeg publishes on this machine (only 127.0.0.1 may, by default)."""
        return self.url("127.0.0.1", self.stream_key)

    def stat_url(self) -> str:
        """The localhost /stat page."""
        return f"http://127.0.0.1:{self.stat_port}/stat"

    def stat(self, timeout: float = 3.0) -> RtmpStat:
        """Fetch and parse /stat: publishers, viewers and input rate per stream."""
        try:
            body = _local_http_get(self.stat_port, "/stat", timeout)
        except (OSError, ValueError) as exc:
            raise ServerError(f"nginx-rtmp /stat at {self.stat_url()} did not answer: {exc}") from None
        return parse_stat(body)

    def viewers(self) -> int | None:
        """RTMP players right now, from /stat (None while nginx is not running)."""
        if not self.running():
            return None
        # Short: the supervisor asks on every status write, and a hung nginx must not hold that up.
        return self.stat(timeout=0.5).viewers

    def ingest_bytes(self) -> int | None:
        """Bytes camstream's stream has published so far, from /stat (None while nothing is published)."""
        if not self.running():
            return None
        stream = self.stat(timeout=0.5).stream(self.stream_key, self.app)
        return stream.bytes_in if stream is not None and stream.publishing else None
