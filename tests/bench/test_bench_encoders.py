"""bench/encoders.py: the section it renders and how it lands in results.md (pure; the measuring is make bench)."""

from __future__ import annotations

from pathlib import Path

from bench.encoders import END, START, CpuRow, QualityRow, render, write_section


def test_render_and_replace(tmp_path: Path) -> None:
    cpu = [CpuRow("ultrafast", "1280x720", 14.2, ""), CpuRow("veryfast", "1920x1080", 57.0, "")]
    qual = [QualityRow("veryfast", "baseline", 35.79, 2047.4, "Constrained Baseline")]
    section = render(cpu, qual, "meta line")
    lines = section.splitlines()
    assert lines[0] == START and lines[-1] == END
    assert "| ultrafast | 14% | - |" in lines and "| veryfast | - | 57% |" in lines
    assert "| veryfast | baseline | 35.79 | 2047 | Constrained Baseline |" in lines
    results = tmp_path / "results.md"
    results.write_text("# results\n\n## Machine\n")
    write_section(section, results)
    write_section(section.replace("meta line", "second run"), results)  # replaces, never duplicates
    text = results.read_text()
    assert text.startswith("# results\n\n## Machine\n\n" + START)
    assert text.count(START) == 1 and "second run" in text and "meta line" not in text
