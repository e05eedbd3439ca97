"""camstream hotspot: validation, exact renders checked by the real dnsmasq/hostapd, and setup/teardown
sequences run against recording stand-ins for nmcli, systemctl, ip, hostapd and dnsmasq."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from _standins import StandIns
from camstream.install import hotspot
from camstream.install.hotspot import HotspotSpec, Tools
from camstream.install.plan import Host

ROOT = Path(__file__).resolve().parents[2]
TOOLS = ("nmcli", "systemctl", "ip", "hostapd", "dnsmasq")
NM_DEVICES = "nmcli -t -f DEVICE,TYPE,STATE,CONNECTION device"
NM_CONNECTIONS = "nmcli -t -f NAME connection show"
IP_SHOW = "ip -json -4 address show dev wlan0"
IP_JSON = json.dumps([{"ifname": "wlan0", "addr_info": [
    {"family": "inet", "local": "192.168.7.2", "prefixlen": 24, "scope": "global"}]}])
PROBE_CALLS = [
    ["nmcli", "-t", "-f", "DEVICE,TYPE,STATE,CONNECTION", "device"],
    ["nmcli", "-t", "-f", "NAME", "connection", "show"],
    ["ip", "-json", "-4", "address", "show", "dev", "wlan0"],
    ["systemctl", "is-enabled", "hostapd.service"],
    ["systemctl", "is-active", "hostapd.service"],
    ["systemctl", "is-enabled", "dnsmasq.service"],
    ["systemctl", "is-active", "dnsmasq.service"],
]


@dataclass
class Machine:
    """A re-rooted fake machine: /sys/class/net/wlan0 exists, stand-ins record every command."""

    root: Path
    standins: StandIns
    env: dict[str, str]

    def camstream(self, *args: str, euid: int = 0) -> subprocess.CompletedProcess[str]:
        env = {**self.env, "CAMSTREAM_HOST_EUID": str(euid)}
        return subprocess.run([sys.executable, "-m", "camstream", *args], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=60)

    def files(self) -> list[str]:
        """Every file below the fake root except /sys, as absolute paths."""
        return sorted("/" + str(p.relative_to(self.root)) for p in self.root.rglob("*")
                      if p.is_file() and not str(p.relative_to(self.root)).startswith("sys/"))

    def read(self, path: str) -> str:
        return (self.root / path.lstrip("/")).read_text()


@pytest.fixture
def machine(tmp_path: Path) -> Machine:
    root = tmp_path / "root"
    (root / "sys/class/net/wlan0/phy80211").mkdir(parents=True)
    standins = StandIns(tmp_path, TOOLS)
    env = {**os.environ, **standins.env(), "CAMSTREAM_HOST_ROOT": str(root),
           "PYTHONPATH": str(ROOT)}
    return Machine(root, standins, env)


def _services(m: Machine, hostapd_on: bool) -> None:
    m.standins.respond("systemctl is-enabled hostapd.service", "enabled\n" if hostapd_on else "disabled\n",
                       0 if hostapd_on else 1)
    m.standins.respond("systemctl is-active hostapd.service", "active\n" if hostapd_on else "inactive\n",
                       0 if hostapd_on else 3)
    # dnsmasq-base only: the unit does not exist.
    m.standins.respond("systemctl is-enabled dnsmasq.service", "", 1)
    m.standins.respond("systemctl is-active dnsmasq.service", "inactive\n", 3)


# --------------------------------------------------------------------------------------------- validation

GOOD = ["hotspot", "setup", "--ssid", "camstream", "--password", "correct-horse"]


@pytest.mark.parametrize(("extra", "message"), [
    pytest.param(["--password", "7chars!"], "--password is 7 characters: WPA2 needs 8 to 63 characters", id="short-password"),
    pytest.param(["--password", "x" * 64], "--password is 64 characters: WPA2 needs 8 to 63 characters", id="long-password"),
    pytest.param(["--password", "pässwörd1"], "--password must use printable ASCII characters only (WPA2 passphrase rule)", id="non-ascii-password"),
    pytest.param(["--country", "de"], "--country de: use a two-letter ISO 3166 code in capitals, e.g. DE, GB, US", id="lowercase-country"),
    pytest.param(["--country", "XX"], "--country XX: use a two-letter ISO 3166 code in capitals, e.g. DE, GB, US", id="unknown-country"),
    pytest.param(["--country", "DEU"], "--country DEU: use a two-letter ISO 3166 code in capitals, e.g. DE, GB, US", id="three-letters"),
    pytest.param(["--channel", "15"], "--channel 15: use 1-13 (2.4 GHz) or one of 36, 40, 44, 48, 149, 153, 157, 161, 165 (5 GHz)", id="channel-15"),
    pytest.param(["--channel", "52", "--country", "DE"], "--channel 52: use 1-13 (2.4 GHz) or one of 36, 40, 44, 48, 149, 153, 157, 161, 165 (5 GHz)", id="dfs-channel"),
    pytest.param(["--channel", "36"], "--channel 36 is a 5 GHz channel: also pass --country CC (5 GHz rules differ by country)", id="5ghz-no-country"),
    pytest.param(["--channel", "14", "--country", "DE"], "--channel 14 is only allowed in Japan (--country JP): use 1-13", id="channel-14"),
    pytest.param(["--address", "10.42.0.1"], "--address 10.42.0.1: use an IPv4 address with prefix length, e.g. 192.168.50.1/24", id="no-prefix"),
    pytest.param(["--address", "10.42.0.0/24"], "--address 10.42.0.0/24: that is the network or broadcast address; use a host address such as .1", id="network-address"),
    pytest.param(["--address", "fd00::1/64"], "--address fd00::1/64: use an IPv4 address with prefix length, e.g. 192.168.50.1/24", id="ipv6"),
    pytest.param(["--address", "10.0.0.1/30"], "--address 10.0.0.1/30: the prefix length must be 8 to 29 so clients get addresses", id="tiny-subnet"),
    pytest.param(["--address", "banana"], "--address banana: use an IPv4 address with prefix length, e.g. 192.168.50.1/24", id="garbage-address"),
    pytest.param(["--interface", "wlan9"], "--interface wlan9: no such network interface: see `ip link` for the Wi-Fi one (often wlan0)", id="missing-interface"),
    pytest.param(["--interface", "../../etc"], "--interface ../../etc: no such network interface: see `ip link` for the Wi-Fi one (often wlan0)", id="path-interface"),
])
def test_invalid_setup_is_one_line_exit_2_and_changes_nothing(machine: Machine, extra: list[str], message: str) -> None:
    result = machine.camstream(*GOOD, *extra)
    assert (result.returncode, result.stdout, result.stderr) == (2, "", f"error: {message}\n")
    assert machine.standins.calls() == []
    assert machine.files() == []


def test_setup_without_root_refuses_and_changes_nothing(machine: Machine) -> None:
    result = machine.camstream(*GOOD, euid=1000)
    assert result.returncode == 2
    assert result.stderr == ("error: camstream hotspot setup changes the system and needs root: run it with sudo, "
                             "or add --dry-run to see what it would do\n")
    assert machine.standins.calls() == []
    assert machine.files() == []


def test_teardown_without_setup_says_so(machine: Machine) -> None:
    result = machine.camstream("hotspot", "teardown")
    assert (result.returncode, result.stderr) == (1, "error: no camstream hotspot is set up (nothing to tear down)\n")


# ---------------------------------------------------------------------------------------------- renders

SPEC = HotspotSpec(ssid="camstream", password="correct-horse", country="DE", channel=6)

HOSTAPD_24 = """\
# camstream hotspot access point: rendered by `camstream hotspot setup`.
interface=wlan0
driver=nl80211
ctrl_interface=/run/hostapd
ssid=camstream
utf8_ssid=1
country_code=DE
ieee80211d=1
hw_mode=g
channel=6
ieee80211n=1
wmm_enabled=1
auth_algs=1
ignore_broadcast_ssid=0
wpa=2
wpa_key_mgmt=WPA-PSK
rsn_pairwise=CCMP
wpa_passphrase=correct-horse
"""

DNSMASQ_24 = """\
# camstream hotspot DHCP and DNS: rendered by `camstream hotspot setup`.
interface=wlan0
except-interface=lo
bind-dynamic
no-resolv
domain-needed
bogus-priv
dhcp-range=192.168.50.10,192.168.50.250,255.255.255.0,12h
dhcp-leasefile=/var/lib/camstream/hotspot/dnsmasq.leases
address=/camstream.lan/192.168.50.1
"""


def test_hostapd_conf_exact() -> None:
    assert hotspot.render_hostapd_conf(SPEC) == HOSTAPD_24


def test_hostapd_conf_5ghz_without_country_line_changes() -> None:
    text = hotspot.render_hostapd_conf(HotspotSpec(ssid="cam", password="12345678", country="US", channel=36))
    assert text.splitlines()[6:10] == ["country_code=US", "ieee80211d=1", "hw_mode=a", "channel=36"]
    no_country = hotspot.render_hostapd_conf(HotspotSpec(ssid="cam", password="12345678", channel=1))
    assert "country_code" not in no_country and "hw_mode=g\nchannel=1\n" in no_country


def test_dnsmasq_conf_exact() -> None:
    assert hotspot.render_dnsmasq_conf("wlan0", "192.168.50.1/24", "/var/lib/camstream/hotspot/dnsmasq.leases") == DNSMASQ_24


@pytest.mark.parametrize(("cidr", "expected"), [
    pytest.param("192.168.50.1/24", ("192.168.50.10", "192.168.50.250"), id="slash24"),
    pytest.param("10.0.0.1/29", ("10.0.0.2", "10.0.0.6"), id="slash29-ap-first"),
    pytest.param("10.0.0.6/29", ("10.0.0.1", "10.0.0.5"), id="slash29-ap-last"),
    pytest.param("10.42.0.1/16", ("10.42.0.10", "10.42.255.250"), id="slash16"),
])
def test_dhcp_range_stays_in_subnet(cidr: str, expected: tuple[str, str]) -> None:
    assert hotspot.dhcp_range(cidr) == expected


@pytest.mark.parametrize("cidr", [
    pytest.param("192.168.50.1/24", id="slash24"),
    pytest.param("10.0.0.1/29", id="slash29"),
    pytest.param("172.20.5.1/16", id="slash16"),
])
def test_real_dnsmasq_accepts_rendered_conf(tmp_path: Path, cidr: str) -> None:
    dnsmasq = shutil.which("dnsmasq") or "/usr/sbin/dnsmasq"
    conf = tmp_path / "dnsmasq.conf"
    conf.write_text(hotspot.render_dnsmasq_conf("wlan0", cidr, str(tmp_path / "leases")))
    result = subprocess.run([dnsmasq, "--test", "-C", str(conf)], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    assert "syntax check OK" in result.stderr


def test_real_dnsmasq_rejects_a_broken_conf(tmp_path: Path) -> None:
    dnsmasq = shutil.which("dnsmasq") or "/usr/sbin/dnsmasq"
    conf = tmp_path / "dnsmasq.conf"
    conf.write_text(DNSMASQ_24.replace("bind-dynamic", "bind-dynamik"))
    result = subprocess.run([dnsmasq, "--test", "-C", str(conf)], capture_output=True, text=True, timeout=30)
    assert result.returncode != 0


def _hostapd_parse(tmp_path: Path, text: str) -> str:
    """Run the real hostapd on a non-existent interface: it parses the whole file, then fails to open
    the interface (no nl80211 and no such device), changing nothing. hostapd has no check-only mode."""
    conf = tmp_path / "hostapd.conf"
    # Keep the control socket dir in tmp in case hostapd ever got that far.
    conf.write_text(text.replace("interface=wlan0", "interface=camstreamnone0")
                    .replace("ctrl_interface=/run/hostapd", f"ctrl_interface={tmp_path}/ctrl"))
    result = subprocess.run([shutil.which("hostapd") or "/usr/sbin/hostapd", "-d", str(conf)],
                            capture_output=True, text=True, timeout=30)
    return result.stdout + result.stderr


@pytest.mark.skipif(not (shutil.which("hostapd") or os.path.exists("/usr/sbin/hostapd")), reason="hostapd not installed")
@pytest.mark.parametrize("spec", [
    pytest.param(SPEC, id="2.4ghz"),
    pytest.param(HotspotSpec(ssid="Cam Stream ☕", password="p" * 63, country="US", channel=36), id="5ghz-utf8"),
])
def test_real_hostapd_parses_rendered_conf(tmp_path: Path, spec: HotspotSpec) -> None:
    out = _hostapd_parse(tmp_path, hotspot.render_hostapd_conf(spec))
    assert "Configuration file:" in out
    assert "errors found in configuration file" not in out


@pytest.mark.skipif(not (shutil.which("hostapd") or os.path.exists("/usr/sbin/hostapd")), reason="hostapd not installed")
def test_real_hostapd_check_catches_a_bad_key(tmp_path: Path) -> None:
    out = _hostapd_parse(tmp_path, HOSTAPD_24.replace("rsn_pairwise=CCMP", "rsn_pairwise=BOGUS"))
    assert "errors found in configuration file" in out


def test_units_verify_with_real_systemd_analyze(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze not installed")
    tools = Tools(hostapd=shutil.which("hostapd") or "/usr/sbin/hostapd",
                  dnsmasq=shutil.which("dnsmasq") or "/usr/sbin/dnsmasq", ip=shutil.which("ip") or "/usr/sbin/ip")
    (tmp_path / hotspot.HOSTAPD_UNIT).write_text(
        hotspot.render_hostapd_unit("wlan0", "192.168.50.1/24", "/etc/camstream/hotspot/hostapd.conf", tools))
    (tmp_path / hotspot.DNSMASQ_UNIT).write_text(
        hotspot.render_dnsmasq_unit("wlan0", "/etc/camstream/hotspot/dnsmasq.conf", tools))
    result = subprocess.run([analyze, "verify", "--man=no", str(tmp_path / hotspot.HOSTAPD_UNIT),
                             str(tmp_path / hotspot.DNSMASQ_UNIT)], capture_output=True, text=True, timeout=60,
                            env={**os.environ, "SYSTEMD_UNIT_PATH": f"{tmp_path}:"})
    assert result.returncode == 0, result.stderr
    assert [line for line in result.stderr.splitlines() if "camstream-" in line] == []


# ------------------------------------------------------------------------------- NetworkManager backend


def test_networkmanager_setup_and_teardown_restore_previous_connection(machine: Machine) -> None:
    s = machine.standins
    s.respond(NM_DEVICES, "wlan0:wifi:connected:Home\\:Net\neth0:ethernet:unavailable:\nlo:loopback:unmanaged:\n")
    s.respond(NM_CONNECTIONS, "Home\\:Net\nWired connection 1\n")
    s.respond(IP_SHOW, IP_JSON)
    _services(machine, hostapd_on=False)

    result = machine.camstream(*GOOD, "--channel", "11")
    assert result.returncode == 0, result.stderr
    assert s.calls() == PROBE_CALLS + [
        ["nmcli", "connection", "add", "type", "wifi", "ifname", "wlan0", "con-name", "camstream-hotspot",
         "autoconnect", "yes", "ssid", "camstream", "connection.autoconnect-priority", "100",
         "802-11-wireless.mode", "ap", "802-11-wireless.band", "bg", "802-11-wireless.channel", "11",
         "ipv4.method", "shared", "ipv4.addresses", "10.42.0.1/24", "ipv6.method", "ignore",
         "wifi-sec.key-mgmt", "wpa-psk", "wifi-sec.proto", "rsn", "wifi-sec.pairwise", "ccmp",
         "wifi-sec.group", "ccmp", "wifi-sec.psk", "correct-horse"],
        ["nmcli", "connection", "up", "camstream-hotspot"],
    ]
    assert machine.files() == ["/var/lib/camstream/hotspot/state.json"]
    state = json.loads(machine.read("/var/lib/camstream/hotspot/state.json"))
    assert state["backend"] == "networkmanager" and state["previous"]["nm_connection"] == "Home:Net"
    assert result.stdout.endswith("hotspot 'camstream' is up (networkmanager); viewers join it and open:\n"
                                  "  rtsp://10.42.0.1:8554/live\n")
    assert "correct-horse" not in machine.read("/var/lib/camstream/hotspot/state.json")

    # status reads the state and NetworkManager's lease file
    s.clear()
    s.respond("nmcli -t -f NAME connection show --active", "camstream-hotspot\neth0\n")
    leases = machine.root / "var/lib/NetworkManager/dnsmasq-wlan0.leases"
    leases.parent.mkdir(parents=True)
    leases.write_text("1700000000 aa:bb:cc:dd:ee:ff 10.42.0.57 phone 01:aa:bb:cc:dd:ee:ff\n")
    result = machine.camstream("hotspot", "status")
    assert result.stdout == ("backend: networkmanager\ninterface: wlan0\nssid: camstream\naddress: 10.42.0.1/24\n"
                             "state: up\nclients: 1\n  10.42.0.57  aa:bb:cc:dd:ee:ff  phone\n")
    leases.unlink()

    s.clear()
    result = machine.camstream("hotspot", "teardown")
    assert result.returncode == 0, result.stderr
    assert s.calls() == [
        ["nmcli", "connection", "delete", "camstream-hotspot"],
        ["nmcli", "connection", "up", "Home:Net"],
    ]
    assert machine.files() == []


def test_second_setup_refuses_until_teardown(machine: Machine) -> None:
    machine.standins.respond(NM_DEVICES, "wlan0:wifi:disconnected:\n")
    _services(machine, hostapd_on=False)
    assert machine.camstream(*GOOD).returncode == 0
    result = machine.camstream(*GOOD)
    assert (result.returncode, result.stderr) == (
        2, "error: a camstream hotspot (networkmanager, SSID 'camstream') is already set up: "
           "run `camstream hotspot teardown` first\n")


# -------------------------------------------------------------------------------------- hostapd backend


def _expected_units(machine: Machine, address: str) -> dict[str, str]:
    tools = Tools(hostapd=str(machine.standins.bin / "hostapd"), dnsmasq=str(machine.standins.bin / "dnsmasq"),
                  ip=str(machine.standins.bin / "ip"))
    return {
        "/etc/systemd/system/camstream-hostapd.service":
            hotspot.render_hostapd_unit("wlan0", address, "/etc/camstream/hotspot/hostapd.conf", tools),
        "/etc/systemd/system/camstream-dnsmasq.service":
            hotspot.render_dnsmasq_unit("wlan0", "/etc/camstream/hotspot/dnsmasq.conf", tools),
    }


def test_hostapd_unit_exact() -> None:
    tools = Tools("/usr/sbin/hostapd", "/usr/sbin/dnsmasq", "/usr/sbin/ip")
    assert hotspot.render_hostapd_unit("wlan0", "192.168.50.1/24", "/etc/camstream/hotspot/hostapd.conf", tools) == (
        "# camstream-hostapd.service: rendered by `camstream hotspot setup`; `camstream hotspot teardown` removes it.\n"
        "[Unit]\n"
        "Description=camstream Wi-Fi hotspot access point on wlan0 (hostapd)\n"
        "BindsTo=sys-subsystem-net-devices-wlan0.device\n"
        "After=sys-subsystem-net-devices-wlan0.device\n"
        "\n"
        "[Service]\n"
        "Type=simple\n"
        "ExecStartPre=/usr/sbin/ip link set wlan0 up\n"
        "ExecStartPre=/usr/sbin/ip address replace 192.168.50.1/24 dev wlan0\n"
        "ExecStart=/usr/sbin/hostapd /etc/camstream/hotspot/hostapd.conf\n"
        "ExecStopPost=-/usr/sbin/ip address del 192.168.50.1/24 dev wlan0\n"
        "Restart=on-failure\n"
        "RestartSec=2\n"
        "\n"
        "[Install]\n"
        "WantedBy=multi-user.target\n"
    )


def test_hostapd_setup_and_teardown_restore_addresses_and_distro_hostapd(machine: Machine) -> None:
    s = machine.standins
    s.respond(NM_DEVICES, "wlan0:wifi:unmanaged:\nlo:loopback:unmanaged:\n")
    s.respond(NM_CONNECTIONS, "")
    s.respond(IP_SHOW, IP_JSON)
    _services(machine, hostapd_on=True)

    result = machine.camstream(*GOOD, "--country", "DE")
    assert result.returncode == 0, result.stderr
    assert s.calls() == PROBE_CALLS + [
        ["systemctl", "stop", "hostapd.service"],
        ["systemctl", "disable", "hostapd.service"],
        ["systemctl", "daemon-reload"],
        ["systemctl", "enable", "--now", "camstream-hostapd.service", "camstream-dnsmasq.service"],
    ]
    assert machine.files() == sorted([
        "/etc/camstream/hotspot/dnsmasq.conf", "/etc/camstream/hotspot/hostapd.conf",
        "/etc/systemd/system/camstream-dnsmasq.service", "/etc/systemd/system/camstream-hostapd.service",
        "/var/lib/camstream/hotspot/state.json",
    ])
    assert machine.read("/etc/camstream/hotspot/hostapd.conf") == HOSTAPD_24
    assert (machine.root / "etc/camstream/hotspot/hostapd.conf").stat().st_mode & 0o777 == 0o600
    assert machine.read("/etc/camstream/hotspot/dnsmasq.conf") == DNSMASQ_24
    for path, text in _expected_units(machine, "192.168.50.1/24").items():
        assert machine.read(path) == text

    s.clear()
    result = machine.camstream("hotspot", "teardown")
    assert result.returncode == 0, result.stderr
    assert s.calls() == [
        ["systemctl", "disable", "--now", "camstream-dnsmasq.service", "camstream-hostapd.service"],
        ["systemctl", "daemon-reload"],
        ["ip", "address", "add", "192.168.7.2/24", "dev", "wlan0"],
        ["systemctl", "enable", "hostapd.service"],
        ["systemctl", "start", "hostapd.service"],
    ]
    assert machine.files() == []


def test_forced_hostapd_takes_interface_from_networkmanager_and_gives_it_back(machine: Machine) -> None:
    s = machine.standins
    s.respond(NM_DEVICES, "wlan0:wifi:connected:Home\n")
    s.respond(NM_CONNECTIONS, "Home\n")
    s.respond(IP_SHOW, IP_JSON)
    _services(machine, hostapd_on=False)

    result = machine.camstream(*GOOD, "--backend", "hostapd", "--address", "10.9.8.1/24")
    assert result.returncode == 0, result.stderr
    assert s.calls() == PROBE_CALLS + [
        ["nmcli", "device", "set", "wlan0", "managed", "no"],
        ["systemctl", "daemon-reload"],
        ["systemctl", "enable", "--now", "camstream-hostapd.service", "camstream-dnsmasq.service"],
    ]
    assert machine.read(hotspot.NM_UNMANAGED_CONF) == (
        "# camstream hotspot: hostapd owns this interface; `camstream hotspot teardown` removes this file.\n"
        "[keyfile]\nunmanaged-devices=interface-name:wlan0\n")
    assert "dhcp-range=10.9.8.10,10.9.8.250,255.255.255.0,12h\n" in machine.read("/etc/camstream/hotspot/dnsmasq.conf")

    s.clear()
    assert machine.camstream("hotspot", "teardown").returncode == 0
    assert s.calls() == [
        ["systemctl", "disable", "--now", "camstream-dnsmasq.service", "camstream-hostapd.service"],
        ["systemctl", "daemon-reload"],
        ["nmcli", "device", "set", "wlan0", "managed", "yes"],
        ["nmcli", "connection", "up", "Home"],
    ]
    assert machine.files() == []


def test_networkmanager_backend_refused_when_nm_absent(machine: Machine) -> None:
    machine.standins.respond(NM_DEVICES, "Error: NetworkManager is not running.\n", 8)
    _services(machine, hostapd_on=False)
    result = machine.camstream(*GOOD, "--backend", "networkmanager")
    assert (result.returncode, result.stderr) == (
        2, "error: --backend networkmanager: NetworkManager does not manage wlan0 as Wi-Fi here; use --backend hostapd\n")
    assert machine.files() == []


def test_dry_run_needs_no_root_prints_files_and_commands_in_order(machine: Machine) -> None:
    s = machine.standins
    s.respond(NM_DEVICES, "wlan0:wifi:unmanaged:\n")
    s.respond(IP_SHOW, "[]")
    _services(machine, hostapd_on=False)
    result = machine.camstream(*GOOD, "--country", "DE", "--dry-run", euid=1000)
    assert result.returncode == 0, result.stderr
    units = _expected_units(machine, "192.168.50.1/24")
    state = json.loads(result.stdout.split("# write /var/lib/camstream/hotspot/state.json (mode 0600)\n")[1]
                       .split("# end of")[0])
    assert state["previous"] == {"addresses": [], "nm_connection": None, "nm_managed": False, "services": {
        "dnsmasq.service": {"active": "inactive", "enabled": ""},
        "hostapd.service": {"active": "inactive", "enabled": "disabled"}}}
    after_state = result.stdout.split("# end of /var/lib/camstream/hotspot/state.json\n")[1]
    assert after_state == (
        "# write /etc/camstream/hotspot/hostapd.conf (mode 0600)\n" + HOSTAPD_24
        + "# end of /etc/camstream/hotspot/hostapd.conf\n"
        + "# write /etc/camstream/hotspot/dnsmasq.conf (mode 0644)\n" + DNSMASQ_24
        + "# end of /etc/camstream/hotspot/dnsmasq.conf\n"
        + "# write /etc/systemd/system/camstream-hostapd.service (mode 0644)\n"
        + units["/etc/systemd/system/camstream-hostapd.service"].rstrip("\n") + "\n"
        + "# end of /etc/systemd/system/camstream-hostapd.service\n"
        + "# write /etc/systemd/system/camstream-dnsmasq.service (mode 0644)\n"
        + units["/etc/systemd/system/camstream-dnsmasq.service"].rstrip("\n") + "\n"
        + "# end of /etc/systemd/system/camstream-dnsmasq.service\n"
        + "$ systemctl daemon-reload\n"
        + "$ systemctl enable --now camstream-hostapd.service camstream-dnsmasq.service\n"
        # What the user wants next: the URL a viewer on the hotspot opens (default settings: RTSP only).
        + "hotspot 'camstream' would be up (hostapd); viewers would join it and open:\n"
        + "  rtsp://192.168.50.1:8554/live\n"
    )
    # Only read-only probes ran; nothing was written.
    assert s.calls() == PROBE_CALLS
    assert machine.files() == []


def test_nmcli_terse_escapes() -> None:
    assert hotspot.split_terse(r"wlan0:wifi:connected:My\:Net\\1") == ["wlan0", "wifi", "connected", "My:Net\\1"]


def test_wired_interface_is_refused_exit_2_and_nothing_changes(machine: Machine) -> None:
    (machine.root / "sys/class/net/eth0").mkdir(parents=True)  # a wired NIC: no wireless/, no phy80211
    result = machine.camstream(*GOOD, "--interface", "eth0")
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == (
        "error: --interface eth0: not a Wi-Fi interface (the kernel lists no wireless or phy80211 for it): "
        "choose the Wi-Fi one (`iw dev` lists them, often wlan0), or add --force if its driver hides it\n")
    assert machine.standins.calls() == []
    assert machine.files() == []


def test_wireless_extensions_interface_is_accepted(machine: Machine) -> None:
    # Older drivers show only /sys/class/net/IF/wireless (wireless extensions), not phy80211.
    (machine.root / "sys/class/net/wlan1/wireless").mkdir(parents=True)
    assert hotspot.is_wireless(_host(machine), "wlan1")
    assert not hotspot.is_wireless(_host(machine), "eth0")


def _host(machine: Machine) -> Host:
    return Host(root=machine.root, euid=0)


def test_force_accepts_an_interface_that_hides_its_wireless_nature(machine: Machine) -> None:
    (machine.root / "sys/class/net/eth0").mkdir(parents=True)
    s = machine.standins
    s.respond("nmcli -t -f DEVICE,TYPE,STATE,CONNECTION device", "eth0:wifi:unmanaged:\n")
    s.respond("ip -json -4 address show dev eth0", "[]")
    _services(machine, hostapd_on=False)
    result = machine.camstream(*GOOD, "--interface", "eth0", "--force", "--dry-run", euid=1000)
    assert result.returncode == 0, result.stderr
    assert "interface=eth0\n" in result.stdout
    assert machine.files() == []


def test_setup_prints_the_urls_of_the_installed_service_config(machine: Machine) -> None:
    # The URLs follow /etc/camstream/camstream.yaml (what camstream.service runs with): ports, path, RTMP key.
    config = machine.root / "etc/camstream/camstream.yaml"
    config.parent.mkdir(parents=True)
    config.write_text("rtsp:\n  port: 8555\n  path: cams/front\nrtmp:\n  enabled: true\n  stream_key: pi\n")
    s = machine.standins
    s.respond(NM_DEVICES, "wlan0:wifi:unmanaged:\n")
    s.respond(IP_SHOW, "[]")
    _services(machine, hostapd_on=False)
    result = machine.camstream(*GOOD, "--address", "192.168.77.1/24", "--dry-run", euid=1000)
    assert result.returncode == 0, result.stderr
    assert result.stdout.endswith("hotspot 'camstream' would be up (hostapd); viewers would join it and open:\n"
                                  "  rtsp://192.168.77.1:8555/cams/front\n  rtmp://192.168.77.1:1935/live/pi\n")
    config.write_text("video:\n  fps: fast\n")
    result = machine.camstream(*GOOD, "--dry-run", euid=1000)
    assert result.returncode == 0
    assert f"note: {config}:2: video.fps=fast: expected a whole number 1-240; the URLs below assume the default " \
           "settings\n" in result.stderr
