"""The live status panel renders every field the issue lists (rendered into a string console, no TTY needed)."""

from __future__ import annotations

import io

from rich.console import Console

from camstream.cli.run import _status_table
from camstream.status import Status


def test_status_panel_shows_every_field() -> None:
    status = Status(pid=1, state="running", source="/dev/video0", encoder="libx264", started_at=0.0, uptime=75,
                    fps=29.9, bitrate="2000kbits/s", dropped_frames=3, restarts=2,
                    last_restart_reason="stalled: no new frame for 5.1 s", viewers=4, disk_free_bytes=12_300_000_000,
                    last_chunk="/ssd/video/20261123T101010Z.mp4", last_snapshot="/ssd/images/20261123T101015Z.jpg",
                    urls=["rtsp://10.42.0.1:8554/live"])
    out = io.StringIO()
    Console(file=out, width=120, color_system=None).print(_status_table(status))
    text = out.getvalue()
    for expected in ("/dev/video0", "libx264", "29.9", "2000kbits/s", "dropped frames │ 3", "75 s",
                     "2 (last: stalled: no new frame for 5.1 s)", "viewers        │ 4", "12.3 GB",
                     "20261123T101010Z.mp4", "20261123T101015Z.jpg", "rtsp://10.42.0.1:8554/live"):
        assert expected in text, (expected, text)


def test_status_panel_shows_the_sound() -> None:
    audio = {"input": "pulse:mic.monitor", "codec": "aac", "state": "silence", "level_dbfs": None,
             "last_error": "Connection refused", "device_restarts": 1}
    status = Status(pid=1, state="running", source="testsrc", encoder="libx264", started_at=0.0, audio=audio)
    out = io.StringIO()
    Console(file=out, width=160, color_system=None).print(_status_table(status))
    assert "pulse:mic.monitor aac silence, - (last error: Connection refused)" in out.getvalue()
    status.audio = {**audio, "state": "live", "level_dbfs": -23.4, "last_error": None}
    out = io.StringIO()
    Console(file=out, width=160, color_system=None).print(_status_table(status))
    assert "pulse:mic.monitor aac live, -23.4 dBFS" in out.getvalue()
