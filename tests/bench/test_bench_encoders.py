"""bench/encoders.py: the section it renders (pure; the measuring is make bench)."""

from __future__ import annotations

from bench.encoders import CpuRow, QualityRow, render


def test_render() -> None:
    cpu = [CpuRow("ultrafast", "1280x720", 14.2, ""), CpuRow("veryfast", "1920x1080", 57.0, "")]
    qual = [QualityRow("veryfast", "baseline", 35.79, 2047.4, "Constrained Baseline")]
    section = render(cpu, qual, "meta line")
    lines = section.splitlines()
    assert lines[0] == "## libx264 presets and H.264 profiles (bench/encoders.py)"
    assert "| ultrafast | 14% | - |" in lines and "| veryfast | - | 57% |" in lines
    assert "| veryfast | baseline | 35.79 | 2047 | Constrained Baseline |" in lines
