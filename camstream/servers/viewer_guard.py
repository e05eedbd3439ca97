"""Viewers cannot hurt each other: the policy that drops an RTSP viewer which stopped making progress.

Pure bookkeeping (no GStreamer): the builtin server feeds it what the kernel says about each viewer's TCP
connection once a second (bytes waiting to be sent, bytes the peer acknowledged) and whether the viewer has
a session, and gets back the viewers to disconnect, each with the one log line that says why. mediamtx does
the same with a bounded queue per reader ("reader is too slow, discarding frames", then closing it).
"""

from __future__ import annotations

import fcntl
import socket
import struct
import termios
from dataclasses import dataclass

# A viewer whose connection has data waiting but acknowledges nothing for this long is gone or stuck
# (a phone that walked out of Wi-Fi range keeps the TCP connection half-alive): drop it.
STALL_S = 5.0
# A connection that has not completed one request this long after connecting (half-sent, junk, port scan).
NO_REQUEST_S = 8.0
# A connection with requests but no session (never played) is closed after this long idle.
IDLE_NO_SESSION_S = 30.0
# Kernel send buffer per viewer connection: with gst-rtsp-server's own backlog (100 messages, dropped when
# full: GstRTSPClient "drop-backlog") this bounds what one viewer can hold in bytes, not just in messages.
SEND_BUFFER_BYTES = 512 * 1024
# Sessions of viewers that stop sending keep-alives (RTSP or RTCP) end after this long; clients are told in
# the Session header and send keep-alives at about half of it (RFC 2326 12.37).
SESSION_TIMEOUT_S = 8

_TCP_INFO_BYTES_ACKED = 120  # offset of tcpi_bytes_acked in struct tcp_info (linux/tcp.h, Linux >= 4.1)


@dataclass
class Observation:
    """What the kernel says about one viewer's TCP connection right now."""

    pending: int  # bytes queued in the kernel and not yet acknowledged (SIOCOUTQ)
    acked: int | None  # total bytes the peer acknowledged (tcpi_bytes_acked), None when the kernel lacks it
    capacity: int = 0  # the socket's send buffer (SO_SNDBUF as the kernel reports it, i.e. doubled)

    @property
    def full(self) -> bool:
        """The send buffer is full: the viewer takes less than the stream sends (the kernel counts overhead
        against SO_SNDBUF, so about half of it holds payload)."""
        return self.capacity > 0 and self.pending >= self.capacity // 2


@dataclass
class _Viewer:
    name: str
    connected_at: float
    last_request_at: float | None = None
    has_session: bool = False
    acked: int | None = None
    progress_at: float = 0.0
    full_since: float | None = None


class ViewerGuard:
    """Tracks every viewer connection and decides which ones to drop."""

    def __init__(self, stall_s: float = STALL_S, no_request_s: float = NO_REQUEST_S,
                 idle_no_session_s: float = IDLE_NO_SESSION_S) -> None:
        self.stall_s = stall_s
        self.no_request_s = no_request_s
        self.idle_no_session_s = idle_no_session_s
        self._viewers: dict[int, _Viewer] = {}
        self.dropped = 0

    def __len__(self) -> int:
        return len(self._viewers)

    def connected(self, key: int, name: str, now: float) -> None:
        """A new RTSP connection."""
        self._viewers[key] = _Viewer(name, now, progress_at=now)

    def request(self, key: int, now: float) -> None:
        """The connection completed a request."""
        viewer = self._viewers.get(key)
        if viewer is not None:
            viewer.last_request_at = now

    def session(self, key: int) -> None:
        """The connection created a session (SETUP)."""
        viewer = self._viewers.get(key)
        if viewer is not None:
            viewer.has_session = True

    def closed(self, key: int) -> None:
        """The connection ended (by either side)."""
        self._viewers.pop(key, None)

    def check(self, key: int, seen: Observation | None, now: float) -> str | None:
        """Why to drop this viewer now (the log line), or None to keep it."""
        v = self._viewers.get(key)
        if v is None:
            return None
        if v.last_request_at is None:
            if now - v.connected_at > self.no_request_s:
                return f"viewer {v.name} sent no complete request in {self.no_request_s:g} s: disconnected"
            return None
        if not v.has_session and now - v.last_request_at > self.idle_no_session_s:
            return f"viewer {v.name} idle without a session for {self.idle_no_session_s:g} s: disconnected"
        if seen is None:
            return None
        if not seen.full:
            v.full_since = None
        elif v.full_since is None:
            v.full_since = now
        elif now - v.full_since > self.stall_s:
            return (f"viewer {v.name} cannot keep up (its link takes less than the stream; {seen.pending // 1024} kB "
                    f"waiting for {now - v.full_since:.0f} s): disconnected; other viewers are not affected")
        if seen.pending == 0 or seen.acked is None or seen.acked != v.acked:
            v.acked, v.progress_at = seen.acked, now
            return None
        if now - v.progress_at > self.stall_s:
            return (f"viewer {v.name} took no data for {now - v.progress_at:.0f} s ({seen.pending // 1024} kB "
                    "waiting): too slow or gone, disconnected; other viewers are not affected")
        return None


def observe(fd: int) -> Observation | None:
    """SIOCOUTQ and tcpi_bytes_acked of a TCP socket (None when it is not one any more)."""
    try:
        raw = fcntl.ioctl(fd, termios.TIOCOUTQ, struct.pack("i", 0))  # SIOCOUTQ == TIOCOUTQ on Linux
        pending = struct.unpack("i", raw)[0]
        sock = socket.socket(fileno=fd)
        try:
            info = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 232)
            capacity = sock.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF)
        finally:
            sock.detach()  # the fd belongs to GStreamer
    except OSError:
        return None
    acked = None
    if len(info) >= _TCP_INFO_BYTES_ACKED + 8:
        acked = struct.unpack_from("Q", info, _TCP_INFO_BYTES_ACKED)[0]
    return Observation(pending, acked, capacity)


def bound_send_buffer(fd: int, size: int = SEND_BUFFER_BYTES) -> None:
    """Cap the kernel send buffer of a viewer connection."""
    sock = socket.socket(fileno=fd)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, size)
    except OSError:
        pass
    finally:
        sock.detach()
