"""Viewers cannot hurt each other: every viewer fault against the real builtin RTSP server, while a UDP and a
TCP viewer (real FFmpeg clients) are measured. For each fault: both keep >= 95% of the frames over 20 s, the
server's RSS stays bounded, and the faulty viewer is dropped within 10 s with one log line naming it."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import pytest

from _clients import Viewer, Window
from _rtsp import RawRtsp
from support import Camstream, free_port

FPS = 25
FAULT_SECONDS = 20
RSS_GROWTH_LIMIT = 30_000_000  # bytes the server may grow by during one fault


class Rig:
    """camstream with the builtin RTSP server, plus a UDP and a TCP viewer that are always watching."""

    def __init__(self, tmp: Path) -> None:
        self.port = free_port()
        self.state = tmp / "state"
        self.cs = Camstream(["--source", "testsrc", "--resolution", "320x240", "--fps", str(FPS), "--bitrate",
                             "1000k", "--rtsp", "--rtsp-server", "builtin", "--rtsp-port", str(self.port),
                             "--no-record", "--no-snapshots", "--ssd-path", str(tmp / "ssd"),
                             "--state-dir", str(self.state)], tmp / "cs.log")
        self.cs.wait_for(lambda: self.server_status().get("ingest_connected"), 40, "the RTSP server's ingest")
        self.url = f"rtsp://127.0.0.1:{self.port}/live"
        self.udp = Viewer(self.url, "udp")
        self.tcp = Viewer(self.url, "tcp")
        self.udp.wait_frames(FPS, 30)
        self.tcp.wait_frames(FPS, 30)
        self.server = self.cs.child("camstream.servers.rtsp_builtin")

    def server_status(self) -> dict:  # type: ignore[type-arg]
        try:
            return json.loads((self.state / "rtsp_builtin.json").read_text())
        except (OSError, ValueError):
            return {}

    def warnings_since(self, mark: int) -> list[str]:
        return [ln for ln in self.cs.log()[mark:].splitlines() if "WARNING rtsp-server: viewer " in ln
                or ("rtsp-server: viewer" in ln and "WARNING" in ln)]

    def during_fault(self, fault: Callable[[], None], dropped: Callable[[], bool] | None) -> tuple[float, float]:
        """Run `fault` in the background for FAULT_SECONDS while the two viewers are measured; returns
        (seconds until `dropped()` held, or inf) and asserts the viewers' share and the RSS bound."""
        rss0 = self.server.memory_info().rss
        udp = Window(self.udp, self.cs.proc.pid, self.state, FPS)
        tcp = Window(self.tcp, self.cs.proc.pid, self.state, FPS)
        start = time.monotonic()
        worker = threading.Thread(target=fault, daemon=True)
        worker.start()
        took = float("inf")
        while time.monotonic() - start < FAULT_SECONDS:
            if took == float("inf") and dropped is not None and dropped():
                took = time.monotonic() - start
            time.sleep(0.2)
        worker.join(30)
        (ru, pu, _), (rt, pt, _) = udp.close(), tcp.close()
        rss1 = self.server.memory_info().rss
        assert ru >= 0.95, f"UDP viewer got {ru:.1%} of {pu} frames during the fault\n{self.cs.log()[-3000:]}"
        assert rt >= 0.95, f"TCP viewer got {rt:.1%} of {pt} frames during the fault\n{self.cs.log()[-3000:]}"
        assert rss1 - rss0 < RSS_GROWTH_LIMIT, f"server RSS grew {(rss1 - rss0) / 1e6:.1f} MB"
        assert self.udp.proc.poll() is None and self.tcp.proc.poll() is None
        return took, (rss1 - rss0) / 1e6

    def close(self) -> None:
        self.udp.stop()
        self.tcp.stop()
        self.cs.kill()


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    r = Rig(tmp_path_factory.mktemp("viewers"))
    try:
        yield r
    finally:
        r.close()


def test_tcp_viewer_that_stops_reading(rig: Rig) -> None:
    mark = len(rig.cs.log())
    stalled = RawRtsp(rig.port, rcvbuf=4096)
    stalled.play_tcp()  # ... and never reads again
    name = "127.0.0.1:%d" % stalled.sock.getsockname()[1]
    try:
        took, _ = rig.during_fault(lambda: None, lambda: any(name in w for w in rig.warnings_since(mark)))
        assert took <= 10, f"the stalled viewer was not dropped within 10 s ({took})"
        lines = [w for w in rig.warnings_since(mark) if name in w]
        assert len(lines) == 1 and "disconnected" in lines[0], lines
        assert stalled.closed_by_server(5)
    finally:
        stalled.close()


def test_viewer_killed_without_teardown(rig: Rig) -> None:
    doomed = Viewer(rig.url, "udp")
    doomed.wait_frames(FPS, 30)
    sessions = rig.server_status()["sessions"]
    assert sessions >= 3

    def kill() -> None:
        doomed.stop()  # SIGKILL: no TEARDOWN, its UDP port just stops existing

    took, _ = rig.during_fault(kill, lambda: rig.server_status().get("sessions", 99) <= sessions - 1)
    assert took <= 10, f"the dead viewer's session was not dropped within 10 s ({took})"


def test_hundreds_of_connect_disconnect_sessions(rig: Rig) -> None:
    done: list[int] = []

    def churn() -> None:
        for i in range(300):
            client = RawRtsp(rig.port)
            try:
                if i % 3 == 0:
                    client.play_tcp()  # a real session, then gone without TEARDOWN
                elif i % 3 == 1:
                    client.request("OPTIONS")
                    client.request("DESCRIBE", headers={"Accept": "application/sdp"})
                else:
                    client.play_tcp()
                    client.request("TEARDOWN", headers={"Session": client.session})
                done.append(i)
            finally:
                client.close()

    base = rig.server_status()
    took, growth = rig.during_fault(churn, None)
    assert len(done) == 300
    # Everything the churn made is gone again within 10 s (sessions time out, connections close).
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and (rig.server_status().get("sessions", 99) > base["sessions"]
                                           or rig.server_status().get("connections", 99) > base["connections"]):
        time.sleep(0.2)
    st = rig.server_status()
    assert st["sessions"] <= base["sessions"] and st["connections"] <= base["connections"], (base, st)


def test_malformed_and_half_sent_requests(rig: Rig) -> None:
    mark = len(rig.cs.log())
    half = socket.create_connection(("127.0.0.1", rig.port))
    half.sendall(b"DESCRIBE rtsp://127.0.0.1/live RTSP/1.0\r\nCSeq: 1\r\nAcc")  # ... and nothing more, ever
    name = "127.0.0.1:%d" % half.getsockname()[1]
    replies: list[bytes] = []

    def junk() -> None:
        for payload in (b"GARBAGE\r\n\r\n", os.urandom(4096), b"OPTIONS * RTSP/1.0\r\nCSeq: x\r\n\r\n",
                        b"GET_PARAMETER " + b"A" * 70000 + b" RTSP/1.0\r\n\r\n",
                        b"PLAY rtsp://127.0.0.1/live RTSP/1.0\r\nCSeq: 3\r\nSession: doesnotexist\r\n\r\n"):
            with socket.create_connection(("127.0.0.1", rig.port), timeout=5) as s:
                try:
                    s.sendall(payload)
                    replies.append(s.recv(200))
                except OSError:
                    replies.append(b"")

    try:
        took, _ = rig.during_fault(junk, lambda: any(name in w for w in rig.warnings_since(mark)))
        assert took <= 10, f"the half-sent request's connection was not dropped within 10 s ({took})"
        assert len(replies) == 5
        assert rig.cs.proc.poll() is None and rig.server.is_running()
    finally:
        half.close()


NS = f"csfault{os.getpid() % 10000}"


@pytest.fixture
def slow_link() -> Iterator[tuple[str, str]]:
    """A network namespace behind a veth pair whose server side sends at most 300 kbit/s (tc tbf)."""
    if os.geteuid() != 0:
        pytest.skip("needs root to create a network namespace and shape its link (CI runs as root)")
    host_if, ns_if = f"{NS}h", f"{NS}n"
    cmds = [["ip", "netns", "add", NS],
            ["ip", "link", "add", host_if, "type", "veth", "peer", "name", ns_if],
            ["ip", "link", "set", ns_if, "netns", NS],
            ["ip", "addr", "add", "10.231.7.1/24", "dev", host_if], ["ip", "link", "set", host_if, "up"],
            ["ip", "netns", "exec", NS, "ip", "addr", "add", "10.231.7.2/24", "dev", ns_if],
            ["ip", "netns", "exec", NS, "ip", "link", "set", ns_if, "up"],
            ["ip", "netns", "exec", NS, "ip", "link", "set", "lo", "up"],
            ["tc", "qdisc", "add", "dev", host_if, "root", "tbf", "rate", "300kbit", "burst", "16kb",
             "latency", "400ms"]]
    try:
        for cmd in cmds:
            subprocess.run(cmd, check=True, capture_output=True)
        yield NS, "10.231.7.1"
    finally:
        subprocess.run(["ip", "link", "del", host_if], capture_output=True)
        subprocess.run(["ip", "netns", "del", NS], capture_output=True)


def test_viewer_on_a_link_slower_than_the_stream(rig: Rig, slow_link: tuple[str, str]) -> None:
    ns, host = slow_link
    mark = len(rig.cs.log())
    slow = subprocess.Popen(["ip", "netns", "exec", ns, "ffmpeg", "-nostdin", "-v", "error", "-rtsp_transport", "tcp",
                             "-i", f"rtsp://{host}:{rig.port}/live", "-c", "copy", "-f", "null", "-"],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        took, _ = rig.during_fault(lambda: None, lambda: any("10.231.7.2" in w for w in rig.warnings_since(mark)))
        assert took <= 10 + 5, f"the slow viewer was not dropped ({took})"  # + the time it needs to connect
        lines = [w for w in rig.warnings_since(mark) if "10.231.7.2" in w]
        assert len(lines) == 1 and "cannot keep up" in lines[0], lines
    finally:
        os.killpg(slow.pid, 9)
        slow.wait()


def test_setups_the_server_cannot_serve_or_that_name_the_media_differently(rig: Rig) -> None:
    # Each of these once made gst-rtsp-server build a second media for the same mount (its shared-media key is
    # port + path + query of the request URL), which took the ingest's frames from the first: every viewer froze.
    base = f"rtsp://127.0.0.1:{rig.port}/live"
    bad = [  # (request, the status it must get)
        (f"SETUP rtsp://127.0.0.1/live/stream=0 RTSP/1.0\r\nCSeq: 2\r\nTransport: nonsense\r\n\r\n", 461),
        (f"SETUP {base}/stream=0 RTSP/1.0\r\nCSeq: 2\r\nTransport: RTP/SAVP/TCP;multicast\r\n\r\n", 461),
        (f"SETUP {base}/stream=0 RTSP/1.0\r\nCSeq: 2\r\n\r\n", 461),  # no Transport at all
        (f"SETUP {base}/stream=7 RTSP/1.0\r\nCSeq: 2\r\nTransport: RTP/AVP/TCP;interleaved=0-1\r\n\r\n", 404),
    ]
    statuses: list[int] = []
    others: list[int] = []

    def setups() -> None:
        for request, _ in bad:
            with socket.create_connection(("127.0.0.1", rig.port), timeout=5) as s:
                s.sendall(request.encode())
                statuses.append(int(s.recv(200).split()[1]))
        # Valid viewers that spell the URL another way: a query string, SETUP straight away without DESCRIBE.
        for path in ("/live?camstream-test=1", "/live/"):
            client = RawRtsp(rig.port, path=path)
            try:
                client.play_tcp()
                got = 0
                while got < 50_000:
                    data = client.sock.recv(65536)
                    if not data:
                        break
                    got += len(data)
                others.append(got)
            finally:
                client.close()

    rig.during_fault(setups, None)
    assert statuses == [want for _, want in bad]
    assert len(others) == 2 and min(others) >= 50_000, others  # they get the stream too
    assert rig.cs.proc.poll() is None and rig.server.is_running()
