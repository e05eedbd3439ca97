"""Shared fixtures: free ports, a real `camstream run` subprocess, a leak check for the whole suite, and the rule
that marks tests `slow`.

The fast tier is `pytest -m "not slow"`. Folders whose every test starts processes (e2e/, faults/) mark their
tests slow in their own conftest; elsewhere a test is slow when it asks for a fixture that starts FFmpeg, a
server, PulseAudio, a browser or camstream itself (PROCESS_FIXTURES), or carries the marker itself.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from support import Camstream, StartCamstream, free_port

# Fixtures that start real processes for the test using them: FFmpeg, camstream itself, servers, PulseAudio,
# Chromium, or camstream's installers against a stand-in machine (machine, box) and the CLI's exit-code matrix.
PROCESS_FIXTURES = frozenset({
    "camstream_run", "pulse", "rtsp_server", "publish", "mediamtx", "nginx", "make_server", "rtmp_stream",
    "rtsp_stream", "capped_run", "live", "recorded", "killed", "stamped", "disk", "pw", "launch", "publisher",
    "machine", "box", "results",
})


# Test files `make test` runs on their own after the parallel part: each drives several software-decoding browsers
# or times a deadline from the issues (a page recovers within 5 s, a restart serves within 5 s), which another test
# sharing a 2-core box can push past the bound without anything being wrong.
SERIAL_FILES = frozenset({
    "tests/e2e/test_web_media_run.py", "tests/e2e/test_web_media_browser.py", "tests/e2e/test_web_page.py",
    "tests/e2e/test_audio_web.py", "tests/faults/test_supervisor_death.py",
})


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark every test that uses a process-starting fixture as slow (folder conftests mark whole folders), and the
    SERIAL_FILES' tests serial."""
    root = Path(str(config.rootpath))
    for item in items:
        if PROCESS_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)
        if Path(str(item.path)).relative_to(root).as_posix() in SERIAL_FILES:
            item.add_marker(pytest.mark.serial)


@pytest.fixture
def port() -> int:
    """One free port."""
    return free_port()


# Lines of each log a failed test's temporary folder holds, shown with the failure: CI prints only the report, and
# a flaky failure is understood from what camstream, the media app or a server said at the time, or not at all.
FAILURE_LOG_LINES = 40


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item) -> Iterator[None]:
    """Attach the tail of every *.log under the failed test's tmp_path to its report."""
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    tmp = getattr(item, "funcargs", {}).get("tmp_path")
    if not report.failed or not isinstance(tmp, Path):
        return
    for log in sorted(tmp.rglob("*.log"))[:8]:
        try:
            lines = log.read_text(errors="replace").splitlines()[-FAILURE_LOG_LINES:]
        except OSError:
            continue
        if lines:
            report.sections.append((f"log {log.relative_to(tmp)}", "\n".join(lines)))


@pytest.fixture
def camstream_run(tmp_path: Path) -> Iterator[StartCamstream]:
    """Factory: start `camstream run ARGS...`; every instance is stopped and reaped after the test."""
    started: list[Camstream] = []

    def start(*args: str, env: dict[str, str] | None = None) -> Camstream:
        cs = Camstream(list(args), tmp_path / f"camstream-{len(started)}.log", env)
        started.append(cs)
        return cs

    yield start
    for cs in started:
        if cs.proc.poll() is None:
            cs.stop(signal.SIGTERM, timeout=20)
        cs.kill()


@pytest.fixture(scope="session", autouse=True)
def no_leaked_processes() -> Iterator[None]:
    """After the whole suite, no process started by a test may still be running."""
    me = psutil.Process()
    yield
    time.sleep(0.5)
    leftovers = [p for p in me.children(recursive=True) if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    names = []
    for p in leftovers:
        try:
            names.append(" ".join(p.cmdline())[:120])
            p.kill()
        except psutil.NoSuchProcess:
            pass
    assert not names, f"processes left behind by the suite: {names}"

pytest_plugins = ["pulse"]
