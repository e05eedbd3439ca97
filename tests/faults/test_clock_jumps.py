"""The wall clock jumps (NTP stepping the clock of a Pi without an RTC, an hour forward, then back past times already
used): chunks keep landing under the names the clock gives, no chunk is lost or overwritten, live never stalls.

The jumps come from libfaketime (Debian package faketime), applied to camstream's FFmpeg only (ffmpeg.path is a
wrapper that preloads it), the process that names chunks and snapshots from the wall clock. The machine's clock is
never touched. libfaketime 0.9.10 cannot be put under camstream's Python processes: its clock_nanosleep wrapper
makes every `time.sleep` fail with EINVAL (Python 3.11 sleeps with an absolute CLOCK_MONOTONIC deadline), even
with FAKETIME_DONT_FAKE_MONOTONIC or FAKETIME_ONLY_CMDS set, and without the former the monotonic clock would jump
too, which NTP never does. The Python side's use of the wall clock is covered with injected
clocks instead: tests/servers/test_server_hung.py (a jump is not a hang) and tests/storage/test_retention.py.
"""

from __future__ import annotations

import glob
import os
import re
import shutil
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest

from _clients import Viewer, Window, ffmpeg_pids
from support import Camstream, decodes_cleanly, free_port

LIBFAKETIME = next(iter(sorted(glob.glob("/usr/lib/*/faketime/libfaketimeMT.so.1"))), None)
pytestmark = pytest.mark.skipif(LIBFAKETIME is None, reason="needs libfaketime: apt-get install faketime (make deps)")

FPS = 25


def _landed(log: str) -> list[str]:
    return re.findall(r"chunk landed: (\S+)", log)


def test_wall_clock_jumps_forward_and_back_lose_nothing(tmp_path: Path) -> None:
    clock = tmp_path / "faketime.rc"
    clock.write_text("+0\n")
    real = shutil.which("ffmpeg")
    assert real is not None
    wrapper = tmp_path / "bin" / "ffmpeg"  # exec keeps the name: camstream and the test still see "ffmpeg"
    wrapper.parent.mkdir()
    wrapper.write_text(f"#!/bin/sh\nLD_PRELOAD={LIBFAKETIME} FAKETIME_TIMESTAMP_FILE={clock} FAKETIME_NO_CACHE=1 "
                       f"FAKETIME_DONT_FAKE_MONOTONIC=1 exec {real} \"$@\"\n")
    wrapper.chmod(0o755)
    env = {"CAMSTREAM_FFMPEG_PATH": str(wrapper)}
    port = free_port()
    ssd, state = tmp_path / "ssd", tmp_path / "state"
    cs = Camstream(["--source", "testsrc", "--resolution", "320x240", "--fps", str(FPS), "--bitrate", "500k",
                    "--rtsp", "--rtsp-server", "builtin", "--rtsp-port", str(port), "--record", "--snapshots",
                    "--segment-seconds", "2", "--ssd-path", str(ssd), "--state-dir", str(state), "-v"],
                   tmp_path / "cs.log", env=env)
    viewer = None
    try:
        cs.wait_for(lambda: len(_landed(cs.log())) >= 6, 40, "six chunks")  # 12 s of names behind us
        viewer = Viewer(f"rtsp://127.0.0.1:{port}/live", "tcp")
        viewer.wait_frames(FPS, 30)
        window = Window(viewer, cs.proc.pid, state, FPS)
        pids = ffmpeg_pids(cs.proc.pid)
        jump = datetime.now(timezone.utc)
        clock.write_text("+3600\n")  # NTP steps the clock an hour forward ...
        time.sleep(4)
        clock.write_text("-12\n")  # ... then back to 8 s before the first step: those names were used already
        time.sleep(7)
        # ... and right again. (Short steps: camstream's Python side, which looks for the snapshot of each second
        # by its own clock, does not see these jumps; over 17 s without a snapshot it would restart FFmpeg.)
        clock.write_text("+0\n")
        time.sleep(3)
        images_before = len(list((ssd / "images").glob("*.jpg")))
        time.sleep(4)
        ratio, produced, restarts = window.close()
        log = cs.log()
        assert ratio >= 0.95, f"viewer got {ratio:.1%} of {produced} frames across the jumps\n{log}"
        assert restarts == 0 and ffmpeg_pids(cs.proc.pid) == pids, log
        assert "restarting:" not in log and "Traceback" not in log, log
        landed = _landed(log)
        hours = {name[9:11] for name in landed}
        assert f"{(jump.hour + 1) % 24:02d}" in hours, f"no chunk named in the hour ahead: {landed}"
        reused = [n for n in landed if re.match(r"^\d{8}T\d{6}Z-\d+\.mp4$", n)]
        assert reused, f"the clock stepped back over used names, yet no name was reused: {landed}"
        on_disk = {p.name for p in (ssd / "video").glob("*.mp4")}
        assert set(landed) <= on_disk, f"chunks lost: {set(landed) - on_disk}"
        assert len(on_disk) >= len(landed), "a chunk overwrote another"
        assert all(decodes_cleanly(ssd / "video" / n) for n in landed)
        latest = ssd / "drone_temp" / "latest_video.mp4"
        assert latest.resolve().name == _landed(cs.log())[-1] or latest.resolve().name in _landed(cs.log())[-2:]
        assert (ssd / "drone_temp" / "latest_image.jpg").exists()
        assert len(list((ssd / "images").glob("*.jpg"))) > images_before, "snapshots stopped"
    finally:
        if viewer:
            viewer.stop()
        cs.kill()
