"""Glass-to-glass latency: stamp each frame with the wall clock in a strip of blocks, and read it back.

The stamp is one row of square cells at the top-left of the frame, black for 0 and white for 1:

    [sync: 6 cells][milliseconds since the epoch: 42 cells, LSB first][checksum: ms mod 1021, 10 cells]

The same pattern is drawn two ways: by FFmpeg (`stamp_filter`, evaluated when the filter runs, so it is
the wall clock at capture/encode time) and by Python (`paint_stamp`, for the Y4M generator that feeds
`camstream run --source <fifo>`). `decode_stamp` reads either back from a decoded gray frame.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO

SYNC_BITS: tuple[int, ...] = (1, 1, 0, 1, 0, 0)
MS_BITS = 42  # 2**42 ms reaches the year 2109
CHECK_BITS = 10
CHECK_MOD = 1021  # prime and odd: any single flipped bit changes ms mod 1021, so it is always caught
CELLS = len(SYNC_BITS) + MS_BITS + CHECK_BITS
# Cells are width/80 px (16 px at 1280x720): macroblock-sized, so H.264 at ~2 Mbit/s keeps them crisp.
CELL_DIVISOR = 80
MIN_CELL = 4

# Luma levels (limited range, as drawbox paints black/white into yuv420p).
BLACK = 16
WHITE = 235


def cell_size(width: int) -> int:
    """Edge of one stamp cell in pixels for a frame `width` wide."""
    cell = max(MIN_CELL, width // CELL_DIVISOR)
    if cell * CELLS > width:
        raise ValueError(f"frame width {width} too small for the latency stamp: need at least {MIN_CELL * CELLS} px")
    return cell


def checksum(ms: int) -> int:
    """Checksum carried next to the milliseconds."""
    return ms % CHECK_MOD


def stamp_bits(ms: int) -> list[int]:
    """All cell values (sync, ms LSB first, checksum LSB first) for a stamp of `ms`."""
    if not 0 <= ms < 2**MS_BITS:
        raise ValueError(f"stamp {ms} out of range: must be 0 <= ms < 2**{MS_BITS}")
    check = checksum(ms)
    return (
        list(SYNC_BITS)
        + [(ms >> i) & 1 for i in range(MS_BITS)]
        + [(check >> j) & 1 for j in range(CHECK_BITS)]
    )


def stamp_filter(width: int, height: int) -> str:
    """FFmpeg filter-chain fragment that stamps every frame with the wall clock (ms) at filter time.

    `settb=1/1000000,setpts=RTCTIME` makes each frame's t the wall clock in epoch seconds
    (ffmpeg-filters: setpts, RTCTIME "the wallclock (RTC) time in microseconds"); each drawbox is
    switched on by its `enable` timeline expression (ffmpeg-filters: "Timeline editing"), which sees
    that t. Afterwards `setpts=PTS-STARTPTS` gives the encoder ordinary timestamps starting at 0.
    Every drawbox evaluates the same floor(t*1000) from the same t, so the bits and checksum agree.
    """
    cell = cell_size(width)
    if height < cell:
        raise ValueError(f"frame height {height} too small for the latency stamp: need at least {cell} px")
    ms = "floor(t*1000)"
    parts = [
        "settb=1/1000000",
        "setpts=RTCTIME",
        f"drawbox=x=0:y=0:w={cell * CELLS}:h={cell}:color=black:t=fill",
    ]

    def box(index: int, enable: str | None) -> str:
        spec = f"drawbox=x={index * cell}:y=0:w={cell}:h={cell}:color=white:t=fill"
        return spec if enable is None else f"{spec}:enable='{enable}'"

    for index, bit in enumerate(SYNC_BITS):
        if bit:
            parts.append(box(index, None))
    base = len(SYNC_BITS)
    for i in range(MS_BITS):
        parts.append(box(base + i, f"mod(floor({ms}/{2**i}),2)"))
    base += MS_BITS
    for j in range(CHECK_BITS):
        parts.append(box(base + j, f"mod(floor(mod({ms},{CHECK_MOD})/{2**j}),2)"))
    parts.append("setpts=PTS-STARTPTS")
    return ",".join(parts)


# Any C-contiguous uint8 buffer works (a numpy array too): it is read through memoryview, no numpy import.
Gray = bytes | bytearray | memoryview


def _plane(gray: Gray, width: int, height: int) -> memoryview:
    view = memoryview(gray).cast("B")
    if view.nbytes < width * height:
        raise ValueError(f"gray frame has {view.nbytes} bytes, expected {width}x{height} = {width * height}")
    return view


def read_bits(gray: Gray, width: int, height: int) -> list[int]:
    """Cell values read from a gray frame: the mean of each cell's centre half, thresholded at mid-grey."""
    cell = cell_size(width)
    if height < cell:
        raise ValueError(f"gray frame height {height} too small: the stamp is {cell} px high")
    plane = _plane(gray, width, height)
    # The centre of each cell only: codec ringing and chroma bleed live at the cell edges.
    lo, hi = cell // 4, cell - cell // 4
    area = (hi - lo) * (hi - lo)
    bits = []
    for index in range(CELLS):
        x0 = index * cell
        total = sum(sum(plane[row * width + x0 + lo : row * width + x0 + hi]) for row in range(lo, hi))
        bits.append(int(total >= 128 * area))
    return bits


def decode_stamp(gray: Gray, width: int, height: int) -> int | None:
    """Milliseconds since the epoch stamped on a gray frame, or None when sync or checksum fail.

    `gray` is 8-bit luma, row-major (bytes, bytearray, memoryview or a numpy array);
    `height` may be the full frame height or only the top rows handed over (at least one cell high).
    """
    bits = read_bits(gray, width, height)
    if tuple(bits[: len(SYNC_BITS)]) != SYNC_BITS:
        return None
    base = len(SYNC_BITS)
    ms = sum(bit << i for i, bit in enumerate(bits[base : base + MS_BITS]))
    base += MS_BITS
    check = sum(bit << j for j, bit in enumerate(bits[base : base + CHECK_BITS]))
    if check != checksum(ms):
        return None
    return ms


def stamp_rows(width: int, ms: int) -> bytes:
    """The top `cell_size(width)` rows of a luma plane carrying the stamp for `ms` (rest of the row black)."""
    cell = cell_size(width)
    row = bytearray([BLACK]) * width
    for index, bit in enumerate(stamp_bits(ms)):
        if bit:
            row[index * cell : (index + 1) * cell] = bytes([WHITE]) * cell
    return bytes(row) * cell


def paint_stamp(plane: bytearray | memoryview, width: int, ms: int) -> None:
    """Draw the stamp for `ms` into the top rows of a row-major luma plane `width` wide, in place."""
    rows = stamp_rows(width, ms)
    memoryview(plane).cast("B")[: len(rows)] = rows


def y4m_header(width: int, height: int, fps: int) -> bytes:
    """YUV4MPEG2 stream header for 4:2:0 progressive frames."""
    if width % 2 or height % 2:
        raise ValueError(f"frame size {width}x{height} must be even for 4:2:0")
    return f"YUV4MPEG2 W{width} H{height} F{fps}:1 Ip A1:1 C420jpeg\n".encode()


@dataclass
class StampedFrames:
    """Y4M frames of a moving test picture, each carrying the wall clock at the moment it is written."""

    width: int
    height: int
    fps: int

    def __post_init__(self) -> None:
        self._cell = cell_size(self.width)
        # A diagonal gradient that scrolls one step per frame, so the encoder has real motion to code.
        self._ramp = bytes(range(256)) * (self.width // 256 + 2)
        self._chroma = bytes([128]) * ((self.width // 2) * (self.height // 2) * 2)

    def frame(self, index: int, ms: int) -> bytes:
        """One Y4M frame (FRAME line + planes) numbered `index`, stamped `ms`."""
        stamp = stamp_rows(self.width, ms)
        rows = [self._ramp[(row + index) % 256 : (row + index) % 256 + self.width] for row in range(self._cell, self.height)]
        return b"".join([b"FRAME\n", stamp, *rows, self._chroma])


def write_y4m_stamped(
    target: str | os.PathLike[str] | IO[bytes],
    width: int,
    height: int,
    fps: int,
    seconds: float,
    *,
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
    stop: Callable[[], bool] = lambda: False,
) -> int:
    """Write `seconds` of stamped Y4M to a file, named pipe or binary stream, paced in real time; frame count.

    Each frame is stamped with the wall clock just before it is written. A reader that goes away
    (BrokenPipeError) or `stop()` returning True ends the run early.
    """
    frames = StampedFrames(width, height, fps)
    own = isinstance(target, str | os.PathLike)
    out: IO[bytes] = open(Path(target), "wb") if isinstance(target, str | os.PathLike) else target  # noqa: SIM115
    written = 0
    try:
        out.write(y4m_header(width, height, fps))
        start = time.monotonic()
        total = int(round(seconds * fps))
        for index in range(total):
            if stop():
                break
            delay = start + index / fps - time.monotonic()
            if delay > 0:
                sleep(delay)
            out.write(frames.frame(index, int(clock() * 1000)))
            out.flush()
            written += 1
    except BrokenPipeError:
        pass
    finally:
        if own:
            try:
                out.close()
            except BrokenPipeError:
                pass
    return written
