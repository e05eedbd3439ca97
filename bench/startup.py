"""Start-up cost of the commands scripts and health checks call often, next to a bare interpreter (issue 17).

Each command runs `runs` times, interleaved with `python -c pass` of the same interpreter so load drift hits
both alike; wall time (median) and peak RSS come from wait4() of each child. Caches are warmed first (the
`--help` text, the tool versions), as they are on any machine after the first call.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

TARGET_RATIO = 5.0


@dataclass
class StartupRow:
    """One command: median wall seconds, median peak RSS (bytes), and its ratio to a bare interpreter."""

    command: str
    seconds: float
    rss: int
    ratio: float | None = None


def commands(camstream: str, state_dir: Path) -> dict[str, list[str]]:
    """The measured command lines."""
    return {
        "camstream --version": [camstream, "--version"],
        "camstream status --json": [camstream, "status", "--json", "--state-dir", str(state_dir)],
        "camstream --help": [camstream, "--help"],
    }


def _once(argv: list[str], env: dict[str, str]) -> tuple[float, int, int]:
    """(wall seconds, peak RSS bytes, exit status) of one run.

    The peak RSS comes from GNU time (`%M`), which forks the command from its own small process: a child forked
    from this Python would report this process's RSS as its own peak (Linux keeps the larger of the pre-exec and
    post-exec high-water marks). 0 when /usr/bin/time is missing.
    """
    timer = ["/usr/bin/time", "-f", "maxrss=%M"] if os.path.exists("/usr/bin/time") else []
    started = time.perf_counter()
    done = subprocess.run([*timer, *argv], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                          stdin=subprocess.DEVNULL, env=env, check=False)
    elapsed = time.perf_counter() - started
    lines = [line for line in done.stderr.splitlines() if line.startswith("maxrss=")]
    rss = int(lines[-1].split("=", 1)[1]) * 1024 if lines else 0
    return elapsed, rss, done.returncode


def measure(python: str, camstream: str, runs: int) -> list[StartupRow]:
    """Rows for the bare interpreter and each command (ratios filled in)."""
    with tempfile.TemporaryDirectory(prefix="camstream-startup-") as tmp:
        state = Path(tmp) / "state"
        state.mkdir()
        # A live instance's status file (this process's pid is alive), so `status --json` does its full work.
        (state / "status.json").write_text(json.dumps({"pid": os.getpid(), "state": "running", "source": "testsrc",
                                                       "encoder": "libx264", "started_at": time.time()}))
        env = {**os.environ, "XDG_CACHE_HOME": str(Path(tmp) / "cache")}
        argvs = {"python -c pass (bare interpreter)": [python, "-c", "pass"], **commands(camstream, state)}
        for name, argv in argvs.items():  # warm the caches and check each command works
            _seconds, _rss, code = _once(argv, env)
            if code != 0:
                raise RuntimeError(f"startup: `{name}` exited {code}")
        samples: dict[str, list[tuple[float, int]]] = {name: [] for name in argvs}
        for _ in range(runs):
            for name, argv in argvs.items():
                seconds, rss, _code = _once(argv, env)
                samples[name].append((seconds, rss))
    rows = [StartupRow(name, statistics.median(s for s, _ in got), int(statistics.median(r for _, r in got)))
            for name, got in samples.items()]
    bare = rows[0].seconds
    for row in rows[1:]:
        row.ratio = row.seconds / bare if bare > 0 else None
    return rows
