"""Render results.md from measured values (pure: a Results value in, Markdown text out)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

# The targets.
TARGET_A_OVER_B = 1.15
TARGET_A_OVER_C = 0.6
TARGET_LATENCY_FACTOR = 1.15
TARGET_TTFF_S = 1.2
TARGET_RECOVERY_S = 3.0

MB = 1024 * 1024


@dataclass
class CpuRow:
    """One CPU/RSS case: per-run CPU s/min, per-run peak RSS (bytes), per-run viewer fps, and the role split."""

    key: str
    title: str
    cpu_per_min: list[float]
    peak_rss: list[int]
    viewer_fps: list[float | None]
    roles: dict[str, float]  # median CPU s/min per role

    @property
    def cpu(self) -> float:
        """Median CPU seconds per minute."""
        return _median(self.cpu_per_min)

    @property
    def rss(self) -> float:
        """Median peak RSS in bytes."""
        return _median([float(v) for v in self.peak_rss])


@dataclass
class LatencyRow:
    """Glass-to-glass latency of one path, one entry per probe run."""

    path: str
    p50: list[float]
    p99: list[float]
    samples: list[int]
    unreadable: list[int]
    bare: bool = False


@dataclass
class ViewerRow:
    """Camstream's CPU by role with n RTSP readers connected."""

    viewers: int
    receiving: int
    cpu: dict[str, float]  # CPU s/min per role


@dataclass
class Recovery:
    """One SIGKILL of camstream's FFmpeg: seconds until frames reach a viewer again and until a new chunk."""

    frames_back: float | None
    new_chunk: float | None
    restarted_reader: bool = False


@dataclass
class Supervisor:
    """The camstream Python process over the live run."""

    seconds: float
    cpu_seconds: float
    rss_first: int
    rss_last: int
    rss_peak: int
    restarts: int


@dataclass
class Results:
    """Everything one benchmark run measured."""

    command: str
    mode: str
    started: str
    wall_seconds: float
    machine: dict[str, str]
    video: str
    runs: int
    cpu_seconds: float
    cpu: list[CpuRow] = field(default_factory=list)
    latency: list[LatencyRow] = field(default_factory=list)
    gst_latency: list[LatencyRow] = field(default_factory=list)  # the same paths, GStreamer viewer
    latency_seconds: float = 0.0
    ttff: list[float] = field(default_factory=list)
    viewers: list[ViewerRow] = field(default_factory=list)
    viewer_seconds: float = 0.0
    recovery: list[Recovery] = field(default_factory=list)
    supervisor: Supervisor | None = None
    background_percent: float | None = None
    load_before: tuple[float, float, float] | None = None
    notes: list[str] = field(default_factory=list)


def _median(values: Sequence[float]) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def _fmt(value: float | None, digits: int = 1) -> str:
    return "n/a" if value is None or value != value else f"{value:.{digits}f}"


def verdict(ok: bool | None) -> str:
    """PASS / MISS / n/a."""
    return "n/a" if ok is None else ("PASS" if ok else "MISS")


def _runs(values: Sequence[float | None], digits: int = 1) -> str:
    return ", ".join(_fmt(v, digits) for v in values)


def cpu_ratio(results: Results, top: str, bottom: str) -> float | None:
    """Median CPU of case `top` over case `bottom`, when both were measured."""
    rows = {row.key: row for row in results.cpu}
    if top not in rows or bottom not in rows or not rows[bottom].cpu:
        return None
    return rows[top].cpu / rows[bottom].cpu


def latency_medians(results: Results) -> dict[str, tuple[float, float]]:
    """Path -> (median p50, median p99) in ms, for paths with at least one readable run."""
    out = {}
    for row in results.latency:
        if row.p50:
            out[row.path] = (_median(row.p50), _median(row.p99))
    return out


def targets(results: Results) -> list[tuple[str, str, str, bool | None]]:
    """(target, goal, measured, ok) for every target the issue states."""
    rows: list[tuple[str, str, str, bool | None]] = []
    ab = cpu_ratio(results, "a", "b")
    ac = cpu_ratio(results, "a", "c")
    rows.append(("CPU (a)/(b)", f"<= {TARGET_A_OVER_B}", _fmt(ab, 2), None if ab is None else ab <= TARGET_A_OVER_B))
    rows.append(("CPU (a)/(c)", f"<= {TARGET_A_OVER_C}", _fmt(ac, 2), None if ac is None else ac <= TARGET_A_OVER_C))
    lat = latency_medians(results)
    bare = next((lat[r.path] for r in results.latency if r.bare and r.path in lat), None)
    for row in results.latency:
        if row.bare:
            continue
        if bare is None or row.path not in lat:
            rows.append((f"latency p50 {row.path} / bare", f"<= {TARGET_LATENCY_FACTOR}", "n/a", None))
            continue
        factor = lat[row.path][0] / bare[0]
        rows.append((f"latency p50 {row.path} / bare", f"<= {TARGET_LATENCY_FACTOR}",
                     f"{factor:.2f} ({lat[row.path][0]:.0f} / {bare[0]:.0f} ms)", factor <= TARGET_LATENCY_FACTOR))
    if results.ttff:
        ttff = _median(results.ttff)
        rows.append(("time to first frame (median)", f"<= {TARGET_TTFF_S} s", f"{ttff:.2f} s", ttff <= TARGET_TTFF_S))
    if results.recovery:
        for label, values in (("recovery: frames at a viewer", [r.frames_back for r in results.recovery]),
                              ("recovery: new chunk on disk", [r.new_chunk for r in results.recovery])):
            kept = [v for v in values if v is not None]
            if len(kept) < len(values):
                rows.append((label, f"<= {TARGET_RECOVERY_S} s", "did not recover within the timeout", False))
            else:
                value = _median(kept)
                rows.append((label, f"<= {TARGET_RECOVERY_S} s", f"{value:.2f} s", value <= TARGET_RECOVERY_S))
    return rows


def render(results: Results) -> str:
    """The whole results.md."""
    out: list[str] = []
    add = out.append
    add("# camstream benchmark results\n")
    add(f"Written by `{results.command}` ({results.mode}) on {results.started}; the run took "
        f"{results.wall_seconds / 60:.1f} min. Every number below is measured by `bench/run.py`; "
        f"medians of {results.runs} run(s) unless stated.\n")
    add("## Machine\n")
    add("| | |")
    add("|---|---|")
    for key, value in results.machine.items():
        add(f"| {key} | {value} |")
    if results.load_before is not None:
        add(f"| Load average at start | {' / '.join(f'{v:.2f}' for v in results.load_before)} |")
    if results.background_percent is not None:
        add(f"| Other processes during the run | {results.background_percent:.0f}% of one core on average "
            "(busy CPU not used by the benchmark's own process tree) |")
    add("")
    add(f"Source: {results.video}.\n")

    add("## Targets\n")
    add("| Target | Goal | Measured | |")
    add("|---|---|---|---|")
    rows = targets(results)
    for name, goal, measured, ok in rows:
        add(f"| {name} | {goal} | {measured} | {verdict(ok)} |")
    add("")
    verdicts = {name: ok for name, _goal, _measured, ok in rows}
    rtsp_missed = any(ok is False for name, ok in verdicts.items() if name.startswith("latency p50 camstream RTSP"))
    if rtsp_missed and verdicts.get("latency p50 camstream RTMP / bare"):
        add("The RTSP latency target is missed while RTMP, fed by the same camstream FFmpeg process and encode, "
            "meets it: the extra RTSP latency is added after the encoder, in the builtin RTSP server path "
            "(MPEG-TS ingest, gst-rtsp-server) or the client's RTSP stack, not in the capture/encode. The "
            "GStreamer viewer table under Glass-to-glass latency tells the two apart.\n")

    if results.cpu:
        add("## CPU and memory\n")
        add(f"CPU seconds per minute of stream over a {results.cpu_seconds:g} s window after warm-up "
            "(60 = one core fully busy), summed over the whole process tree of the case; peak RSS is the "
            "largest sum of the tree's resident memory seen during the window. The source generator is not "
            "counted; the viewers (one `ffmpeg -c copy` reader per live output) are not counted.\n")
        add("| Case | What runs | CPU s/min | runs | peak RSS MB | viewer fps | CPU by process (s/min) |")
        add("|---|---|---|---|---|---|---|")
        for row in results.cpu:
            roles = ", ".join(f"{k} {v:.1f}" for k, v in sorted(row.roles.items(), key=lambda kv: -kv[1]))
            fps = [f for f in row.viewer_fps if f is not None]
            add(f"| ({row.key}) | {row.title} | **{_fmt(row.cpu)}** | {_runs(row.cpu_per_min)} | "
                f"{_fmt(row.rss / MB, 0)} | {_fmt(_median(fps)) if fps else '-'} | {roles} |")
        add("")
        for label, top, bottom in (("(a)/(b)", "a", "b"), ("(a)/(c)", "a", "c")):
            ratio = cpu_ratio(results, top, bottom)
            if ratio is not None:
                add(f"- CPU {label} = **{ratio:.2f}**")
        add("")

    if results.latency:
        add("## Glass-to-glass latency\n")
        add(f"Each frame carries the wall clock at encode time (`camstream.latency.stamp_filter`); `camstream probe "
            f"--latency` decodes it at the viewer. {results.latency_seconds:g} s per probe; p50/p99 per probe, "
            "then the median over probes. The bare pipeline uses the same testsrc2, filter chain and libx264 "
            "settings, published with plain `ffmpeg -f flv` into nginx-rtmp (same config renderer as camstream).\n")
        add("| Path | p50 ms | p99 ms | p50 per probe | p99 per probe | frames read / unreadable |")
        add("|---|---|---|---|---|---|")
        for row in results.latency:
            p50 = _median(row.p50) if row.p50 else None
            p99 = _median(row.p99) if row.p99 else None
            add(f"| {row.path} | **{_fmt(p50, 0)}** | {_fmt(p99, 0)} | {_runs(row.p50, 0)} | {_runs(row.p99, 0)} | "
                f"{sum(row.samples)} / {sum(row.unreadable)} |")
        add("")
    if results.gst_latency:
        add("The same paths, each right after its probe, seen by a GStreamer viewer instead (`bench/gst_viewer.py`: "
            "`rtspsrc latency=0 buffer-mode=none` over UDP, or `rtmp2src ! flvdemux`, then `avdec_h264`, frames "
            "shown on arrival). FFmpeg's RTSP client (the probe, ffplay) finds the end of each frame only when the "
            "next one starts (its H.264 parser after the RTP depacketiser), GStreamer's at the RTP marker bit, so "
            "the difference between the two tables on an RTSP path is client delay, not server delay. Not a target, "
            "a cross-check.\n")
        add("| Path (GStreamer viewer) | p50 ms | p99 ms | p50 per run | p99 per run | frames read / unreadable |")
        add("|---|---|---|---|---|---|")
        for row in results.gst_latency:
            p50 = _median(row.p50) if row.p50 else None
            p99 = _median(row.p99) if row.p99 else None
            add(f"| {row.path} | **{_fmt(p50, 0)}** | {_fmt(p99, 0)} | {_runs(row.p50, 0)} | {_runs(row.p99, 0)} | "
                f"{sum(row.samples)} / {sum(row.unreadable)} |")
        add("")

    if results.ttff or results.recovery:
        add("## Late joiners and recovery\n")
        if results.ttff:
            add(f"- Time to first frame of a late joiner (the probe's `time_to_first_frame`, every probe above "
                f"against the running camstream, {len(results.ttff)} joins): median **{_median(results.ttff):.2f} s**, "
                f"max {max(results.ttff):.2f} s.")
        if results.recovery:
            back = [r.frames_back for r in results.recovery]
            chunk = [r.new_chunk for r in results.recovery]
            add(f"- Recovery after SIGKILL of camstream's FFmpeg ({len(results.recovery)} kills, at least 30 s apart "
                f"so the restart backoff is back at its first step): frames at an RTSP viewer that stayed "
                f"connected again after {_runs(back, 2)} s; new chunk file after {_runs(chunk, 2)} s.")
            if any(r.restarted_reader for r in results.recovery):
                add("  (In some kills the viewer's connection ended and a new viewer was started; its own "
                    "time to first frame is included.)")
        add("")

    if results.viewers:
        add("## Viewer scaling (RTSP)\n")
        add(f"camstream's processes only (the readers are `ffmpeg -rtsp_transport udp -c copy -f null` and run on "
            f"the same 2 cores, so they are excluded), CPU seconds per minute over {results.viewer_seconds:g} s, "
            "with RTMP, record and snapshots on as in case (a).\n")
        roles = sorted({k for row in results.viewers for k in row.cpu})
        add("| RTSP viewers | receiving | " + " | ".join(roles) + " | total |")
        add("|---|---|" + "---|" * len(roles) + "---|")
        for row in results.viewers:
            cells = " | ".join(_fmt(row.cpu.get(k, 0.0)) for k in roles)
            add(f"| {row.viewers} | {row.receiving} | {cells} | {_fmt(sum(row.cpu.values()))} |")
        add("")

    if results.supervisor is not None:
        s = results.supervisor
        add("## Supervisor\n")
        add(f"The camstream Python process itself (not its children) over the live run above: "
            f"{s.seconds / 60:.1f} min (shortened from the issue's 10 minutes to fit `make bench` in 15 minutes), "
            f"including {s.restarts} FFmpeg restart(s), the probes and the viewer tests.\n")
        add("| CPU s/min | CPU % of one core | RSS first MB | RSS last MB | RSS peak MB |")
        add("|---|---|---|---|---|")
        per_min = s.cpu_seconds * 60 / s.seconds if s.seconds else 0.0
        add(f"| {per_min:.2f} | {per_min / 60 * 100:.1f}% | {s.rss_first / MB:.1f} | {s.rss_last / MB:.1f} | "
            f"{s.rss_peak / MB:.1f} |")
        add("")

    if results.notes:
        add("## Notes\n")
        for note in results.notes:
            add(f"- {note}")
        add("")
    add("Reproduce: `make bench`, or `.venv/bin/python -m bench.run --quick` for a 3-second smoke run "
        "(see the Benchmarks section of README.md).\n")
    return "\n".join(out)
