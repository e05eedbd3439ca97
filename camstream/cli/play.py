"""`camstream play [URL]`: watch a stream in a low-latency ffplay (or OpenCV) window."""

from __future__ import annotations

from typing import Optional

import typer

from camstream import player


def register(app: typer.Typer) -> None:
    """Add the `play` command."""

    @app.command("play")
    def play_command(
        url: Optional[str] = typer.Argument(None, help="Stream URL; default: this machine's own RTSP live URL."),  # noqa: UP007 - typer needs Optional
        transport: Optional[str] = typer.Option(None, "--transport", help="RTSP media transport: udp or tcp."),  # noqa: UP007
        host: str = typer.Option(player.DEFAULT_HOST, "--host", help="Host of the default URL."),
        port: int = typer.Option(player.DEFAULT_PORT, "--port", help="RTSP port of the default URL."),
        path: str = typer.Option(player.DEFAULT_PATH, "--path", help="RTSP path of the default URL."),
    ) -> None:
        """Play a stream with ffplay low-latency flags; OpenCV when ffplay is missing."""
        code = player.play(url or player.default_url(host, port, path), transport)
        if code:
            raise typer.Exit(code)
