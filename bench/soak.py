"""`python -m bench.soak`: every camstream process's CPU and memory over a long unattended run with viewers.

Runs `camstream run` with every output on (builtin RTSP, managed nginx-rtmp, record, snapshots) on the test
pattern for `--minutes`, with three viewers attached the whole time (RTSP over UDP, RTSP over TCP, RTMP; FFmpeg
clients that copy the stream to null, so they cost little CPU). Every few seconds it samples each process of
camstream's tree (the supervisor, FFmpeg, the RTSP server, the web server, the nginx master and worker) with
psutil and writes a Markdown report: CPU seconds and RSS per process per minute, RSS growth after the first five minutes against
the 2 MB target, restarts (camstream's own count and any child whose pid changed), and the viewers' frames.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from camstream.net import free_port

ROOT = Path(__file__).resolve().parents[1]
WARMUP_MINUTES = 5  # RSS growth is judged from the end of this minute on (caches, arenas and the first chunks)
GROWTH_TARGET_MB = 2.0


@dataclass
class ProcSample:
    """One process at one instant."""

    pid: int
    cpu_s: float
    rss: int


@dataclass
class Sample:
    """Every camstream process, by role, at `t` seconds since the soak started."""

    t: float
    procs: dict[str, ProcSample]


@dataclass
class Viewer:
    """A client watching for the whole soak; restarted (and counted) if it ever drops out."""

    name: str
    argv: list[str]
    frames: int = 0
    restarts: int = 0
    counted_from: int = 0  # frames received before the measured period (start-up)
    proc: subprocess.Popen[str] | None = None
    _base: int = field(default=0, repr=False)

    def start(self) -> None:
        """Start the client; its -progress lines on stdout count frames."""
        self._base = self.frames
        self.proc = subprocess.Popen(self.argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                     stdin=subprocess.DEVNULL, text=True, start_new_session=True)
        threading.Thread(target=self._pump, args=(self.proc,), daemon=True).start()

    def _pump(self, p: subprocess.Popen[str]) -> None:
        assert p.stdout is not None
        for line in p.stdout:
            if line.startswith("frame="):
                try:
                    self.frames = self._base + int(line.split("=", 1)[1])
                except ValueError:
                    pass

    def keep_alive(self) -> None:
        """Restart the client when it exited."""
        if self.proc is not None and self.proc.poll() is not None:
            self.restarts += 1
            self.start()

    def stop(self) -> None:
        """Stop and reap the client."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
        if self.proc is not None:
            self.proc.wait()


def camstream_argv(work: Path, size: str, fps: int, rtsp: int, rtmp: int) -> list[str]:
    """The soak run: all outputs on, free ports, a temp recording root (pure)."""
    return [sys.executable, "-m", "camstream", "run", "--source", "testsrc", "--resolution", size, "--fps", str(fps),
            "--rtsp", "--rtsp-server", "builtin", "--rtsp-port", str(rtsp), "--rtmp", "--rtmp-port", str(rtmp),
            "--rtmp-stat-port", str(free_port()), "--web-port", str(free_port()),
            # Small enough that retention reaches steady state (deleting as fast as it writes) before minute 5:
            # the in-memory index of recordings then stops growing, and RSS growth measures leaks only.
            "--record", "--snapshots", "--max-size", "60MB",
            "--ssd-path", str(work / "ssd"), "--state-dir", str(work / "state")]


def viewer_argvs(rtsp: int, rtmp: int) -> dict[str, list[str]]:
    """The three viewers: FFmpeg clients that read the stream and throw it away without decoding (pure)."""
    tail = ["-c", "copy", "-f", "null", "-", "-nostats", "-progress", "pipe:1"]
    head = ["ffmpeg", "-nostdin", "-v", "error"]
    url = f"rtsp://127.0.0.1:{rtsp}/live"
    return {
        "RTSP UDP": [*head, "-rtsp_transport", "udp", "-i", url, *tail],
        "RTSP TCP": [*head, "-rtsp_transport", "tcp", "-i", url, *tail],
        "RTMP": [*head, "-i", f"rtmp://127.0.0.1:{rtmp}/live/cam", *tail],
    }


def role(p: psutil.Process, root_pid: int) -> str:
    """What a process in camstream's tree is, for the report."""
    if p.pid == root_pid:
        return "camstream"
    argv = p.cmdline()
    name = p.name()
    if name == "nginx" or (argv and argv[0].startswith("nginx")):
        return "nginx worker" if argv and "worker" in argv[0] else "nginx master"
    if any("rtsp_builtin" in a for a in argv):
        return "rtsp server"
    if "camstream.web" in argv:
        return "web server"  # python -m camstream.web: the page, WHEP and the fallback
    return name


def sample_tree(root: psutil.Process, t: float) -> Sample:
    """CPU and RSS of camstream and every descendant."""
    procs: dict[str, ProcSample] = {}
    for p in [root, *root.children(recursive=True)]:
        try:
            with p.oneshot():
                times = p.cpu_times()
                procs[role(p, root.pid)] = ProcSample(p.pid, times.user + times.system, p.memory_info().rss)
        except psutil.Error:
            continue
    return Sample(t, procs)


def soak(minutes: float, size: str, fps: int, interval: float = 5.0) -> tuple[list[Sample], dict[str, Viewer], int]:
    """Samples of every process, the viewers, and camstream's own restart count."""
    samples: list[Sample] = []
    restarts = -1
    rtsp, rtmp = free_port(), free_port()
    viewers = {name: Viewer(name, argv) for name, argv in viewer_argvs(rtsp, rtmp).items()}
    with tempfile.TemporaryDirectory(prefix="camstream-soak-") as tmp:
        work = Path(tmp)
        log = (work / "camstream.log").open("w")
        child = subprocess.Popen(camstream_argv(work, size, fps, rtsp, rtmp), stdout=log, stderr=subprocess.STDOUT,
                                 stdin=subprocess.DEVNULL, start_new_session=True, cwd=ROOT)
        try:
            me = psutil.Process(child.pid)
            time.sleep(8)  # start-up (encoder probe, servers) is not what a soak measures
            for viewer in viewers.values():
                viewer.start()
            time.sleep(5)
            for viewer in viewers.values():
                viewer.counted_from = viewer.frames
            start = time.monotonic()
            while time.monotonic() - start < minutes * 60 and child.poll() is None:
                samples.append(sample_tree(me, time.monotonic() - start))
                for viewer in viewers.values():
                    viewer.keep_alive()
                time.sleep(interval)
            samples.append(sample_tree(me, time.monotonic() - start))
            try:
                restarts = int(json.loads((work / "state" / "status.json").read_text()).get("restarts", -1))
            except (OSError, ValueError):
                restarts = -1
        finally:
            for viewer in viewers.values():
                viewer.stop()
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
                try:
                    child.wait(30)
                except subprocess.TimeoutExpired:
                    os.killpg(child.pid, signal.SIGKILL)
                    child.wait()
            log.close()
    return samples, viewers, restarts


def per_minute(samples: list[Sample], role_name: str) -> list[tuple[int, float, float]]:
    """(minute, CPU s in that minute, RSS MB at its end) for one role (pure)."""
    rows: list[tuple[int, float, float]] = []
    have = [s for s in samples if role_name in s.procs]
    if not have:
        return rows
    minute, prev = 1, have[0].procs[role_name].cpu_s
    t0 = have[0].t
    for s in have:
        if s.t - t0 >= minute * 60 - 1e-6:
            ps = s.procs[role_name]
            rows.append((minute, ps.cpu_s - prev, ps.rss / 1e6))
            minute, prev = minute + 1, ps.cpu_s
    return rows


def render(samples: list[Sample], viewers: dict[str, tuple[int, int]], restarts: int, size: str, fps: int) -> str:
    """Markdown report (pure). `viewers` maps a viewer to (frames received, times it had to be restarted)."""
    if len(samples) < 2:
        return "# Soak\n\nNo samples: camstream exited early.\n"
    roles = [r for r in ("camstream", "ffmpeg", "rtsp server", "web server", "nginx master", "nginx worker")
             if any(r in s.procs for s in samples)]
    roles += sorted({r for s in samples for r in s.procs} - set(roles))
    t0, t1 = samples[0].t, samples[-1].t
    minutes = (t1 - t0) / 60
    pid_changes = {r: len({s.procs[r].pid for s in samples if r in s.procs}) - 1 for r in roles}
    lines = [
        "# Soak",
        "",
        f"Written by `python -m bench.soak` (`make bench-soak`) on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}"
        f" ({platform.machine()}, {os.cpu_count()} cores, shared with other work): `camstream run` on a {size} @ "
        f"{fps} fps test pattern with builtin RTSP + managed nginx-rtmp + the web view (on by default) + recording + 1 fps snapshots for "
        f"{minutes:.1f} min, with three viewers attached throughout (RTSP over UDP, RTSP over TCP, RTMP). "
        f"Every process of camstream's tree sampled every few seconds. The resolution is small to leave CPU for "
        f"other work on this shared machine; memory behaviour does not depend on it.",
        "",
        f"camstream's own restart count at the end: **{restarts}**; children whose pid changed: "
        f"**{sum(pid_changes.values())}**.",
        "",
        f"| process | CPU s/min | CPU % of one core | RSS after {WARMUP_MINUTES} min MB | RSS end MB | RSS peak after "
        f"{WARMUP_MINUTES} min MB | growth after {WARMUP_MINUTES} min MB | target < {GROWTH_TARGET_MB:g} MB |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in roles:
        have = [s for s in samples if r in s.procs]
        first, last = have[0], have[-1]
        dt = last.t - first.t
        rate = (last.procs[r].cpu_s - first.procs[r].cpu_s) / dt * 60 if dt > 0 else 0.0
        after = [s for s in have if s.t - t0 >= WARMUP_MINUTES * 60] or [last]
        base = after[0].procs[r].rss / 1e6
        end = last.procs[r].rss / 1e6
        peak = max(s.procs[r].rss for s in after) / 1e6
        growth = end - base
        verdict = "PASS" if growth < GROWTH_TARGET_MB and pid_changes[r] == 0 else "MISS"
        lines.append(f"| {r} | {rate:.2f} | {rate / 60 * 100:.1f}% | {base:.1f} | {end:.1f} | {peak:.1f} | "
                     f"{growth:+.2f} | {verdict} |")
    lines += ["", "| viewer | frames received | frames/s | restarted |", "|---|---|---|---|"]
    for name, (frames, again) in viewers.items():
        lines.append(f"| {name} | {frames} | {frames / max(t1 - t0, 1):.1f} | {again} |")
    lines += ["", "Per minute: CPU seconds used in that minute / RSS MB at its end.", "",
              "| minute | " + " | ".join(roles) + " |", "|---|" + "---|" * len(roles)]
    table = {r: {m: (c, rss) for m, c, rss in per_minute(samples, r)} for r in roles}
    for m in sorted({m for rows in table.values() for m in rows}):
        cells = [f"{table[r][m][0]:.2f} / {table[r][m][1]:.1f}" if m in table[r] else "-" for r in roles]
        lines.append(f"| {m} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main() -> None:
    """Run the soak and write the report."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--minutes", type=float, default=60.0)
    parser.add_argument("--size", default="640x360")
    parser.add_argument("--fps", type=int, default=25)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "soak.md")
    args = parser.parse_args()
    samples, viewers, restarts = soak(args.minutes, args.size, args.fps)
    report = render(samples, {n: (v.frames - v.counted_from, v.restarts) for n, v in viewers.items()}, restarts, args.size, args.fps)
    args.out.write_text(report)
    print(report)


if __name__ == "__main__":
    main()
