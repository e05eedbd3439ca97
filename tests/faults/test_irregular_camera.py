"""A camera that delivers frames irregularly (a USB camera on a marginal hub, a network camera over bad Wi-Fi):
pauses of a few seconds, then a burst of the frames it owed. Live resumes after every pause, no restart storm,
recording goes on. The camera is a stand-in (a Y4M writer on a FIFO, camstream's `pipe` source) because the
pauses must happen on cue; the viewer is a real FFmpeg RTSP client and every chunk is decoded with FFmpeg.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from _clients import Viewer, ffmpeg_pids, status
from support import Camstream, decodes_cleanly, free_port, media_duration

FPS = 25
HERE = Path(__file__).parent
# (run s, pause s): pauses shorter than the stall watchdog (watchdog.stall_seconds, 5 s by default).
SCHEDULE = ["5,3", "3,2", "6,3.5", "2,1", "4,3", "8,0"]


def _camera(fifo: Path, *phases: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, str(HERE / "_irregular_camera.py"), str(fifo), str(FPS), "320", "240",
                             *phases], stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True,
                            start_new_session=True)


def _stop(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def test_pauses_and_bursts_keep_live_and_recording_without_restarts(tmp_path: Path) -> None:
    fifo = tmp_path / "camera.y4m"
    os.mkfifo(fifo)
    camera = _camera(fifo, *SCHEDULE)
    port = free_port()
    ssd = tmp_path / "ssd"
    state = tmp_path / "state"
    cs = Camstream(["--source", str(fifo), "--resolution", "320x240", "--fps", str(FPS), "--bitrate", "500k",
                    "--rtsp", "--rtsp-server", "builtin", "--rtsp-port", str(port), "--record", "--no-snapshots",
                    "--segment-seconds", "2", "--ssd-path", str(ssd), "--state-dir", str(state), "-v"],
                   tmp_path / "cs.log")
    viewer = None
    try:
        cs.wait_for(lambda: status(state).get("frames", 0) > 0, 30, "the first frames")
        viewer = Viewer(f"rtsp://127.0.0.1:{port}/live", "tcp")
        pids = ffmpeg_pids(cs.proc.pid)
        assert camera.stdout is not None
        phases = [camera.stdout.readline() for _ in SCHEDULE]  # returns as the schedule plays out
        assert all(p.startswith("frames ") for p in phases), phases
        t_end = time.monotonic()
        frames_after = viewer.frames
        time.sleep(4)  # steady again: the viewer is still on the stream and gets it live
        got_after = viewer.frames - frames_after
        log = cs.log()
        assert "restarting:" not in log and "Traceback" not in log, log
        assert ffmpeg_pids(cs.proc.pid) == pids, f"FFmpeg was restarted\n{log}"
        assert viewer.proc.poll() is None and got_after >= 0.9 * 4 * FPS, (got_after, log)
        sent = int(phases[-1].split()[1])
        assert viewer.frames >= 0.9 * (sent - FPS * 2), f"viewer got {viewer.frames} of {sent} frames sent\n{log}"
        # Recording went on through every pause: the chunks cover the camera's frames, and every one decodes.
        time.sleep(max(0.0, t_end + 5 - time.monotonic()))
        chunks = sorted((ssd / "video").glob("*.mp4"))
        recorded = sum(media_duration(c) for c in chunks)
        assert recorded >= 0.8 * sent / FPS, f"{recorded:.1f} s recorded of {sent / FPS:.1f} s sent"
        assert all(decodes_cleanly(c) for c in chunks), [c.name for c in chunks if not decodes_cleanly(c)]
    finally:
        if viewer:
            viewer.stop()
        cs.kill()
        _stop(camera)


def test_a_pause_longer_than_the_stall_limit_restarts_once_and_live_comes_back(tmp_path: Path) -> None:
    fifo = tmp_path / "camera.y4m"
    os.mkfifo(fifo)
    camera = _camera(fifo, "6,9", "--drop")  # 9 s of nothing: longer than watchdog.stall_seconds
    port = free_port()
    state = tmp_path / "state"
    cs = Camstream(["--source", str(fifo), "--resolution", "320x240", "--fps", str(FPS), "--bitrate", "500k",
                    "--rtsp", "--rtsp-server", "builtin", "--rtsp-port", str(port), "--no-record", "--no-snapshots",
                    "--ssd-path", str(tmp_path / "ssd"), "--state-dir", str(state), "-v"], tmp_path / "cs.log")
    viewer = None
    try:
        cs.wait_for(lambda: "stalled: no new frame" in cs.log(), 40, "the stall to be noticed")
        cs.wait_for(lambda: status(state).get("state") == "running" and status(state).get("frames", 0) > FPS, 30,
                    "FFmpeg on the camera again")
        viewer = Viewer(f"rtsp://127.0.0.1:{port}/live", "udp")
        viewer.wait_frames(FPS, 20)
        time.sleep(15)  # steady from here: no second restart, no storm
        log = cs.log()
        assert log.count("restarting:") == 1, log
        assert "Traceback" not in log, log
        assert viewer.proc.poll() is None and viewer.frames >= 0.9 * 15 * FPS, (viewer.frames, log)
    finally:
        if viewer:
            viewer.stop()
        cs.kill()
        _stop(camera)
