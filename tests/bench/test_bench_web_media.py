"""bench/web_media.py: the section it renders and the publisher it runs (pure; the measuring is make bench)."""

from __future__ import annotations

from bench.web_media import CpuRow, latency_row, publisher_argv, render


def test_render_states_the_target_against_rtsp() -> None:
    rows = [latency_row("RTSP (GStreamer viewer, UDP)", [40.0, 41.0, 42.0]), latency_row("WebRTC (WHEP)", [50.0, 60.0])]
    section = render(rows, [CpuRow("", 0, 1.0), CpuRow("WebRTC (WHEP)", 3, 7.0)], "meta")
    assert section.startswith("## Browser live view (bench/web_media.py)")
    assert "| WebRTC (WHEP) | 2 | 60 | 60 | 60 |" in section
    assert "60 / 41 ms = 1.46x, met." in section
    assert "| 3 WebRTC (WHEP) | 7.0% | 2.0% |" in section
    assert "NOT met" in render([rows[0], latency_row("WebRTC (WHEP)", [100.0])], [], "m")
    assert "not measured" in render([rows[0]], [], "m")


def test_one_encode_teed_to_both_ingests() -> None:
    argv = publisher_argv(640, 360, 30, 1111, 2222)
    assert argv.count("-c:v") == 1 and argv[argv.index("-f", argv.index("-map")) + 1] == "tee"
    assert argv[-1] == ("[f=mpegts:onfail=ignore:mpegts_flags=+resend_headers]tcp://127.0.0.1:1111|"
                        "[f=mpegts:onfail=ignore:mpegts_flags=+resend_headers]tcp://127.0.0.1:2222")
