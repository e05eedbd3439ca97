"""The recording disk fills up, turns read-only, vanishes or stalls: live goes on, recording makes room or waits.

A real 40 MB tmpfs is the recording disk (needs root: CI runs as root); a frozen ext4 loop disk is one that stalls. The live RTSP viewer is a real FFmpeg
client; chunks left on disk are decoded with real FFmpeg.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from _clients import Viewer, Window, status
from _disks import ext4, fill, frozen, tmpfs
from support import Camstream, free_port

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root to mount a 40 MB tmpfs that really fills")

FPS = 25
FAULT_SECONDS = 60  # how long each fault lasts while the viewer is measured (issue 12: "at least a minute")
# Paused for lack of space: the pause, its one line and the resume are what is tested, not a minute of it (the
# minute-long full disk is the first test); the viewer is measured over twice this, paused and resumed.
PAUSED_SECONDS = 15
ARGS = ["--source", "testsrc", "--resolution", "320x240", "--fps", str(FPS), "--bitrate", "1000k",
        "--rtsp", "--rtsp-server", "builtin", "--record", "--snapshots", "--segment-seconds", "2",
        "--min-free", "0", "-v"]


@pytest.fixture
def disk(tmp_path: Path) -> Iterator[Path]:
    """A 40 MB tmpfs mounted for the test, always unmounted after it."""
    with tmpfs(tmp_path / "ssd", "40m") as mnt:
        yield mnt


def chunks(ssd: Path) -> list[Path]:
    """Finished (and recovered) chunks, oldest first."""
    return sorted((ssd / "video").glob("*.mp4"))


def user_lines(log: str, text: str) -> int:
    """Lines containing `text` a user sees at the default level (INFO and above)."""
    return sum(1 for line in log.splitlines() if text in line and " DEBUG " not in line)


def plays(path: Path) -> bool:
    """FFmpeg decodes every frame without an error and finds some."""
    out = subprocess.run(["ffmpeg", "-v", "error", "-i", str(path), "-f", "null", "-"], capture_output=True,
                         text=True, timeout=60, stdin=subprocess.DEVNULL)
    return out.returncode == 0 and not out.stderr.strip()


def _start(disk: Path, tmp_path: Path) -> tuple[Camstream, int, Path]:
    port = free_port()
    state = tmp_path / "state"
    cs = Camstream([*ARGS, "--rtsp-port", str(port), "--ssd-path", str(disk), "--state-dir", str(state)],
                   tmp_path / "cs.log")
    return cs, port, state


def _links_valid(ssd: Path) -> None:
    for name in ("latest_video.mp4", "latest_image.jpg"):
        link = ssd / "drone_temp" / name
        assert link.exists(), f"{name} points at nothing ({os.readlink(link) if link.is_symlink() else 'missing'})"


def test_disk_that_really_fills_deletes_oldest_and_live_never_stops(disk: Path, tmp_path: Path) -> None:
    cs, port, state = _start(disk, tmp_path)
    viewer = None
    try:
        cs.wait_for(lambda: len(chunks(disk)) >= 4, 40, "four chunks")
        viewer = Viewer(f"rtsp://127.0.0.1:{port}/live", "udp")
        viewer.wait_frames(FPS, 20)
        before = chunks(disk)
        fill(disk)  # ENOSPC: another program took every free byte
        landed_before = cs.log().count("chunk landed:")
        window = Window(viewer, cs.proc.pid, state, FPS)
        time.sleep(FAULT_SECONDS)
        ratio, produced, restarts = window.close()
        log = cs.log()
        assert ratio >= 0.95, f"viewer got {ratio:.1%} of {produced} frames while the disk was full\n{log}"
        assert restarts <= 1, f"FFmpeg restarted {restarts} times\n{log}"
        assert "Traceback" not in log and "restarting:" not in log, log
        after = chunks(disk)
        assert before[0] not in after, "the oldest chunk was not deleted to make room"
        landed = log.count("chunk landed:") - landed_before  # 2-second chunks: 30 in a minute
        assert landed >= FAULT_SECONDS / 2 * 0.8, f"recording did not go on: {landed} chunks\n{log}"
        assert after[-1].stat().st_mtime > time.time() - 10, "no recent chunk"
        assert all(plays(c) for c in after), [c.name for c in after if not plays(c)]
        images = sorted((disk / "images").glob("*.jpg"))
        assert images and images[-1].stat().st_mtime > time.time() - 10, "snapshots stopped"
        _links_valid(disk)
    finally:
        if viewer:
            viewer.stop()
        cs.kill()


def test_nothing_left_to_delete_pauses_once_and_resumes_by_itself(disk: Path, tmp_path: Path) -> None:
    filler = fill(disk, leave=100_000)  # full before camstream starts: nothing of ours to delete
    cs, port, state = _start(disk, tmp_path)
    viewer = None
    try:
        cs.wait_for(lambda: "disk full: recording paused" in cs.log(), 30, "the pause")
        cs.wait_for(lambda: status(state).get("state") == "running" and status(state).get("frames", 0) > FPS, 30,
                    "the live-only FFmpeg")
        viewer = Viewer(f"rtsp://127.0.0.1:{port}/live", "tcp")
        viewer.wait_frames(FPS, 30)
        window = Window(viewer, cs.proc.pid, state, FPS)
        time.sleep(PAUSED_SECONDS)
        filler.unlink()  # space comes back
        cs.wait_for(lambda: chunks(disk), 30, "a chunk after space came back")
        time.sleep(max(0.0, 2 * PAUSED_SECONDS - (time.monotonic() - window.t0)))
        ratio, produced, restarts = window.close()
        log = cs.log()
        assert ratio >= 0.95, f"viewer got {ratio:.1%} of {produced} frames\n{log}"
        assert restarts <= 1, log
        assert user_lines(log, "recording paused") == 1, log
        assert "disk space is back: recording resumed" in log
        assert "Traceback" not in log and "restarting:" not in log, log
        assert all(plays(c) for c in chunks(disk))
        _links_valid(disk)
    finally:
        if viewer:
            viewer.stop()
        cs.kill()


@pytest.mark.parametrize("fault", ["read-only", "unmounted"])
def test_read_only_or_vanished_disk_keeps_live_and_resumes(disk: Path, tmp_path: Path, fault: str) -> None:
    cs, port, state = _start(disk, tmp_path)
    viewer = None
    try:
        cs.wait_for(lambda: len(chunks(disk)) >= 2, 40, "two chunks")
        viewer = Viewer(f"rtsp://127.0.0.1:{port}/live", "udp")
        viewer.wait_frames(FPS, 20)
        window = Window(viewer, cs.proc.pid, state, FPS)
        if fault == "read-only":
            # A read-only bind mount on top: the disk turned read-only (what ext4 does after I/O errors).
            subprocess.run(["mount", "--bind", str(disk), str(disk)], check=True)
            subprocess.run(["mount", "-o", "remount,bind,ro", str(disk)], check=True)
            expected = "is read-only; live stream continues"
        else:
            subprocess.run(["umount", "-l", str(disk)], check=True)  # the USB SSD was pulled
            expected = "is not mounted any more; live stream continues"
        cs.wait_for(lambda: expected in cs.log(), 15, "the pause line")
        time.sleep(FAULT_SECONDS)
        ratio, produced, restarts = window.close()
        log = cs.log()
        assert ratio >= 0.95, f"viewer got {ratio:.1%} of {produced} frames\n{log}"
        assert restarts <= 1, log
        assert user_lines(log, "recording paused") == 1, log
        assert not (disk / "video").exists() or fault == "read-only", "recorded onto the root filesystem"
        # The disk comes back.
        if fault == "read-only":
            subprocess.run(["umount", str(disk)], check=True)
        else:
            subprocess.run(["mount", "-t", "tmpfs", "-o", "size=40m", "tmpfs", str(disk)], check=True)
        back = time.time()
        cs.wait_for(lambda: "recording resumed" in cs.log(), 15, "the resume line")
        cs.wait_for(lambda: [c for c in chunks(disk) if c.stat().st_mtime > back + 1], 30, "a new chunk")
        log = cs.log()
        assert "Traceback" not in log and "restarting:" not in log, log
        assert all(plays(c) for c in chunks(disk))
        cs.wait_for(lambda: (disk / "drone_temp" / "latest_image.jpg").exists(), 10, "latest_image.jpg")
        _links_valid(disk)
    finally:
        if viewer:
            viewer.stop()
        cs.kill()


# Longer than the supervisor gives a silent output before it restarts FFmpeg (2 snapshot intervals + stall_seconds
# + the start-up allowance: 17 s), as an SD card that stalls for half a minute is.
STALL_SECONDS = 25


@pytest.mark.skipif(not Path("/dev/loop-control").exists(), reason="no loop devices here for an ext4 disk to freeze")
def test_disk_that_stalls_holds_recording_and_never_live(tmp_path: Path) -> None:
    with ext4(tmp_path / "card", "200M") as card:
        cs, port, state = _start(card, tmp_path)
        viewer = None
        try:
            cs.wait_for(lambda: len(chunks(card)) >= 2, 40, "two chunks")
            viewer = Viewer(f"rtsp://127.0.0.1:{port}/live", "udp")
            viewer.wait_frames(FPS, 20)
            window = Window(viewer, cs.proc.pid, state, FPS)
            with frozen(card):  # every write to the card blocks in the kernel
                cs.wait_for(lambda: status(state).get("disk_not_answering") is True, STALL_SECONDS, "the status")
                time.sleep(max(0.0, STALL_SECONDS - (time.monotonic() - window.t0)))
            thawed = time.time()
            cs.wait_for(lambda: [c for c in chunks(card) if c.stat().st_mtime > thawed + 2], 20, "a chunk after it")
            time.sleep(5)
            ratio, produced, restarts = window.close()
            log = cs.log()
            assert ratio >= 0.95, f"viewer got {ratio:.1%} of {produced} frames while the card stalled\n{log}"
            assert restarts == 0 and "restarting:" not in log and "Traceback" not in log, log
            assert user_lines(log, "recording disk not answering") == 1, log
            assert user_lines(log, "recording disk answers again") == 1, log
            assert status(state).get("disk_not_answering") is False
            assert all(plays(c) for c in chunks(card)), [c.name for c in chunks(card) if not plays(c)]
            _links_valid(card)
        finally:
            if viewer:
                viewer.stop()
            cs.kill()
