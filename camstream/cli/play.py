"""`camstream play [URL]`: watch a stream in a low-latency ffplay (or OpenCV) window."""

from __future__ import annotations

from typing import Optional

import typer

from camstream import player
from camstream.errors import UsageError


def register(app: typer.Typer) -> None:
    """Add the `play` command."""

    @app.command("play")
    def play_command(
        url: Optional[str] = typer.Argument(None, help="Stream URL; default: this machine's own RTSP live URL."),  # noqa: UP007 - typer needs Optional
        transport: Optional[str] = typer.Option(None, "--transport", help="RTSP media transport: udp or tcp."),  # noqa: UP007
        host: str = typer.Option(player.DEFAULT_HOST, "--host", help="Host of the default URL."),
        port: int = typer.Option(player.DEFAULT_PORT, "--port", help="RTSP port of the default URL."),
        path: str = typer.Option(player.DEFAULT_PATH, "--path", help="RTSP path of the default URL."),
        which: str = typer.Option("auto", "--player", help="auto (ffplay, else OpenCV), ffplay, or gst: GStreamer "
                                  "rtspsrc latency=0, the lowest-latency desktop viewer."),
        video_sink: str = typer.Option(player.DEFAULT_VIDEO_SINK, "--video-sink",
                                       help="GStreamer sink for --player gst (fakesink: decode without a window)."),
        frames: Optional[int] = typer.Option(None, "--frames", min=1,  # noqa: UP007
                                             help="With --player gst: stop after this many decoded frames."),
    ) -> None:
        """Play a stream at low latency: ffplay (OpenCV when ffplay is missing) or GStreamer (--player gst)."""
        if (video_sink != player.DEFAULT_VIDEO_SINK or frames) and which != player.GST:
            raise UsageError("--video-sink and --frames: only with --player gst")
        code = player.play(url or player.default_url(host, port, path), transport, which, video_sink, frames)
        if code:
            raise typer.Exit(code)
