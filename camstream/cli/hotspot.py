"""`camstream hotspot setup|teardown|status`: a Wi-Fi network for viewers (NetworkManager or hostapd + dnsmasq)."""

from __future__ import annotations

import enum
import ipaddress
from typing import Optional

import typer

from camstream.install import hotspot, viewers
from camstream.install.plan import Host, apply, describe, require_root


class Backend(str, enum.Enum):
    """How the access point is run."""

    auto = "auto"
    networkmanager = "networkmanager"
    hostapd = "hostapd"


def make_host() -> Host:
    """The machine to change (tests re-root it with CAMSTREAM_HOST_ROOT / CAMSTREAM_HOST_EUID)."""
    return Host.from_env()


STATE_DIR_HELP = "Where the previous network state is saved for teardown."


def register(app: typer.Typer) -> None:
    """Add the `hotspot` command group."""
    group = typer.Typer(help="Wi-Fi hotspot for viewers: setup, teardown (restores what was there), status.",
                        no_args_is_help=True)
    app.add_typer(group, name="hotspot")

    @group.command("setup")
    def setup(
        ssid: str = typer.Option(..., "--ssid", help="Network name viewers join."),
        password: str = typer.Option(..., "--password", help="WPA2 passphrase, 8-63 characters."),
        interface: str = typer.Option("wlan0", "--interface", help="Wi-Fi interface."),
        country: Optional[str] = typer.Option(None, "--country", help="Two-letter country code, e.g. DE (needed for 5 GHz)."),  # noqa: UP007
        channel: int = typer.Option(6, "--channel", help="1-13 (2.4 GHz) or 36-48/149-165 (5 GHz)."),
        address: Optional[str] = typer.Option(None, "--address", help="Hotspot address/prefix (default 10.42.0.1/24 with NetworkManager, 192.168.50.1/24 with hostapd)."),  # noqa: UP007
        backend: Backend = typer.Option(Backend.auto, "--backend", help="auto = NetworkManager when it manages the interface."),
        state_dir: str = typer.Option(hotspot.STATE_DIR, "--state-dir", help=STATE_DIR_HELP),
        dry_run: bool = typer.Option(False, "--dry-run", help="Print every file and command; change nothing."),
        force: bool = typer.Option(False, "--force", help="Accept an interface that does not look wireless."),
    ) -> None:
        """Start a WPA2 hotspot; the previous network state is saved first so teardown can restore it."""
        host = make_host()
        spec = hotspot.HotspotSpec(ssid, password, interface, country, channel, address, backend.value)
        hotspot.validate(spec, host, force=force)
        if not dry_run:
            require_root(host, "camstream hotspot setup")
        found = hotspot.probe(interface)
        steps, notes = hotspot.plan_setup(spec, host, state_dir, found)
        if dry_run:
            typer.echo(describe(steps), nl=False)
        else:
            apply(steps, host, on_step=typer.echo)
        for note in notes:
            typer.echo(note, err=True)
        if dry_run:
            chosen = hotspot.choose_backend(spec, found)
            cidr = hotspot.resolve_address(spec, chosen)
            typer.echo(f"hotspot {ssid!r} would be up ({chosen}); viewers would join it and open:")
        else:
            state = hotspot.read_state(host, state_dir) or {}
            cidr = str(state.get("address", "0.0.0.0/32"))
            typer.echo(f"hotspot {ssid!r} is up ({state.get('backend')}); viewers join it and open:")
        cfg, config_note = viewers.installed_config(host)
        if config_note:
            typer.echo(config_note, err=True)
        for url in viewers.viewer_urls(cfg, [str(ipaddress.ip_interface(cidr).ip)]):
            typer.echo(f"  {url}")

    @group.command("teardown")
    def teardown(
        state_dir: str = typer.Option(hotspot.STATE_DIR, "--state-dir", help=STATE_DIR_HELP),
        dry_run: bool = typer.Option(False, "--dry-run", help="Print every command; change nothing."),
    ) -> None:
        """Remove the hotspot and restore the previous connection, addresses and services."""
        host = make_host()
        steps = hotspot.plan_teardown(host, state_dir)
        if dry_run:
            typer.echo(describe(steps), nl=False)
            return
        require_root(host, "camstream hotspot teardown")
        apply(steps, host, on_step=typer.echo)
        typer.echo("hotspot removed; previous network state restored")

    @group.command("status")
    def status(
        state_dir: str = typer.Option(hotspot.STATE_DIR, "--state-dir", help=STATE_DIR_HELP),
    ) -> None:
        """Backend, SSID, address, up or down, and connected clients (from the DHCP leases)."""
        st = hotspot.status(make_host(), state_dir)
        typer.echo(f"backend: {st.backend}")
        typer.echo(f"interface: {st.interface}")
        typer.echo(f"ssid: {st.ssid}")
        typer.echo(f"address: {st.address}")
        typer.echo(f"state: {'up' if st.active else 'down'}")
        typer.echo(f"clients: {len(st.clients)}")
        for lease in st.clients:
            typer.echo(f"  {lease.ip}  {lease.mac}  {lease.hostname}".rstrip())
