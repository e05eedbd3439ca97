"""The supervisor's handling of servers, with fake servers (the servers/base.py Server protocol) and a tiny
stand-in for FFmpeg that prints `-progress` blocks: start order, restarts of a dead server, viewers, stop order."""

from __future__ import annotations

import logging
import sys
import threading
from pathlib import Path

import pytest

from camstream import proc
from camstream.config import WatchdogConfig
from camstream.errors import ServerError
from camstream.servers.base import Server
from camstream.sources import classify
from camstream.status import read_status
from camstream.supervise import Pipeline, Supervisor

# Prints one FFmpeg -progress block every 50 ms with a growing frame count; SIGINT (the supervisor's stop
# signal for FFmpeg) ends it.
FAKE_FFMPEG = [sys.executable, "-c", (
    "import sys, time\n"
    "i = 0\n"
    "while True:\n"
    "    i += 1\n"
    "    print(f'frame={i}\\nfps=20.0\\nprogress=continue', flush=True)\n"
    "    time.sleep(0.05)\n"
)]


class FakeServer:
    """A server without a process: it records what the supervisor asks of it."""

    def __init__(self, role: str, events: list[str], viewers: int | None = None) -> None:
        self._role = role
        self.events = events
        self.alive = False
        self.count = viewers
        self.fail_ready = 0  # how many wait_ready calls fail from now on
        self.fail_stop = False
        self.viewers_raise = False

    @property
    def role(self) -> str:
        return self._role

    def start(self) -> None:
        self.events.append(f"start {self.role}")
        self.alive = True

    def wait_ready(self, timeout: float = 10.0) -> None:
        self.events.append(f"ready {self.role}")
        if self.fail_ready:
            self.fail_ready -= 1
            self.alive = False  # like ManagedServer.wait_ready: a server that is not ready is stopped
            raise ServerError(f"{self.role} would not come up")

    def running(self) -> bool:
        return self.alive

    def tail(self) -> list[str]:
        return [f"{self.role}: last words"]

    def stop(self, grace: float = 5.0) -> proc.ExitInfo | None:
        self.events.append(f"stop {self.role}")
        self.alive = False
        if self.fail_stop:
            raise OSError("cannot stop")
        return proc.ExitInfo(0, [])

    def viewers(self) -> int | None:
        if self.viewers_raise:
            raise ConnectionError("status page down")
        return self.count


def supervisor(tmp_path: Path, servers: list[FakeServer]) -> Supervisor:
    as_servers: list[Server] = list(servers)  # FakeServer satisfies the protocol (checked by mypy)
    pipeline = Pipeline(argv=FAKE_FFMPEG, source=classify("testsrc"), encoder="libx264", servers=as_servers,
                        env={}, state_dir=tmp_path)
    return Supervisor(pipeline, WatchdogConfig(stall_seconds=2.0, backoff_initial=0.1), threading.Event())


def test_servers_start_in_order_and_stop_in_reverse(tmp_path: Path) -> None:
    events: list[str] = []
    sup = supervisor(tmp_path, [FakeServer("rtsp", events), FakeServer("rtmp", events)])
    assert sup.run(duration=1.0) == 0
    assert events == ["start rtsp", "start rtmp", "ready rtsp", "ready rtmp", "stop rtmp", "stop rtsp"]
    assert sup.status.state == "stopped" and sup.status.restarts == 0
    assert read_status(tmp_path) is None  # the status file goes with the run


def test_viewers_are_summed_and_unknown_counts_ignored(tmp_path: Path) -> None:
    events: list[str] = []
    broken = FakeServer("web", events, viewers=7)
    broken.viewers_raise = True  # a status page that does not answer is not a pipeline failure
    sup = supervisor(tmp_path, [FakeServer("rtsp", events, viewers=2), FakeServer("rtmp", events, viewers=None),
                                broken])
    seen: list[int | None] = []
    sup.on_status = lambda s: seen.append(s.viewers)
    sup.run(duration=1.5)
    assert 2 in seen and all(v in (None, 2) for v in seen)


def test_no_server_reports_viewers_means_none(tmp_path: Path) -> None:
    sup = supervisor(tmp_path, [FakeServer("rtmp", [], viewers=None)])
    seen: list[int | None] = []
    sup.on_status = lambda s: seen.append(s.viewers)
    sup.run(duration=1.0)
    assert seen and set(seen) == {None}


def test_a_dead_server_is_restarted_alone(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    events: list[str] = []
    rtsp, rtmp = FakeServer("rtsp", events), FakeServer("rtmp", events)
    sup = supervisor(tmp_path, [rtsp, rtmp])
    ffmpeg_pids: set[int | None] = set()

    def on_status(_: object) -> None:
        if sup.ffmpeg is not None:
            ffmpeg_pids.add(sup.ffmpeg.pid)
        if sup.status.restarts == 0 and "ready rtmp" in events:
            rtmp.alive = False  # the server's process "died"

    sup.on_status = on_status
    with caplog.at_level(logging.INFO, logger="camstream"):
        sup.run(duration=1.5)
    assert sup.status.restarts == 1 and sup.status.last_restart_reason == "rtmp server exited"
    assert "rtmp: last words" in caplog.text  # its tail is logged with the restart
    started = events.index("ready rtmp")
    assert events[started + 1:started + 4] == ["stop rtmp", "start rtmp", "ready rtmp"]
    assert events.count("start rtsp") == 1  # the healthy server keeps its viewers
    assert len(ffmpeg_pids) == 1  # and FFmpeg was never restarted for it


def test_a_server_that_does_not_come_back_restarts_the_pipeline(tmp_path: Path,
                                                                 caplog: pytest.LogCaptureFixture) -> None:
    events: list[str] = []
    rtsp = FakeServer("rtsp", events)
    sup = supervisor(tmp_path, [rtsp])

    def on_status(_: object) -> None:
        if sup.status.restarts == 0 and sup.status.state == "running":
            rtsp.fail_ready = 1
            rtsp.alive = False

    sup.on_status = on_status
    with caplog.at_level(logging.INFO, logger="camstream"):
        assert sup.run(duration=2.5) == 0
    reasons = [r.getMessage() for r in caplog.records if r.getMessage().startswith("restarting: ")]
    assert reasons == ["restarting: rtsp server exited",
                       "restarting: rtsp server did not come back: rtsp would not come up"]
    assert events.count("start rtsp") == 3 and events[-1] == "stop rtsp"


def test_a_server_that_never_starts_is_an_error(tmp_path: Path) -> None:
    rtsp = FakeServer("rtsp", [])
    rtsp.fail_ready = 1
    with pytest.raises(ServerError, match="rtsp would not come up"):
        supervisor(tmp_path, [rtsp]).run(duration=2.0)
    assert not rtsp.alive


def test_a_server_that_fails_to_stop_does_not_keep_others_running(tmp_path: Path) -> None:
    events: list[str] = []
    stuck = FakeServer("rtsp", events)
    stuck.fail_stop = True
    other = FakeServer("rtmp", events)
    sup = supervisor(tmp_path, [stuck, other])
    sup.run(duration=0.8)
    assert events[-2:] == ["stop rtmp", "stop rtsp"] and not other.alive
