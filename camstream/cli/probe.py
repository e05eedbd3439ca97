"""`camstream probe URL`: headless check that a stream is up, how fast it starts and (optionally) its latency."""

from __future__ import annotations

from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

from camstream.probe import ProbeResult, probe


def render(result: ProbeResult, console: Console) -> None:
    """Print a readable summary of a probe result."""
    if not result.ok:
        console.print(f"[bold red]no stream[/]: {result.reason}: {result.detail}  ({result.url})")
    table = Table(show_header=False, box=None, pad_edge=False)
    table.add_column(style="bold")
    table.add_column()

    def row(name: str, value: object, unit: str = "") -> None:
        table.add_row(name, "-" if value is None else f"{value}{unit}")

    row("url", result.url)
    row("status", "ok" if result.ok else f"failed ({result.reason})")
    row("codec", result.codec)
    row("size", f"{result.width}x{result.height}" if result.width and result.height else None)
    row("fps (declared)", result.fps)
    row("transport", result.transport)
    if result.ok:
        row("time to first frame", result.time_to_first_frame, " s")
        row("frames", result.frames)
        row("measured fps", result.measured_fps)
        row("bitrate", None if result.bitrate is None else round(result.bitrate / 1000), " kbit/s")
        row("gaps", f"{result.gaps} (longest interval {result.longest_gap} s)")
        if result.latency is not None:
            lat = result.latency
            if lat.samples:
                row("latency p50/p90/p99/max", f"{lat.p50_ms:.0f} / {lat.p90_ms:.0f} / {lat.p99_ms:.0f} / {lat.max_ms:.0f}", " ms")
            row("stamped frames", f"{lat.samples} read, {lat.unreadable} unreadable")
    for note in result.notes:
        row("note", note)
    console.print(table)


def register(app: typer.Typer) -> None:
    """Add the `probe` command."""

    @app.command("probe")
    def probe_command(
        url: str = typer.Argument(..., help="Stream URL, e.g. rtsp://127.0.0.1:8554/live or rtmp://host/live/cam."),
        seconds: float = typer.Option(5.0, "--seconds", help="How long to watch after the first frame."),
        as_json: bool = typer.Option(False, "--json", help="Print one JSON object instead of a table."),
        latency: bool = typer.Option(False, "--latency", help="Read wall-clock stamps and report latency (ms)."),
        transport: Optional[str] = typer.Option(None, "--transport", help="RTSP media transport: udp or tcp."),  # noqa: UP007 - typer needs Optional
        timeout: float = typer.Option(10.0, "--timeout", help="Seconds to wait for the connection and first frame."),
    ) -> None:
        """Connect to a stream headlessly and report codec, size, fps, start time, bitrate, gaps and latency."""
        result = probe(url, seconds=seconds, transport=transport, latency=latency, connect_timeout=timeout)
        if as_json:
            typer.echo(result.to_json())
        else:
            render(result, Console())
        if not result.ok:
            raise typer.Exit(1)
