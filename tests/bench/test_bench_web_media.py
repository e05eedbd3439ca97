"""bench/web_media.py: the section it renders and the publisher it runs (pure; the measuring is make bench)."""

from __future__ import annotations

import subprocess

import pytest

from bench.web_media import ON_SCREEN, CpuRow, latency_row, png_gray_rows, publisher_argv, render
from camstream.latency import cell_size, decode_stamp, stamp_rows


def test_render_states_the_target_against_rtsp() -> None:
    rows = [latency_row("RTSP (GStreamer viewer, UDP)", [40.0, 41.0, 42.0]), latency_row("WebRTC (WHEP)", [50.0, 60.0])]
    section = render(rows, [CpuRow("", 0, 1.0), CpuRow("WebRTC (WHEP)", 3, 7.0)], "meta")
    assert section.startswith("## Browser live view (bench/web_media.py)")
    assert "| WebRTC (WHEP) | 2 | 60 | 60 | 60 |" in section
    assert "60 / 41 ms = 1.46x, met." in section
    assert "| 3 WebRTC (WHEP) | 7.0% | 2.0% |" in section
    assert "NOT met" in render([rows[0], latency_row("WebRTC (WHEP)", [100.0])], [], "m")
    assert "not measured" in render([rows[0]], [], "m")


def test_target_judged_on_screen_when_measured() -> None:
    rows = [latency_row("RTSP (GStreamer viewer, UDP)", [10.0]), latency_row("WebRTC (WHEP)", [5.0]),
            latency_row(f"WebRTC (WHEP), {ON_SCREEN}", [20.0])]
    assert "20 / 10 ms = 2.00x, NOT met." in render(rows, [], "m")
    rows.append(latency_row("WebRTC (WHEP), at decoder output", [9.0]))
    assert "Up to the decoder, WebRTC 9 ms vs RTSP 10 ms; the browser's display path (on screen - at decoder output, " \
        "p50) adds 11 ms." in render(rows, [], "m")


@pytest.mark.slow
@pytest.mark.parametrize("pix_fmt", ["rgb24", "rgba"])
def test_stamp_read_back_from_an_ffmpeg_png(pix_fmt: str) -> None:
    # The screencast reader on a PNG from a real encoder (FFmpeg, every row filter type: -pred mixed).
    width, ms = 320, 1_764_000_123_456
    cell = cell_size(width)
    plane = stamp_rows(width, ms) + bytes(range(256)) * (width * (180 - cell) // 256)
    png = subprocess.run(
        ["ffmpeg", "-v", "error", "-f", "rawvideo", "-pix_fmt", "gray", "-s", f"{width}x180", "-i", "-",
         "-pix_fmt", pix_fmt, "-c:v", "png", "-pred", "mixed", "-f", "image2pipe", "-"],
        input=plane, capture_output=True, check=True,
    ).stdout
    gray, got_width = png_gray_rows(png, cell)
    assert got_width == width and gray == plane[:width * cell]
    assert decode_stamp(gray, width, cell) == ms
    with pytest.raises(ValueError):
        png_gray_rows(b"GIF89a" + png[6:], cell)


def test_one_encode_teed_to_both_ingests() -> None:
    argv = publisher_argv(640, 360, 30, 1111, 2222)
    assert argv.count("-c:v") == 1 and argv[argv.index("-f", argv.index("-map")) + 1] == "tee"
    assert argv[-1] == ("[f=mpegts:onfail=ignore:mpegts_flags=+resend_headers]tcp://127.0.0.1:1111|"
                        "[f=mpegts:onfail=ignore:mpegts_flags=+resend_headers]tcp://127.0.0.1:2222")
