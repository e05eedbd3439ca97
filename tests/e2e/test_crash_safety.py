"""Power cut: SIGKILL of camstream and FFmpeg mid-chunk loses at most the chunk being written."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest
from support import Camstream, decodes_cleanly, run_cli

from camstream.storage.layout import LATEST_VIDEO
from camstream.storage.mp4frag import read_fragments


def frames_decoded(path: Path) -> int:
    out = subprocess.run(["ffmpeg", "-v", "quiet", "-i", str(path), "-f", "framemd5", "-"], capture_output=True,
                         text=True, timeout=60, stdin=subprocess.DEVNULL, check=False)
    return len([ln for ln in out.stdout.splitlines() if ln and not ln.startswith("#")])


@pytest.fixture(scope="module")
def killed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An ssd_path after `camstream run` and its FFmpeg were SIGKILLed together, 1.5 s into a 3 s chunk."""
    tmp_path = tmp_path_factory.mktemp("killed")
    cs = Camstream(["--source", "testsrc", "--resolution", "320x240", "--fps", "15", "--no-rtsp", "--ssd-path",
                    str(tmp_path), "--state-dir", str(tmp_path / "state"), "--segment-seconds", "3", "-v"],
                   tmp_path / "camstream.log")
    video = tmp_path / "video"
    try:
        cs.child("ffmpeg")
        cs.wait_for(lambda: len(list(video.glob("*Z.mp4"))) >= 3, 30, "three finished chunks")
        time.sleep(1.5)
        assert list(video.glob("*.part")), "no chunk being written"
    finally:
        cs.kill()  # SIGKILL camstream's group and every descendant (FFmpeg runs in its own session)
    return tmp_path


def test_finished_chunks_decode_and_latest_points_at_one(killed: Path) -> None:
    video = killed / "video"
    finished = sorted(video.glob("*Z.mp4"))
    parts = sorted(video.glob("*.part"))
    assert len(finished) >= 3
    assert len(parts) == 1 and parts[0].name > finished[-1].name  # only the newest chunk is unfinished
    for chunk in finished:
        assert decodes_cleanly(chunk), chunk
        assert read_fragments(chunk).closed
    target = Path(os.readlink(killed / "drone_temp" / LATEST_VIDEO))
    assert target in finished
    assert decodes_cleanly(target)


def test_cut_chunk_holds_its_fragments_up_to_the_cut(killed: Path) -> None:
    part = next((killed / "video").glob("*.part"))
    kept = read_fragments(part)
    assert not kept.closed and kept.duration >= 1.0  # 1.5 s in: at least the first 1 s fragment is on disk


def test_next_start_recovers_and_lists_only_playable_chunks(killed: Path) -> None:
    video = killed / "video"
    part = next(video.glob("*.part"))
    cs = Camstream(["--source", "testsrc", "--resolution", "320x240", "--fps", "15", "--no-rtsp", "--ssd-path",
                    str(killed), "--state-dir", str(killed / "state"), "--segment-seconds", "3", "--duration", "2"],
                   killed / "second.log")
    try:
        assert cs.proc.wait(30) == 0, cs.log()
    finally:
        cs.kill()
    assert not part.exists() and not list(video.glob("*.part"))
    recovered = video / part.name.replace(".mp4.part", ".recovered.mp4")
    listed = json.loads(run_cli("recordings", "list", "--ssd-path", str(killed), "--json").stdout)
    assert len(listed) >= 4
    for chunk in listed:  # whatever is listed plays: the recovered chunk only when it kept whole fragments
        assert frames_decoded(Path(chunk["path"])) >= int(chunk["duration"] * 15) - 1
        assert chunk["recovered"] == (chunk["name"] == recovered.name)
