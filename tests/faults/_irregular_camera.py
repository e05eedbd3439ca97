"""A stand-in camera that delivers frames irregularly: Y4M into a FIFO, with pauses and catch-up bursts.

    python _irregular_camera.py FIFO FPS WIDTH HEIGHT RUN,PAUSE RUN,PAUSE ... [--drop]

Plays the schedule once (run N s at FPS, stop for M s, then send the frames it owed as fast as it can: the
burst a USB camera or a network camera's buffer delivers after a hiccup; with --drop it skips them instead),
then goes on at FPS forever. Each line it prints is "frames N" after a phase. When the reader goes away (FFmpeg
restarted) it opens the FIFO again and starts a new Y4M stream, as a camera driver does for a new reader.
"""

from __future__ import annotations

import sys
import time


def frames(width: int, height: int) -> list[bytes]:
    """25 distinct I420 frames: a bright bar that moves down a grey picture."""
    out = []
    chroma = b"\x80" * (width * height // 2)
    for i in range(25):
        luma = bytearray(b"\x60" * (width * height))
        top = (i * height // 25) * width
        luma[top:top + width * (height // 10)] = b"\xe0" * min(width * (height // 10), len(luma) - top)
        out.append(b"FRAME\n" + bytes(luma) + chroma)
    return out


def main(argv: list[str]) -> None:
    """Write the schedule, then steady frames, into the FIFO until killed."""
    fifo, fps, width, height = argv[0], int(argv[1]), int(argv[2]), int(argv[3])
    drop = "--drop" in argv
    schedule = [tuple(float(x) for x in phase.split(",")) for phase in argv[4:] if phase != "--drop"]
    pictures = frames(width, height)
    header = f"YUV4MPEG2 W{width} H{height} F{fps}:1 Ip A1:1 C420jpeg\n".encode()
    total = 0
    while True:
        try:
            with open(fifo, "wb", buffering=0) as out:
                out.write(header)
                t0, sent, skipped = time.monotonic(), 0, 0.0  # per stream: a new reader gets a new one

                def catch_up(until: float) -> None:
                    nonlocal sent, total
                    while time.monotonic() < until:
                        due = int((time.monotonic() - t0 - skipped) * fps)
                        while sent < due:  # everything owed, at once: after a pause this is the burst
                            out.write(pictures[sent % 25])
                            sent += 1
                            total += 1
                        time.sleep(0.5 / fps)

                while schedule:
                    run, pause = schedule.pop(0)
                    catch_up(time.monotonic() + run)
                    print(f"frames {total}", flush=True)
                    time.sleep(pause)  # nothing at all for a while ...
                    if drop:
                        skipped += pause  # ... and those frames never come
                catch_up(float("inf"))
        except BrokenPipeError:
            time.sleep(0.1)  # FFmpeg went away: wait for the next one on a fresh stream


if __name__ == "__main__":
    main(sys.argv[1:])
