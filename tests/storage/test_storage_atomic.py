"""storage/atomic.py and storage/layout.py: one way to replace a file, every on-disk name in one place."""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from camstream.storage import atomic, layout

ROOT = Path(__file__).resolve().parents[2]


def test_write_atomic_replaces_and_leaves_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "status.json"
    target.write_text("old")
    atomic.write_atomic(target, '{"new": 1}')
    assert target.read_text() == '{"new": 1}' and os.listdir(tmp_path) == ["status.json"]
    atomic.write_atomic(target, b"\x00bytes", durable=True)
    assert target.read_bytes() == b"\x00bytes"


def test_write_atomic_mode_is_exact_from_the_start(tmp_path: Path) -> None:
    target = tmp_path / "mediamtx.yml"
    old = os.umask(0o077)
    try:
        atomic.write_atomic(target, "pass: secret\n", mode=0o600)
        assert stat.S_IMODE(target.stat().st_mode) == 0o600
        atomic.write_atomic(tmp_path / "unit.service", "[Unit]\n", mode=0o644)  # exact even under umask 077
        assert stat.S_IMODE((tmp_path / "unit.service").stat().st_mode) == 0o644
    finally:
        os.umask(old)
    atomic.write_atomic(tmp_path / "plain", "x")
    assert stat.S_IMODE((tmp_path / "plain").stat().st_mode) == 0o666 & ~old


def test_a_failed_write_keeps_the_old_file_and_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "retention.yaml"
    target.write_text("max_age: 7d\n")
    with pytest.raises(IsADirectoryError):  # the rename onto a directory fails after the temp file was written
        atomic.write_atomic(tmp_path, "x")
    assert target.read_text() == "max_age: 7d\n"
    assert [p.name for p in tmp_path.iterdir()] == ["retention.yaml"]


def test_a_reader_never_sees_half_a_file(tmp_path: Path) -> None:
    # A second process reads the file in a tight loop while this one rewrites it with two different contents.
    target = tmp_path / "status.json"
    a, b = "a" * 20_000, "b" * 30_000
    atomic.write_atomic(target, a)
    reader = subprocess.Popen([sys.executable, "-c", (
        f"p = {str(target)!r}\n"
        "bad = 0\n"
        "for _ in range(2000):\n"
        "    t = open(p).read()\n"
        "    bad += (set(t), len(t)) not in (({'a'}, 20000), ({'b'}, 30000))\n"
        "print(bad)\n")], stdout=subprocess.PIPE, text=True)
    try:
        while reader.poll() is None:
            atomic.write_atomic(target, b)
            atomic.write_atomic(target, a)
        out, _ = reader.communicate(timeout=60)
    finally:
        reader.kill()
        reader.wait()
    assert out.strip() == "0"


def test_swap_link_and_copy(tmp_path: Path) -> None:
    first, second = tmp_path / "a.mp4", tmp_path / "b.mp4"
    first.write_text("1")
    second.write_text("2")
    link = tmp_path / "latest" / layout.LATEST_VIDEO
    atomic.swap_link(link, first)
    atomic.swap_link(link, second)
    assert os.readlink(link) == str(second) and link.read_text() == "2"
    installed = atomic.copy_atomic(first, tmp_path / "tool", mode=0o755)
    assert installed.read_text() == "1" and os.access(installed, os.X_OK)
    assert sorted(p.name for p in (tmp_path / "latest").iterdir()) == [layout.LATEST_VIDEO]


def test_durable_replace_renames_a_finished_chunk(tmp_path: Path) -> None:
    part = tmp_path / ("20261123T185333Z.mp4" + layout.PART_SUFFIX)
    part.write_bytes(b"mp4")
    final = tmp_path / part.name.removesuffix(layout.PART_SUFFIX)
    atomic.replace(part, final, durable=True)
    assert final.read_bytes() == b"mp4" and not part.exists()


@pytest.mark.parametrize(("name", "finished"), [
    pytest.param("20261123T185333Z.mp4", True, id="chunk"),
    pytest.param("20261123T185333Z.recovered.mp4", True, id="recovered"),
    pytest.param("20261123T185333Z.jpg", True, id="snapshot"),
    pytest.param("20261123T185333Z.mp4.part", False, id="part"),
    pytest.param(".20261123T185333Z.jpg.123.tmp", False, id="atomic-temp"),
    pytest.param("20261399T185333Z.mp4", False, id="not-a-date"),
    pytest.param(layout.LATEST_VIDEO, False, id="latest-link"),
])
def test_layout_tells_recordings_from_everything_else(name: str, finished: bool) -> None:
    assert layout.is_recording(name) is finished


def test_layout_patterns_name_what_ffmpeg_writes() -> None:
    import time

    t = time.gmtime(1795460013)  # 2026-11-23T18:53:33Z
    chunk = time.strftime(layout.CHUNK_PATTERN, t)
    assert chunk == "20261123T185333Z.mp4" and layout.stamp_time(chunk) is not None
    assert time.strftime(layout.SNAPSHOT_PATTERN, t) == "20261123T185333Z.jpg"


def test_os_replace_only_in_the_helper() -> None:
    hits = [f"{p.relative_to(ROOT)}:{i}" for p in (ROOT / "camstream").rglob("*.py")
            for i, line in enumerate(p.read_text().splitlines(), 1)
            if re.search(r"os\.replace\(|\b\w+\.replace\((tmp|staged)\b|os\.rename\(", line)]
    assert hits == ["camstream/storage/atomic.py:35"]
