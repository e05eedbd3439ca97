"""Render results.md from measured values (pure: a Results value in, Markdown text out)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bench.startup import TARGET_RATIO as TARGET_STARTUP_RATIO
from bench.startup import StartupRow

# The issues' targets (issue 17 for CPU, memory, start-up and the like-with-like latency anchors).
TARGET_A_OVER_B = 1.1  # all outputs vs bare FFmpeg with one output, same encoder settings
TARGET_A_OVER_C = 0.6
TARGET_TTFF_S = 1.2
TARGET_RECOVERY_S = 3.0
TARGET_SUPERVISOR_MB = 30.0
TARGET_RTSP_SERVER_MB = 35.0
TARGET_TREE_A_OVER_B = 1.4

# Latency targets, like with like: (label, table, camstream path, anchor path, max ratio of the p50s). `table` is
# "latency" (FFmpeg client: camstream probe) or "gst_latency" (GStreamer rtspsrc latency=0 client). Rows measured
# by other sections (e.g. a browser viewer) add their target here and their rows to Results.latency.
SEED_RTSP_UDP = "seed design (gst-rtsp-server + x264enc) RTSP/UDP"
SEED_RTSP_TCP = "seed design (gst-rtsp-server + x264enc) RTSP/TCP"
BARE_RTMP = "bare ffmpeg -> nginx-rtmp"
LATENCY_TARGETS: list[tuple[str, str, str, str, float]] = [
    ("RTSP/UDP latency vs seed design, FFmpeg client", "latency", "camstream RTSP/UDP", SEED_RTSP_UDP, 0.8),
    ("RTSP/TCP latency vs seed design, FFmpeg client", "latency", "camstream RTSP/TCP", SEED_RTSP_TCP, 0.8),
    ("RTSP/UDP latency vs seed design, GStreamer client", "gst_latency", "camstream RTSP/UDP", SEED_RTSP_UDP, 0.8),
    ("RTMP latency vs bare ffmpeg -> nginx-rtmp, FFmpeg client", "latency", "camstream RTMP", BARE_RTMP, 1.1),
]

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
    rss_roles: dict[str, float] = field(default_factory=dict)  # median peak RSS (bytes) per role

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
    startup: list[StartupRow] = field(default_factory=list)
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


Target = tuple[str, str, str, bool | None]


def _ratio_target(name: str, value: float | None, goal: float, detail: str = "") -> Target:
    measured = "n/a" if value is None else f"{value:.2f}{detail}"
    return (name, f"<= {goal:g}", measured, None if value is None else value <= goal)


def cpu_targets(results: Results) -> list[Target]:
    """CPU of all outputs against bare FFmpeg with one output, and against the first seed's design."""
    return [
        # (a): every output; (b): bare FFmpeg, same encoder settings, one output; (c): the first seed's design.
        _ratio_target("CPU (a)/(b)", cpu_ratio(results, "a", "b"), TARGET_A_OVER_B),
        _ratio_target("CPU (a)/(c)", cpu_ratio(results, "a", "c"), TARGET_A_OVER_C),
    ]


def memory_targets(results: Results) -> list[Target]:
    """Per-process RSS of case (a), and its tree against bare FFmpeg's (case (b), RTSP server included)."""
    rows = {row.key: row for row in results.cpu}
    out: list[Target] = []
    a = rows.get("a")
    for role, goal in (("supervisor", TARGET_SUPERVISOR_MB), ("rtsp-server", TARGET_RTSP_SERVER_MB)):
        value = a.rss_roles.get(role) if a else None
        out.append((f"peak RSS of the {role} process, case (a)", f"<= {goal:g} MB",
                    "n/a" if value is None else f"{value / MB:.1f} MB", None if value is None else value / MB <= goal))
    b = rows.get("b")
    if a and b and b.rss:
        out.append(_ratio_target("peak RSS of the tree, (a) / (b)", a.rss / b.rss, TARGET_TREE_A_OVER_B,
                                 f" ({a.rss / MB:.0f} / {b.rss / MB:.0f} MB)"))
    else:
        out.append(_ratio_target("peak RSS of the tree, (a) / (b)", None, TARGET_TREE_A_OVER_B))
    return out


def startup_targets(results: Results) -> list[Target]:
    """Each often-called command's start-up against a bare interpreter start."""
    return [_ratio_target(f"start-up `{row.command}` / `python -c pass`", row.ratio, TARGET_STARTUP_RATIO,
                          f" ({row.seconds * 1000:.0f} ms)") for row in results.startup if row.ratio is not None]


def _p50(rows: list[LatencyRow], path: str) -> float | None:
    for row in rows:
        if row.path == path and row.p50:
            return _median(row.p50)
    return None


def latency_targets(results: Results) -> list[Target]:
    """LATENCY_TARGETS: each camstream path against its anchor, measured with the same client in the same run."""
    out: list[Target] = []
    for label, table, path, anchor, goal in LATENCY_TARGETS:
        rows = results.gst_latency if table == "gst_latency" else results.latency
        ours, theirs = _p50(rows, path), _p50(rows, anchor)
        if not any(r.path in (path, anchor) for r in rows):
            continue  # that section did not run
        ratio = ours / theirs if ours is not None and theirs else None
        detail = f" ({ours:.0f} / {theirs:.0f} ms)" if ratio is not None else ""
        out.append(_ratio_target(f"{label} (p50)", ratio, goal, detail))
    return out


def join_targets(results: Results) -> list[Target]:
    """Late joiners and recovery after a SIGKILL of FFmpeg."""
    rows: list[Target] = []
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


# Every group of targets, in the order of the Targets table; a new bench section appends its own function.
TARGET_GROUPS: list[Callable[[Results], list[Target]]] = [
    cpu_targets, memory_targets, startup_targets, latency_targets, join_targets,
]


def targets(results: Results) -> list[Target]:
    """(target, goal, measured, ok) for every target the issues state."""
    return [row for group in TARGET_GROUPS for row in group(results)]


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
    add("Every anchor is measured in the same `make bench` run with the same client: RTSP against the first "
        "seed's own RTSP design (gst-rtsp-server with x264enc at camstream's settings, fed raw frames), RTMP "
        "against bare `ffmpeg -> nginx-rtmp`. FFmpeg's RTSP client adds about one frame interval by itself "
        "(see the GStreamer viewer table), so RTSP is never compared with RTMP.\n")

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
        add(render_memory(results))

    if results.startup:
        add(render_startup(results.startup))
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


def render_memory(results: Results) -> str:
    """Per-process peak RSS of every CPU case, and the tree total (the Targets table compares (a) with (b))."""
    roles = sorted({k for row in results.cpu for k in row.rss_roles},
                   key=lambda k: (["supervisor", "rtsp-server", "nginx", "ffmpeg", "gst-launch"] + [k]).index(k))
    out = ["### Memory by process\n",
           "Peak RSS of each process of the case during the window (MB, median over runs; a role's processes "
           "summed, e.g. nginx master + worker). The tree total is the peak of the sum, so it can be below the sum "
           "of the peaks. (b) is bare FFmpeg publishing one stream into the same builtin RTSP server process.\n",
           "| Case | " + " | ".join(roles) + " | tree |", "|---|" + "---|" * len(roles) + "---|"]
    for row in results.cpu:
        cells = " | ".join(_fmt(row.rss_roles[k] / MB) if k in row.rss_roles else "-" for k in roles)
        out.append(f"| ({row.key}) {row.title} | {cells} | **{_fmt(row.rss / MB)}** |")
    return "\n".join(out) + "\n"


def render_startup(rows: list[StartupRow]) -> str:
    """Start-up of the often-called commands next to a bare interpreter start."""
    out = ["## Start-up\n",
           "Wall time from fork to exit (median) and peak RSS of each command, interleaved with a bare "
           "`python -c pass` of the same interpreter; caches warm (the `--help` text, tool versions). These "
           "commands are answered before Typer is imported (camstream/cli/_fast.py).\n",
           "| Command | ms | x bare | peak RSS MB |", "|---|---|---|---|"]
    for row in rows:
        ratio = "1.00" if row.ratio is None else f"{row.ratio:.2f}"
        out.append(f"| `{row.command}` | {row.seconds * 1000:.0f} | {ratio} | {row.rss / MB:.1f} |")
    return "\n".join(out) + "\n"


# ---------------------------------------------------------------------------------------------------------------
# Sections other bench modules add to a results file (bench.encoders, bench.web_media, bench.audio): each lives
# between <!-- name --> and <!-- /name --> so a later run replaces it in place and never duplicates it.
# ---------------------------------------------------------------------------------------------------------------


def section_markers(name: str) -> tuple[str, str]:
    """The opening and closing comment around section `name`."""
    return f"<!-- {name} -->", f"<!-- /{name} -->"


def put_section(text: str, name: str, body: str, title: str = "# camstream benchmark results\n") -> str:
    """`text` with section `name` replaced by `body` (appended when absent; `title` starts an empty file)."""
    begin, end = section_markers(name)
    block = f"{begin}\n{body.rstrip(chr(10))}\n{end}\n"
    if begin in text and end in text:
        head, rest = text.split(begin, 1)
        tail = rest.split(end, 1)[1].lstrip("\n")
        return head + block + ("\n" + tail if tail else "")
    text = text.rstrip("\n") if text.strip() else title.rstrip("\n")
    return text + "\n\n" + block


def write_section(path: Path, name: str, body: str) -> None:
    """Insert or replace section `name` of the results file at `path`."""
    path.write_text(put_section(path.read_text() if path.exists() else "", name, body))
