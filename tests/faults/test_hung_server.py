"""A server that hangs (its process alive, its main loop stuck: here SIGSTOP) is restarted; recording never stops."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from _clients import Viewer
from support import free_port

FPS = 25


def test_hung_rtsp_server_is_restarted_and_recording_goes_on(camstream_run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    port = free_port()
    ssd = tmp_path / "ssd"
    cs = camstream_run("--source", "testsrc", "--resolution", "320x240", "--fps", str(FPS), "--bitrate", "600k",
                       "--rtsp", "--rtsp-server", "builtin", "--rtsp-port", str(port), "--record", "--no-snapshots",
                       "--segment-seconds", "2", "--ssd-path", str(ssd), "--state-dir", str(tmp_path / "state"))
    server = cs.child("camstream.servers.rtsp_builtin")
    cs.wait_for(lambda: len(list((ssd / "video").glob("*Z.mp4"))) >= 1, 40, "a first chunk")
    first = Viewer(f"rtsp://127.0.0.1:{port}/live", "tcp")
    try:
        first.wait_frames(FPS, 30)
    finally:
        first.stop()
    os.kill(server.pid, signal.SIGSTOP)  # alive, but serving nobody
    hung_at = time.monotonic()
    chunks_then = len(list((ssd / "video").glob("*Z.mp4")))
    cs.wait_for(lambda: "server hung" in cs.log(), 30, "the hang to be noticed")
    assert time.monotonic() - hung_at <= 20
    cs.wait_for(lambda: not server.is_running(), 10, "the hung server to be stopped")
    # A player retries until the restarted server answers.
    deadline = time.monotonic() + 30
    got = 0
    while got < FPS and time.monotonic() < deadline:
        again = Viewer(f"rtsp://127.0.0.1:{port}/live", "udp")
        try:
            while again.proc.poll() is None and again.frames < FPS and time.monotonic() < deadline:
                time.sleep(0.2)
            got = again.frames
        finally:
            again.stop()
    assert got >= FPS, cs.log()[-3000:]
    assert len(list((ssd / "video").glob("*Z.mp4"))) > chunks_then + 3, cs.log()  # recording went on throughout
    assert cs.log().count("server hung") == 1
