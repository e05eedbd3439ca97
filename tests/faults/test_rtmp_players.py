"""A stalled RTMP player (connects to nginx-rtmp, completes play, then stops reading: a phone whose app froze, a
player behind a dead link) is dropped by nginx's send timeout, and nobody else notices: an RTSP UDP, an RTSP TCP
and an RTMP viewer (real FFmpeg clients) keep >= 95% of the frames all along.

The stalled player is a real FFmpeg RTMP client behind a small TCP relay: the relay passes the handshake, connect
and play through, then stops reading from nginx (its receive buffer is 4 kB, so nginx's writes block at once) and
the player behind it is killed, leaving nginx a half-alive connection, exactly what a frozen phone leaves.
nginx runs on a listening socket camstream made with a bounded send buffer, so the timeout starts within seconds.
"""

from __future__ import annotations

import socket
import threading
import time
import urllib.request
from pathlib import Path

from _clients import Viewer, Window
from camstream.servers.nginx_rtmp import PLAYER_SEND_BUFFER, parse_stat
from support import Camstream, free_port

FPS = 25
BITRATE = 1_000_000
MIN_FAULT_SECONDS = 20
SEND_TIMEOUT_S = 15  # nginx-rtmp `timeout` in camstream/servers/nginx_rtmp.py


def _drop_bound() -> float:
    """Seconds nginx may take to drop a player that stopped reading: its writes block once the player's kernel send
    buffer is full (camstream bounds it: PLAYER_SEND_BUFFER, doubled by the kernel; left to Linux it grew to
    tcp_wmem's 4 MB, ~35 s at this bitrate), then the send timeout runs. Plus a margin."""
    return 2 * PLAYER_SEND_BUFFER / (BITRATE / 8) + SEND_TIMEOUT_S + 10


class StallingRelay:
    """Listens on a local port and relays one connection to nginx until `stall()`; then never reads again."""

    def __init__(self, upstream_port: int) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.upstream = socket.socket()
        self.upstream.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # before connect (socket(7))
        self.upstream.connect(("127.0.0.1", upstream_port))
        self.relayed = 0
        self._stalled = threading.Event()
        self._threads: list[threading.Thread] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        client, _ = self.listener.accept()
        self.client = client
        for src, dst, count in ((client, self.upstream, False), (self.upstream, client, True)):
            t = threading.Thread(target=self._pump, args=(src, dst, count), daemon=True)
            t.start()
            self._threads.append(t)

    def _pump(self, src: socket.socket, dst: socket.socket, count: bool) -> None:
        src.settimeout(0.2)
        while not self._stalled.is_set():
            try:
                data = src.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                return
            if not data:
                return
            if count:
                self.relayed += len(data)
            try:
                dst.sendall(data)
            except OSError:
                return

    def stall(self) -> None:
        """Stop reading from nginx for good; the connection stays open."""
        self._stalled.set()
        for t in self._threads:
            t.join(2)

    def close(self) -> None:
        """Close everything."""
        self._stalled.set()
        for s in (self.listener, self.upstream, getattr(self, "client", None)):
            if s is not None:
                s.close()


def _players(stat_port: int) -> int:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{stat_port}/stat", timeout=3) as reply:
            return parse_stat(reply.read().decode()).viewers
    except OSError:
        return -1


def test_stalled_rtmp_player_is_dropped_and_nobody_else_notices(tmp_path: Path) -> None:
    rtsp, rtmp, stat = free_port(), free_port(), free_port()
    state = tmp_path / "state"
    cs = Camstream(["--source", "testsrc", "--resolution", "320x240", "--fps", str(FPS), "--bitrate", str(BITRATE),
                    "--rtsp", "--rtsp-server", "builtin", "--rtsp-port", str(rtsp), "--rtmp", "--rtmp-port", str(rtmp),
                    "--rtmp-stat-port", str(stat), "--no-record", "--no-snapshots",
                    "--ssd-path", str(tmp_path / "ssd"), "--state-dir", str(state)], tmp_path / "cs.log")
    viewers: list[Viewer] = []
    relay = None
    stalled = None
    try:
        cs.wait_for(lambda: _players(stat) >= 0 and "ffmpeg" in {c.name() for c in cs.children()}, 40, "nginx")
        url = f"rtsp://127.0.0.1:{rtsp}/live"
        viewers = [Viewer(url, "udp"), Viewer(url, "tcp"), Viewer(f"rtmp://127.0.0.1:{rtmp}/live/cam")]
        for v in viewers:
            v.wait_frames(FPS, 40)
        relay = StallingRelay(rtmp)
        stalled = Viewer(f"rtmp://127.0.0.1:{relay.port}/live/cam")  # the player that will freeze
        stalled.wait_frames(FPS, 30)  # it completed play and gets the stream
        cs.wait_for(lambda: _players(stat) == 2, 10, "two RTMP players in /stat")
        windows = [Window(v, cs.proc.pid, state, FPS) for v in viewers]
        start = time.monotonic()
        relay.stall()
        stalled.stop()  # the app is gone; its connection to nginx is left half-alive by the relay
        dropped_after = float("inf")
        bound = _drop_bound()
        while time.monotonic() - start < (MIN_FAULT_SECONDS if dropped_after < float("inf") else bound):
            if dropped_after == float("inf") and _players(stat) == 1:
                dropped_after = time.monotonic() - start
            time.sleep(0.5)
        results = [w.close() for w in windows]
        log = cs.log()
        for name, (ratio, produced, restarts) in zip(("RTSP UDP", "RTSP TCP", "RTMP"), results, strict=True):
            assert ratio >= 0.95, f"{name} viewer got {ratio:.1%} of {produced} frames while a player stalled\n{log}"
            assert restarts == 0, log
        assert dropped_after <= bound, f"the stalled player was not dropped within {bound:.0f} s ({dropped_after})"
        assert "client timed out" in (state / "nginx" / "logs" / "error.log").read_text()  # by the send timeout
        assert all(v.proc.poll() is None for v in viewers)
        assert "restarting:" not in log, log
    finally:
        if stalled:
            stalled.stop()
        if relay:
            relay.close()
        for v in viewers:
            v.stop()
        cs.kill()
