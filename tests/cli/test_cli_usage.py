"""Usage errors through the INSTALLED `camstream` executable: one `error:` line on stderr, exit 2, nothing on stdout.

Issue 18: typer 0.29 stopped depending on click, and the old handler imported click, so every usage error ended in
two tracebacks. These tests run the venv's console script (what a user runs), for every usage-error class, at the
top level and in every sub-app, and `make test-latest` runs them against the newest allowed Typer.
"""

from __future__ import annotations

import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import typer.main

from camstream.cli import app
from camstream.cli._app import run_app

CAMSTREAM = Path(sys.executable).parent / "camstream"

# (argv, text the one error line must contain)
CASES: dict[str, tuple[list[str], str]] = {
    # top level
    "top-unknown-option": (["--bogus"], "no such option: --bogus"),
    "top-unknown-command": (["frobnicate"], "no such command 'frobnicate'"),
    "top-close-command": (["rn"], "did you mean 'run'?"),
    # run
    "run-unknown-option": (["run", "--bogus"], "no such option: --bogus"),
    "run-close-option": (["run", "--fsp", "30"], "did you mean --fps?"),
    "run-missing-value": (["run", "--fps"], "'--fps' requires an argument"),
    "run-extra-argument": (["run", "extra"], "unexpected extra argument"),
    "run-bad-value": (["run", "--duration", "soon"], "invalid value for '--duration'"),
    # status
    "status-extra-argument": (["status", "--json", "extra"], "unexpected extra argument"),
    # play
    "play-bad-value": (["play", "--port", "abc"], "invalid value for '--port'"),
    "play-extra-argument": (["play", "rtsp://h/live", "more"], "unexpected extra argument"),
    # recordings sub-app
    "recordings-unknown-command": (["recordings", "frob"], "no such command 'frob'"),
    "recordings-close-command": (["recordings", "lsit"], "did you mean 'list'?"),
    "recordings-unknown-option": (["recordings", "--bogus"], "no such option: --bogus"),
    "recordings-missing-value": (["recordings", "list", "--since"], "'--since' requires an argument"),
    "recordings-close-option": (["recordings", "list", "--snice", "1h"], "did you mean --since?"),
    "recordings-missing-option": (["recordings", "export"], "missing option '--from'"),
    # hotspot sub-app
    "hotspot-bad-choice": (["hotspot", "setup", "--backend", "nope"], "'nope' is not one of"),
    "hotspot-unknown-command": (["hotspot", "frob"], "no such command 'frob'"),
    "hotspot-unknown-option": (["hotspot", "status", "--bogus"], "no such option: --bogus"),
    "hotspot-missing-option": (["hotspot", "setup", "--password", "secret123"], "missing option '--ssid'"),
}


def _commands() -> list[list[str]]:
    """Every command path of the app, e.g. ["run"], ["recordings", "list"], so new sub-apps are covered too."""
    root = typer.main.get_command(app)
    paths: list[list[str]] = []

    def walk(cmd: object, path: list[str]) -> None:
        subs = getattr(cmd, "commands", None)
        if subs:
            paths.append(path) if path else None
            for name, sub in subs.items():
                walk(sub, [*path, name])
        else:
            paths.append(path)

    walk(root, [])
    return paths


def _run(argv: list[str]) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "100"}
    return subprocess.run([str(CAMSTREAM), *argv], capture_output=True, text=True, timeout=60, env=env,
                          stdin=subprocess.DEVNULL)


@pytest.fixture(scope="module")
def results() -> dict[str, subprocess.CompletedProcess[str]]:
    """Run every case once, a few at a time (each is a fresh interpreter start)."""
    assert CAMSTREAM.exists(), f"{CAMSTREAM} missing: install camstream into this venv (make install)"
    argvs = {key: argv for key, (argv, _) in CASES.items()}
    with ThreadPoolExecutor(4) as pool:
        done = dict(zip(argvs, pool.map(_run, argvs.values())))
    return done


def _check_one_line(result: subprocess.CompletedProcess[str]) -> str:
    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode == 2, (result.returncode, result.stderr)
    assert result.stdout == "", result.stdout
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: camstream"), lines[0]
    return lines[0]


@pytest.mark.parametrize("case", list(CASES), ids=list(CASES))
def test_usage_error_is_one_line_exit_2(case: str, results: dict[str, subprocess.CompletedProcess[str]]) -> None:
    line = _check_one_line(results[case])
    assert CASES[case][1] in line, line


@pytest.mark.slow  # one camstream interpreter per command
def test_every_command_rejects_an_unknown_option(capsys: pytest.CaptureFixture[str]) -> None:
    """In-process (same handler as the executable), for every command the app has now or gains later."""
    paths = _commands()
    assert ["recordings", "list"] in paths and ["hotspot", "setup"] in paths and ["run"] in paths
    for path in paths:
        assert run_app([*path, "--no-such-flag"]) == 2, path
        out, err = capsys.readouterr()
        assert out == "" and err.count("\n") == 1, (path, out, err)
        assert err.startswith(f"error: {' '.join(['camstream', *path])}: no such option: --no-such-flag"), err


@pytest.mark.slow  # runs the issue's camstream command lines
def test_the_issue_examples_exactly() -> None:
    """The five commands of issue 18, as a user types them."""
    out = {" ".join(a): _run(a) for a in (["run", "--bogus"], ["frobnicate"], ["run", "--fps"],
                                          ["recordings", "list", "--since"], ["hotspot", "setup", "--backend", "nope"])}
    lines = {k: _check_one_line(v) for k, v in out.items()}
    assert lines["run --bogus"] == "error: camstream run: no such option: --bogus: did you mean --verbose?"
    assert lines["frobnicate"] == "error: camstream: no such command 'frobnicate': see `camstream --help`"
    assert lines["hotspot setup --backend nope"] == (
        "error: camstream hotspot setup: invalid value for '--backend': "
        "'nope' is not one of 'auto', 'networkmanager', 'hostapd': see `camstream hotspot setup --help`")


def test_bare_group_shows_help_and_exits_2() -> None:
    """`camstream recordings` with no command: the help (the library prints it), exit 2, no error line."""
    result = _run(["recordings"])
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "list" in result.stdout and "export" in result.stdout
