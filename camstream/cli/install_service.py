"""`camstream install-service` / `uninstall-service`: camstream.service for start on boot."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Optional
from urllib.parse import urlparse

import typer

from camstream import proc
from camstream.config import Config, PathsConfig, find_config_file, load_config
from camstream.errors import ConfigError, UsageError
from camstream.install import service
from camstream.install.plan import Host, apply, describe, require_root

# A systemd service has no home-relative defaults worth trusting; without paths.state_dir it keeps state here
# (ReadWritePaths= lets it write nowhere else).
SERVICE_STATE_DIR = "/var/lib/camstream"
LOCAL_HOSTS = ("localhost", "127.0.0.1", "::1")


def make_host() -> Host:
    """The machine to install on (tests re-root it with CAMSTREAM_HOST_ROOT / CAMSTREAM_HOST_EUID)."""
    return Host.from_env()


def uses_system_nginx(cfg: Config) -> bool:
    """RTMP pushes to an nginx on this machine (the second seed's setup), so order the unit after nginx.service."""
    if not cfg.rtmp.enabled or cfg.rtmp.server == "managed":
        return False
    return (urlparse(cfg.rtmp.server).hostname or "") in LOCAL_HOSTS


def _env_pairs(items: list[str]) -> list[tuple[str, str]]:
    pairs = []
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.startswith("CAMSTREAM_"):
            raise UsageError(f"--env {item}: use CAMSTREAM_<SECTION>_<NAME>=VALUE, e.g. CAMSTREAM_VIDEO_FPS=30")
        pairs.append((name, value))
    return pairs


def build_spec(
    *, config: Optional[str], user: Optional[str], ssd_path: Optional[str], state_dir: Optional[str],
    env: list[str], system_nginx: Optional[bool],
) -> service.ServiceSpec:
    """Flags + config file -> ServiceSpec; every problem is a one-line UsageError/ConfigError."""
    config_file = find_config_file(Path(config) if config else None)
    if config_file is None:
        raise ConfigError("no camstream config file found (camstream.yaml, /etc/camstream/camstream.yaml): "
                          "pass --config FILE; the service runs `camstream run --config FILE`")
    config_file = config_file.resolve()
    pairs = _env_pairs(env)
    # Load the way the service will: only this file and the --env values (a unit has no login environment).
    cfg = load_config(config_file, env=dict(pairs), search_defaults=False)
    if ssd_path is None:
        if cfg.paths.ssd_path == PathsConfig().ssd_path:
            raise ConfigError(f"{config_file}: paths.ssd_path is not set (the default is a home directory): "
                              "set it to the SSD, e.g. ssd_path: /mnt/ssd/camstream, or pass --ssd-path")
        ssd_path = str(cfg.paths.ssd_path)
    state = state_dir or (str(cfg.paths.state_dir) if cfg.paths.state_dir else SERVICE_STATE_DIR)
    ssd_abs, state_abs = os.path.abspath(ssd_path), os.path.abspath(state)
    # Export the paths so the running service writes exactly where ReadWritePaths= allows.
    pairs += [("CAMSTREAM_PATHS_SSD_PATH", ssd_abs), ("CAMSTREAM_PATHS_STATE_DIR", state_abs)]
    return service.ServiceSpec(
        user=user or service.default_user(os.environ),
        exec_argv=service.camstream_program(sys.executable, proc.which),
        config_file=str(config_file),
        ssd_path=ssd_abs,
        state_dir=state_abs,
        system_nginx=uses_system_nginx(cfg) if system_nginx is None else system_nginx,
        env=tuple(pairs),
    )


def register(app: typer.Typer) -> None:
    """Add `install-service` and `uninstall-service`."""

    @app.command("install-service")
    def install_service(
        user: Optional[str] = typer.Option(None, "--user", help="Run as this user (default: $SUDO_USER, else a 'camstream' system user)."),  # noqa: UP007
        config: Optional[str] = typer.Option(None, "--config", help="camstream YAML the service runs with (default: ./camstream.yaml or /etc/camstream/camstream.yaml)."),  # noqa: UP007
        ssd_path: Optional[str] = typer.Option(None, "--ssd-path", help="Recording root (default: paths.ssd_path from the config)."),  # noqa: UP007
        state_dir: Optional[str] = typer.Option(None, "--state-dir", help=f"State dir (default: paths.state_dir, else {SERVICE_STATE_DIR})."),  # noqa: UP007
        env: list[str] = typer.Option([], "--env", help="Extra CAMSTREAM_*=VALUE setting for the service (repeatable)."),
        system_nginx: Optional[bool] = typer.Option(None, "--system-nginx/--no-system-nginx", help="Start after nginx.service (default: when RTMP pushes to this machine)."),  # noqa: UP007
        dry_run: bool = typer.Option(False, "--dry-run", help="Print the unit and every command; change nothing."),
    ) -> None:
        """Install camstream.service (start on boot, restart on failure, sandboxed) and start it."""
        spec = build_spec(config=config, user=user, ssd_path=ssd_path, state_dir=state_dir, env=env,
                          system_nginx=system_nginx)
        steps = service.plan_install(spec, user_exists=service.user_exists(spec.user))
        if dry_run:
            typer.echo(describe(steps), nl=False)
            return
        host = make_host()
        require_root(host, "camstream install-service")
        apply(steps, host, on_step=typer.echo)
        typer.echo(f"{service.UNIT_NAME} installed and started as {spec.user}; logs: journalctl -u {service.UNIT_NAME} -f")

    @app.command("uninstall-service")
    def uninstall_service(
        dry_run: bool = typer.Option(False, "--dry-run", help="Print every command; change nothing."),
    ) -> None:
        """Stop, disable and remove camstream.service."""
        host = make_host()
        steps = service.plan_uninstall(host)
        if not steps:
            typer.echo(f"{service.UNIT_NAME} is not installed; nothing to do")
            return
        if dry_run:
            typer.echo(describe(steps), nl=False)
            return
        require_root(host, "camstream uninstall-service")
        apply(steps, host, on_step=typer.echo)
        typer.echo(f"{service.UNIT_NAME} removed")
