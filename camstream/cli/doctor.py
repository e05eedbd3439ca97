"""`camstream doctor`: a pass/warn/fail table of everything camstream depends on, with fixes."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

from camstream import doctor, encoders
from camstream.config import load_config
from camstream.install import hotspot
from camstream.install.plan import Host

STYLE = {doctor.PASS: "green", doctor.WARN: "yellow", doctor.FAIL: "bold red"}


def render(results: list[doctor.CheckResult], console: Console) -> None:
    """Print the results as a table."""
    table = Table(show_lines=False)
    for column in ("check", "status", "detail", "fix"):
        table.add_column(column, overflow="fold")
    for r in results:
        table.add_row(r.name, f"[{STYLE[r.status]}]{r.status}[/]", r.detail, r.fix)
    console.print(table)


def register(app: typer.Typer) -> None:
    """Add the `doctor` command."""

    @app.command("doctor")
    def run_doctor(
        config: Optional[str] = typer.Option(None, "--config", help="camstream YAML (ffmpeg.path, paths.ssd_path, ports)."),  # noqa: UP007
        state_dir: str = typer.Option(hotspot.STATE_DIR, "--hotspot-state-dir", help="Hotspot state dir."),
    ) -> None:
        """Check ffmpeg and encoders (real trial encode), cameras, servers, ports, disk, service and hotspot."""
        cfg = load_config(Path(config) if config else None)
        inputs = doctor.DoctorInputs(ffmpeg=cfg.ffmpeg.path, ssd_path=cfg.paths.ssd_path, rtsp_port=cfg.rtsp.port,
                                     rtmp_port=cfg.rtmp.port, hotspot_state_dir=state_dir, video=cfg.video, audio=cfg.audio,
                                     knobs=encoders.resolve(cfg.video, os.cpu_count() or 1,
                                                            encoders.web_view_enabled(cfg)))
        host = Host.from_env()
        results = doctor.run_all(inputs, host, list_devices=lambda: doctor.devices_mod.list_devices(host.path("/dev")))
        render(results, Console(width=160))
        if doctor.failed(results):
            raise typer.Exit(1)
