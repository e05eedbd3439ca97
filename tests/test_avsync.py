"""A/V sync (issue 14): the measuring tool itself, then the offset at an RTMP viewer, an RTSP viewer and in a chunk."""

from __future__ import annotations

import pytest

from camstream import avsync

META_VIDEO = """frame:0    pts:0       pts_time:0
lavfi.signalstats.YAVG=16
frame:1    pts:1       pts_time:0.04
lavfi.signalstats.YAVG=16
frame:2    pts:2       pts_time:1.0
lavfi.signalstats.YAVG=235
frame:3    pts:3       pts_time:1.04
lavfi.signalstats.YAVG=16
frame:4    pts:4       pts_time:2.0
lavfi.signalstats.YAVG=235
"""


def test_parse_metadata_and_flashes() -> None:
    frames = avsync.parse_metadata(META_VIDEO)
    assert frames == [(0.0, 16.0), (0.04, 16.0), (1.0, 235.0), (1.04, 16.0), (2.0, 235.0)]
    assert avsync.flash_onsets(frames) == [1.0, 2.0]


def test_a_stream_that_starts_on_a_flash_has_no_onset_there() -> None:
    assert avsync.flash_onsets([(0.0, 235.0), (0.04, 16.0), (1.0, 235.0)]) == [1.0]


def test_beep_onsets_need_quiet_before() -> None:
    windows = [(i / 100, -120.0) for i in range(100)]  # 1 s quiet
    windows += [(1.0 + i / 100, -20.0) for i in range(10)]  # beep
    windows += [(1.1 + i / 100, -inf) for i in range(20) for inf in [120.0]]  # 0.2 s quiet: too short
    windows += [(1.3, -20.0)]
    windows += [(1.31 + i / 100, -120.0) for i in range(60)]
    windows += [(1.91, -25.0)]
    assert avsync.beep_onsets(windows) == [1.0, 1.91]
    assert avsync.parse_metadata("frame:0 pts:0 pts_time:0.5\nlavfi.astats.Overall.RMS_level=-inf\n") == [(0.5, -120.0)]


def test_pairing_and_report() -> None:
    assert avsync.pair_offsets([1.0, 2.0, 3.0], [1.02, 1.99, 5.0]) == pytest.approx([0.02, -0.01])
    rep = avsync.report([0.02, -0.01, 0.03])
    assert (rep.events, rep.median_ms, rep.worst_ms) == (3, 20.0, 30.0)
    assert rep.line() == "3 events, median +20 ms, worst +30 ms"
    assert avsync.report([]).events == 0


def test_capture_argv() -> None:
    assert avsync.capture_argv("rtsp://h/live", "/t/o.mkv", 8) == [
        "ffmpeg", "-hide_banner", "-v", "error", "-y", "-rtsp_transport", "tcp", "-i", "rtsp://h/live",
        "-map", "0:v:0", "-map", "0:a:0", "-c", "copy", "-t", "8", "-f", "matroska", "/t/o.mkv"]
