"""`camstream --version`: camstream, Python, FFmpeg, GStreamer and Python package versions (issue 18)."""

from __future__ import annotations

import json
import os
import platform
import re
import subprocess
import sys
from pathlib import Path

import rich
import typer
import pytest
import yaml

from camstream import __version__, versions

CAMSTREAM = Path(sys.executable).parent / "camstream"


def _tool(argv: list[str], pattern: str) -> str:
    out = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    match = re.search(pattern, out.stdout + out.stderr)
    assert match, out
    return match.group(1)


@pytest.mark.slow  # asks every tool (ffmpeg, nginx, gst, mediamtx) for its version
def test_version_names_every_part_a_bug_report_needs(tmp_path: Path) -> None:
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path)}
    runs = [subprocess.run([str(CAMSTREAM), "--version"], capture_output=True, text=True, timeout=60, env=env)
            for _ in range(2)]  # the second answers the tool versions from the cache
    ffmpeg = _tool(["ffmpeg", "-version"], r"ffmpeg version (\S+)")
    gst = _tool(["gst-launch-1.0", "--version"], r"GStreamer (\S+)")
    for result in runs:
        assert result.returncode == 0 and result.stderr == "", result.stderr
        lines = result.stdout.splitlines()
        assert lines[0] == f"camstream {__version__}"
        assert lines[1].startswith(f"Python {platform.python_version()} ")
        assert f"FFmpeg {ffmpeg}" in lines and f"GStreamer {gst}" in lines
        packages = next(line for line in lines if line.startswith("packages: "))
        for name, version in (("typer", typer.__version__), ("pyyaml", yaml.__version__)):
            assert f"{name} {version}" in packages, packages
        assert "rich " in packages and "psutil " in packages
    assert runs[0].stdout == runs[1].stdout
    cache = json.loads((tmp_path / "camstream" / "tool-versions.json").read_text())
    assert set(cache) == {"FFmpeg", "GStreamer"} and cache["FFmpeg"]["key"].startswith("/")
    assert rich  # imported to be sure the package list names something really installed


def test_requirements_reads_extras_and_skips_test_only_ones(tmp_path: Path) -> None:
    dist = tmp_path / "x-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: x\nRequires-Dist: typer<0.30,>=0.29\nRequires-Dist: PyYAML>=6\n"
        "Requires-Dist: PyGObject<3.51; extra == \"rtsp\"\nRequires-Dist: pytest>=8; extra == 'test'\n"
        "Requires-Dist: colorama; platform_system == \"Windows\"\n\nRequires-Dist: not-a-header\n")
    assert versions.requirements(dist, ("rtsp",)) == ["typer", "pyyaml", "pygobject", "colorama"]
    assert versions.requirements(dist) == ["typer", "pyyaml", "colorama"]


def test_entry_points_agree_with_importlib_metadata(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The lean reader the supervisor uses finds what importlib.metadata finds, first distribution winning."""
    import importlib.metadata

    for group in ("camstream.outputs", "console_scripts"):
        lean = sorted((e.name, e.value) for e in versions.entry_points(group))
        assert lean == sorted((e.name, e.value) for e in importlib.metadata.entry_points(group=group)), group
    dist = tmp_path / "extra_plugin-2.0.dist-info"
    dist.mkdir()
    (dist / "entry_points.txt").write_text("[other]\nx = a:b\n\n[camstream.outputs]\n# a comment\n"
                                           "webrtc = json:JSONDecoder\nnested = os.path:join\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    found = {e.name: e for e in versions.entry_points("camstream.outputs")}
    assert found["webrtc"].load() is json.JSONDecoder and found["nested"].load() is os.path.join
    assert "x" not in found and {"rtsp", "record"} <= set(found)
