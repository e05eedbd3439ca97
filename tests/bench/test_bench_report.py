"""bench/report.py: issue 17's targets (memory, start-up, like-with-like latency anchors) and their tables."""

from __future__ import annotations

from pathlib import Path

from bench import cases, report
from bench.startup import StartupRow

MB = report.MB


def _results() -> report.Results:
    cpu = [
        report.CpuRow("a", "all outputs", [20.0], [140 * MB], [30.0], {},
                      {"supervisor": 28 * MB, "rtsp-server": 36 * MB, "nginx": 9 * MB, "ffmpeg": 70 * MB}),
        report.CpuRow("b", "bare", [19.0], [100 * MB], [30.0], {}, {"rtsp-server": 36 * MB, "ffmpeg": 64 * MB}),
    ]
    latency = [
        report.LatencyRow("camstream RTSP/UDP", [70.0], [90.0], [100], [0]),
        report.LatencyRow("camstream RTSP/TCP", [75.0], [95.0], [100], [0]),
        report.LatencyRow("camstream RTMP", [45.0], [60.0], [100], [0]),
        report.LatencyRow(report.BARE_RTMP, [43.0], [55.0], [100], [0], bare=True),
        report.LatencyRow(report.SEED_RTSP_UDP, [100.0], [120.0], [100], [0], bare=True),
        report.LatencyRow(report.SEED_RTSP_TCP, [90.0], [120.0], [100], [0], bare=True),
    ]
    gst = [
        report.LatencyRow("camstream RTSP/UDP", [30.0], [40.0], [100], [0]),
        report.LatencyRow(report.SEED_RTSP_UDP, [60.0], [80.0], [100], [0], bare=True),
    ]
    startup = [StartupRow("python -c pass (bare interpreter)", 0.02, 10 * MB),
               StartupRow("camstream --version", 0.05, 12 * MB, 2.5), StartupRow("camstream --help", 0.12, 30 * MB, 6.0)]
    return report.Results("cmd", "full", "now", 60.0, {}, "720p", 1, 12.0, cpu=cpu, latency=latency, gst_latency=gst,
                          startup=startup)


def test_issue_17_targets() -> None:
    got = {name: (measured, ok) for name, _goal, measured, ok in report.targets(_results())}
    assert got["peak RSS of the supervisor process, case (a)"] == ("28.0 MB", True)
    assert got["peak RSS of the rtsp-server process, case (a)"] == ("36.0 MB", False)
    assert got["peak RSS of the tree, (a) / (b)"] == ("1.40 (140 / 100 MB)", True)
    assert got["start-up `camstream --version` / `python -c pass`"] == ("2.50 (50 ms)", True)
    assert got["start-up `camstream --help` / `python -c pass`"] == ("6.00 (120 ms)", False)
    assert got["RTSP/UDP latency vs seed design, FFmpeg client (p50)"] == ("0.70 (70 / 100 ms)", True)
    assert got["RTSP/TCP latency vs seed design, FFmpeg client (p50)"] == ("0.83 (75 / 90 ms)", False)
    assert got["RTSP/UDP latency vs seed design, GStreamer client (p50)"] == ("0.50 (30 / 60 ms)", True)
    assert got["RTMP latency vs bare ffmpeg -> nginx-rtmp, FFmpeg client (p50)"] == ("1.05 (45 / 43 ms)", True)
    assert not any(" / bare" in name and "RTSP" in name for name in got), got  # the old RTSP-vs-RTMP row is gone


def test_missing_sections_give_no_latency_rows_and_na_memory() -> None:
    results = report.Results("cmd", "quick", "now", 1.0, {}, "240p", 1, 3.0)
    got = {name: (measured, ok) for name, _goal, measured, ok in report.targets(results)}
    assert not any("latency" in name for name in got)
    assert got["peak RSS of the tree, (a) / (b)"] == ("n/a", None)


def test_render_has_the_memory_and_startup_tables() -> None:
    text = report.render(_results())
    assert "### Memory by process" in text and "| (a) all outputs | 28.0 | 36.0 | 9.0 | 70.0 | **140.0** |" in text
    assert "## Start-up" in text and "| `camstream --help` | 120 | 6.00 | 30.0 |" in text
    assert f"| {report.SEED_RTSP_UDP} | **100** |" in text


def test_seed_rtsp_launch_uses_camstreams_encoder_settings() -> None:
    video = cases.Video(640, 360, 30)
    launch = cases.seed_rtsp_launch(video, "/tmp/f.y4m")
    assert launch == (
        "filesrc location=/tmp/f.y4m ! y4mdec ! queue leaky=downstream max-size-buffers=2 ! "
        "x264enc speed-preset=veryfast tune=zerolatency bitrate=2000 vbv-buf-capacity=1000 key-int-max=30 "
        "bframes=0 ! video/x-h264,profile=main ! h264parse config-interval=-1 ! rtph264pay name=pay0 pt=96 "
        "config-interval=-1")
    generator = cases.stamped_generator_argv(video, "/tmp/f.y4m")
    assert generator[-4:] == ["-f", "yuv4mpegpipe", "-y", "/tmp/f.y4m"] and "-re" in generator
    assert video.knobs().preset == video.config().preset == "veryfast"


def test_sections_are_replaced_in_place_never_duplicated(tmp_path: Path) -> None:
    results = tmp_path / "results.md"
    report.write_section(results, "bench.encoders", "## Encoders\nfirst run\n")
    assert results.read_text() == "# camstream benchmark results\n\n<!-- bench.encoders -->\n## Encoders\nfirst run\n<!-- /bench.encoders -->\n"
    report.write_section(results, "bench.web_media", "## Browser\n")
    report.write_section(results, "bench.encoders", "## Encoders\nsecond run")
    text = results.read_text()
    assert text.count("<!-- bench.encoders -->") == 1 and "first run" not in text and "second run\n<!-- /bench" in text
    assert text.index("bench.encoders") < text.index("bench.web_media")  # replaced where it was
    assert report.put_section("", "x", "b", title="# T\n") == "# T\n\n<!-- x -->\nb\n<!-- /x -->\n"
