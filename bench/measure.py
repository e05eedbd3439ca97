"""Process-tree CPU and memory sampling with psutil, and the machine description."""

from __future__ import annotations

import os
import platform
import re
import statistics
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import psutil

from camstream import proc

# How often the sampler walks the trees. CPU comes from the kernel's cumulative counters, so the interval
# only bounds what is lost from a process that exits between two samples; RSS peaks shorter than it are missed.
SAMPLE_INTERVAL = 0.25


def role_of(p: psutil.Process, roots: dict[int, str]) -> str:
    """A stable label for a process in a measured tree (what the tables report per role)."""
    if p.pid in roots:
        return roots[p.pid]
    try:
        name = p.name()
        cmdline = " ".join(p.cmdline())
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return "other"
    if "camstream.servers.rtsp_builtin" in cmdline:
        return "rtsp-server"
    if name.startswith("gst-launch"):
        return "gst-launch"
    for known in ("ffmpeg", "nginx"):
        if name == known:
            return known
    return name


@dataclass
class Window:
    """CPU seconds by role and the peak RSS (sum over the trees) during one measuring window."""

    seconds: float
    cpu: dict[str, float]
    peak_rss: int
    processes: int
    peak_rss_by_role: dict[str, int] = field(default_factory=dict)  # each role's own peak (summed over its processes)

    @property
    def cpu_total(self) -> float:
        """CPU seconds of everything measured."""
        return sum(self.cpu.values())

    def per_minute(self, role: str | None = None) -> float:
        """CPU seconds per minute of stream, of one role or of all."""
        used = self.cpu_total if role is None else self.cpu.get(role, 0.0)
        return used * 60.0 / self.seconds if self.seconds > 0 else 0.0


@dataclass
class _Seen:
    role: str
    first: float  # CPU seconds when first seen inside the window (0 for a process born inside it)
    last: float


class TreeSampler:
    """Samples the process trees under `roots` (pid -> role) in a thread; `window()` measures one interval."""

    def __init__(self, roots: dict[int, str] | Callable[[], dict[int, str]], interval: float = SAMPLE_INTERVAL):
        self._roots = roots if callable(roots) else (lambda: roots)
        self.interval = interval
        self._lock = threading.Lock()
        # One sample at a time: the background thread and begin()/end() both take samples.
        self._sample_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._measuring = False
        self._seen: dict[tuple[int, float], _Seen] = {}
        self._peak = 0
        self._started = 0.0
        self._procs: dict[tuple[int, float], psutil.Process] = {}
        self.rss_by_role: dict[str, list[tuple[float, int]]] = {}

    def start(self) -> TreeSampler:
        """Begin sampling in the background."""
        self._thread = threading.Thread(target=self._loop, name="bench-sampler", daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop the sampling thread."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> TreeSampler:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _tree(self) -> list[tuple[psutil.Process, str]]:
        roots = self._roots()
        out = []
        for pid in roots:
            try:
                root = psutil.Process(pid)
                members = [root, *root.children(recursive=True)]
            except psutil.NoSuchProcess:
                continue
            for p in members:
                key = (p.pid, p.create_time()) if p.is_running() else None
                if key is None:
                    continue
                # Reuse Process objects: psutil keeps per-object state, and a stable object is cheaper.
                cached = self._procs.setdefault(key, p)
                out.append((cached, role_of(cached, roots)))
        return out

    def sample(self, first: bool = False) -> None:
        """Take one sample now."""
        with self._sample_lock:
            self._sample(first)

    def _sample(self, first: bool) -> None:
        rss_total = 0
        now = time.monotonic()
        by_role: dict[str, int] = {}
        for p, role in self._tree():
            try:
                with p.oneshot():
                    times = p.cpu_times()
                    rss = p.memory_info().rss
                    key = (p.pid, p.create_time())
            except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                continue
            cpu = times.user + times.system
            rss_total += rss
            by_role[role] = by_role.get(role, 0) + rss
            with self._lock:
                if not self._measuring:
                    continue
                seen = self._seen.get(key)
                if seen is None:
                    # Present when the window opened: count from here. Born inside the window: count it all.
                    self._seen[key] = _Seen(role, cpu if first else 0.0, cpu)
                else:
                    seen.last = cpu
        with self._lock:
            if self._measuring:
                self._peak = max(self._peak, rss_total)
            for role, rss in by_role.items():
                self.rss_by_role.setdefault(role, []).append((now, rss))

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.sample()
            except Exception:  # a sampler hiccup must not end the benchmark; the next sample retries
                continue

    def begin(self) -> None:
        """Open a measuring window: processes alive now count from their current CPU time."""
        with self._sample_lock:
            with self._lock:
                self._measuring = True
                self._seen = {}
                self._peak = 0
            self._sample(first=True)
            self._started = time.monotonic()

    def end(self) -> Window:
        """Close the window and return what it measured."""
        with self._sample_lock:
            self._sample(first=False)
            elapsed = time.monotonic() - self._started
            with self._lock:
                self._measuring = False
        cpu: dict[str, float] = {}
        for seen in self._seen.values():
            cpu[seen.role] = cpu.get(seen.role, 0.0) + max(0.0, seen.last - seen.first)
        with self._lock:
            peaks = {role: max((rss for t, rss in samples if t >= self._started), default=0)
                     for role, samples in self.rss_by_role.items()}
        return Window(elapsed, cpu, self._peak, len(self._seen), {k: v for k, v in peaks.items() if v})


def system_busy_seconds() -> float:
    """CPU seconds all cores spent not idle since boot (for the background-load check)."""
    t = psutil.cpu_times()
    return sum(v for k, v in t._asdict().items() if k not in ("idle", "iowait", "guest", "guest_nice"))


def own_tree_cpu_seconds() -> float:
    """CPU seconds of this process, its reaped descendants, and its live descendants."""
    me = psutil.Process()
    t = me.cpu_times()
    total = t.user + t.system + t.children_user + t.children_system
    for child in me.children(recursive=True):
        try:
            c = child.cpu_times()
            total += c.user + c.system
        except psutil.NoSuchProcess:
            continue
    return total


@dataclass
class BackgroundLoad:
    """CPU used on this machine by processes the benchmark did not start, while it ran."""

    wall: float = 0.0
    system: float = 0.0
    bench: float = 0.0
    load_before: tuple[float, float, float] = (0.0, 0.0, 0.0)
    _t0: float = field(default=0.0, repr=False)
    _s0: float = field(default=0.0, repr=False)
    _b0: float = field(default=0.0, repr=False)

    def start(self) -> None:
        """Remember the counters now."""
        self.load_before = os.getloadavg()
        self._t0, self._s0, self._b0 = time.monotonic(), system_busy_seconds(), own_tree_cpu_seconds()

    def stop(self) -> None:
        """Compute the totals since start()."""
        self.wall = time.monotonic() - self._t0
        self.system = system_busy_seconds() - self._s0
        self.bench = own_tree_cpu_seconds() - self._b0

    @property
    def other_percent(self) -> float:
        """Average % of one core used by other processes (system busy minus the benchmark's own tree)."""
        return max(0.0, self.system - self.bench) * 100.0 / self.wall if self.wall else 0.0


def median(values: Iterable[float | None]) -> float | None:
    """Median of the values that are not None; None when there are none."""
    kept = [v for v in values if v is not None]
    return statistics.median(kept) if kept else None


def _first_line(argv: list[str], pattern: str, stderr: bool = False) -> str:
    try:
        result = proc.run(argv, timeout=10)
    except Exception:
        return "not found"
    text = (result.stderr if stderr else result.stdout) + "\n" + (result.stdout if stderr else result.stderr)
    match = re.search(pattern, text)
    return match.group(1).strip() if match else "unknown"


def cpu_model() -> str:
    """The CPU model name from /proc/cpuinfo (or platform.processor())."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def os_name() -> str:
    """PRETTY_NAME from /etc/os-release plus the kernel release."""
    pretty = platform.system()
    try:
        with open("/etc/os-release", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("PRETTY_NAME="):
                    pretty = line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    return f"{pretty}, kernel {platform.release()}"


def machine() -> dict[str, str]:
    """What the numbers were measured on."""
    return {
        "CPU": cpu_model(),
        "Cores": f"{psutil.cpu_count(logical=False) or '?'} physical / {psutil.cpu_count()} logical",
        "RAM": f"{psutil.virtual_memory().total / 2**30:.1f} GiB",
        "OS": os_name(),
        "Python": platform.python_version(),
        "FFmpeg": _first_line(["ffmpeg", "-hide_banner", "-version"], r"ffmpeg version (\S+)"),
        "GStreamer": _first_line(["gst-launch-1.0", "--version"], r"GStreamer (\S+)"),
        "nginx": _first_line(["nginx", "-v"], r"nginx version: (\S+)", stderr=True),
    }
