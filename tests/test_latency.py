"""Wall-clock stamp: exact round trips through the Python painter, and through real FFmpeg + libx264."""

from __future__ import annotations

import io
import os
import random
import threading
import time
from pathlib import Path

import pytest

from camstream import latency, proc

W, H = 1280, 720


def luma_of(frame: bytes, width: int, height: int) -> bytes:
    """The Y plane of one Y4M frame (after its FRAME line)."""
    assert frame.startswith(b"FRAME\n")
    return frame[6 : 6 + width * height]


@pytest.mark.parametrize(
    ("width", "cell"),
    [
        pytest.param(1280, 16, id="720p"),
        pytest.param(1920, 24, id="1080p"),
        pytest.param(640, 8, id="vga"),
        pytest.param(320, 4, id="qvga-min-cell"),
    ],
)
def test_cell_size_scales_with_width(width: int, cell: int) -> None:
    assert latency.cell_size(width) == cell


def test_cell_size_rejects_a_frame_too_narrow_for_the_strip() -> None:
    with pytest.raises(ValueError, match="too small"):
        latency.cell_size(200)


@pytest.mark.parametrize(
    "ms",
    [
        pytest.param(0, id="zero"),
        pytest.param(1, id="one"),
        pytest.param(1_795_459_920_732, id="2026"),
        pytest.param(2**42 - 1, id="max"),
        pytest.param(1021 * 1_700_000_000, id="checksum-zero"),
    ],
)
def test_painter_and_decoder_round_trip_known_stamps(ms: int) -> None:
    frames = latency.StampedFrames(W, H, 30)
    assert latency.decode_stamp(luma_of(frames.frame(7, ms), W, H), W, H) == ms


@pytest.mark.parametrize("width", [pytest.param(w, id=str(w)) for w in (320, 640, 1280, 1920)])
def test_round_trip_is_exact_for_many_values(width: int) -> None:
    rng = random.Random(width)
    values = [rng.randrange(2**42) for _ in range(300)] + [1_795_000_000_000 + i for i in range(300)]
    for ms in values:
        assert latency.decode_stamp(latency.stamp_rows(width, ms), width, latency.cell_size(width)) == ms


def test_decoder_reads_only_the_top_rows_and_numpy_arrays() -> None:
    np = pytest.importorskip("numpy")
    plane = bytearray(W * H)
    latency.paint_stamp(plane, W, 1_234_567_890_123)
    array = np.frombuffer(bytes(plane), dtype=np.uint8).reshape(H, W)
    assert latency.decode_stamp(array, W, H) == 1_234_567_890_123
    assert latency.decode_stamp(np.ascontiguousarray(array[:16]), W, 16) == 1_234_567_890_123


def test_unstamped_frames_decode_to_none() -> None:
    assert latency.decode_stamp(bytes(W * 16), W, 16) is None  # all black: sync fails
    assert latency.decode_stamp(bytes([255]) * (W * 16), W, 16) is None  # all white: sync fails


@pytest.mark.parametrize("bit", [pytest.param(b, id=f"bit{b}") for b in range(len(latency.SYNC_BITS), latency.CELLS)])
def test_any_single_flipped_cell_is_rejected(bit: int) -> None:
    ms = 1_795_459_920_732
    cell = latency.cell_size(W)
    rows = bytearray(latency.stamp_rows(W, ms))
    for row in range(cell):
        start = row * W + bit * cell
        value = rows[start]
        rows[start : start + cell] = bytes([latency.WHITE if value == latency.BLACK else latency.BLACK]) * cell
    assert latency.decode_stamp(bytes(rows), W, cell) is None


def test_stamp_filter_structure_for_720p() -> None:
    chain = latency.stamp_filter(W, H).split(",drawbox=")
    assert chain[0] == "settb=1/1000000,setpts=RTCTIME"
    assert chain[1] == "x=0:y=0:w=928:h=16:color=black:t=fill"
    # Sync cells 0, 1 and 3 always white, without a timeline expression.
    assert chain[2:5] == [
        "x=0:y=0:w=16:h=16:color=white:t=fill",
        "x=16:y=0:w=16:h=16:color=white:t=fill",
        "x=48:y=0:w=16:h=16:color=white:t=fill",
    ]
    assert chain[5] == "x=96:y=0:w=16:h=16:color=white:t=fill:enable='mod(floor(floor(t*1000)/1),2)'"
    assert chain[5 + 41] == (
        "x=752:y=0:w=16:h=16:color=white:t=fill:enable='mod(floor(floor(t*1000)/2199023255552),2)'"
    )
    assert chain[-1] == (
        "x=912:y=0:w=16:h=16:color=white:t=fill:enable='mod(floor(mod(floor(t*1000),1021)/512),2)',"
        "setpts=PTS-STARTPTS"
    )
    assert len(chain) == 2 + 3 + latency.MS_BITS + latency.CHECK_BITS


def test_stamp_filter_rejects_a_frame_lower_than_a_cell() -> None:
    with pytest.raises(ValueError, match="height 8 too small"):
        latency.stamp_filter(1280, 8)


def test_y4m_header() -> None:
    assert latency.y4m_header(640, 360, 25) == b"YUV4MPEG2 W640 H360 F25:1 Ip A1:1 C420jpeg\n"


def test_y4m_writer_stamps_each_frame_with_the_clock() -> None:
    ticks = iter(range(1_795_000_000_000, 1_795_000_001_000, 40))
    out = io.BytesIO()
    count = latency.write_y4m_stamped(
        out, 320, 240, 25, 0.2, clock=lambda: next(ticks) / 1000, sleep=lambda _s: None
    )
    data = out.getvalue()
    header = latency.y4m_header(320, 240, 25)
    assert count == 5
    frame_len = 6 + 320 * 240 * 3 // 2
    assert len(data) == len(header) + 5 * frame_len
    stamps = [
        latency.decode_stamp(luma_of(data[len(header) + i * frame_len :][:frame_len], 320, 240), 320, 240)
        for i in range(5)
    ]
    assert stamps == [1_795_000_000_000 + 40 * i for i in range(5)]


def decode_gray(path: Path, width: int, height: int) -> list[int | None]:
    """Decode a video file with real FFmpeg to gray and read every frame's stamp."""
    gray = path.with_suffix(".gray")
    done = proc.run(
        [proc.which("ffmpeg"), "-v", "error", "-y", "-i", str(path), "-f", "rawvideo", "-pix_fmt", "gray", str(gray)],
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    raw = gray.read_bytes()
    size = width * height
    return [latency.decode_stamp(raw[i * size : (i + 1) * size], width, height) for i in range(len(raw) // size)]


def assert_advancing(stamps: list[int]) -> None:
    """The stamps never go backwards and span about the second of frames that was stamped.

    Not strictly increasing: a loaded machine can stamp two frames in one burst within the same millisecond
    (failed once in CI with a strict '>').
    """
    assert all(b >= a for a, b in zip(stamps, stamps[1:])), stamps
    assert stamps[-1] - stamps[0] >= 500, stamps  # 25-30 frames at 25 fps span about 1 s


@pytest.mark.slow
@pytest.mark.parametrize(
    ("width", "height", "bitrate"),
    [pytest.param(1280, 720, "2M", id="720p-2M"), pytest.param(640, 360, "400k", id="360p-400k")],
)
def test_stamp_filter_survives_libx264_and_reads_back_the_wall_clock(
    tmp_path: Path, width: int, height: int, bitrate: str
) -> None:
    out = tmp_path / "stamped.mp4"
    before = time.time() * 1000
    done = proc.run(
        [
            proc.which("ffmpeg"), "-hide_banner", "-v", "error", "-y", "-re",
            "-f", "lavfi", "-i", f"testsrc2=size={width}x{height}:rate=25", "-t", "1.2",
            "-vf", latency.stamp_filter(width, height),
            "-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency",
            "-b:v", bitrate, "-maxrate", bitrate, "-bufsize", bitrate, "-g", "25", str(out),
        ],
        timeout=60,
    )  # fmt: skip
    after = time.time() * 1000
    assert done.returncode == 0, done.stderr
    stamps = decode_gray(out, width, height)
    assert len(stamps) == 30
    assert None not in stamps
    assert all(before <= s <= after for s in stamps)  # type: ignore[operator]
    assert_advancing(stamps)  # type: ignore[arg-type]


@pytest.mark.slow
def test_y4m_generator_through_a_fifo_and_libx264(tmp_path: Path) -> None:
    fifo = tmp_path / "cam.y4m"
    os.mkfifo(fifo)
    out = tmp_path / "y4m.mp4"
    child = proc.Child(
        "encode",
        [
            proc.which("ffmpeg"), "-hide_banner", "-v", "error", "-y", "-f", "yuv4mpegpipe", "-i", str(fifo),
            "-c:v", "libx264", "-preset", "ultrafast", "-b:v", "1M", str(out),
        ],
    )  # fmt: skip
    written: list[int] = []
    before = time.time() * 1000
    child.start()
    try:
        writer = threading.Thread(target=lambda: written.append(latency.write_y4m_stamped(fifo, 640, 360, 25, 1.0)))
        writer.start()
        writer.join(timeout=30)
        assert child.wait(30) == 0, child.tail()
    finally:
        child.stop(grace=2)
    after = time.time() * 1000
    assert written == [25]
    stamps = decode_gray(out, 640, 360)
    assert len(stamps) == 25
    assert None not in stamps
    assert all(before <= s <= after for s in stamps)  # type: ignore[operator]
    assert_advancing(stamps)  # type: ignore[arg-type]
