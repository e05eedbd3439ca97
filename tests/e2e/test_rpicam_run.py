"""`camstream run --source rpicam` end to end with a stand-in rpicam-vid first on PATH (no Pi camera here):
RTSP at the asked size, chunks and snapshots, the pair restarted after a kill, waiting while the tool or the
camera is gone, in both modes (raw YUV encoded by camstream, and rpicam-vid's own H.264)."""

from __future__ import annotations

import json
import re
import shutil
import signal
import time
from pathlib import Path

import psutil
import pytest

from support import ROOT, decodes_cleanly, ffprobe_stream, free_port

pytestmark = pytest.mark.slow

STANDIN = ROOT / "tests" / "standins" / "rpicam-vid"
FIXTURES = ROOT / "tests" / "fixtures" / "rpicam"


class Bin:
    """A PATH directory holding the stand-in as rpicam-vid and rpicam-hello, with its argv log."""

    def __init__(self, root: Path) -> None:
        self.dir = root / "bin"
        self.dir.mkdir()
        for name in ("rpicam-vid", "rpicam-hello"):
            shutil.copy(STANDIN, self.dir / name)
        self.log = root / "rpicam-argv.log"
        self.unplugged = root / "unplugged"

    def env(self) -> dict[str, str]:
        """Environment for camstream: the stand-ins first on PATH."""
        import os

        return {"PATH": f"{self.dir}{os.pathsep}{os.environ['PATH']}", "RPICAM_STANDIN_LOG": str(self.log),
                "RPICAM_STANDIN_LIST": str(FIXTURES / "imx708-imx477-pi5.txt"),
                "RPICAM_STANDIN_UNPLUGGED": str(self.unplugged)}

    def calls(self) -> list[list[str]]:
        """Every recorded rpicam-vid argv (program name first)."""
        lines = self.log.read_text().splitlines() if self.log.exists() else []
        return [c for c in map(json.loads, lines) if c[0] == "rpicam-vid" and "--list-cameras" not in c]


def standin_procs(cs) -> list[psutil.Process]:  # type: ignore[no-untyped-def]
    """camstream's running rpicam-vid stand-ins."""
    found = []
    for child in cs.children():
        try:
            if any(arg.endswith("/rpicam-vid") for arg in child.cmdline()[:2]):
                found.append(child)
        except psutil.NoSuchProcess:
            pass
    return found


def ffmpeg_procs(cs) -> list[psutil.Process]:  # type: ignore[no-untyped-def]
    """camstream's own FFmpeg (not the stand-in's, which is the stand-in's child)."""
    out = []
    for child in psutil.Process(cs.proc.pid).children():
        try:
            if child.name() == "ffmpeg":
                out.append(child)
        except psutil.NoSuchProcess:
            pass
    return out


def newest_part(ssd: Path) -> Path | None:
    """The chunk being written."""
    parts = sorted((ssd / "video").glob("*.part"))
    return parts[-1] if parts else None


def new_part_after(cs, ssd: Path, old: Path | None, since: float, what: str) -> float:  # type: ignore[no-untyped-def]
    """Seconds from `since` until a chunk other than `old` is being written."""
    cs.wait_for(lambda: (p := newest_part(ssd)) is not None and p != old and p.stat().st_size > 0, 20, what)
    return time.monotonic() - since


@pytest.mark.parametrize("mode", ["yuv", "h264"])
def test_rpicam_source_end_to_end(mode: str, camstream_run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    tools = Bin(tmp_path)
    ssd, rtsp_port = tmp_path / "ssd", free_port()
    cs = camstream_run("--source", "rpicam", "--resolution", "1280x720", "--fps", "25", "--rtsp", "--record",
                       "--snapshots", "--rpicam-mode", mode, "--rtsp-port", str(rtsp_port), "--segment-seconds", "2",
                       "--stall-seconds", "3", "--ssd-path", str(ssd), "--state-dir", str(tmp_path / "state"),
                       env=tools.env())
    url = f"rtsp://127.0.0.1:{rtsp_port}/live"
    stream = cs.wait_for(lambda: ffprobe_stream(url, "-rtsp_transport", "tcp") or None, 40, "RTSP")
    assert (stream["codec_name"], stream["width"], stream["height"]) == ("h264", 1280, 720)
    chunk = cs.wait_for(lambda: sorted((ssd / "video").glob("*Z.mp4")), 30, "a chunk")[0]
    assert decodes_cleanly(chunk)
    assert ffprobe_stream(str(chunk))["width"] == 1280
    latest_jpg = ssd / "drone_temp" / "latest_image.jpg"
    cs.wait_for(latest_jpg.exists, 20, "a snapshot")
    assert (ffprobe_stream(str(latest_jpg))["width"], ffprobe_stream(str(latest_jpg))["height"]) == (1280, 720)

    first = tools.calls()[0]
    assert first[:12] == ["rpicam-vid", "-t", "0", "--nopreview", "--camera", "0", "--width", "1280",
                          "--height", "720", "--framerate", "25"]
    # profile=auto is constrained baseline: the web page is on with any live output, and browsers need it.
    codec = ["--codec", "yuv420"] if mode == "yuv" else [
        "--codec", "h264", "--inline", "--intra", "25", "--profile", "baseline", "--bitrate", "2000000",
        "--low-latency", "--flush"]
    assert first[12:] == [*codec, "-o", "-"]

    # Killing the camera process restarts the pair (a new rpicam-vid and a new FFmpeg) within 3 s, and
    # recording carries on in a new chunk.
    victim, = standin_procs(cs)
    old_ffmpeg = {p.pid for p in ffmpeg_procs(cs)}
    old_part = newest_part(ssd)
    victim.send_signal(signal.SIGKILL)
    killed = time.monotonic()

    def restarted() -> bool:
        cams = [p for p in standin_procs(cs) if p.pid != victim.pid]
        ffmpegs = [p for p in ffmpeg_procs(cs) if p.pid not in old_ffmpeg]
        return bool(cams and ffmpegs)

    cs.wait_for(restarted, 10, "the pair to be restarted")
    assert time.monotonic() - killed <= 3.0, "the pair was not restarted within 3 s"
    new_part_after(cs, ssd, old_part, killed, "recording after the kill")
    assert len(tools.calls()) == 2
    assert "restarting: rpicam-vid exited with code -9" in cs.log()

    # rpicam-vid gone from PATH: the same waiting as an unplugged V4L2 camera, nothing running, then recovery.
    (tools.dir / "rpicam-vid").rename(tools.dir / "rpicam-vid.off")
    cs.wait_for(lambda: "camera rpicam:0 disappeared; waiting for it" in cs.log(), 15, "the waiting message")
    cs.wait_for(lambda: not standin_procs(cs) and not ffmpeg_procs(cs), 10, "the pair to stop")
    time.sleep(2)
    assert not standin_procs(cs) and not ffmpeg_procs(cs)
    old_part = newest_part(ssd)
    (tools.dir / "rpicam-vid.off").rename(tools.dir / "rpicam-vid")
    new_part_after(cs, ssd, old_part, time.monotonic(), "recording to resume")
    assert "camera rpicam:0 is back; starting" in cs.log()
    assert cs.stop() == 0


def test_unplugged_camera_waits_then_recovers(camstream_run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """rpicam-vid failing with "no cameras available" is a vanished camera: wait (listing cameras now and
    then, not restarting rpicam-vid in a loop), and start again once the camera is listed."""
    tools = Bin(tmp_path)
    ssd = tmp_path / "ssd"
    cs = camstream_run("--source", "rpicam:0", "--resolution", "320x240", "--fps", "15", "--rpicam-mode", "yuv",
                       "--no-rtsp", "--no-snapshots", "--segment-seconds", "2", "--ssd-path", str(ssd),
                       "--state-dir", str(tmp_path / "state"), env=tools.env())
    cs.wait_for(lambda: sorted((ssd / "video").glob("*Z.mp4")), 30, "a chunk")
    # FFmpeg dying takes the camera process down with it and both start again.
    old_cam, = standin_procs(cs)
    old_ffmpeg, = ffmpeg_procs(cs)
    old_ffmpeg.send_signal(signal.SIGKILL)
    killed = time.monotonic()
    cs.wait_for(lambda: [p for p in standin_procs(cs) if p.pid != old_cam.pid]
                and [p for p in ffmpeg_procs(cs) if p.pid != old_ffmpeg.pid], 10, "the pair to be restarted")
    assert time.monotonic() - killed <= 3.0, "the pair was not restarted within 3 s"
    assert not old_cam.is_running() or old_cam.status() == psutil.STATUS_ZOMBIE
    # Whichever the supervisor notices first: FFmpeg's kill, or the camera's broken pipe that follows it.
    assert re.search(r"restarting: (ffmpeg exited with code -9|rpicam-vid exited with code)", cs.log())

    tools.unplugged.touch()
    for victim in standin_procs(cs):
        victim.send_signal(signal.SIGKILL)
    cs.wait_for(lambda: "camera rpicam:0 disappeared; waiting for it" in cs.log(), 15, "the waiting message")
    starts = len(tools.calls())
    time.sleep(5)
    assert len(tools.calls()) == starts  # no restart loop while the camera is missing
    assert "no cameras available" in cs.log()  # rpicam-vid's stderr reached the log tail
    old_part = newest_part(ssd)
    tools.unplugged.unlink()
    new_part_after(cs, ssd, old_part, time.monotonic(), "recording to resume")
    assert "camera rpicam:0 is back; starting" in cs.log()
    assert cs.stop() == 0
