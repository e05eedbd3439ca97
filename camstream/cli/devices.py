"""`camstream devices`: V4L2 cameras (/dev/video*) with formats, sizes and rates, and libcamera cameras."""

from __future__ import annotations

import typer

from camstream import audio_devices, devices, rpicam
from camstream.errors import MissingToolError, SourceError
from camstream.install.plan import Host


def register(app: typer.Typer) -> None:
    """Add the `devices` command."""

    @app.command("devices")
    def list_devices() -> None:
        """List /dev/video*, Pi camera modules, and sound capture devices (arecord -l, pactl list short sources)."""
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
        sound = audio_devices.list_audio_devices()
        if not v4l2 and not cameras and not sound:
            raise missing or SourceError(devices.NO_CAMERA)
        text = devices.format_devices(v4l2) if v4l2 else ""
        if not v4l2 and not cameras:
            text = f"no camera: {devices.NO_CAMERA}\n"
        typer.echo(text + rpicam.format_cameras(cameras) + audio_devices.format_audio_devices(sound), nl=False)
