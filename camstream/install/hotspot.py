"""Wi-Fi hotspot for viewers: validate, render hostapd/dnsmasq/nmcli pieces (pure), plan setup and exact teardown."""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

from camstream import proc
from camstream.errors import MissingToolError, NotRunningError, UsageError
from camstream.install.plan import Host, RemoveFile, Run, Step, WriteFile

NM_CONNECTION = "camstream-hotspot"
STATE_DIR = "/var/lib/camstream/hotspot"
CONF_DIR = "/etc/camstream/hotspot"
HOSTAPD_UNIT = "camstream-hostapd.service"
DNSMASQ_UNIT = "camstream-dnsmasq.service"
NM_UNMANAGED_CONF = "/etc/NetworkManager/conf.d/camstream-hotspot.conf"
# The distro's own daemons would fight ours for the interface and for DHCP port 67.
DISTRO_SERVICES = ("hostapd.service", "dnsmasq.service")
BACKENDS = ("auto", "networkmanager", "hostapd")
DEFAULT_ADDRESS = {"networkmanager": "10.42.0.1/24", "hostapd": "192.168.50.1/24"}

# ISO 3166-1 alpha-2 codes (from tzdata's iso3166.tab); hostapd's country_code takes these.
COUNTRY_CODES = frozenset(
    " ".join((
        "AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS",
        "BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ EC EE",
        "EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM",
        "HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN KP KR KW KY KZ LA LB LC",
        "LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ NA",
        "NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO RS RU RW",
        "SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO",
        "TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW",
    )).split()
)
CHANNELS_24GHZ = tuple(range(1, 15))
# 5 GHz channels an access point may use without radar detection (DFS channels 52-144 need
# ieee80211h and driver support the Pi's brcmfmac lacks in AP mode).
CHANNELS_5GHZ = (36, 40, 44, 48, 149, 153, 157, 161, 165)
_IFNAME = re.compile(r"^[A-Za-z0-9_.:-]{1,15}$")


@dataclass(frozen=True)
class HotspotSpec:
    """What the user asked for; `address` None means the backend's usual address."""

    ssid: str
    password: str
    interface: str = "wlan0"
    country: str | None = None
    channel: int = 6
    address: str | None = None
    backend: str = "auto"


@dataclass(frozen=True)
class ServiceState:
    """`systemctl is-enabled` / `is-active` answers for one unit ("" when the unit does not exist)."""

    enabled: str
    active: str


@dataclass
class Previous:
    """The interface's state before setup, restored exactly by teardown."""

    nm_managed: bool = False
    nm_connection: str | None = None
    addresses: list[str] = field(default_factory=list)
    services: dict[str, ServiceState] = field(default_factory=dict)


@dataclass
class Probe:
    """Read-only facts about the machine, gathered before planning."""

    nm_running: bool
    nm_devices: dict[str, tuple[str, str, str]]  # device -> (type, state, connection)
    nm_connections: list[str]
    previous: Previous


@dataclass(frozen=True)
class Tools:
    """Absolute program paths written into the rendered units."""

    hostapd: str = "/usr/sbin/hostapd"
    dnsmasq: str = "/usr/sbin/dnsmasq"
    ip: str = "/usr/sbin/ip"


# ----------------------------------------------------------------------------------------- validation


def validate(spec: HotspotSpec, host: Host, force: bool = False) -> None:
    """Every check that needs no system change; one-line UsageError/ConfigError (exit 2) on the first problem.

    `force` accepts an interface that does not look wireless (a driver that hides it from sysfs).
    """
    if spec.backend not in BACKENDS:
        raise UsageError(f"--backend {spec.backend}: choose one of {', '.join(BACKENDS)}")
    ssid_bytes = spec.ssid.encode()
    if not 1 <= len(ssid_bytes) <= 32 or any(ord(c) < 32 or ord(c) == 127 for c in spec.ssid):
        raise UsageError("--ssid must be 1 to 32 bytes of printable text (802.11 limit)")
    if not 8 <= len(spec.password) <= 63:
        raise UsageError(f"--password is {len(spec.password)} characters: WPA2 needs 8 to 63 characters")
    if any(not 32 <= ord(c) <= 126 for c in spec.password):
        raise UsageError("--password must use printable ASCII characters only (WPA2 passphrase rule)")
    if spec.country is not None and (not re.fullmatch(r"[A-Z]{2}", spec.country) or spec.country not in COUNTRY_CODES):
        raise UsageError(f"--country {spec.country}: use a two-letter ISO 3166 code in capitals, e.g. DE, GB, US")
    if spec.channel in CHANNELS_5GHZ:
        if spec.country is None:
            raise UsageError(f"--channel {spec.channel} is a 5 GHz channel: also pass --country CC (5 GHz rules differ by country)")
    elif spec.channel not in CHANNELS_24GHZ:
        raise UsageError(
            f"--channel {spec.channel}: use 1-13 (2.4 GHz) or one of {', '.join(map(str, CHANNELS_5GHZ))} (5 GHz)"
        )
    if spec.channel == 14 and spec.country != "JP":
        raise UsageError("--channel 14 is only allowed in Japan (--country JP): use 1-13")
    if spec.address is not None:
        check_address(spec.address)
    if not _IFNAME.match(spec.interface) or not host.path(f"/sys/class/net/{spec.interface}").exists():
        raise UsageError(f"--interface {spec.interface}: no such network interface: see `ip link` for the Wi-Fi one (often wlan0)")
    if not force and not is_wireless(host, spec.interface):
        # A wired uplink (eth0) would be reconfigured as an access point and the machine cut off the network.
        raise UsageError(
            f"--interface {spec.interface}: not a Wi-Fi interface (the kernel lists no wireless or phy80211 for it): "
            "choose the Wi-Fi one (`iw dev` lists them, often wlan0), or add --force if its driver hides it")


def is_wireless(host: Host, interface: str) -> bool:
    """True when sysfs says `interface` is 802.11 (cfg80211 adds phy80211, wireless extensions add wireless)."""
    base = host.path(f"/sys/class/net/{interface}")
    return (base / "wireless").exists() or (base / "phy80211").exists()


def check_address(cidr: str) -> ipaddress.IPv4Interface:
    """The hotspot address as an IPv4 interface with room for DHCP clients, else UsageError."""
    try:
        iface = ipaddress.ip_interface(cidr)
    except ValueError:
        raise UsageError(f"--address {cidr}: use an IPv4 address with prefix length, e.g. 192.168.50.1/24") from None
    if not isinstance(iface, ipaddress.IPv4Interface) or "/" not in cidr:
        raise UsageError(f"--address {cidr}: use an IPv4 address with prefix length, e.g. 192.168.50.1/24")
    if not 8 <= iface.network.prefixlen <= 29:
        raise UsageError(f"--address {cidr}: the prefix length must be 8 to 29 so clients get addresses")
    if iface.ip in (iface.network.network_address, iface.network.broadcast_address):
        raise UsageError(f"--address {cidr}: that is the network or broadcast address; use a host address such as .1")
    return iface


def dhcp_range(cidr: str) -> tuple[str, str]:
    """First and last address dnsmasq hands out: in the subnet, never the hotspot's own address."""
    iface = ipaddress.ip_interface(cidr)
    net = iface.network
    first, last = net.network_address + 1, net.broadcast_address - 1
    if net.num_addresses - 2 >= 40:
        # Leave .1-.9 and the top few for static devices (the Pi itself, a second camera).
        first, last = net.network_address + 10, net.broadcast_address - 5
    if iface.ip == first:
        first += 1
    elif iface.ip == last:
        last -= 1
    return str(first), str(last)


def resolve_address(spec: HotspotSpec, backend: str) -> str:
    """The address to use: the user's, else the backend's usual one."""
    return spec.address or DEFAULT_ADDRESS[backend]


# ------------------------------------------------------------------------------------------ rendering


def render_hostapd_conf(spec: HotspotSpec) -> str:
    """hostapd.conf: WPA2-PSK (CCMP) only, 802.11n, band from the channel (hostapd.conf reference)."""
    band = "a" if spec.channel in CHANNELS_5GHZ else "g"
    lines = [
        "# camstream hotspot access point: rendered by `camstream hotspot setup`.",
        f"interface={spec.interface}",
        "driver=nl80211",
        "ctrl_interface=/run/hostapd",
        f"ssid={spec.ssid}",
        "utf8_ssid=1",
    ]
    if spec.country:
        lines += [f"country_code={spec.country}", "ieee80211d=1"]
    lines += [
        f"hw_mode={band}",
        f"channel={spec.channel}",
        "ieee80211n=1",
        "wmm_enabled=1",
        "auth_algs=1",
        "ignore_broadcast_ssid=0",
        "wpa=2",
        "wpa_key_mgmt=WPA-PSK",
        "rsn_pairwise=CCMP",
        f"wpa_passphrase={spec.password}",
    ]
    return "\n".join(lines) + "\n"


def render_dnsmasq_conf(interface: str, address: str, lease_file: str) -> str:
    """dnsmasq.conf: DHCP (and a name for the Pi) on the hotspot interface only."""
    iface = ipaddress.ip_interface(address)
    first, last = dhcp_range(address)
    lines = [
        "# camstream hotspot DHCP and DNS: rendered by `camstream hotspot setup`.",
        f"interface={interface}",
        # Only the hotspot: never answer on lo (systemd-resolved, Pi-hole ...) or on the uplink.
        "except-interface=lo",
        # bind-dynamic, not bind-interfaces: keeps working when the address appears after dnsmasq starts.
        "bind-dynamic",
        # The hotspot has no uplink: no upstream servers, no leaking private lookups.
        "no-resolv",
        "domain-needed",
        "bogus-priv",
        f"dhcp-range={first},{last},{iface.netmask},12h",
        f"dhcp-leasefile={lease_file}",
        f"address=/camstream.lan/{iface.ip}",
    ]
    return "\n".join(lines) + "\n"


def render_hostapd_unit(interface: str, address: str, conf: str, tools: Tools) -> str:
    """camstream-hostapd.service: the static address, then hostapd in the foreground."""
    return "\n".join([
        f"# {HOSTAPD_UNIT}: rendered by `camstream hotspot setup`; `camstream hotspot teardown` removes it.",
        "[Unit]",
        f"Description=camstream Wi-Fi hotspot access point on {interface} (hostapd)",
        f"BindsTo=sys-subsystem-net-devices-{interface}.device",
        f"After=sys-subsystem-net-devices-{interface}.device",
        "",
        "[Service]",
        "Type=simple",
        f"ExecStartPre={tools.ip} link set {interface} up",
        f"ExecStartPre={tools.ip} address replace {address} dev {interface}",
        f"ExecStart={tools.hostapd} {conf}",
        f"ExecStopPost=-{tools.ip} address del {address} dev {interface}",
        "Restart=on-failure",
        "RestartSec=2",
        "",
        "[Install]",
        "WantedBy=multi-user.target",
        "",
    ])


def render_dnsmasq_unit(interface: str, conf: str, tools: Tools) -> str:
    """camstream-dnsmasq.service: dnsmasq for the hotspot, bound to the access point's lifetime."""
    return "\n".join([
        f"# {DNSMASQ_UNIT}: rendered by `camstream hotspot setup`; `camstream hotspot teardown` removes it.",
        "[Unit]",
        f"Description=camstream Wi-Fi hotspot DHCP and DNS on {interface} (dnsmasq)",
        f"BindsTo={HOSTAPD_UNIT}",
        f"After={HOSTAPD_UNIT}",
        "",
        "[Service]",
        "Type=simple",
        # --keep-in-foreground: systemd supervises it instead of a forked daemon (dnsmasq(8)).
        f"ExecStart={tools.dnsmasq} --keep-in-foreground --conf-file={conf}",
        "Restart=on-failure",
        "RestartSec=2",
        "",
        "[Install]",
        "WantedBy=multi-user.target",
        "",
    ])


def render_nm_unmanaged_conf(interface: str) -> str:
    """NetworkManager drop-in that keeps its hands off the interface hostapd now owns (NetworkManager.conf(5))."""
    return (
        "# camstream hotspot: hostapd owns this interface; `camstream hotspot teardown` removes this file.\n"
        "[keyfile]\n"
        f"unmanaged-devices=interface-name:{interface}\n"
    )


def nmcli_add_argv(spec: HotspotSpec, address: str) -> tuple[str, ...]:
    """`nmcli connection add` for a WPA2-only shared hotspot (nm-settings-nmcli(5))."""
    band = "a" if spec.channel in CHANNELS_5GHZ else "bg"
    return (
        "nmcli", "connection", "add", "type", "wifi", "ifname", spec.interface, "con-name", NM_CONNECTION,
        "autoconnect", "yes", "ssid", spec.ssid,
        # Above remembered client networks, so the hotspot is what comes up at boot.
        "connection.autoconnect-priority", "100",
        "802-11-wireless.mode", "ap", "802-11-wireless.band", band, "802-11-wireless.channel", str(spec.channel),
        # shared: NetworkManager runs its own dnsmasq for DHCP on this address.
        "ipv4.method", "shared", "ipv4.addresses", address, "ipv6.method", "ignore",
        "wifi-sec.key-mgmt", "wpa-psk", "wifi-sec.proto", "rsn", "wifi-sec.pairwise", "ccmp",
        "wifi-sec.group", "ccmp", "wifi-sec.psk", spec.password,
    )


# ---------------------------------------------------------------------------------------------- probe


def split_terse(line: str) -> list[str]:
    """Split one `nmcli -t` line on ':' honouring its backslash escapes (nmcli(1), --terse)."""
    fields, cur, escaped = [], [], False
    for ch in line:
        if escaped:
            cur.append(ch)
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch == ":":
            fields.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    fields.append("".join(cur))
    return fields


def parse_nm_devices(text: str) -> dict[str, tuple[str, str, str]]:
    """`nmcli -t -f DEVICE,TYPE,STATE,CONNECTION device` -> {device: (type, state, connection)}."""
    devices = {}
    for line in text.splitlines():
        parts = split_terse(line)
        if len(parts) >= 4 and parts[0]:
            devices[parts[0]] = (parts[1], parts[2], parts[3])
    return devices


def parse_ip_addresses(text: str) -> list[str]:
    """IPv4 CIDRs from `ip -json -4 address show dev IF`."""
    try:
        data = json.loads(text or "[]")
    except json.JSONDecodeError:
        return []
    return [
        f"{info['local']}/{info['prefixlen']}"
        for link in data
        for info in link.get("addr_info", [])
        if info.get("family") == "inet" and "local" in info
    ]


Runner = Callable[[list[str]], tuple[int, str]]


def run_tool(argv: list[str]) -> tuple[int, str]:
    """Run a read-only query tool; (exit code, stdout). A missing tool is exit code 127."""
    try:
        result = proc.run([proc.which(argv[0]), *argv[1:]], timeout=15.0)
    except MissingToolError:
        return 127, ""
    return result.returncode, result.stdout


def probe(interface: str, run: Runner = run_tool) -> Probe:
    """Gather NetworkManager, address and distro-service state with read-only commands."""
    code, out = run(["nmcli", "-t", "-f", "DEVICE,TYPE,STATE,CONNECTION", "device"])
    nm_running = code == 0
    devices = parse_nm_devices(out) if nm_running else {}
    connections: list[str] = []
    if nm_running:
        code, out = run(["nmcli", "-t", "-f", "NAME", "connection", "show"])
        connections = [split_terse(line)[0] for line in out.splitlines() if line]
    _, out = run(["ip", "-json", "-4", "address", "show", "dev", interface])
    previous = Previous(addresses=parse_ip_addresses(out))
    dev = devices.get(interface)
    if dev and dev[1] != "unmanaged":
        previous.nm_managed = True
        previous.nm_connection = dev[2] or None
    for unit in DISTRO_SERVICES:
        _, enabled = run(["systemctl", "is-enabled", unit])
        _, active = run(["systemctl", "is-active", unit])
        previous.services[unit] = ServiceState(enabled.strip(), active.strip())
    return Probe(nm_running, devices, connections, previous)


def choose_backend(spec: HotspotSpec, found: Probe) -> str:
    """networkmanager when NetworkManager manages the Wi-Fi interface (or was asked for), else hostapd."""
    managed = found.previous.nm_managed and found.nm_devices.get(spec.interface, ("",))[0] == "wifi"
    if spec.backend == "networkmanager" and not managed:
        raise UsageError(
            f"--backend networkmanager: NetworkManager does not manage {spec.interface} as Wi-Fi here; use --backend hostapd"
        )
    if spec.backend == "auto":
        return "networkmanager" if managed else "hostapd"
    return spec.backend


# ----------------------------------------------------------------------------------------------- plans


def state_path(state_dir: str) -> str:
    """Where setup records the previous state for teardown."""
    return f"{state_dir.rstrip('/')}/state.json"


def read_state(host: Host, state_dir: str) -> dict | None:
    """The saved state of the current camstream hotspot, or None when none is set up."""
    path = host.path(state_path(state_dir))
    if not path.exists():
        return None
    return json.loads(path.read_text())


def plan_setup(
    spec: HotspotSpec, host: Host, state_dir: str, found: Probe, tools: Tools | None = None
) -> tuple[list[Step], list[str]]:
    """Steps that bring the hotspot up (state file first), and notes for the user."""
    existing = read_state(host, state_dir)
    if existing is not None:
        raise UsageError(
            f"a camstream hotspot ({existing['backend']}, SSID {existing['ssid']!r}) is already set up: "
            "run `camstream hotspot teardown` first"
        )
    backend = choose_backend(spec, found)
    address = resolve_address(spec, backend)
    check_address(address)
    state = {
        "version": 1,
        "backend": backend,
        "interface": spec.interface,
        "ssid": spec.ssid,
        "address": address,
        "previous": asdict(found.previous),
    }
    steps: list[Step] = [WriteFile(state_path(state_dir), json.dumps(state, indent=2, sort_keys=True) + "\n", 0o600)]
    notes: list[str] = []
    if backend == "networkmanager":
        if spec.country:
            notes.append(
                "note: NetworkManager takes the Wi-Fi country from the system regulatory domain, "
                "not from --country: set it with `raspi-config` (Localisation > WLAN Country)"
            )
        if NM_CONNECTION in found.nm_connections:
            steps.append(Run(("nmcli", "connection", "delete", NM_CONNECTION)))
        steps.append(Run(nmcli_add_argv(spec, address)))
        steps.append(Run(("nmcli", "connection", "up", NM_CONNECTION)))
        return steps, notes

    tools = tools or Tools(proc.which("hostapd"), proc.which("dnsmasq"), proc.which("ip"))
    hostapd_conf, dnsmasq_conf = f"{CONF_DIR}/hostapd.conf", f"{CONF_DIR}/dnsmasq.conf"
    if found.previous.nm_managed:
        steps.append(WriteFile(NM_UNMANAGED_CONF, render_nm_unmanaged_conf(spec.interface)))
        steps.append(Run(("nmcli", "device", "set", spec.interface, "managed", "no")))
    for unit, svc in found.previous.services.items():
        if svc.active == "active":
            steps.append(Run(("systemctl", "stop", unit)))
        if svc.enabled == "enabled":
            steps.append(Run(("systemctl", "disable", unit)))
    steps += [
        # 0600: the file holds the WPA passphrase.
        WriteFile(hostapd_conf, render_hostapd_conf(spec), 0o600),
        WriteFile(dnsmasq_conf, render_dnsmasq_conf(spec.interface, address, f"{state_dir.rstrip('/')}/dnsmasq.leases")),
        WriteFile(f"/etc/systemd/system/{HOSTAPD_UNIT}", render_hostapd_unit(spec.interface, address, hostapd_conf, tools)),
        WriteFile(f"/etc/systemd/system/{DNSMASQ_UNIT}", render_dnsmasq_unit(spec.interface, dnsmasq_conf, tools)),
        Run(("systemctl", "daemon-reload")),
        Run(("systemctl", "enable", "--now", HOSTAPD_UNIT, DNSMASQ_UNIT)),
    ]
    return steps, notes


def plan_teardown(host: Host, state_dir: str) -> list[Step]:
    """Steps that remove the hotspot and restore exactly what setup recorded."""
    state = read_state(host, state_dir)
    if state is None:
        raise NotRunningError("no camstream hotspot is set up (nothing to tear down)")
    prev = state["previous"]
    interface = state["interface"]
    steps: list[Step] = []
    if state["backend"] == "networkmanager":
        steps.append(Run(("nmcli", "connection", "delete", NM_CONNECTION), check=False))
        if prev["nm_connection"] and prev["nm_connection"] != NM_CONNECTION:
            # Failure ignored: the old network may simply be out of range now.
            steps.append(Run(("nmcli", "connection", "up", prev["nm_connection"]), check=False))
    else:
        steps += [
            Run(("systemctl", "disable", "--now", DNSMASQ_UNIT, HOSTAPD_UNIT), check=False),
            RemoveFile(f"/etc/systemd/system/{DNSMASQ_UNIT}"),
            RemoveFile(f"/etc/systemd/system/{HOSTAPD_UNIT}"),
            RemoveFile(f"{CONF_DIR}/dnsmasq.conf"),
            RemoveFile(f"{CONF_DIR}/hostapd.conf"),
            Run(("systemctl", "daemon-reload")),
        ]
        if prev["nm_managed"]:
            steps.append(RemoveFile(NM_UNMANAGED_CONF))
            steps.append(Run(("nmcli", "device", "set", interface, "managed", "yes")))
            if prev["nm_connection"]:
                steps.append(Run(("nmcli", "connection", "up", prev["nm_connection"]), check=False))
        else:
            # Nobody else manages the interface: put its old static addresses back by hand.
            for cidr in prev["addresses"]:
                steps.append(Run(("ip", "address", "add", cidr, "dev", interface), check=False))
        for unit, svc in prev["services"].items():
            if svc["enabled"] == "enabled":
                steps.append(Run(("systemctl", "enable", unit)))
            if svc["active"] == "active":
                steps.append(Run(("systemctl", "start", unit)))
    steps.append(RemoveFile(state_path(state_dir)))
    return steps


# ---------------------------------------------------------------------------------------------- status


@dataclass(frozen=True)
class Lease:
    """One DHCP client from a dnsmasq lease file."""

    mac: str
    ip: str
    hostname: str


@dataclass(frozen=True)
class HotspotStatus:
    """What `camstream hotspot status` reports."""

    backend: str
    interface: str
    ssid: str
    address: str
    active: bool
    clients: list[Lease]


def parse_leases(text: str) -> list[Lease]:
    """dnsmasq lease lines: `<expiry> <mac> <ip> <hostname or *> <client-id>`."""
    leases = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 4:
            leases.append(Lease(parts[1], parts[2], "" if parts[3] == "*" else parts[3]))
    return leases


def lease_file(backend: str, interface: str, state_dir: str) -> str:
    """Where the DHCP server of `backend` keeps its leases (NetworkManager: dnsmasq-<if>.leases)."""
    if backend == "networkmanager":
        return f"/var/lib/NetworkManager/dnsmasq-{interface}.leases"
    return f"{state_dir.rstrip('/')}/dnsmasq.leases"


def status(host: Host, state_dir: str, run: Runner = run_tool) -> HotspotStatus:
    """Backend, SSID, address, whether it is up, and DHCP clients; NotRunningError when none is set up."""
    state = read_state(host, state_dir)
    if state is None:
        raise NotRunningError("no camstream hotspot is set up: run `camstream hotspot setup --ssid NAME --password PASS`")
    if state["backend"] == "networkmanager":
        code, out = run(["nmcli", "-t", "-f", "NAME", "connection", "show", "--active"])
        active = code == 0 and NM_CONNECTION in [split_terse(line)[0] for line in out.splitlines()]
    else:
        code, out = run(["systemctl", "is-active", HOSTAPD_UNIT])
        active = out.strip() == "active"
    leases_path = host.path(lease_file(state["backend"], state["interface"], state_dir))
    try:
        clients = parse_leases(leases_path.read_text())
    except OSError:
        clients = []
    return HotspotStatus(state["backend"], state["interface"], state["ssid"], state["address"], active, clients)

