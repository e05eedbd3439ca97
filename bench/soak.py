"""`python -m bench.soak`: the supervisor's own CPU and memory over a long unattended run (issue 4's benchmark).

Runs `camstream run` with every output on (RTSP, RTMP, record, snapshots) on the test pattern for `--minutes`,
samples the camstream Python process itself (not FFmpeg or the servers) every few seconds with psutil, and
writes a Markdown table: CPU seconds per minute, RSS at start/end/peak, and one row per minute so a leak shows.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

from camstream.net import free_port

ROOT = Path(__file__).resolve().parents[1]


def camstream_argv(work: Path, size: str) -> list[str]:
    """The soak run: all outputs on, free ports, a temp recording root (pure)."""
    return [sys.executable, "-m", "camstream", "run", "--source", "testsrc", "--resolution", size,
            "--rtsp", "--rtsp-port", str(free_port()), "--rtmp", "--rtmp-port", str(free_port()),
            "--rtmp-stat-port", str(free_port()), "--web-port", str(free_port()),
            "--record", "--snapshots", "--max-size", "500MB",
            "--ssd-path", str(work / "ssd"), "--state-dir", str(work / "state")]


def soak(minutes: float, size: str, interval: float = 5.0) -> list[tuple[float, float, int]]:
    """Samples of (seconds since start, CPU seconds used, RSS bytes) of the camstream process."""
    samples: list[tuple[float, float, int]] = []
    with tempfile.TemporaryDirectory(prefix="camstream-soak-") as tmp:
        log = (Path(tmp) / "camstream.log").open("w")
        child = subprocess.Popen(camstream_argv(Path(tmp), size), stdout=log, stderr=subprocess.STDOUT,
                                 stdin=subprocess.DEVNULL, start_new_session=True, cwd=ROOT)
        try:
            me = psutil.Process(child.pid)
            time.sleep(5)  # start-up (encoder probe, servers) is not what a soak measures
            start = time.monotonic()
            while time.monotonic() - start < minutes * 60 and child.poll() is None:
                times = me.cpu_times()
                samples.append((time.monotonic() - start, times.user + times.system, me.memory_info().rss))
                time.sleep(interval)
        finally:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
                try:
                    child.wait(30)
                except subprocess.TimeoutExpired:
                    os.killpg(child.pid, signal.SIGKILL)
                    child.wait()
            log.close()
    return samples


def render(samples: list[tuple[float, float, int]], size: str) -> str:
    """Markdown report of the samples (pure)."""
    if len(samples) < 2:
        return "# Supervisor soak\n\nNo samples: camstream exited early.\n"
    (t0, c0, r0), (t1, c1, r1) = samples[0], samples[-1]
    per_min = (c1 - c0) / (t1 - t0) * 60
    peak = max(r for _, _, r in samples)
    lines = [
        "# Supervisor soak",
        "",
        f"Written by `python -m bench.soak` on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}: "
        f"`camstream run` on a {size} test pattern with RTSP + RTMP + record + snapshots for "
        f"{(t1 - t0) / 60:.1f} min; the camstream Python process only (FFmpeg and the servers are its children "
        "and are measured in results.md).",
        "",
        "| CPU s/min | CPU % of one core | RSS start MB | RSS end MB | RSS peak MB |",
        "|---|---|---|---|---|",
        f"| {per_min:.2f} | {per_min / 60 * 100:.1f}% | {r0 / 1e6:.1f} | {r1 / 1e6:.1f} | {peak / 1e6:.1f} |",
        "",
        "| minute | CPU s in that minute | RSS MB at its end |",
        "|---|---|---|",
    ]
    minute, prev_c = 1, c0
    for t, c, r in samples:
        if t - t0 >= minute * 60:
            lines.append(f"| {minute} | {c - prev_c:.2f} | {r / 1e6:.1f} |")
            minute, prev_c = minute + 1, c
    return "\n".join(lines) + "\n"


def main() -> None:
    """Run the soak and write the report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--size", default="1280x720")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "soak.md")
    args = parser.parse_args()
    args.out.write_text(render(soak(args.minutes, args.size), args.size))
    print(args.out.read_text())


if __name__ == "__main__":
    main()
