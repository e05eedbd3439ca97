"""The service path and the often-called commands never import the CLI library (issue 17: memory and start-up).

`camstream run` without a live panel replaces itself with `python -m camstream.service`; `--version`,
`status --json` and `--help` (once cached) are answered before Typer is imported. Checked with
PYTHONPROFILEIMPORTTIME, which every Python process started with it in its environment obeys, exec'd ones too.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from support import free_port

CAMSTREAM = Path(sys.executable).parent / "camstream"
HEAVY = ("typer", "rich", "pydantic", "click", "shellingham")
HEADER = "import time: self [us] | cumulative | imported package"


def imported(stderr: str) -> list[set[str]]:
    """Top-level packages each Python process imported, in start order (one set per HEADER)."""
    processes: list[set[str]] = []
    for line in stderr.splitlines():
        if line.startswith(HEADER):
            processes.append(set())
        elif line.startswith("import time:") and processes:
            processes[-1].add(line.rsplit("|", 1)[1].strip().split(".")[0])
    return processes


def heavy(modules: set[str]) -> set[str]:
    """The CLI-library packages among `modules`."""
    return {m for m in modules if m in HEAVY or m.startswith("pydantic")}


def _run(args: list[str], tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache"), "PYTHONPROFILEIMPORTTIME": "1", **env}
    return subprocess.run([str(CAMSTREAM), *args], capture_output=True, text=True, timeout=120, env=full,
                          stdin=subprocess.DEVNULL)


def test_core_modules_of_a_run_do_not_import_the_cli_library() -> None:
    """Everything the service process may import, imported in a fresh interpreter: no Typer/Rich/pydantic."""
    code = (
        "import sys, camstream.service, camstream.app, camstream.supervise, camstream.status, camstream.logsetup, "
        "camstream.servers.rtsp_builtin, camstream.servers.nginx_rtmp, camstream.servers.mediamtx, "
        "camstream.outputs.rtsp, camstream.outputs.rtmp, camstream.outputs.srt, camstream.outputs.record, "
        "camstream.outputs.snapshots, camstream.storage.retention, camstream.storage.watchers, camstream.versions; "
        "print(sorted({m.split('.')[0] for m in sys.modules}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert not heavy(set(json.loads(out.stdout.replace("'", '"')))), out.stdout


def test_version_does_not_import_typer(tmp_path: Path) -> None:
    result = _run(["--version"], tmp_path)
    assert result.returncode == 0 and result.stdout.startswith("camstream ")
    (process,) = imported(result.stderr)
    assert "camstream" in process and not heavy(process), heavy(process)


def test_status_json_does_not_import_typer_and_matches_the_typer_command(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    status = {"pid": os.getpid(), "state": "running", "source": "testsrc", "encoder": "libx264", "started_at": 1.0}
    (state / "status.json").write_text(json.dumps(status))
    for args in (["status", "--json", "--state-dir", str(state)], ["status", f"--state-dir={state}", "--json"]):
        result = _run(args, tmp_path)
        assert result.returncode == 0, result.stderr[-2000:]
        assert json.loads(result.stdout) == status
        (process,) = imported(result.stderr)
        assert not heavy(process), heavy(process)
    # The same command through Typer (an extra -v is not a fast-path spelling) prints the same thing.
    from camstream.cli._app import run_app

    assert run_app(["status", "--state-dir", str(state), "--json"]) == 0
    missing = _run(["status", "--json", "--state-dir", str(tmp_path / "none")], tmp_path)
    assert missing.returncode == 1 and missing.stdout == ""
    assert missing.stderr.splitlines()[-1].startswith("error: camstream is not running (no live status in ")


def test_status_json_with_other_options_goes_to_typer(tmp_path: Path) -> None:
    """Any spelling the fast path does not know is Typer's to answer, e.g. a usage error."""
    result = _run(["status", "--json", "--bogus"], tmp_path)
    assert result.returncode == 2
    assert result.stderr.splitlines()[-1].startswith("error: camstream status: no such option: --bogus")
    assert heavy(imported(result.stderr)[0])


def test_help_is_rendered_by_typer_once_then_served_from_the_cache(tmp_path: Path) -> None:
    first = _run(["--help"], tmp_path, COLUMNS="90")
    second = _run(["--help"], tmp_path, COLUMNS="90")
    other_width = _run(["--help"], tmp_path, COLUMNS="120")
    for result in (first, second, other_width):
        assert result.returncode == 0 and "Usage: camstream" in result.stdout and result.stderr.count(HEADER) == 1
    assert heavy(imported(first.stderr)[0]) and heavy(imported(other_width.stderr)[0])  # rendered
    assert not heavy(imported(second.stderr)[0])  # cached
    assert second.stdout == first.stdout != other_width.stdout
    assert len(list((tmp_path / "cache" / "camstream" / "help").glob("*.txt"))) == 2


@pytest.mark.slow
def test_run_without_a_panel_becomes_the_lean_service_process(tmp_path: Path) -> None:
    """`camstream run` (stdout not a terminal) execs `python -m camstream.service`: same pid, no CLI library."""
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache"), "PYTHONPROFILEIMPORTTIME": "1"}
    argv = [str(CAMSTREAM), "run", "--source", "testsrc", "--resolution", "320x240", "--rtsp",
            "--rtsp-port", str(free_port()), "--ssd-path", str(tmp_path / "ssd"), "--state-dir", str(tmp_path / "st"),
            "--duration", "5"]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        cmdline: list[str] = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and "camstream.service" not in cmdline:
            try:
                cmdline = psutil.Process(proc.pid).cmdline()
            except psutil.NoSuchProcess:
                break
            time.sleep(0.1)
        assert cmdline[1:] == ["-m", "camstream.service"], cmdline
        out, err = proc.communicate(timeout=90)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, 9)
            proc.wait(10)
    assert proc.returncode == 0, err[-3000:]
    processes = imported(err)
    # The CLI process (Typer parses the flags), then the service process that replaced it.
    assert len(processes) == 2, len(processes)
    cli, service = processes
    assert heavy(cli) and not heavy(service), heavy(service)
    assert "camstream" in service and "gi" not in service  # GStreamer lives in the RTSP server process only
    assert "source testsrc, encoder libx264" in err


def test_planning_an_rtsp_run_does_not_load_gstreamer_in_the_supervisor() -> None:
    """Only the server process needs gi and GStreamer (~17 MB); the supervisor's check reads the typelibs."""
    code = ("import sys; from camstream.servers.rtsp_builtin import available, bindings_installed; "
            "cheap = bindings_installed(); print(cheap[0], 'gi' in sys.modules); print(available()[0])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    cheap_line, deep_line = out.stdout.splitlines()
    assert cheap_line == f"{deep_line} False", out.stdout  # same answer, and gi was not imported for it
