"""The web server process: the page, the JSON API, /metrics and (through MediaHub) the live video.

Run by camstream as
    python -m camstream.web --address 0.0.0.0 --port 8080 --state-dir D --video-dir V --images-dir I \
        --latest-dir L [--ingest-port P --path live] [--user U] [--ice-udp-port N] [--stun URL] [--turn URL ...]
with the password (when --user is given) in $CAMSTREAM_WEB_AUTH_PASSWORD and the TURN password in
$CAMSTREAM_WEB_TURN_PASSWORD, so neither shows in `ps`. FFmpeg publishes MPEG-TS to tcp://127.0.0.1:<ingest-port>
(the media hub listens there). The process prints one line "listening http://..." on stdout once it serves, and
rewrites a JSON status file (viewers by protocol, ingest bytes) every second, like the builtin RTSP server.

aiohttp is the HTTP server: asyncio, WebSockets built in, Range requests for files, one small dependency that the
WHEP signalling and the TCP fallback share with the page and the API.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import binascii
import hmac
import importlib
import json
import logging
import os
import signal
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from aiohttp import web

from camstream.storage.atomic import write_atomic
from camstream.web import api

log = logging.getLogger("camstream.web")

MODULE = "camstream.web"
PASSWORD_ENV = "CAMSTREAM_WEB_AUTH_PASSWORD"
TURN_PASSWORD_ENV = "CAMSTREAM_WEB_TURN_PASSWORD"
STATUS_FILE_NAME = "web.json"
READY_PREFIX = "listening http://"
REALM = "camstream"
STATIC_DIR = Path(__file__).resolve().parent / "static"
STATUS_PERIOD_S = 1.0

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class Credentials:
    """HTTP Basic user and password every route requires."""

    user: str
    password: str

    def accepts(self, header: str | None) -> bool:
        """True when an Authorization header carries exactly these credentials (constant-time compare)."""
        if not header or not header.startswith("Basic "):
            return False
        try:
            decoded = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return False
        user, sep, password = decoded.partition(":")
        ok_user = hmac.compare_digest(user.encode(), self.user.encode())
        ok_pass = hmac.compare_digest(password.encode(), self.password.encode())
        return bool(sep) and ok_user and ok_pass


def auth_middleware(creds: Credentials) -> Any:
    """Every request (page, API, metrics, WHEP, media WebSocket) needs the credentials; else 401."""

    @web.middleware
    async def check(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not creds.accepts(request.headers.get("Authorization")):
            return web.Response(status=401, text="authentication required\n",
                                headers={"WWW-Authenticate": f'Basic realm="{REALM}", charset="UTF-8"'})
        return await handler(request)

    return check


@web.middleware
async def no_cache(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Live data must never come from a cache (a phone's browser caches aggressively)."""
    response = await handler(request)
    response.headers.setdefault("Cache-Control", "no-store")
    return response


@dataclass
class Settings:
    """What the server process was asked to do (from its flags and environment)."""

    address: str = "0.0.0.0"
    port: int = 8080
    state_dir: Path = Path(".")
    video_dir: Path = Path("video")
    images_dir: Path = Path("images")
    latest_dir: Path = Path("drone_temp")
    ffmpeg: str = "ffmpeg"
    ingest_port: int | None = None
    path: str = "live"
    credentials: Credentials | None = None
    ice: dict[str, Any] = field(default_factory=dict)
    profile: str = ""
    status_file: Path | None = None


def server_argv(
    python: str,
    *,
    address: str,
    port: int,
    state_dir: str,
    video_dir: str,
    images_dir: str,
    latest_dir: str,
    ffmpeg: str = "ffmpeg",
    ingest_port: int | None = None,
    path: str = "live",
    user: str | None = None,
    ice_udp_port: int = 0,
    stun: str = "",
    turn: str = "",
    turn_user: str = "",
    profile: str = "",
    status_file: str | None = None,
) -> list[str]:
    """The command line that runs the web server process (pure; passwords travel in the environment)."""
    argv = [python, "-m", MODULE, "--address", address, "--port", str(port), "--state-dir", state_dir,
            "--video-dir", video_dir, "--images-dir", images_dir, "--latest-dir", latest_dir, "--ffmpeg", ffmpeg]
    if ingest_port is not None:
        argv += ["--ingest-port", str(ingest_port), "--path", path]
    if user is not None:
        argv += ["--user", user]
    if ice_udp_port:
        argv += ["--ice-udp-port", str(ice_udp_port)]
    if stun:
        argv += ["--stun", stun]
    if turn:
        argv += ["--turn", turn]
        if turn_user:
            argv += ["--turn-user", turn_user]
    if profile:
        argv += ["--profile", profile]
    if status_file is not None:
        argv += ["--status-file", status_file]
    return argv


def parse_args(args: Sequence[str] | None = None, env: dict[str, str] | None = None) -> Settings:
    """Flags and environment of the server process -> Settings (argparse exits 2 on bad flags)."""
    env = dict(os.environ) if env is None else env
    parser = argparse.ArgumentParser(prog=f"python -m {MODULE}", description="camstream's web view")
    parser.add_argument("--address", default="0.0.0.0", help="address to listen on (default 0.0.0.0)")
    parser.add_argument("--port", type=int, default=8080, help="HTTP port (default 8080)")
    parser.add_argument("--state-dir", type=Path, required=True, help="camstream's state directory (status.json)")
    parser.add_argument("--video-dir", type=Path, required=True, help="where MP4 chunks are")
    parser.add_argument("--images-dir", type=Path, required=True, help="where JPEG snapshots are")
    parser.add_argument("--latest-dir", type=Path, required=True, help="where latest_image.jpg is")
    parser.add_argument("--ffmpeg", default="ffmpeg", help="ffmpeg binary for exports")
    parser.add_argument("--ingest-port", type=int, help="local TCP port FFmpeg sends MPEG-TS to (live video)")
    parser.add_argument("--path", default="live", help="stream path: WHEP is at /<path>/whep (default live)")
    parser.add_argument("--user", help=f"require this user; the password is read from ${PASSWORD_ENV}")
    parser.add_argument("--ice-udp-port", type=int, default=0, help="fixed UDP port for WebRTC media")
    parser.add_argument("--stun", default="", help="STUN server URL (stun:host:port)")
    parser.add_argument("--turn", default="", help="TURN server URL (turn:host:port)")
    parser.add_argument("--turn-user", default="", help=f"TURN user; the password is read from ${TURN_PASSWORD_ENV}")
    parser.add_argument("--profile", default="", help="the H.264 profile in use, shown on the page")
    parser.add_argument("--status-file", type=Path, help="write JSON status here every second")
    parser.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    ns = parser.parse_args(args)
    if ns.user is not None and PASSWORD_ENV not in env:
        parser.error(f"--user needs the password in ${PASSWORD_ENV}")
    if not 1 <= ns.port <= 65535:
        parser.error(f"--port {ns.port}: expected 1-65535")
    logging.basicConfig(level=ns.log_level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    creds = Credentials(ns.user, env[PASSWORD_ENV]) if ns.user is not None else None
    ice = {"udp_port": ns.ice_udp_port or None, "stun": ns.stun or None, "turn": ns.turn or None,
           "turn_user": ns.turn_user or None, "turn_password": env.get(TURN_PASSWORD_ENV) or None}
    return Settings(address=ns.address, port=ns.port, state_dir=ns.state_dir, video_dir=ns.video_dir,
                    images_dir=ns.images_dir, latest_dir=ns.latest_dir, ffmpeg=ns.ffmpeg,
                    ingest_port=ns.ingest_port, path=ns.path.strip("/"), credentials=creds, ice=ice,
                    profile=ns.profile, status_file=ns.status_file)


def make_hub(settings: Settings) -> Any | None:
    """The live-video hub (camstream.web.media.MediaHub) for the ingest port, or None without live video."""
    if settings.ingest_port is None:
        return None
    try:
        media = importlib.import_module("camstream.web.media")
    except ImportError as exc:  # the media module needs GStreamer's webrtcbin through PyGObject
        log.warning("live video off: %s", exc)
        return None
    try:
        return media.MediaHub(settings.ingest_port, path=settings.path, ice=media.IceSettings(**hub_ice(settings.ice)))
    except ValueError as exc:  # e.g. a stream path of several segments, which WHEP URLs here do not take
        log.warning("live video off: %s", exc)
        return None


def _webrtcbin_url(uri: str, user: str | None = None, password: str | None = None) -> str:
    """An RFC 7064/7065 URI (stun:host:port, turn:host:port) as webrtcbin's stun-server/turn-server property wants
    it: stun://host:port, turn://user:password@host:port (GStreamer webrtcbin properties)."""
    scheme, _, rest = uri.partition(":")
    rest = rest.split("?", 1)[0]
    auth = f"{quote(user or '', safe='')}:{quote(password or '', safe='')}@" if user else ""
    return f"{scheme}://{auth}{rest}"


def hub_ice(ice: dict[str, Any]) -> dict[str, Any]:
    """web.* ICE settings -> MediaHub's IceSettings fields (udp_port, stun_server, turn_server)."""
    out: dict[str, Any] = {}
    if ice.get("udp_port"):
        out["udp_port"] = int(ice["udp_port"])
    if ice.get("stun"):
        out["stun_server"] = _webrtcbin_url(ice["stun"])
    if ice.get("turn"):
        out["turn_server"] = _webrtcbin_url(ice["turn"], ice.get("turn_user"), ice.get("turn_password"))
    return out


def browser_ice_servers(ice: dict[str, Any]) -> list[dict[str, str]]:
    """The same STUN/TURN servers as RTCIceServer entries for the page's RTCPeerConnection (remote viewers)."""
    servers: list[dict[str, str]] = []
    if ice.get("stun"):
        servers.append({"urls": ice["stun"]})
    if ice.get("turn"):
        entry = {"urls": ice["turn"]}
        if ice.get("turn_user"):
            entry.update(username=ice["turn_user"], credential=ice.get("turn_password") or "")
        servers.append(entry)
    return servers


def hub_stats(hub: Any | None) -> dict[str, Any]:
    """MediaHub.stats() as a plain dict ({} without a hub, or when it fails)."""
    if hub is None:
        return {}
    try:
        stats = hub.stats()
    except Exception as exc:  # the status page must not die with the media
        log.debug("media stats failed: %s", exc)
        return {}
    return stats if isinstance(stats, dict) else {}


def viewers_by_protocol(stats: dict[str, Any]) -> dict[str, int]:
    """Browser viewers per protocol from MediaHub.stats(): its `viewers` mapping, else its per-protocol counts."""
    viewers = stats.get("viewers")
    if isinstance(viewers, dict):
        return {str(k): int(v) for k, v in viewers.items() if isinstance(v, int) and not isinstance(v, bool)}
    out = {}
    for key in ("webrtc", "ws", "mse", "hls"):
        value = stats.get(key)
        if isinstance(value, int) and not isinstance(value, bool):
            out[key] = value
        elif isinstance(value, dict) and isinstance(value.get("viewers"), int):
            out[key] = int(value["viewers"])
    return out


def ingest_bytes(stats: dict[str, Any]) -> int | None:
    """Bytes of MPEG-TS the hub received so far, when it counts them."""
    for key in ("ingest_bytes", "bytes_in", "bytes_received"):
        value = stats.get(key)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return None


class MediaGate:
    """The hub's state: its routes answer 503 (retry) while it starts, so the page is served at once."""

    def __init__(self, hub: Any | None) -> None:
        self.hub = hub
        self.state = "off" if hub is None else "starting"

    def live(self) -> bool:
        """Live video is (or is about to be) available."""
        return self.state != "off"

    def started(self) -> Any | None:
        """The hub once it runs, else None."""
        return self.hub if self.state == "on" else None

    def middleware(self, path: str) -> Any:
        """Media requests wait for the hub: 503 with Retry-After while it starts, 404 when it is off."""
        prefix = f"/{path}/"

        @web.middleware
        async def gate(request: web.Request, handler: Handler) -> web.StreamResponse:
            if request.path.startswith(prefix) and self.state != "on":
                if self.state == "starting":
                    return web.Response(status=503, text="live video is starting\n", headers={"Retry-After": "1"})
                return web.Response(status=404, text="no live video on this run\n")
            return await handler(request)

        return gate


def build_app(settings: Settings, hub: Any | None = None, gate: MediaGate | None = None) -> web.Application:
    """The aiohttp application: auth (when set), the API, /metrics, the page, and the hub's media routes."""
    gate = gate or MediaGate(hub)
    middlewares = [no_cache, gate.middleware(settings.path)]
    if settings.credentials is not None:
        middlewares.insert(0, auth_middleware(settings.credentials))
    app = web.Application(middlewares=middlewares)
    ctx = api.Context(state_dir=settings.state_dir, video_dir=settings.video_dir, images_dir=settings.images_dir,
                      latest_dir=settings.latest_dir, ffmpeg=settings.ffmpeg, profile=settings.profile,
                      path=settings.path, live=gate.live, stats=lambda: hub_stats(gate.started()),
                      ice_servers=browser_ice_servers(settings.ice))
    app.add_routes(api.routes(ctx))
    if hub is not None:
        app.add_routes(hub.routes())

    async def index(request: web.Request) -> web.StreamResponse:
        return web.FileResponse(STATIC_DIR / "index.html")

    app.router.add_get("/", index)
    app.router.add_static("/static/", STATIC_DIR, follow_symlinks=False)
    return app


def write_status(path: Path, hub: Any | None, started_at: float) -> None:
    """The status file camstream's supervisor reads (replaced atomically, so it never reads half a file)."""
    stats = hub_stats(hub)
    data = {"pid": os.getpid(), "updated_at": time.time(), "started_at": started_at, "live": hub is not None,
            "viewers_by_protocol": viewers_by_protocol(stats), "ingest_bytes": ingest_bytes(stats), "media": stats}
    try:
        write_atomic(path, json.dumps(data, default=str))
    except OSError as exc:
        log.debug("status file %s: %s", path, exc)


async def serve(settings: Settings) -> int:
    """Run until SIGTERM/SIGINT: start the hub, listen, announce, keep the status file fresh, clean up."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    hub = make_hub(settings)
    gate = MediaGate(hub)
    runner = web.AppRunner(build_app(settings, hub, gate), access_log=None, handle_signals=False)
    await runner.setup()
    try:
        site = web.TCPSite(runner, settings.address, settings.port, reuse_address=True)
        try:
            await site.start()
        except OSError as exc:
            print(f"error: cannot listen on {settings.address}:{settings.port}: {exc.strerror}: "
                  "choose another with --web-port or web.address", file=sys.stderr)
            return 2
        host = "127.0.0.1" if settings.address in ("0.0.0.0", "::") else settings.address
        # Ready as soon as the page is served; the hub (GStreamer, a second or two on a loaded board) starts next,
        # and FFmpeg's isolated tee slave connects to its ingest once it listens (fifo recovery, graph.py).
        print(f"{READY_PREFIX}{host}:{settings.port}/", flush=True)
        started = time.time()
        if hub is not None:
            try:
                await hub.start()
                gate.state = "on"
            except Exception as exc:
                log.warning("live video off: the media hub did not start: %s", exc)
                gate.state = "off"
        while not stop.is_set():
            if settings.status_file is not None:
                write_status(settings.status_file, gate.started(), started)
            try:
                await asyncio.wait_for(stop.wait(), STATUS_PERIOD_S)
            except TimeoutError:
                pass
    finally:
        running_hub = gate.started()
        if running_hub is not None:
            try:
                await running_hub.stop()
            except Exception as exc:
                log.warning("media hub stop failed: %s", exc)
        await runner.cleanup()
        if settings.status_file is not None:
            settings.status_file.unlink(missing_ok=True)
    return 0


def main(args: Sequence[str] | None = None) -> int:
    """Entry point of the server process."""
    settings = parse_args(args)
    return asyncio.run(serve(settings))
