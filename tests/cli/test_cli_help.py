"""`camstream run --help` and `install-service --help` as a user sees them (issue 16): typed options with their
accepted forms, grouped into panels, the seed's flags marked; shell completion offered at the top level."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import typer.main

from camstream.cli import app

CAMSTREAM = Path(sys.executable).parent / "camstream"
PANELS = ["Source", "Encoding", "Live outputs", "Recording", "Retention", "Watchdog", "Run", "Logging"]
SEED_FLAGS = {"--device", "--resolution", "--fps", "--bitrate", "--server", "--stream-key", "--input-format",
              "--encoder"}


def _help(*args: str) -> str:
    program = [str(CAMSTREAM)] if CAMSTREAM.exists() else [sys.executable, "-m", "camstream"]
    result = subprocess.run([*program, *args, "--help"], capture_output=True, text=True, timeout=60,
                            env={**os.environ, "COLUMNS": "200", "NO_COLOR": "1"})
    assert result.returncode == 0, result.stderr
    return result.stdout


def _rows(text: str) -> dict[str, tuple[str, str]]:
    """{--option: (panel, the whole row text with wrapped help lines joined)} from the rendered Rich help."""
    rows: dict[str, tuple[str, str]] = {}
    panel, current = "", ""
    for line in text.splitlines():
        title = re.match(r"╭─ (.+?) ─", line)
        if title:
            panel = title.group(1)
            continue
        body = line.strip("│ ").rstrip()
        option = re.match(r"(--[a-z0-9-]+)", body)
        if option:
            current = option.group(1)
            rows[current] = (panel, body)
        elif current and line.startswith("│") and body:
            rows[current] = (panel, rows[current][1] + " " + body)
        if line.startswith("╰"):
            current = ""
    return rows


@pytest.fixture(scope="module")
def run_help() -> str:
    return _help("run")


def test_run_help_has_the_panels_in_order(run_help: str) -> None:
    titles = re.findall(r"╭─ (.+?) ─", run_help)
    assert [t for t in titles if t in PANELS] == PANELS


def test_run_help_shows_no_untyped_values(run_help: str) -> None:
    assert re.findall(r"<(?:str|int|float|bool|path)>|\bTEXT\b", run_help) == []


@pytest.mark.parametrize(("option", "panel", "metavar", "forms"), [
    pytest.param("--fps", "Encoding", "INTEGER", "1-240", id="fps"),
    pytest.param("--bitrate", "Encoding", "BITRATE", "2000000, 2M or 2000k", id="bitrate"),
    pytest.param("--gop", "Encoding", "SECONDS", "0.1-60", id="gop"),
    pytest.param("--resolution", "Source", "WxH", "1280x720", id="resolution"),
    pytest.param("--rtsp-port", "Live outputs", "PORT", "1-65535", id="rtsp-port"),
    pytest.param("--rtmp-port", "Live outputs", "PORT", "1-65535", id="rtmp-port"),
    pytest.param("--segment-seconds", "Recording", "SECONDS", "1-3600", id="segment-seconds"),
    pytest.param("--snapshot-interval", "Recording", "SECONDS", "1-86400", id="snapshot-interval"),
    pytest.param("--max-age", "Retention", "DURATION", "90s, 30m, 12h, 7d", id="max-age"),
    pytest.param("--max-size", "Retention", "SIZE", "500MB, 20GB, 1TB", id="max-size"),
    pytest.param("--min-free", "Retention", "SIZE|PERCENT", "1GB or 5%", id="min-free"),
    pytest.param("--stall-seconds", "Watchdog", "SECONDS", "1-600", id="stall-seconds"),
    pytest.param("--duration", "Run", "SECONDS", "seconds", id="duration"),
    pytest.param("--verbose", "Logging", "", "More logging", id="verbose"),
])
def test_run_option_is_typed_with_its_accepted_forms(run_help: str, option: str, panel: str, metavar: str,
                                                      forms: str) -> None:
    where, row = _rows(run_help)[option]
    assert where == panel
    assert re.match(rf"{re.escape(option)}(\s+-\w)?\s+{re.escape(metavar)}\s", row + " "), row
    assert forms in row


def test_seed_flags_are_marked_and_only_they(run_help: str) -> None:
    marked = {option for option, (_panel, row) in _rows(run_help).items() if row.endswith("(seed)")}
    assert marked == SEED_FLAGS
    assert "(seed) marks the flags of the original streamer scripts" in run_help


@pytest.mark.parametrize("path", [["run"], ["install-service"], ["config", "show"]], ids=" ".join)
def test_rule_every_value_option_names_what_it_takes(path: list[str]) -> None:
    # A new option without a metavar would show Typer's bare <type>; numbers, sizes and durations stay text
    # (the config parsers check them, with the same message as YAML and env), so the metavar is what tells.
    command = typer.main.get_command(app)
    for name in path:
        command = command.commands[name]  # type: ignore[attr-defined]
    params = command.params
    untyped = [p.name for p in params if getattr(p, "is_flag", False) is False and not getattr(p, "count", False)
               and not (p.metavar and p.metavar[0] != "<")]
    assert untyped == []


def test_install_service_help_takes_the_run_flags_in_the_same_panels(run_help: str) -> None:
    service_rows = _rows(_help("install-service"))
    run_rows = _rows(run_help)
    service_only = {"--config", "--user", "--env", "--system-nginx", "--dry-run"}
    not_for_a_service = {"--duration", "--verbose", "--quiet", "--log-json", "--dry-run", "--config"}
    assert set(run_rows) - not_for_a_service <= set(service_rows)
    for option in set(run_rows) - not_for_a_service:
        assert service_rows[option][0] == run_rows[option][0], option
    assert {o for o, (panel, _row) in service_rows.items() if panel == "Service"} == service_only


def test_top_level_help_offers_shell_completion() -> None:
    rows = _rows(_help())
    assert "--install-completion" in rows and "--show-completion" in rows


def test_completion_completes_run_options() -> None:
    program = [str(CAMSTREAM)] if CAMSTREAM.exists() else [sys.executable, "-m", "camstream"]
    result = subprocess.run(program, capture_output=True, text=True, timeout=60,
                            env={**os.environ, "_CAMSTREAM_COMPLETE": "complete_bash",
                                 "COMP_WORDS": "camstream run --max-", "COMP_CWORD": "2"})
    assert (result.returncode, result.stdout.split()) == (0, ["--max-age", "--max-size"])
