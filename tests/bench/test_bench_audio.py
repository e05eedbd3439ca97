"""bench/audio.py and bench/avsource.py: the drifting microphone, the camstream command, the report."""

from __future__ import annotations

import struct
import sys
from pathlib import Path

from bench import audio as bench_audio
from bench.avsource import beep_samples, y4m_frame
from camstream import avsync


def onsets(pcm: bytes) -> list[int]:
    values = struct.unpack(f"<{len(pcm) // 2}h", pcm)
    return [i for i in range(1, len(values)) if values[i] and not any(values[max(0, i - 100):i])]


def test_beeps_land_on_real_seconds_of_a_drifting_device() -> None:
    assert onsets(beep_samples(0, 48000 * 3, 48000.0)) == [48001, 96001]
    # 1000 ppm fast: the device delivers 48048 samples per real second, so the beeps are 48048 apart.
    assert onsets(beep_samples(0, 48000 * 3, 48048.0)) == [48049, 96097]
    # Chunked generation gives the same stream.
    chunked = b"".join(beep_samples(n, 480, 48048.0) for n in range(0, 48000 * 3, 480))
    assert chunked == beep_samples(0, 48000 * 3, 48048.0)


def test_y4m_frame() -> None:
    frame = y4m_frame(4, 2, True)
    assert frame == b"FRAME\n" + bytes([235]) * 8 + bytes([128]) * 4


def test_camstream_argv(tmp_path: Path) -> None:
    argv = bench_audio.camstream_argv(tmp_path / "cam.y4m", tmp_path, 8554, 1935, "pulse:drift")
    assert argv[:4] == [sys.executable, "-m", "camstream", "run"]
    assert argv[argv.index("--source") + 1] == str(tmp_path / "cam.y4m")
    assert argv[-2:] == ["--audio", "pulse:drift"]
    assert "--audio" not in bench_audio.camstream_argv(tmp_path / "c", tmp_path, 1, 2, None)


def test_report_sections() -> None:
    good, late = avsync.report([0.01, -0.005, 0.012]), avsync.report([0.02, 0.06])
    points = [bench_audio.SyncPoint(0.2, good, good, good), bench_audio.SyncPoint(30.1, good, late, good)]
    sync = bench_audio.render_sync(points, 30, 1000)
    assert "| 0.2 min | RTMP viewer | 3 | +10 | +12 | PASS |" in sync
    assert "| 30.1 min | RTSP viewer | 2 | +40 | +60 | MISS |" in sync
    assert "- drift of the median at the rtsp: +1.00 ms/min (uncompensated it would be +60.0 ms/min)" in sync
    assert "not the 30" not in sync
    cpu = bench_audio.render_cpu((10.0, 11.5), "1280x720")
    assert "| cost of sound | +1.5 (+15%) |" in cpu
    text = bench_audio.update_section("", "audio-cpu", cpu)
    text = bench_audio.update_section(text, "audio-sync", sync)
    again = bench_audio.update_section(text, "audio-cpu", bench_audio.render_cpu((10.0, 12.0), "1280x720"))
    assert again.count("<!-- audio-cpu -->") == 1 and "+2.0 (+20%)" in again and sync in again
