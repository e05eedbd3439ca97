"""`python -m bench.encoders`: what the libx264 presets and H.264 profiles cost and give on this machine.

CPU: CPU seconds FFmpeg spends encoding one second of video (so 100% = one core busy at real time), for each
preset at 720p30 and 1080p30, with camstream's own encoder argv (encoders.libx264_args), minus the same run
without the encode (the test-pattern generator), so only the encoder is counted. Quality: PSNR against the
source at 2 Mb/s for each preset x profile at 720p30. The source is testsrc2 with a little temporal noise,
so the encoder has real detail to spend bits on. This FFmpeg has no libvmaf, hence PSNR.

Writes its section into bench/results.md between markers (replacing an earlier one), so `python -m bench.run`
and this can run in either order.
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bench import report
from camstream import encoders
from camstream.config import VideoConfig
from camstream.encoders import Knobs

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results.md"
SECTION = "bench.encoders"  # its markers in results.md (bench.report.put_section)
PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium")
PROFILES = ("baseline", "main", "high")
SIZES = ((1280, 720), (1920, 1080))
NOISE = "noise=alls=3:allf=t"  # fixed default seed: the same frames every run


@dataclass(frozen=True)
class CpuRow:
    """One preset at one size: encoder CPU as a percentage of one core at real time (median of runs)."""

    preset: str
    size: str
    percent: float
    auto_for: str


@dataclass(frozen=True)
class QualityRow:
    """One preset x profile at 720p30, 2 Mb/s: PSNR (dB), the bitrate reached, the profile ffprobe reports."""

    preset: str
    profile: str
    psnr: float
    kbps: float
    signalled: str


def _source(width: int, height: int, fps: int) -> list[str]:
    return ["-f", "lavfi", "-i", f"testsrc2=size={width}x{height}:rate={fps},{NOISE}"]


def _child_cpu(argv: list[str]) -> float:
    """CPU seconds (user + system) of one FFmpeg run to completion."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(argv, check=True, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, timeout=600)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def encode_cpu_percent(preset: str, width: int, height: int, fps: int, seconds: float, runs: int) -> float:
    """Encoder CPU for `seconds` of video, as % of one core at real time (median of `runs`)."""
    video = VideoConfig(width=width, height=height, fps=fps)
    frames = str(int(seconds * fps))
    codec = encoders.libx264_args(video, Knobs(preset, "main", fps))
    head = ["ffmpeg", "-hide_banner", "-nostdin", "-v", "error", *_source(width, height, fps), "-frames:v", frames,
            "-vf", "format=yuv420p"]
    samples = []
    for _ in range(runs):
        base = _child_cpu([*head, "-f", "null", "-"])
        full = _child_cpu([*head, *codec, "-f", "null", "-"])
        samples.append(max(0.0, full - base) / seconds * 100)
    return sorted(samples)[len(samples) // 2]


def quality(preset: str, profile: str, work: Path, seconds: float) -> QualityRow:
    """Encode 720p30 at 2 Mb/s with camstream's argv; PSNR of the result against the same source frames."""
    video = VideoConfig(width=1280, height=720, fps=30, bitrate=2_000_000)
    frames = str(int(seconds * 30))
    out = work / f"{preset}-{profile}.mp4"
    codec = encoders.libx264_args(video, Knobs(preset, profile, 30))
    subprocess.run(["ffmpeg", "-hide_banner", "-nostdin", "-v", "error", "-y", *_source(1280, 720, 30),
                    "-frames:v", frames, "-vf", "format=yuv420p", *codec, str(out)],
                   check=True, stdin=subprocess.DEVNULL, timeout=600)
    psnr = subprocess.run(["ffmpeg", "-hide_banner", "-nostdin", "-i", str(out), *_source(1280, 720, 30),
                           "-frames:v", frames, "-lavfi", "[0:v][1:v]psnr", "-f", "null", "-"],
                          capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=600).stderr
    match = re.search(r"PSNR .* average:([\d.]+|inf)", psnr)
    probe = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "stream=profile:format=bit_rate",
                            "-of", "default=nw=1", str(out)], capture_output=True, text=True, timeout=60).stdout
    fields = dict(line.split("=", 1) for line in probe.splitlines() if "=" in line)
    return QualityRow(preset, profile, float(match.group(1)) if match else float("nan"),
                      float(fields.get("bit_rate", "0")) / 1000, fields.get("profile", "?"))


def auto_choice(width: int, height: int, fps: int) -> str:
    """Where camstream's preset=auto lands on 1, 2 and 4 cores (which boards get this preset by default)."""
    picks = [f"{cores} core{'s' if cores > 1 else ''}: {encoders.default_preset(cores, width, height, fps)}"
             for cores in (1, 2, 4)]
    return ", ".join(picks)


def render(cpu: list[CpuRow], qual: list[QualityRow], meta: str) -> str:
    """The markdown section."""
    lines = ["## libx264 presets and H.264 profiles (bench/encoders.py)", "", meta, "",
             "Encoder CPU, % of one core at real time (CPU seconds per second of video; the test-pattern "
             "generator's own CPU subtracted). camstream's `--preset auto` picks from cores x pixel rate "
             "(`camstream/encoders.py` AUTO_PRESETS): up to 15 Mpx/s per core veryfast, up to 30 superfast, "
             "above that ultrafast.", "",
             "| preset | " + " | ".join(f"{w}x{h}@30" for w, h in SIZES) + " |",
             "|---|" + "---|" * len(SIZES)]
    for preset in PRESETS:
        cells = [next((f"{r.percent:.0f}%" for r in cpu if r.preset == preset and r.size == f"{w}x{h}"), "-")
                 for w, h in SIZES]
        lines.append(f"| {preset} | " + " | ".join(cells) + " |")
    lines += ["", "preset=auto picks: " + "; ".join(f"{w}x{h}@30 -> {auto_choice(w, h, 30)}" for w, h in SIZES), "",
              "Quality at 2 Mb/s, 1280x720@30 (PSNR in dB against the source; higher is better; `signalled` is the "
              "profile in the SPS, as ffprobe reports it: x264 signals constrained baseline whenever the preset "
              "turns CABAC off, as ultrafast does).", "",
              "| preset | profile | PSNR | kbit/s | signalled |", "|---|---|---|---|---|"]
    for r in qual:
        lines.append(f"| {r.preset} | {r.profile} | {r.psnr:.2f} | {r.kbps:.0f} | {r.signalled} |")
    return "\n".join(lines) + "\n"



def main(argv: list[str] | None = None) -> int:
    """Measure and write the section."""
    parser = argparse.ArgumentParser(prog="python -m bench.encoders")
    parser.add_argument("--quick", action="store_true", help="1-second clips, one run each")
    parser.add_argument("--out", type=Path, default=RESULTS)
    ns = parser.parse_args(argv)
    quick = ns.quick or os.environ.get("CAMSTREAM_BENCH_QUICK") == "1"
    seconds, runs = (1.0, 1) if quick else (4.0, 3)
    t0 = time.monotonic()
    load = os.getloadavg()
    cpu = []
    for w, h in SIZES:
        for preset in PRESETS:
            pct = encode_cpu_percent(preset, w, h, 30, seconds, runs)
            cpu.append(CpuRow(preset, f"{w}x{h}", pct, auto_choice(w, h, 30)))
            print(f"cpu {preset} {w}x{h}: {pct:.0f}%", flush=True)
    qual = []
    with tempfile.TemporaryDirectory(prefix="camstream-bench-enc-") as tmp:
        for preset in ("ultrafast", "superfast", "veryfast", "faster", "medium"):
            for profile in PROFILES:
                row = quality(preset, profile, Path(tmp), 2.0 if quick else 4.0)
                qual.append(row)
                print(f"psnr {preset} {profile}: {row.psnr:.2f} dB ({row.signalled})", flush=True)
    meta = (f"Written by `python -m bench.encoders{' --quick' if quick else ''}` on "
            f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} ({time.monotonic() - t0:.0f} s; "
            f"{os.cpu_count()} cores, load average at start {load[0]:.2f}; the box is shared, so CPU figures carry "
            f"other engineers' load as cache and frequency effects). {seconds:g}-second clips, median of {runs} "
            f"run(s); FFmpeg's libx264 with camstream's argv (zerolatency, no B-frames, 1 s GOP, 2 Mb/s VBV).")
    report.write_section(ns.out, SECTION, render(cpu, qual, meta))
    print(f"wrote {ns.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
