"""`camstream recordings list|export|prune` on chunks from a real `camstream run`."""

from __future__ import annotations

import itertools
import json
import os
import shutil
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from support import Camstream, media_duration, run_cli

from camstream.errors import UsageError
from camstream.storage.export import ChunkInfo, Piece, cut, export_argv, iso, parse_time, render_concat


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An ssd_path holding ~5 chunks of 3 s from a 15 s run (no snapshots)."""
    root = tmp_path_factory.mktemp("rec")
    cs = Camstream(["--source", "testsrc", "--resolution", "320x240", "--fps", "15", "--no-rtsp", "--no-snapshots",
                    "--ssd-path", str(root), "--state-dir", str(root / "state"), "--segment-seconds", "3",
                    "--duration", "15"], root / "camstream.log")
    try:
        assert cs.proc.wait(60) == 0, cs.log()
    finally:
        cs.kill()
    return root


def chunks_json(root: Path, *args: str) -> list[dict]:  # type: ignore[type-arg]
    out = run_cli("recordings", "list", "--ssd-path", str(root), "--json", *args)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_list_json_has_contiguous_start_duration_size(recorded: Path) -> None:
    chunks = chunks_json(recorded)
    files = sorted(p for p in (recorded / "video").iterdir() if p.name.endswith("Z.mp4"))
    assert [c["name"] for c in chunks] == [p.name for p in files]
    assert len(chunks) >= 4
    assert [c["size"] for c in chunks] == [p.stat().st_size for p in files]
    for c in chunks[:-1]:
        assert c["duration"] == pytest.approx(3.0, abs=0.07)
    for c in chunks:  # the name is the whole second the chunk began in
        named = parse_time(c["name"][:16], "x")
        assert c["start"].endswith("Z")
        assert named <= parse_time(c["start"], "x") < named + timedelta(seconds=1)
    for a, b in itertools.pairwise(chunks):  # one continuous recording: each chunk starts where the last ended
        assert abs(parse_time(b["start"], "x") - parse_time(a["end"], "x")) < timedelta(milliseconds=2)


def test_list_since_until_selects_overlapping_chunks(recorded: Path) -> None:
    chunks = chunks_json(recorded)
    mid = parse_time(chunks[1]["start"], "x") + timedelta(seconds=1)
    until = parse_time(chunks[2]["start"], "x") + timedelta(seconds=1)
    picked = chunks_json(recorded, "--since", iso(mid), "--until", iso(until))
    assert [c["name"] for c in picked] == [chunks[1]["name"], chunks[2]["name"]]


def test_list_table(recorded: Path) -> None:
    out = run_cli("recordings", "list", "--ssd-path", str(recorded))
    assert out.returncode == 0 and out.stderr == ""
    names = sorted(p.name for p in (recorded / "video").iterdir())
    for name in names:
        assert name in out.stdout
    assert f"{len(names)} chunks" in out.stdout


def stream_params(path: Path) -> dict:  # type: ignore[type-arg]
    out = subprocess.run(["ffprobe", "-v", "error", "-show_data_hash", "md5", "-select_streams", "v",
                          "-show_entries", "stream=codec_name,profile,level,width,height,pix_fmt,extradata_hash",
                          "-of", "json", str(path)], capture_output=True, text=True, timeout=30, check=True)
    return json.loads(out.stdout)["streams"][0]


def packet_hashes(path: Path) -> list[str]:
    out = subprocess.run(["ffprobe", "-v", "error", "-show_data_hash", "md5", "-select_streams", "v",
                          "-show_entries", "packet=flags,data_hash", "-of", "csv=p=0", str(path)],
                         capture_output=True, text=True, timeout=30, check=True)
    return out.stdout.split()


def test_export_three_chunks_without_reencoding(recorded: Path, tmp_path: Path) -> None:
    chunks = chunks_json(recorded)
    start = parse_time(chunks[1]["start"], "x") + timedelta(seconds=1.3)
    end = parse_time(chunks[3]["start"], "x") + timedelta(seconds=1.6)
    out = tmp_path / "clip.mp4"
    result = run_cli("recordings", "export", "--ssd-path", str(recorded), "--from", iso(start), "--to", iso(end),
                     "-o", str(out))
    assert result.returncode == 0, result.stderr
    assert "from 3 chunks" in result.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.mp4"]  # no temp files left
    assert abs(media_duration(out) - (end - start).total_seconds()) < 1.0
    sources = [Path(c["path"]) for c in chunks[1:4]]
    assert all(stream_params(src) == stream_params(out) for src in sources)
    # Packets are the sources' own bytes: the export is one contiguous run of the three chunks' packets.
    source_packets = [h for src in sources for h in packet_hashes(src)]
    exported = packet_hashes(out)
    assert exported[0].startswith("K_")
    first = source_packets.index(exported[0])
    assert source_packets[first:first + len(exported)] == exported
    assert len(exported) == pytest.approx((end - start).total_seconds() * 15, abs=15)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(["recordings", "export", "--from", "2026-01-01T00:00:10Z", "--to", "2026-01-01T00:00:05Z",
                      "-o", "{out}"], "error: --from 2026-01-01T00:00:10.000Z is not before --to", id="from-after-to"),
        pytest.param(["recordings", "export", "--from", "2000-01-01T00:00:00", "--to", "2000-01-01T00:01:00",
                      "-o", "{out}"], "error: no recordings between 2000-01-01T00:00:00.000Z and", id="empty-range"),
        pytest.param(["recordings", "export", "--from", "yesterday", "--to", "now", "-o", "{out}"],
                     "error: --from yesterday: not a time: give ISO 8601", id="bad-time"),
        pytest.param(["recordings", "list", "--since", "2026-13-01"],
                     "error: --since 2026-13-01: not a time", id="bad-since"),
        pytest.param(["recordings", "prune", "--max-size", "20XB"],
                     "error: --max-size 20XB: expected a size like 500MB, 20GB or 1TB", id="prune-bad-size"),
        pytest.param(["recordings", "prune", "--min-free", "120%"],
                     "error: --min-free 120%: expected a percentage 0-99", id="prune-bad-min-free"),
    ],
)
def test_bad_input_one_line_exit_2(recorded: Path, tmp_path: Path, args: list[str], message: str) -> None:
    out = tmp_path / "out.mp4"
    before = sorted((recorded / "video").iterdir())
    result = run_cli(*[a.replace("{out}", str(out)) for a in args], "--ssd-path", str(recorded))
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith(message), result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert result.stdout == ""
    assert list(tmp_path.iterdir()) == []  # no half-written out.mp4
    assert sorted((recorded / "video").iterdir()) == before


def test_run_with_bad_max_size_writes_nothing(tmp_path: Path) -> None:
    ssd = tmp_path / "ssd"
    result = run_cli("run", "--source", "testsrc", "--no-rtsp", "--ssd-path", str(ssd), "--state-dir",
                     str(tmp_path / "state"), "--max-size", "20XB", "--duration", "2")
    assert result.returncode == 2
    assert result.stderr == "error: --max-size 20XB: expected a size like 500MB, 20GB or 1TB\n"
    assert not ssd.exists() and not (tmp_path / "state").exists()


def test_prune_dry_run_then_prune_deletes_oldest(recorded: Path, tmp_path: Path) -> None:
    root = tmp_path / "copy"
    shutil.copytree(recorded / "video", root / "video")
    names = sorted(p.name for p in (root / "video").iterdir())
    sizes = {n: (root / "video" / n).stat().st_size for n in names}
    for i, name in enumerate(names):  # keep the copies' times in recording order
        t = time.time() - 100 + i
        os.utime(root / "video" / name, (t, t))
    cap = sum(sizes[n] for n in names[2:]) + 1  # room for all but the two oldest
    dry = run_cli("recordings", "prune", "--ssd-path", str(root), "--max-size", str(cap), "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert [ln.split()[2] for ln in dry.stdout.splitlines()[:-1]] == [str(root / "video" / n) for n in names[:2]]
    assert dry.stdout.splitlines()[-1].startswith("would delete 2 recordings")
    assert sorted(p.name for p in (root / "video").iterdir()) == names
    real = run_cli("recordings", "prune", "--ssd-path", str(root), "--max-size", str(cap))
    assert real.returncode == 0, real.stderr
    assert sorted(p.name for p in (root / "video").iterdir()) == names[2:]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("2026-11-23T18:56:32Z", datetime(2026, 11, 23, 18, 56, 32, tzinfo=UTC), id="iso-z"),
        pytest.param("2026-11-23T18:56:32", datetime(2026, 11, 23, 18, 56, 32, tzinfo=UTC), id="no-zone-utc"),
        pytest.param("2026-11-23T19:56:32+01:00", datetime(2026, 11, 23, 18, 56, 32, tzinfo=UTC),
                     id="offset"),
        pytest.param("20261123T185632Z", datetime(2026, 11, 23, 18, 56, 32, tzinfo=UTC), id="chunk-name"),
        pytest.param("-10m", datetime(2026, 11, 23, 18, 50, 0, tzinfo=UTC), id="relative"),
        pytest.param("now", datetime(2026, 11, 23, 19, 0, 0, tzinfo=UTC), id="now"),
    ],
)
def test_parse_time(text: str, expected: datetime) -> None:
    assert parse_time(text, "--from", now=datetime(2026, 11, 23, 19, 0, 0, tzinfo=UTC)) == expected


def test_parse_time_rejects_garbage() -> None:
    with pytest.raises(UsageError, match=r"^--to 10 minutes ago: not a time"):
        parse_time("10 minutes ago", "--to")



def test_cut_and_concat_list_are_exact() -> None:
    t0 = datetime(2026, 11, 23, 18, 0, 0, 250000, tzinfo=UTC)
    keys = (0.0, 1.0, 2.0)
    chunks = [ChunkInfo(Path(f"/v/c{i}'s.mp4"), t0 + timedelta(seconds=3 * i), 3.0, 100, keys, False)
              for i in range(4)]
    pieces = cut(chunks, t0 + timedelta(seconds=4.4), t0 + timedelta(seconds=10.5))
    # 1.4 s into chunk 1 -> its keyframe at 1.0; 1.5 s into chunk 3 is the out point; chunk 0 is not needed.
    assert pieces == [Piece(Path("/v/c1's.mp4"), 1.0, None), Piece(Path("/v/c2's.mp4"), 0.0, None),
                      Piece(Path("/v/c3's.mp4"), 0.0, 1.5)]
    assert render_concat(pieces) == (
        "ffconcat version 1.0\n"
        "file '/v/c1'\\''s.mp4'\ninpoint 1\n"
        "file '/v/c2'\\''s.mp4'\n"
        "file '/v/c3'\\''s.mp4'\noutpoint 1.5\n"
    )


@pytest.mark.parametrize(
    ("same", "convert"),
    [pytest.param(True, ["-auto_convert", "0"], id="same-headers-byte-exact"),
     pytest.param(False, [], id="mixed-headers-annexb")],
)
def test_export_argv(same: bool, convert: list[str]) -> None:
    assert export_argv("/usr/bin/ffmpeg", Path("/t/l.ffconcat"), Path("/t/o.mp4"), same_headers=same) == [
        "/usr/bin/ffmpeg", "-hide_banner", "-nostdin", "-v", "error", "-y",
        "-f", "concat", "-safe", "0", *convert, "-i", "/t/l.ffconcat",
        "-map", "0:v", "-map", "0:a?", "-c", "copy", "-movflags", "+faststart", "-f", "mp4", "/t/o.mp4",
    ]
