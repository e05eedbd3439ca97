"""`camstream devices`: the cameras (/dev/video*) with their formats, sizes and frame rates."""

from __future__ import annotations

import typer

from camstream import devices
from camstream.install.plan import Host


def register(app: typer.Typer) -> None:
    """Add the `devices` command."""

    @app.command("devices")
    def list_devices() -> None:
        """List /dev/video* with formats, sizes and frame rates (from v4l2-ctl --list-formats-ext)."""
        found = devices.list_devices(Host.from_env().path("/dev"))
        typer.echo(devices.format_devices(found), nl=False)
