"""The benchmark harness still runs: a 3-second variant of two CPU cases and the latency section, at 320x240."""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import pytest

from bench import report
from camstream import proc

ROOT = Path(__file__).resolve().parents[1]
NUMBER = r"[0-9]+(?:\.[0-9]+)?"


def _row(text: str, first_cell: str) -> list[str]:
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if cells and cells[0] == first_cell:
            return cells
    raise AssertionError(f"no table row starting with {first_cell!r} in:\n{text}")


@pytest.mark.slow
def test_quick_bench_writes_numbers(tmp_path: Path) -> None:
    out = tmp_path / "results.md"
    env = {"PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    result = proc.run(
        [sys.executable, "-m", "bench.run", "--quick", "--size", "320x240", "--cases", "a,b",
         "--sections", "cpu,latency", "--out", str(out)],
        timeout=150, env=env,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    text = out.read_text()
    assert "## Machine" in text and "## Targets" in text
    for case in ("(a)", "(b)"):
        cells = _row(text, case)
        assert re.fullmatch(rf"\*\*{NUMBER}\*\*", cells[2]), cells  # median CPU s/min
        assert float(cells[4]) > 0, cells  # peak RSS MB
    ratio = _row(text, "CPU (a)/(b)")
    assert re.fullmatch(NUMBER, ratio[2]) and ratio[3] in ("PASS", "MISS"), ratio
    for path in ("camstream RTSP/UDP", "camstream RTSP/TCP", "camstream RTMP", "bare ffmpeg -> nginx-rtmp"):
        cells = _row(text, path)
        assert re.fullmatch(rf"\*\*{NUMBER}\*\*", cells[1]), cells  # p50 ms
    ttff = _row(text, "time to first frame (median)")
    assert re.fullmatch(rf"{NUMBER} s", ttff[2]), ttff


def test_targets_pass_and_miss() -> None:
    rows = [
        report.CpuRow("a", "A", [20.0, 22.0, 21.0], [1, 2, 3], [30.0], {}),
        report.CpuRow("b", "B", [20.0], [1], [30.0], {}),
        report.CpuRow("c", "C", [30.0], [1], [30.0], {}),
    ]
    results = report.Results("cmd", "full", "now", 60.0, {}, "720p", 3, 12.0, cpu=rows, ttff=[1.0, 1.5, 1.1])
    got = {name: (measured, ok) for name, _goal, measured, ok in report.targets(results)}
    assert got["CPU (a)/(b)"] == ("1.05", True)
    assert got["CPU (a)/(c)"] == ("0.70", False)
    assert got["time to first frame (median)"] == ("1.10 s", True)
