"""The state directory fills up (a small /run or /var tmpfs, a log that ran away): nothing stops, nothing restarts.

camstream, its builtin RTSP server and the web server write their status files there, FFmpeg's segment muxer
its chunk list, the supervisor its ledger of child processes. A real 2 MB tmpfs is the state directory (needs
root: CI runs as root); the recording disk is elsewhere. The live viewer is a real FFmpeg client.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from _clients import Viewer, ffmpeg_pids, status
from _disks import fill, tmpfs, unmount_all
from support import Camstream, decodes_cleanly, free_port

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root to mount a 2 MB tmpfs that really fills")

FPS = 25
FULL_SECONDS = 40  # how long the state directory stays full while the viewer is measured


@pytest.fixture
def state_disk(tmp_path: Path) -> Iterator[Path]:
    """A 2 MB tmpfs for the state directory, always unmounted after the test."""
    with tmpfs(tmp_path / "state", "2m") as mnt:
        yield mnt


def _rtsp_stamp(state: Path) -> float:
    try:
        return float(json.loads((state / "rtsp_builtin.json").read_text())["updated_at"])
    except (OSError, ValueError, KeyError, TypeError):
        return 0.0


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def test_full_state_directory_changes_nothing_live_and_recovers(state_disk: Path, tmp_path: Path) -> None:
    # Full before camstream starts, so every writer meets ENOSPC on its very first write (status files, the
    # ledger of children, FFmpeg's segment list); only empty files (a lock, a FIFO) can still be created.
    filler = fill(state_disk)
    port = free_port()
    ssd = tmp_path / "ssd"
    cs = Camstream(["--source", "testsrc", "--resolution", "320x240", "--fps", str(FPS), "--bitrate", "500k",
                    "--rtsp", "--rtsp-server", "builtin", "--rtsp-port", str(port), "--record", "--snapshots",
                    "--segment-seconds", "2", "--ssd-path", str(ssd), "--state-dir", str(state_disk), "-v"],
                   tmp_path / "cs.log")
    viewer = None
    try:
        cs.wait_for(lambda: "chunk landed:" in cs.log(), 40, "a chunk")
        viewer = Viewer(f"rtsp://127.0.0.1:{port}/live", "tcp")
        viewer.wait_frames(FPS, 30)
        pids = ffmpeg_pids(cs.proc.pid)
        server = cs.child("camstream.servers.rtsp_builtin")
        landed0, frames0, t0 = cs.log().count("chunk landed:"), viewer.frames, time.monotonic()
        seen = set(pids)
        while time.monotonic() - t0 < FULL_SECONDS:
            seen |= ffmpeg_pids(cs.proc.pid)
            time.sleep(0.5)
        got, elapsed = viewer.frames - frames0, time.monotonic() - t0
        log = cs.log()
        assert cs.proc.poll() is None, log
        assert os.statvfs(state_disk).f_bavail == 0, "the state directory was not full all along"
        # Against the clock: FFmpeg's own frame count is in status.json, which cannot be written now. 90%, not 95%,
        # leaves room for a test source that lags real time on a loaded machine.
        assert got >= 0.9 * elapsed * FPS, f"viewer got {got} frames in {elapsed:.0f} s with the state dir full\n{log}"
        assert seen == pids, f"FFmpeg was restarted while the state directory was full\n{log}"
        assert server.is_running() and cs.child("camstream.servers.rtsp_builtin").pid == server.pid, log
        assert "restarting:" not in log and "Traceback" not in log, log
        assert log.count("cannot write status file") == 1, "one line says it, not one a second"
        landed = log.count("chunk landed:") - landed0  # 2-second chunks
        assert landed >= FULL_SECONDS / 2 * 0.8, f"recording did not go on: {landed} chunks\n{log}"
        assert not list((ssd / "video").glob("*.part"))[1:], "closed chunks left unfinished"
        images = sorted((ssd / "images").glob("*.jpg"))
        assert images and images[-1].stat().st_mtime > time.time() - 10, "snapshots stopped"
        # Space comes back: the status files are current again, the chunks recorded meanwhile are all there.
        filler.unlink()
        back = time.time()
        cs.wait_for(lambda: _mtime(state_disk / "status.json") > back, 10, "a fresh status.json")
        cs.wait_for(lambda: _rtsp_stamp(state_disk) > back, 10, "a fresh rtsp_builtin.json")
        assert status(state_disk).get("state") == "running"
        assert all(decodes_cleanly(c) for c in sorted((ssd / "video").glob("*.mp4")))
    finally:
        if viewer:
            viewer.stop()
        cs.kill()


def test_read_only_state_directory_changes_nothing_live_and_recovers(tmp_path: Path) -> None:
    # The kernel remounts a failing SD card read-only: the state directory takes no write at all, not even a touch.
    port = free_port()
    ssd, state = tmp_path / "ssd", tmp_path / "state"
    cs = Camstream(["--source", "testsrc", "--resolution", "320x240", "--fps", str(FPS), "--bitrate", "500k",
                    "--rtsp", "--rtsp-server", "builtin", "--rtsp-port", str(port), "--record", "--no-snapshots",
                    "--segment-seconds", "2", "--ssd-path", str(ssd), "--state-dir", str(state), "-v"],
                   tmp_path / "cs.log")
    viewer = None
    try:
        cs.wait_for(lambda: cs.log().count("chunk landed:") >= 2, 40, "two chunks")
        viewer = Viewer(f"rtsp://127.0.0.1:{port}/live", "udp")
        viewer.wait_frames(FPS, 30)
        pids = ffmpeg_pids(cs.proc.pid)
        server = cs.child("camstream.servers.rtsp_builtin")
        subprocess.run(["mount", "--bind", str(state), str(state)], check=True)
        subprocess.run(["mount", "-o", "remount,bind,ro", str(state)], check=True)
        landed0, frames0, t0 = cs.log().count("chunk landed:"), viewer.frames, time.monotonic()
        time.sleep(FULL_SECONDS / 2)
        got, elapsed = viewer.frames - frames0, time.monotonic() - t0
        log = cs.log()
        assert got >= 0.9 * elapsed * FPS, f"viewer got {got} frames in {elapsed:.0f} s, state dir read-only\n{log}"
        assert ffmpeg_pids(cs.proc.pid) == pids and cs.child("camstream.servers.rtsp_builtin").pid == server.pid, log
        assert "restarting:" not in log and "Traceback" not in log, log
        assert log.count("cannot write status file") == 1, log
        assert "Read-only file system" in log
        landed = log.count("chunk landed:") - landed0
        assert landed >= FULL_SECONDS / 4 * 0.8, f"recording did not go on: {landed} chunks\n{log}"
        subprocess.run(["umount", str(state)], check=True)  # fsck'd and remounted read-write
        back = time.time()
        cs.wait_for(lambda: _mtime(state / "status.json") > back, 10, "a fresh status.json")
        cs.wait_for(lambda: _rtsp_stamp(state) > back, 10, "a fresh rtsp_builtin.json")
        # Read-only again, and the operator stops camstream: a clean stop, nothing left running.
        children = cs.children()
        subprocess.run(["mount", "--bind", str(state), str(state)], check=True)
        subprocess.run(["mount", "-o", "remount,bind,ro", str(state)], check=True)
        assert cs.stop() == 0, cs.log()
        assert "Traceback" not in cs.log() and "failed" not in cs.log()[len(log):], cs.log()
        assert not [p for p in children if p.is_running() and p.status() != "zombie"]
    finally:
        unmount_all(state)
        if viewer:
            viewer.stop()
        cs.kill()
