"""`camstream devices`: V4L2 cameras (/dev/video*) with formats, sizes and rates, and libcamera cameras."""

from __future__ import annotations

import typer

from camstream import devices, rpicam
from camstream.errors import MissingToolError, SourceError
from camstream.install.plan import Host


def register(app: typer.Typer) -> None:
    """Add the `devices` command."""

    @app.command("devices")
    def list_devices() -> None:
        """List /dev/video* (v4l2-ctl --list-formats-ext) and Pi camera modules (rpicam-hello --list-cameras)."""
        v4l2: list[devices.Device] = []
        missing: SourceError | None = None
        try:
            v4l2 = devices.list_devices(Host.from_env().path("/dev"))
        except SourceError as err:  # no /dev/video*: the Pi camera module may still be there
            missing = err
        try:
            cameras = rpicam.list_cameras()
        except MissingToolError:
            cameras = []  # no rpicam-apps: not a Raspberry Pi OS camera setup, nothing to list
        if not v4l2 and not cameras:
            raise missing or SourceError(devices.NO_CAMERA)
        text = devices.format_devices(v4l2) if v4l2 else ""
        typer.echo(text + rpicam.format_cameras(cameras), nl=False)
