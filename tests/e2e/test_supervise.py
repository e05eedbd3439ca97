"""The supervisor with real processes: crashes, hangs, vanished sources, clean shutdown, live status."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import psutil
import pytest

from camstream.config import WatchdogConfig
from camstream.progress import ProgressReader
from camstream.supervise import Backoff
from support import decodes_cleanly, free_port, media_duration, run_cli

SMALL = ["--source", "testsrc", "--resolution", "320x240", "--fps", "25", "--bitrate", "400k"]


def rtsp_frames_within(url: str, seconds: float) -> int:
    """Frames a fresh RTSP client decodes within `seconds` (0 when none)."""
    argv = ["ffmpeg", "-v", "error", "-rtsp_transport", "tcp", "-i", url, "-t", "1", "-f", "framecrc", "-"]
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=seconds, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as exc:
        text = exc.stdout.decode() if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        return sum(1 for line in text.splitlines() if line and not line.startswith("#"))
    return sum(1 for line in out.stdout.splitlines() if line and not line.startswith("#"))


def newest_part(ssd: Path) -> Path | None:
    """The chunk being written."""
    parts = sorted((ssd / "video").glob("*.part"))
    return parts[-1] if parts else None


@pytest.fixture
def live(camstream_run, tmp_path: Path):  # type: ignore[no-untyped-def]
    """camstream with the builtin RTSP server, recording 2 s chunks; waits until RTSP delivers."""
    ssd, rtsp_port = tmp_path / "ssd", free_port()
    cs = camstream_run(*SMALL, "--rtsp", "--rtsp-port", str(rtsp_port), "--segment-seconds", "2",
                       "--stall-seconds", "2", "--ssd-path", str(ssd), "--state-dir", str(tmp_path / "state"))
    url = f"rtsp://127.0.0.1:{rtsp_port}/live"
    cs.wait_for(lambda: rtsp_frames_within(url, 8) > 0, 30, "RTSP frames")
    cs.ssd, cs.url, cs.state = ssd, url, tmp_path / "state"
    return cs


def assert_recovers_within_3s(cs, killed_at: float) -> None:  # type: ignore[no-untyped-def]
    """New frames at a fresh RTSP client and a new chunk being written, both within 3 s of the failure."""
    old_part = newest_part(cs.ssd)
    cs.wait_for(lambda: (p := newest_part(cs.ssd)) is not None and p != old_part and p.stat().st_size > 0,
                10, "a new chunk")
    assert time.monotonic() - killed_at <= 3.0, "no new chunk within 3 s"
    frames = rtsp_frames_within(cs.url, max(0.5, 3.0 - (time.monotonic() - killed_at)) + 2.0)
    assert frames > 0


def test_sigkill_of_ffmpeg_is_restarted(live) -> None:  # type: ignore[no-untyped-def]
    ffmpeg = live.child("ffmpeg")
    killed_at = time.monotonic()
    ffmpeg.send_signal(signal.SIGKILL)
    assert_recovers_within_3s(live, killed_at)
    assert live.child("ffmpeg").pid != ffmpeg.pid
    assert re.search(r"restarting: ffmpeg exited with code -9", live.log())


def test_sigkill_of_the_rtsp_server_is_restarted(live) -> None:  # type: ignore[no-untyped-def]
    server = live.child("camstream.servers.rtsp_builtin")
    ffmpeg_pid = live.child("ffmpeg").pid
    killed_at = time.monotonic()
    server.send_signal(signal.SIGKILL)
    live.wait_for(lambda: rtsp_frames_within(live.url, 3) > 0, 10, "RTSP frames after the server restart")
    assert time.monotonic() - killed_at <= 5.0
    assert "restarting: rtsp server exited" in live.log()
    # Capture and recording were not interrupted: the same FFmpeg kept running.
    assert live.child("ffmpeg").pid == ffmpeg_pid


def test_sigstop_hang_is_detected_and_recovered(live) -> None:  # type: ignore[no-untyped-def]
    ffmpeg = live.child("ffmpeg")
    ffmpeg.send_signal(signal.SIGSTOP)
    stopped_at = time.monotonic()
    live.wait_for(lambda: "restarting: stalled" in live.log(), 10, "stall detection")
    detected = time.monotonic() - stopped_at
    assert detected <= 2 + 1 + 0.5  # stall_seconds + 1, plus the log poll interval
    match = re.search(r"stalled: no new frame for ([\d.]+) s", live.log())
    assert match and float(match.group(1)) <= 3.0
    assert not psutil.pid_exists(ffmpeg.pid) or ffmpeg.status() == psutil.STATUS_ZOMBIE
    live.wait_for(lambda: rtsp_frames_within(live.url, 4) > 0, 15, "frames after recovery")


def test_sigterm_mid_chunk_finalises_it_and_leaves_nothing(camstream_run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    ssd = tmp_path / "ssd"
    cs = camstream_run(*SMALL, "--rtsp", "--rtsp-port", str(free_port()), "--segment-seconds", "5",
                       "--ssd-path", str(ssd), "--state-dir", str(tmp_path / "state"))
    cs.wait_for(lambda: list((ssd / "video").glob("*Z.mp4")), 30, "a first chunk")
    time.sleep(2.5)  # mid-way through the next chunk
    children = cs.children()
    assert children
    assert cs.stop(signal.SIGTERM) == 0
    chunks = sorted((ssd / "video").glob("*Z.mp4"))
    assert not list((ssd / "video").glob("*.part"))
    last = chunks[-1]
    assert 1.5 <= media_duration(last) <= 5.5 and decodes_cleanly(last)
    assert (ssd / "drone_temp" / "latest_video.mp4").resolve() == last
    gone, alive = psutil.wait_procs(children, timeout=5)
    assert not alive, [p.cmdline() for p in alive]


def test_source_vanishes_and_returns_without_busy_waiting(camstream_run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    clip = tmp_path / "clip.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25", "-t", "3",
                    "-c:v", "libx264", "-g", "25", str(clip)], check=True, timeout=60)
    hidden = tmp_path / "clip.hidden"
    ssd = tmp_path / "ssd"
    cs = camstream_run("--source", str(clip), "--no-rtsp", "--no-snapshots", "--segment-seconds", "2",
                       "--ssd-path", str(ssd), "--state-dir", str(tmp_path / "state"))
    cs.wait_for(lambda: list((ssd / "video").glob("*Z.mp4")), 30, "a first chunk")
    clip.rename(hidden)
    cs.wait_for(lambda: f"camera {clip} disappeared; waiting for it" in cs.log(), 10, "the waiting message")
    time.sleep(1)
    me = psutil.Process(cs.proc.pid)
    assert not [c for c in me.children(recursive=True) if "ffmpeg" in c.name()]
    before = sum(me.cpu_times()[:2])
    time.sleep(30)
    used = sum(me.cpu_times()[:2]) - before
    assert used < 1.5, f"camstream used {used:.2f} s of CPU in 30 s of waiting"
    assert cs.log().count("disappeared; waiting for it") == 1  # logged once, not per poll
    chunks_before = len(list((ssd / "video").glob("*Z.mp4")))
    hidden.rename(clip)
    back = time.monotonic()
    cs.wait_for(lambda: newest_part(ssd) is not None, 10, "recording to resume")
    assert time.monotonic() - back <= 3.0
    cs.wait_for(lambda: len(list((ssd / "video").glob("*Z.mp4"))) > chunks_before, 15, "a new chunk")
    assert cs.stop() == 0


def test_status_json_from_a_running_instance(camstream_run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    state = tmp_path / "state"
    cs = camstream_run(*SMALL, "--no-rtsp", "--ssd-path", str(tmp_path / "ssd"), "--state-dir", str(state))
    cs.wait_for(lambda: (tmp_path / "ssd" / "drone_temp" / "latest_image.jpg").exists(), 30, "a snapshot")
    time.sleep(1.5)
    result = run_cli("status", "--state-dir", str(state), "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    for key in ("source", "encoder", "fps", "bitrate", "dropped_frames", "uptime", "restarts",
                "last_restart_reason", "viewers", "disk_free_bytes", "last_chunk", "last_snapshot", "state"):
        assert key in data
    assert data["pid"] == cs.proc.pid and data["state"] == "running" and data["encoder"] == "libx264"
    assert data["fps"] > 0 and data["disk_free_bytes"] > 0 and data["last_snapshot"].endswith(".jpg")
    assert cs.stop() == 0
    gone = run_cli("status", "--state-dir", str(state), "--json")
    assert gone.returncode == 1
    assert gone.stderr.strip() == (f"error: camstream is not running (no live status in {state}): "
                                   "start it with `camstream run`")


def test_status_with_a_stale_file_from_a_crash_says_not_running(tmp_path: Path) -> None:
    (tmp_path / "status.json").write_text(json.dumps({"pid": 2**22 + 12345, "state": "running"}))
    result = run_cli("status", "--state-dir", str(tmp_path))
    assert result.returncode == 1 and "camstream is not running" in result.stderr


def test_backoff_grows_caps_and_rate_limits() -> None:
    now = [0.0]
    backoff = Backoff(WatchdogConfig(backoff_initial=0.5, backoff_max=4, max_restarts_per_minute=5),
                      clock=lambda: now[0])
    delays = [backoff.next_delay() for _ in range(5)]
    assert delays == [0.5, 1.0, 2.0, 4.0, 4.0]
    backoff.healthy()
    assert backoff.next_delay() == 4.0  # six restarts inside a minute: rate limit holds at the cap
    now[0] = 120.0
    backoff.healthy()
    assert backoff.next_delay() == 0.5


def test_progress_reader_tracks_frames() -> None:
    clock = [10.0]
    reader = ProgressReader(clock=lambda: clock[0])
    for line in ["frame=30", "fps=29.97", "bitrate=N/A", "drop_frames=2", "speed=1x", "progress=continue"]:
        reader.feed(line)
    progress, last = reader.snapshot()
    assert (progress.frame, progress.fps, progress.drop_frames, last) == (30, 29.97, 2, 10.0)
    clock[0] = 12.0
    for line in ["frame=30", "progress=continue"]:
        reader.feed(line)
    assert reader.snapshot()[1] == 10.0  # no new frame: the stall clock keeps running


def test_record_only_run_applies_retention(camstream_run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Retention runs even when there is no live output to keep going (record is the only sink)."""
    ssd = tmp_path / "ssd"
    cs = camstream_run(*SMALL, "--no-rtsp", "--no-snapshots", "--segment-seconds", "1", "--max-size", "150kB",
                       "--ssd-path", str(ssd), "--state-dir", str(tmp_path / "state"))
    seen: set[str] = set()
    deadline = time.monotonic() + 12
    while time.monotonic() < deadline:
        seen.update(p.name for p in (ssd / "video").glob("*Z.mp4"))
        time.sleep(0.2)
    assert cs.stop() == 0
    left = list((ssd / "video").glob("*Z.mp4"))
    assert len(seen) >= 6 and len(left) < len(seen), (len(seen), len(left), cs.log())
    assert sum(p.stat().st_size for p in left) <= 150_000
