"""A minimal raw RTSP client for faults real players do not make on purpose: stop reading, vanish, send junk."""

from __future__ import annotations

import re
import socket
import time


class RawRtsp:
    """RTSP over one TCP connection; `play_tcp()` asks for RTP interleaved on it, then the test decides to read."""

    def __init__(self, port: int, path: str = "/live", rcvbuf: int | None = None, host: str = "127.0.0.1") -> None:
        self.url = f"rtsp://{host}:{port}{path}"
        self.sock = socket.socket()
        if rcvbuf is not None:
            # Set before connect so the window the server sees is small from the start (socket(7)).
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(30)
        self.sock.connect((host, port))
        self.cseq = 0
        self._buf = b""

    def request(self, method: str, url: str | None = None, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
        """Send one request, read its reply (skipping interleaved data); (status, headers, body)."""
        self.cseq += 1
        lines = [f"{method} {url or self.url} RTSP/1.0", f"CSeq: {self.cseq}", "User-Agent: camstream-fault-test"]
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        return self._reply()

    def _fill(self) -> None:
        data = self.sock.recv(65536)
        if not data:
            raise ConnectionError("server closed the connection")
        self._buf += data

    def _reply(self) -> tuple[int, dict[str, str], bytes]:
        while True:
            while self._buf[:1] == b"$":  # interleaved RTP/RTCP frame: $ channel len(2) payload
                while len(self._buf) < 4:
                    self._fill()
                size = int.from_bytes(self._buf[2:4], "big")
                while len(self._buf) < 4 + size:
                    self._fill()
                self._buf = self._buf[4 + size:]
            end = self._buf.find(b"\r\n\r\n")
            if end >= 0 and not self._buf.startswith(b"$"):
                break
            self._fill()
        head, self._buf = self._buf[:end].decode(errors="replace"), self._buf[end + 4:]
        status = int(head.split()[1])
        headers = {}
        for line in head.split("\r\n")[1:]:
            key, _, value = line.partition(":")
            headers[key.strip().lower()] = value.strip()
        length = int(headers.get("content-length", "0"))
        while len(self._buf) < length:
            self._fill()
        body, self._buf = self._buf[:length], self._buf[length:]
        return status, headers, body

    def play_tcp(self) -> None:
        """DESCRIBE, SETUP every stream interleaved on this connection, PLAY."""
        status, headers, body = self.request("DESCRIBE", headers={"Accept": "application/sdp"})
        assert status == 200, status
        base = headers.get("content-base", self.url + "/")
        controls = re.findall(r"a=control:(\S+)", body.decode())
        media_controls = [c for c in controls if c != "*"] or ["stream=0"]
        session = None
        for i, control in enumerate(media_controls):
            url = control if control.startswith("rtsp://") else base.rstrip("/") + "/" + control
            hdrs = {"Transport": f"RTP/AVP/TCP;unicast;interleaved={2 * i}-{2 * i + 1}"}
            if session:
                hdrs["Session"] = session
            status, headers, _ = self.request("SETUP", url, hdrs)
            assert status == 200, status
            session = headers["session"].split(";")[0]
        assert session is not None
        self.session = session
        status, _, _ = self.request("PLAY", base, {"Session": session, "Range": "npt=0-"})
        assert status == 200, status

    def closed_by_server(self, timeout: float) -> bool:
        """Drain until the server closes the connection (True) or `timeout` passes (False)."""
        self.sock.settimeout(0.5)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if not self.sock.recv(1 << 20):
                    return True
            except TimeoutError:
                continue
            except OSError:
                return True
        return False

    def close(self) -> None:
        """Close the socket (no TEARDOWN)."""
        self.sock.close()
