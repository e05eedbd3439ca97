"""Retention: the pure policy, the Housekeeper on real files and the real disk, and a real 30 s run under a cap."""

from __future__ import annotations

import logging
import os
import re
import shutil
import signal
import subprocess
import time
from collections import namedtuple
from pathlib import Path

import pytest
from support import Camstream, free_port, run_cli

from camstream.config import MinFree
from camstream.storage.atomic import swap_link
from camstream.storage.layout import LATEST_VIDEO
from camstream.storage.retention import (
    OVERRIDE_FILE,
    Housekeeper,
    Recording,
    RetentionPolicy,
    explain_deletions,
    plan_deletions,
    read_override,
    render_override,
)

MB = 10**6
Usage = namedtuple("Usage", "total used free")


def rec(name: str, t: float, size: int) -> Recording:
    """A recording at /r/<name>, written at time t."""
    return Recording(t, Path("/r") / name, size)


FILES = [rec("a.mp4", 100, 10), rec("a.jpg", 101, 1), rec("b.mp4", 110, 10), rec("c.mp4", 120, 10),
         rec("d.mp4", 130, 10)]


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        pytest.param({}, [], id="no-limits"),
        pytest.param({"max_age": 25}, ["a.mp4", "a.jpg", "b.mp4"], id="age-older-than"),
        pytest.param({"max_size": 30}, ["a.mp4", "a.jpg"], id="size-oldest-first"),
        pytest.param({"max_size": 41}, [], id="size-at-cap"),
        pytest.param({"max_size": 30, "reserve": 5}, ["a.mp4", "a.jpg", "b.mp4"], id="size-with-reserve"),
        pytest.param({"min_free_bytes": 1015, "disk_free": 1000}, ["a.mp4", "a.jpg", "b.mp4"], id="free-oldest-first"),
        pytest.param({"min_free_bytes": 5000, "disk_free": 1000}, [], id="free-unreachable-deletes-nothing"),
        pytest.param({"max_size": 35, "protected": {Path("/r/a.mp4")}}, ["a.jpg", "b.mp4"], id="protected-kept"),
        pytest.param({"max_age": 25, "max_size": 10, "min_free_bytes": 0}, ["a.mp4", "a.jpg", "b.mp4", "c.mp4"],
                     id="age-then-size"),
    ],
)
def test_plan_deletions(kwargs: dict, expected: list[str]) -> None:  # type: ignore[type-arg]
    args = {"now": 140.0, "max_age": None, "max_size": None, "min_free_bytes": 0, "disk_free": 10**9, **kwargs}
    assert [p.name for p in plan_deletions(list(reversed(FILES)), **args)] == expected


def test_explain_names_the_limit() -> None:
    out = explain_deletions(FILES, 140.0, 35, 20, 0, 10**9)
    assert [(d.path.name, d.reason) for d in out] == [("a.mp4", "age"), ("a.jpg", "age"), ("b.mp4", "size")]


# -- Housekeeper on real files -------------------------------------------------------------------------------------


def make_files(video: Path, images: Path, count: int, size: int, start: float, step: float = 60) -> list[Path]:
    """count chunks (and one snapshot each) of real random data, with mtimes `step` apart from `start`."""
    video.mkdir(parents=True, exist_ok=True)
    images.mkdir(parents=True, exist_ok=True)
    out = []
    for i in range(count):
        t = start + step * i
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(t))
        for path, n in ((video / f"{stamp}.mp4", size), (images / f"{stamp}.jpg", size // 100)):
            path.write_bytes(os.urandom(n))
            os.utime(path, (t, t))
            out.append(path)
    return sorted(out, key=lambda p: (p.stat().st_mtime, str(p)))


class Clock:
    """Monotonic time the test moves."""

    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def housekeeper(root: Path, policy: RetentionPolicy, clock: Clock, **kw) -> Housekeeper:  # type: ignore[no-untyped-def]
    return Housekeeper(root / "video", root / "images", root / "latest", root, policy, state_dir=root / "state",
                       interval=10, clock=clock, **kw)


def test_max_age_uses_file_times(tmp_path: Path) -> None:
    now = time.time()
    files = make_files(tmp_path / "video", tmp_path / "images", 6, 1000, now - 6 * 3600, step=3600)  # 6 h..1 h old
    chunks = [p for p in files if p.suffix == ".mp4"]
    images = [p for p in files if p.suffix == ".jpg"]
    swap_link(tmp_path / "latest" / LATEST_VIDEO, chunks[0])  # even an old latest target stays
    hk = housekeeper(tmp_path, RetentionPolicy(max_age=3.5 * 3600), Clock())
    assert hk.tick([]) is True
    # 6 h, 5 h and 4 h old are over 3.5 h; the latest target is kept anyway.
    assert [p.exists() for p in chunks] == [True, False, False, True, True, True]
    assert [p.exists() for p in images] == [False, False, False, True, True, True]


def test_min_free_just_above_real_free_space_deletes_oldest(tmp_path: Path) -> None:
    files = make_files(tmp_path / "video", tmp_path / "images", 5, 20 * MB, time.time() - 3600)
    chunks = [p for p in files if p.suffix == ".mp4"]
    free = shutil.disk_usage(tmp_path).free
    # Need 50 MB more than is free: the three oldest 20 MB chunks (plus their snapshots) must go, not the rest.
    # (10 MB either side absorbs other programs writing to this disk meanwhile.)
    hk = housekeeper(tmp_path, RetentionPolicy(min_free=MinFree(bytes=free + 50 * MB)), Clock())
    assert hk.tick([]) is True
    assert [p.exists() for p in chunks] == [False, False, False, True, True]
    assert hk.paused is False


class FakeChunk:
    """What ChunkWatcher hands the Housekeeper."""

    def __init__(self, path: Path) -> None:
        self.path = path


def test_disk_full_pauses_once_and_resumes_with_hysteresis(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    files = make_files(tmp_path / "video", tmp_path / "images", 3, 1 * MB, time.time() - 600)
    disk = {"free": 100 * MB}
    clock = Clock()
    hk = housekeeper(tmp_path, RetentionPolicy(min_free=MinFree(bytes=200 * MB)), clock,
                     disk_usage=lambda _: Usage(1000 * MB, 0, disk["free"]))
    caplog.set_level(logging.INFO, logger="camstream")
    assert hk.tick([]) is False  # 100 MB free + 3 MB of recordings can never make 200 MB
    for _ in range(30):
        clock.t += 1
        assert hk.tick([]) is False
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == ["disk full: recording paused (100.0 MB free, need 200.0 MB); live stream continues"]
    assert all(p.exists() for p in files)  # nothing wiped for a goal that cannot be reached
    disk["free"] = 201 * MB  # just above the threshold: not enough to resume (hysteresis)
    clock.t += 11
    assert hk.tick([]) is False
    (tmp_path / "state").mkdir()
    (tmp_path / "state" / OVERRIDE_FILE).write_text("min_free: 150MB\n")  # threshold lowered at run time
    clock.t += 1.5
    assert hk.tick([]) is True
    assert any("recording resumed" in r.getMessage() for r in caplog.records)
    # The next chunk that lands is indexed and counted.
    new = tmp_path / "video" / "20990101T000000Z.mp4"
    new.write_bytes(b"x" * 1000)
    clock.t += 0.2
    assert hk.tick([FakeChunk(new)]) is True
    assert new in hk.index


def test_rotation_summary_is_one_info_line_a_minute(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    make_files(tmp_path / "video", tmp_path / "images", 4, 1000, time.time() - 600)
    clock = Clock()
    hk = housekeeper(tmp_path, RetentionPolicy(max_size=4500), clock)
    caplog.set_level(logging.DEBUG, logger="camstream")
    hk.tick([])
    for i in range(12):  # a chunk lands every 10 s; each pushes the oldest files out
        clock.t += 10
        new = tmp_path / "video" / time.strftime("%Y%m%dT%H%M%SZ.mp4", time.gmtime(time.time() + i))
        new.write_bytes(os.urandom(1000))
        hk.tick([FakeChunk(new)])
        assert new.exists()
    messages = [(r.levelno, r.getMessage()) for r in caplog.records]
    infos = [i for i, (level, _) in enumerate(messages) if level == logging.INFO]
    assert len(infos) == 2  # t=0 (the first deletions) and t=60; the rest waits for the next minute
    assert "in the last" not in messages[infos[0]][1]
    # The first landing makes room for the next chunk: the two oldest chunks and their snapshots go.
    assert "deleted 4 recordings (2.0 kB; 4 over max_size)" in messages[infos[0]][1]
    reported = int(re.search(r"deleted (\d+) recordings in the last 60 s", messages[infos[1]][1]).group(1))
    assert reported == infos[1] - infos[0] - 1  # every debug line between the two summaries is counted
    assert len([m for level, m in messages if level == logging.DEBUG]) > reported
    # Steady state: the newest three chunks stay (3 kB + room for the one being written is under 4.5 kB).
    assert len(list((tmp_path / "video").iterdir())) == 3


def test_bad_override_file_keeps_limits(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    (tmp_path / "state").mkdir()
    (tmp_path / "state" / OVERRIDE_FILE).write_text("max_size: 20XB\n")
    hk = housekeeper(tmp_path, RetentionPolicy(max_size=5 * MB), Clock())
    caplog.set_level(logging.INFO, logger="camstream")
    assert hk.tick([]) is True
    assert hk.policy.max_size == 5 * MB
    assert any("max_size=20XB: expected a size like 500MB" in r.getMessage() for r in caplog.records)


def test_limits_cli_writes_the_override_file_it_reads_back(tmp_path: Path) -> None:
    out = run_cli("recordings", "limits", "--state-dir", str(tmp_path), "--min-free", "off", "--max-size", "2GB")
    assert out.returncode == 0, out.stderr
    text = (tmp_path / OVERRIDE_FILE).read_text()
    assert text == render_override({"max_size": "2GB", "min_free": "off"})
    assert read_override(tmp_path / OVERRIDE_FILE) == {"max_size": 2 * 10**9, "min_free": MinFree()}
    bad = run_cli("recordings", "limits", "--state-dir", str(tmp_path), "--max-size", "20XB")
    assert (bad.returncode, bad.stderr) == (2, "error: --max-size 20XB: expected a size like 500MB, 20GB or 1TB\n")
    assert (tmp_path / OVERRIDE_FILE).read_text() == text  # unchanged
    cleared = run_cli("recordings", "limits", "--state-dir", str(tmp_path), "--clear")
    assert cleared.returncode == 0 and not (tmp_path / OVERRIDE_FILE).exists()


# -- real runs -----------------------------------------------------------------------------------------------------


def recordings_total(root: Path) -> int:
    """Bytes of everything under video/ and images/, the chunk being written included."""
    total = 0
    for sub in ("video", "images"):
        try:
            with os.scandir(root / sub) as entries:
                for e in entries:
                    try:
                        total += e.stat().st_size
                    except FileNotFoundError:
                        pass
        except FileNotFoundError:
            pass
    return total


def listing(root: Path) -> set[str]:
    out = set()
    for sub in ("video", "images"):
        try:
            out |= {f"{sub}/{n}" for n in os.listdir(root / sub)}
        except FileNotFoundError:
            pass
    return out


CAP = 5 * MB  # a 30 s run at 2 Mbit/s writes ~8 MB of chunks plus ~0.7 MB of snapshots


@pytest.fixture(scope="module")
def capped_run(tmp_path_factory: pytest.TempPathFactory) -> dict:  # type: ignore[type-arg]
    """One 30 s `camstream run` with max_size below what it writes and max_age 1 day, over old seeded files;
    the tree is polled every 0.1 s during the run."""
    root = tmp_path_factory.mktemp("capped")
    old = make_files(root / "video", root / "images", 3, 1000, time.time() - 3 * 86400)
    cs = Camstream(["--source", "testsrc", "--resolution", "640x360", "--no-rtsp", "--ssd-path", str(root),
                    "--state-dir", str(root / "state"), "--segment-seconds", "3", "--max-size", str(CAP),
                    "--max-age", "1d", "--duration", "30", "-v"], root / "camstream.log")
    samples = []
    seen_order: list[str] = []
    latest_targets = []
    try:
        deadline = time.monotonic() + 60
        while cs.proc.poll() is None and time.monotonic() < deadline:
            names = listing(root)
            seen_order += sorted(n for n in names if n not in seen_order)
            samples.append((recordings_total(root), names))
            try:
                latest_targets.append(Path(os.readlink(root / "drone_temp" / LATEST_VIDEO)))
            except OSError:
                pass
            time.sleep(0.1)
        code = cs.proc.wait(30)
        samples.append((recordings_total(root), listing(root)))  # after the clean stop finished the last chunk
    finally:
        if cs.proc.poll() is None:
            cs.stop(signal.SIGTERM, timeout=20)
        cs.kill()
    return {"root": root, "old": old, "samples": samples, "seen": seen_order, "code": code,
            "latest": latest_targets, "log": (root / "camstream.log").read_text()}


def test_total_stays_under_max_size_during_the_run(capped_run: dict) -> None:  # type: ignore[type-arg]
    assert capped_run["code"] == 0, capped_run["log"]
    totals = [t for t, _ in capped_run["samples"]]
    assert len(totals) > 100
    assert max(totals) < CAP, capped_run["log"]
    # It wrote well over the cap, so retention really deleted.
    written = {n for _, names in capped_run["samples"] for n in names if n.endswith(".mp4")}
    assert len(written) >= 9
    assert re.search(r"DEBUG retention: deleted \d{8}T\d{6}Z\.mp4 \([\d.]+ [kM]B, size\)", capped_run["log"])


def test_oldest_deleted_first_and_part_never_touched(capped_run: dict) -> None:  # type: ignore[type-arg]
    samples = capped_run["samples"]
    final = samples[-1][1]
    for kind in (".mp4", ".jpg"):
        ever = sorted({n for _, names in samples for n in names if n.endswith(kind) and ".tmp" not in n})
        kept = [n for n in ever if n in final]
        deleted = [n for n in ever if n not in final]
        assert kept and deleted, (kind, ever, final)
        assert max(deleted) < min(kept), f"a newer {kind} was deleted before an older one: {deleted} {kept}"
    # Every chunk seen being written (.part) was finished, never deleted while written: its .mp4 showed up.
    parts = {n for _, names in samples for n in names if n.endswith(".mp4.part")}
    assert parts
    mp4s = {n for _, names in samples for n in names if n.endswith(".mp4")}
    for part in parts:
        assert part.removesuffix(".part") in mp4s, f"{part} vanished without being finished"
    # The latest link never pointed at a deleted file while the run went on.
    for i, target in enumerate(capped_run["latest"][:-1]):
        assert target.name.endswith(".mp4")


def test_max_age_removed_old_files_at_start(capped_run: dict) -> None:  # type: ignore[type-arg]
    assert not any(p.exists() for p in capped_run["old"])
    assert "retention: deleted 6 recordings (3.0 kB; 6 by age)" in capped_run["log"]  # the first summary


@pytest.mark.slow  # a real `camstream run` with RTSP on a tiny disk
def test_disk_full_pauses_recording_live_rtsp_continues_then_resumes(tmp_path: Path) -> None:
    port = free_port()
    state = tmp_path / "state"
    cs = Camstream(["--source", "testsrc", "--resolution", "320x240", "--fps", "15", "--rtsp-server", "builtin",
                    "--rtsp-port", str(port), "--ssd-path", str(tmp_path), "--state-dir", str(state),
                    "--segment-seconds", "2", "--no-snapshots", "--duration", "60", "-v"], tmp_path / "cs.log")
    video = tmp_path / "video"
    try:
        cs.wait_for(lambda: list(video.glob("*Z.mp4")), 20, "a first chunk")
        # Another program "filled the disk": keep 99 % of the disk free, far above what is free.
        assert run_cli("recordings", "limits", "--state-dir", str(state), "--min-free", "99%").returncode == 0
        cs.wait_for(lambda: "disk full: recording paused" in cs.log(), 10, "the pause")
        cs.wait_for(lambda: not list(video.glob("*.part")), 10, "the last chunk to be finished")
        paused_chunks = set(video.iterdir())
        # Live RTSP keeps delivering frames while recording is paused.
        frames = subprocess.run(
            ["ffmpeg", "-v", "error", "-rtsp_transport", "tcp", "-i", f"rtsp://127.0.0.1:{port}/live",
             "-t", "3", "-f", "framemd5", "-"], capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL,
            check=False)
        assert len([ln for ln in frames.stdout.splitlines() if not ln.startswith("#")]) >= 20, frames.stderr
        assert set(video.iterdir()) == paused_chunks  # nothing recorded meanwhile (4+ s, two chunk lengths)
        assert cs.log().count("disk full: recording paused") == 1
        # Space comes back: the threshold is lowered at run time, recording resumes by itself.
        assert run_cli("recordings", "limits", "--state-dir", str(state), "--min-free", "off").returncode == 0
        cs.wait_for(lambda: set(video.glob("*Z.mp4")) - paused_chunks, 20, "a chunk after resuming")
        assert "recording resumed" in cs.log()
    finally:
        cs.stop(signal.SIGTERM, timeout=20)
        cs.kill()
