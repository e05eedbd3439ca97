"""`camstream install-server nginx|mediamtx [--dry-run]`: install a system media server."""

from __future__ import annotations

import enum
from typing import Optional

import typer

from camstream.errors import ConfigError
from camstream.install.mediamtx import MediamtxInstall, base_url_from_env, machine_arch
from camstream.install.plan import Host
from camstream.install.rtmp_server import NginxInstall
from camstream.servers.mediamtx import INSTALL_PATH


class ServerChoice(str, enum.Enum):
    """Servers camstream can install."""

    nginx = "nginx"
    mediamtx = "mediamtx"


def register(app: typer.Typer) -> None:
    """Add the `install-server` command."""

    @app.command("install-server")
    def install_server(
        server: ServerChoice = typer.Argument(..., help="nginx (system nginx + RTMP module) or mediamtx (RTSP server)."),
        dry_run: bool = typer.Option(False, "--dry-run", help="Print every file and command; change nothing."),
        rtmp_port: int = typer.Option(1935, "--rtmp-port", help="nginx: RTMP port for the system config."),
        dest: Optional[str] = typer.Option(  # noqa: UP007 - typer needs Optional
            None, "--dest", help=f"mediamtx: where to install the binary (default {INSTALL_PATH})."
        ),
        arch: Optional[str] = typer.Option(  # noqa: UP007 - typer needs Optional
            None, "--arch", help="mediamtx: release arch (amd64, arm64, armv7, armv6); default: this machine's."
        ),
    ) -> None:
        """Install nginx with the RTMP module and camstream's rtmp.conf, or the pinned mediamtx release."""
        host = Host.from_env()
        if server is ServerChoice.nginx:
            nginx = NginxInstall(host=host, port=rtmp_port)
            if dry_run:
                typer.echo(nginx.dry_run(), nl=False)
                return
            nginx.apply(on_step=typer.echo)
            typer.echo(f"RTMP server ready: rtmp://<this-host-ip>:{rtmp_port}/live/cam")
            return
        if arch is not None and arch not in ("amd64", "arm64", "armv7", "armv6"):
            raise ConfigError(f"--arch {arch!r} is not a mediamtx release arch: use amd64, arm64, armv7 or armv6")
        plan = MediamtxInstall(arch=arch or machine_arch(), base_url=base_url_from_env(), dest=dest or INSTALL_PATH)
        if dry_run:
            typer.echo(plan.describe(), nl=False)
            return
        plan.apply(host, on_step=typer.echo)
