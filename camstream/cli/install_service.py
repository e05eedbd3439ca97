"""`camstream install-service` / `uninstall-service`: camstream.service for start on boot."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated, Any, Optional
from urllib.parse import urlparse

import typer

from camstream import net, proc
from camstream.cli.run import HELP_OPTION, RUN_OPTIONS, flags_to_settings, with_run_options
from camstream.config import Config, PathsConfig, find_config_file, load_config
from camstream.errors import ConfigError, UsageError
from camstream.install import hotspot, service
from camstream.install.plan import Host, apply, describe, require_root
from camstream.install.viewers import LOCAL_HOSTS, viewer_urls

# A systemd service has no home-relative defaults worth trusting; without paths.state_dir it keeps state here
# (ReadWritePaths= lets it write nowhere else).
SERVICE_STATE_DIR = "/var/lib/camstream"
SERVICE = "Service"


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


def _base_file(host: Host, config: str | None, target: str) -> Path | None:
    """The YAML the service config starts from: --config FILE, else the one the service already has."""
    if config is not None:
        given = service.service_config_path(config) == os.path.abspath(config)
        # A file already in /etc/camstream is read where the service reads it (below the host root in tests).
        return find_config_file(host.path(os.path.abspath(config)) if given else Path(config))
    existing = host.path(target)
    return existing if existing.is_file() else None


def build(
    host: Host, *, config: str | None, user: str | None, env: list[str], system_nginx: bool | None,
    flags: dict[str, Any],
) -> tuple[service.ServiceSpec, service.ServiceConfig, Config]:
    """Flags + config file -> the unit's spec and the service's YAML; every problem is a one-line error (exit 2)."""
    target = service.service_config_path(config)
    base = _base_file(host, config, target)
    settings = flags_to_settings(flags)
    for key in ("paths.ssd_path", "paths.latest_dir", "paths.state_dir"):
        if key in settings:  # the service has another working directory: store absolute paths
            flag, raw = settings[key]
            settings[key] = (flag, os.path.abspath(os.path.expanduser(str(raw))))
    pairs = _env_pairs(env)
    # Load the way the service will: only this file, the --env values (a unit has no login environment) and
    # the flags that are about to be written into the file.
    cfg = load_config(base, env=dict(pairs), flags=settings, search_defaults=False)
    if cfg.paths.ssd_path == PathsConfig().ssd_path:
        where = f"{base}: paths.ssd_path is not set" if base else "no recording root given"
        raise ConfigError(f"{where} (the default is a home directory): pass --ssd-path DIR, e.g. "
                          "--ssd-path /mnt/ssd/camstream")
    values = {key: raw for key, (_flag, raw) in settings.items()}
    if cfg.paths.state_dir is None:
        values["paths.state_dir"] = SERVICE_STATE_DIR
    base_text = base.read_text() if base else None
    # With a base file and nothing to set, the file is copied as it is (comments kept).
    text = service.merge_yaml(base_text, values, str(base) if base else None) if values or base_text is None \
        else base_text
    existing = host.path(target)
    user_name = user or service.default_user(os.environ)
    svc_config = service.ServiceConfig(
        path=target, text=text, group=service.primary_group(user_name),
        previous=existing.read_text() if existing.is_file() else None,
    )
    ssd = str(cfg.paths.ssd_path)
    state = str(cfg.paths.state_dir or SERVICE_STATE_DIR)
    spec = service.ServiceSpec(
        user=user_name,
        exec_argv=service.camstream_program(sys.executable, proc.which),
        config_file=target,
        ssd_path=ssd,
        state_dir=state,
        system_nginx=uses_system_nginx(cfg) if system_nginx is None else system_nginx,
        env=tuple(pairs),
        read_paths=python_paths(),
    )
    return spec, svc_config, cfg


def python_paths() -> tuple[str, ...]:
    """What `camstream` needs to read besides itself: the real interpreter (a venv's python is a symlink, often
    into /home or /root), its standard library, the venv, and the package source (an editable install)."""
    import camstream

    found = [os.path.realpath(sys.executable), sys.base_prefix, sys.prefix,
             os.path.dirname(os.path.dirname(os.path.abspath(camstream.__file__)))]
    return tuple(dict.fromkeys(os.path.abspath(p) for p in found))


def viewer_hosts(host: Host) -> list[str]:
    """Addresses a viewer reaches this machine at: the hotspot's, when `camstream hotspot setup` made one, first."""
    import ipaddress

    state = hotspot.read_state(host, hotspot.STATE_DIR) or {}
    first = [str(ipaddress.ip_interface(state["address"]).ip)] if state.get("address") else []
    return first + [a for a in net.host_addresses() if a not in first]


def print_viewers(cfg: Config, hosts: list[str]) -> None:
    """The closing lines: what a viewer opens."""
    urls = viewer_urls(cfg, hosts)
    if urls:
        typer.echo("viewers open:")
        for url in urls:
            typer.echo(f"  {url}")


def register(app: typer.Typer) -> None:
    """Add `install-service` and `uninstall-service`."""

    @app.command("install-service", epilog="Run flags (the same as `camstream run`) are written into "
                 f"{service.DEFAULT_CONFIG}, merged over what is there (the old file is kept as .bak).")
    @with_run_options(RUN_OPTIONS)
    def install_service(
        config: Annotated[Optional[str], typer.Option(  # noqa: UP007 - typer reads the annotation at runtime
            "--config", metavar="FILE", rich_help_panel=SERVICE,
            help=f"camstream YAML to start from; copied to {service.DEFAULT_CONFIG} (mode 0640) unless it is in "
                 f"{service.CONFIG_DIR} already. Default: the existing {service.DEFAULT_CONFIG}.")] = None,
        user: Annotated[Optional[str], typer.Option(  # noqa: UP007
            "--user", metavar="NAME", rich_help_panel=SERVICE,
            help="Run as this user (default: $SUDO_USER, else a 'camstream' system user).")] = None,
        env: Annotated[list[str], typer.Option(
            "--env", metavar="CAMSTREAM_X=VALUE", rich_help_panel=SERVICE,
            help="Extra setting as an Environment= line of the unit (repeatable).")] = [],  # noqa: B006
        system_nginx: Annotated[Optional[bool], typer.Option(  # noqa: UP007
            "--system-nginx/--no-system-nginx", metavar="", rich_help_panel=SERVICE,
            help="Start after nginx.service (default: when RTMP pushes to this machine).")] = None,
        dry_run: Annotated[bool, typer.Option(
            "--dry-run", metavar="", rich_help_panel=SERVICE,
            help="Print the config, the unit and every command; change nothing.")] = False,
        show_help: HELP_OPTION = False,
        **flags: Any,
    ) -> None:
        """Install camstream.service (start on boot, restart on failure, sandboxed) and start it."""
        del show_help  # handled by its callback
        host = make_host()
        spec, svc_config, cfg = build(host, config=config, user=user, env=env, system_nginx=system_nginx,
                                      flags=flags)
        steps = service.plan_install(spec, user_exists=service.user_exists(spec.user), config=svc_config)
        if dry_run:
            typer.echo(describe(steps), nl=False)
        else:
            require_root(host, "camstream install-service")
            apply(steps, host, on_step=typer.echo)
            typer.echo(f"{service.UNIT_NAME} installed and started as {spec.user} with {spec.config_file}; "
                       f"logs: journalctl -u {service.UNIT_NAME} -f")
        print_viewers(cfg, viewer_hosts(host))

    @app.command("uninstall-service")
    def uninstall_service(
        purge: bool = typer.Option(False, "--purge", help=f"Also remove {service.DEFAULT_CONFIG} and its backup."),
        dry_run: bool = typer.Option(False, "--dry-run", help="Print every command; change nothing."),
    ) -> None:
        """Stop, disable and remove camstream.service; the config stays unless --purge."""
        host = make_host()
        steps = service.plan_uninstall(host, purge=purge)
        if not steps:
            typer.echo(f"{service.UNIT_NAME} is not installed; nothing to do")
            return
        if dry_run:
            typer.echo(describe(steps), nl=False)
            return
        require_root(host, "camstream uninstall-service")
        apply(steps, host, on_step=typer.echo)
        kept = [] if purge else [p for p in (service.DEFAULT_CONFIG,) if host.path(p).exists()]
        typer.echo(f"{service.UNIT_NAME} removed" + (f"; kept {kept[0]} (--purge removes it)" if kept else ""))
