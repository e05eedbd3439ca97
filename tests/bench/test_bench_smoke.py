"""The benchmark harness still runs: a 3-second variant of two CPU cases and the latency section, at 320x240;
and every command line `make bench` runs can still run on this machine."""

from __future__ import annotations

import os
import re
import socket
import sys
import threading
from pathlib import Path

import pytest

from bench import cases, gst_viewer, report
from bench import encoders as bench_encoders
from bench import run as bench_run
from bench import web_media as bench_web_media
from camstream import proc
from camstream.net import free_port

ROOT = Path(__file__).resolve().parents[2]
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


# ---------------------------------------------------------------------------------------------------------------
# Every command line `make bench` runs, built by the bench's own functions and run for real on a tiny input, so a
# missing binary, GStreamer element, FFmpeg filter/encoder/muxer or a setting camstream no longer accepts fails
# `make test` instead of half-way through a 12-minute bench (issue 16: case (c) died on `no element "x264enc"`).

TINY = cases.Video(width=320, height=240, fps=10, bitrate=200_000)  # 320: the latency stamp needs >= 232 px


def _bounded(argv: list[str], seconds: float) -> list[str]:
    """The argv with its (endless, real-time) lavfi input cut to `seconds`: `-t` before `-i` is an input option."""
    at = argv.index("-i")
    return [*argv[:at], "-t", f"{seconds:g}", *argv[at:]]


def _run(argv: list[str], timeout: float = 60.0) -> None:
    result = proc.run(argv, timeout=timeout)
    assert result.returncode == 0, f"{proc.quote(argv)}\n{result.stderr[-2000:]}"


class _Sink:
    """A local TCP listener that drains one connection (the RTSP server's MPEG-TS ingest, for the bench's cases)."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.sock.getsockname()[1])
        self.received = 0
        self.thread = threading.Thread(target=self._drain, daemon=True)
        self.thread.start()

    def _drain(self) -> None:
        self.sock.settimeout(60)
        try:
            conn, _ = self.sock.accept()
        except OSError:
            return
        with conn:
            while chunk := conn.recv(65536):
                self.received += len(chunk)

    def close(self) -> int:
        self.thread.join(timeout=30)
        self.sock.close()
        return self.received


@pytest.fixture(scope="module")
def y4m(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shared "camera": the bench's own generator argv, 0.5 s of it, into a regular file."""
    out = tmp_path_factory.mktemp("bench-source") / "source.y4m"
    _run(_bounded(cases.generator_argv(TINY, out), 0.5))
    assert out.stat().st_size > TINY.width * TINY.height  # at least one raw frame
    return out


@pytest.mark.slow
def test_bench_case_b_bare_ffmpeg_argv_runs(y4m: Path) -> None:
    sink = _Sink()
    _run(cases.bare_rtsp_argv(TINY, y4m, sink.port))
    assert sink.close() > 0


@pytest.mark.slow
def test_bench_case_c_gst_seed_argv_runs(y4m: Path, tmp_path: Path) -> None:
    # x264enc (gstreamer1.0-plugins-ugly), y4mdec/h264parse/mpegtsmux (-bad), splitmuxsink/jpegenc (-good).
    (tmp_path / "rec").mkdir()
    (tmp_path / "img").mkdir()
    sink = _Sink()
    _run(cases.gst_seed_argv(TINY, y4m, sink.port, tmp_path / "rec", tmp_path / "img"))
    assert sink.close() > 0
    chunks = list((tmp_path / "rec").glob("chunk*.mp4"))
    assert chunks and chunks[0].stat().st_size > 0
    assert list((tmp_path / "img").glob("img*.jpg"))


@pytest.mark.slow
@pytest.mark.parametrize("case", [c for c in cases.CPU_CASES if c.kind == "camstream"], ids=lambda c: c.key)
def test_bench_camstream_case_config_is_accepted(case: cases.CpuCase, y4m: Path, tmp_path: Path) -> None:
    # The bench's config for the case and its exact `camstream run` argv, as a dry run: every setting is still
    # accepted and camstream finds what the case's outputs need (FFmpeg, nginx for RTMP).
    settings = cases.camstream_config(source=str(y4m), video=TINY, outputs=case.outputs, rtsp_port=free_port(),
                                      rtmp_port=free_port(), stat_port=free_port(), ssd_path=tmp_path / "ssd",
                                      state_dir=tmp_path / "state")
    config = tmp_path / "camstream.yaml"
    config.write_text(cases.render_config(settings))
    argv = [*cases.camstream_argv(bench_run.camstream_bin(), config, 3.0), "--dry-run"]
    result = proc.run(argv, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("# ffmpeg command\n")


@pytest.mark.slow
def test_bench_readers_and_rtmp_publisher_argv_run(y4m: Path, tmp_path: Path) -> None:
    # The CPU cases' viewer (-c copy to null) and the bare latency pipeline's publisher (clock overlay with
    # the DejaVu font, stamp, libx264, FLV); the publisher's RTMP URL becomes a file, the rest is verbatim.
    sink = _Sink()
    _run(cases.bare_rtsp_argv(TINY, y4m, sink.port))
    sink.close()
    flv = tmp_path / "bare.flv"
    _run(_bounded(cases.bare_rtmp_publisher_argv(TINY, str(flv)), 0.5))
    assert flv.stat().st_size > 0
    _run(cases.reader_argv(str(flv)))


@pytest.mark.slow
@pytest.mark.parametrize("url", ["rtsp://127.0.0.1:8554/live", "rtmp://127.0.0.1:1935/live/cam"])
def test_bench_gst_viewer_pipeline_builds(url: str, tmp_path: Path) -> None:
    # The latency section's GStreamer viewer: GStreamer builds (parses, creates and links) the exact description
    # without connecting anywhere; a missing element (rtspsrc, rtmp2src, avdec_h264 ...) fails here.
    argv = gst_viewer.viewer_argv(url, TINY.width, str(tmp_path / "frames"))
    check = ("import sys, gi; gi.require_version('Gst', '1.0'); from gi.repository import Gst; Gst.init(None); "
             "Gst.parse_launch_full(' '.join(sys.argv[1:]), None, Gst.ParseFlags.FATAL_ERRORS)")
    _run([sys.executable, "-c", check, *argv[2:]])


@pytest.mark.slow
def test_bench_encoders_argv_runs(tmp_path: Path) -> None:
    # `python -m bench.encoders` (also part of `make bench`): its encode and PSNR command lines, a few frames.
    assert bench_encoders.encode_cpu_percent("ultrafast", 320, 240, 10, 0.3, 1) >= 0
    row = bench_encoders.quality("ultrafast", "baseline", tmp_path, 0.1)
    assert row.psnr > 0 and row.signalled.startswith("Constrained Baseline")


@pytest.mark.slow
def test_bench_web_media_publisher_argv_runs_and_chromium_is_there() -> None:
    # `python -m bench.web_media` (part of `make bench`): its one stamped encode teed to two TCP ingests, and the
    # browser it drives (Chromium via Playwright, the same binary and switches as the web view's tests).
    from media_support import CHROMIUM  # tests/ helper that bench.web_media imports too

    rtsp, web = _Sink(), _Sink()
    _run(_bounded(bench_web_media.publisher_argv(TINY.width, TINY.height, TINY.fps, rtsp.port, web.port), 0.5))
    assert rtsp.close() > 0 and web.close() > 0
    assert os.access(CHROMIUM, os.X_OK), f"{CHROMIUM}: not installed (make deps installs chromium)"
    import playwright.sync_api  # noqa: F401 - bench.web_media drives Chromium through it
