"""The soak report: numbers come from the samples (pure render), so the benchmark cannot rot silently."""

from __future__ import annotations

from bench.soak import ProcSample, Sample, per_minute, render, viewer_argvs


def _samples() -> list[Sample]:
    out = []
    for i in range(0, 8 * 12 + 1):  # 8 minutes every 5 s
        t = i * 5.0
        rss_cs = 50_000_000 + (400_000 if t >= 300 else 0) + (1_000_000 if t >= 420 else 0)
        out.append(Sample(t, {
            "camstream": ProcSample(10, 0.004 * t, rss_cs),
            "ffmpeg": ProcSample(11 if t < 200 else 12, 0.25 * t, 80_000_000),
        }))
    return out


def test_render_reports_rate_growth_restarts_and_minutes() -> None:
    text = render(_samples(), {"RTSP UDP": (12000, 0), "RTMP": (11990, 1)}, 0, "640x360", 25)
    # camstream: 0.004 s/s = 0.24 s/min; RSS 50.4 MB after 5 min, 51.4 MB at the end: +1.00 MB < 2 MB.
    assert "| camstream | 0.24 | 0.4% | 50.4 | 51.4 | 51.4 | +1.00 | PASS |" in text
    # ffmpeg's pid changed once: a restart, so MISS even without growth.
    assert "| ffmpeg | 15.00 | 25.0% | 80.0 | 80.0 | 80.0 | +0.00 | MISS |" in text
    assert "children whose pid changed: **1**" in text and "restart count at the end: **0**" in text
    assert "| RTMP | 11990 | 25.0 | 1 |" in text
    assert "| 1 | 0.24 / 50.0 | 15.00 / 80.0 |" in text
    assert "for 8.0 min" in text


def test_per_minute_rows() -> None:
    rows = per_minute(_samples(), "camstream")
    assert [m for m, _, _ in rows] == list(range(1, 9))
    assert round(rows[0][1], 2) == 0.24 and rows[-1][2] == 51.4


def test_render_without_samples_says_so() -> None:
    assert "No samples" in render([], {}, -1, "320x240", 25)


def test_viewers_cover_rtsp_udp_tcp_and_rtmp() -> None:
    argvs = viewer_argvs(8554, 1935)
    assert argvs["RTSP UDP"][4:8] == ["-rtsp_transport", "udp", "-i", "rtsp://127.0.0.1:8554/live"]
    assert argvs["RTSP TCP"][4:6] == ["-rtsp_transport", "tcp"]
    assert argvs["RTMP"][4:6] == ["-i", "rtmp://127.0.0.1:1935/live/cam"]
