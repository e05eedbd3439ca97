"""mediamtx: rendered mediamtx.yml (exact), binary lookup, installer (arch, URLs, checksum, file:// flow), e2e if present."""

from __future__ import annotations

import hashlib
import io
import os
import re
import socket
import stat as stat_mode
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from camstream import proc
from camstream.errors import ConfigError, MissingToolError, NeedsRootError, PortInUseError
from camstream.install.mediamtx import (
    BASE_URL_ENV,
    DEFAULT_BASE_URL,
    ChecksumError,
    DownloadError,
    MediamtxInstall,
    asset_name,
    base_url_from_env,
    detect_arch,
    parse_checksums,
    release_url,
    verify_checksum,
)
from camstream.install.plan import Host
from camstream.servers.mediamtx import (
    MEDIAMTX_VERSION,
    PUBLISH_FFMPEG_ARGS,
    MediamtxServer,
    find_mediamtx,
    render_mediamtx_yml,
)

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts/install_mediamtx.sh"

EXPECTED_DEFAULT_YML = """\
# Rendered by camstream for mediamtx v1.15.6; rewritten on every start.
logLevel: info
logDestinations: [stdout]

authMethod: internal
authInternalUsers:
  # camstream's FFmpeg publishes from this machine; nobody else may publish.
- user: any
  pass: ''
  ips: ['127.0.0.1', '::1']
  permissions:
  - action: publish
    path: live
  - action: api
  - action: metrics
  # Anyone who can reach the RTSP port may watch.
- user: any
  pass: ''
  ips: []
  permissions:
  - action: read
    path: live

api: true
apiAddress: 127.0.0.1:9997
metrics: true
metricsAddress: 127.0.0.1:9998
pprof: false
playback: false

rtsp: true
rtspTransports: [udp, tcp]
rtspAddress: :8554
rtpAddress: :8000
rtcpAddress: :8001

rtmp: false
hls: false
webrtc: false
srt: false

paths:
  live:
    source: publisher
"""


def free_port() -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def free_udp_pair() -> int:
    """An even UDP port whose successor is free too (mediamtx's RTP/RTCP pair)."""
    for _ in range(100):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as rtp:
            rtp.bind(("0.0.0.0", 0))
            port = rtp.getsockname()[1]
            if port % 2 or port + 1 > 65535:
                continue
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as rtcp:
                try:
                    rtcp.bind(("0.0.0.0", port + 1))
                except OSError:
                    continue
            return port
    raise RuntimeError("no free even UDP port pair")


# ---------------------------------------------------------------- mediamtx.yml


def test_render_default_is_exact() -> None:
    assert render_mediamtx_yml() == EXPECTED_DEFAULT_YML


def test_render_with_reader_login_is_exact() -> None:
    rendered = render_mediamtx_yml(
        rtsp_port=9554, rtp_port=9000, reader_user="viewer", reader_pass='s3cret:#"x', transports=("tcp",),
        api_port=9100, metrics_port=9101,
    )  # fmt: skip
    expected = (
        EXPECTED_DEFAULT_YML.replace(
            "  # Anyone who can reach the RTSP port may watch.\n- user: any\n  pass: ''\n",
            '  # Viewers must log in (RTSP basic auth).\n- user: "viewer"\n  pass: "s3cret:#\\"x"\n',
        )
        .replace("rtspTransports: [udp, tcp]", "rtspTransports: [tcp]")
        .replace("rtspAddress: :8554", "rtspAddress: :9554")
        .replace("rtpAddress: :8000\nrtcpAddress: :8001", "rtpAddress: :9000\nrtcpAddress: :9001")
        .replace("127.0.0.1:9997", "127.0.0.1:9100")
        .replace("127.0.0.1:9998", "127.0.0.1:9101")
    )
    assert rendered == expected


def test_rendered_yaml_means_what_it_says() -> None:
    yaml = pytest.importorskip("yaml")
    doc = yaml.safe_load(render_mediamtx_yml(reader_user="viewer", reader_pass='p:#"w'))
    publisher, reader = doc["authInternalUsers"]
    assert publisher == {
        "user": "any", "pass": "", "ips": ["127.0.0.1", "::1"],
        "permissions": [{"action": "publish", "path": "live"}, {"action": "api"}, {"action": "metrics"}],
    }  # fmt: skip
    assert reader == {"user": "viewer", "pass": 'p:#"w', "ips": [], "permissions": [{"action": "read", "path": "live"}]}
    assert [doc[k] for k in ("rtmp", "hls", "webrtc", "srt", "rtsp")] == [False, False, False, False, True]
    assert doc["paths"] == {"live": {"source": "publisher"}}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        pytest.param({"rtp_port": 8001}, "rtsp.rtp_port 8001 must be even", id="odd-rtp-port"),
        pytest.param({"rtsp_port": 0}, "rtsp.port 0 is not a port", id="rtsp-port-zero"),
        pytest.param({"transports": ("multicast",)}, "rtsp.transports ['multicast'] is not allowed", id="transport"),
        pytest.param({"transports": ()}, "rtsp.transports [] is not allowed", id="no-transport"),
        pytest.param({"reader_user": "viewer"}, "rtsp.reader_user and rtsp.reader_password go together", id="user-no-pass"),
        pytest.param({"reader_pass": "x"}, "rtsp.reader_user and rtsp.reader_password go together", id="pass-no-user"),
        pytest.param({"reader_user": "any", "reader_pass": "x"}, "rtsp.reader_user 'any' means anonymous", id="user-any"),
        pytest.param({"path": "live/sub"}, "rtsp.path 'live/sub' is not a simple name", id="nested-path"),
        pytest.param({"publishers": ("localhost",)}, "publisher address 'localhost' is not an IP", id="publisher-name"),
    ],
)
def test_render_rejects_bad_settings(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match="^" + re.escape(message)):
        render_mediamtx_yml(**kwargs)  # type: ignore[arg-type]


# ---------------------------------------------------------------- controller (no binary needed)


def test_argv_and_urls(tmp_path: Path) -> None:
    server = MediamtxServer(tmp_path / "mtx", rtsp_port=8555)
    assert server.argv("/usr/local/bin/mediamtx") == ["/usr/local/bin/mediamtx", f"{tmp_path}/mtx/mediamtx.yml"]
    assert server.url("10.42.0.1") == "rtsp://10.42.0.1:8555/live"
    assert server.publish_url() == "rtsp://127.0.0.1:8555/live"
    assert PUBLISH_FFMPEG_ARGS == ("-f", "rtsp", "-rtsp_transport", "tcp")


def test_write_config_is_private(tmp_path: Path) -> None:
    server = MediamtxServer(tmp_path / "mtx", reader_user="viewer", reader_pass="pw")
    path = server.write_config()
    assert path.read_text() == server.render()
    assert stat_mode.S_IMODE(path.stat().st_mode) == 0o600


def _fake_binary(path: Path, version: str = MEDIAMTX_VERSION) -> Path:
    """A stand-in `mediamtx` that only answers --version (used where no real server is needed)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f'#!/bin/sh\nif [ "$1" = --version ]; then echo {version}; exit 0; fi\nexit 3\n')
    path.chmod(0o755)
    return path


def test_find_mediamtx(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(MissingToolError, match=r"not found: install it with `camstream install-server mediamtx`, or set rtsp.mediamtx_path$"):
        find_mediamtx(str(tmp_path / "missing/mediamtx"))
    configured = _fake_binary(tmp_path / "opt/mediamtx")
    assert find_mediamtx(str(configured)) == str(configured)
    on_path = _fake_binary(tmp_path / "bin/mediamtx")
    monkeypatch.setenv("PATH", f"{on_path.parent}:{os.environ['PATH']}")
    assert find_mediamtx() == str(on_path)


def test_port_in_use_is_a_usage_error(tmp_path: Path) -> None:
    binary = _fake_binary(tmp_path / "bin/mediamtx")
    with socket.create_server(("0.0.0.0", 0)) as busy:
        port = busy.getsockname()[1]
        server = MediamtxServer(tmp_path / "mtx", binary=str(binary), rtsp_port=port, rtp_port=40000)
        with pytest.raises(PortInUseError) as err:
            server.start()
    assert str(err.value) == f"port {port} is already in use: choose another with --rtsp-port or rtsp.port"
    assert err.value.exit_code == 2
    assert server.child is None


# ---------------------------------------------------------------- installer: arch, URLs, checksums

ARCH_TABLE = [
    ("x86_64", None, "amd64"),
    ("aarch64", None, "arm64"),
    ("arm64", None, "arm64"),
    ("armv7l", None, "armv7"),
    ("armv8l", None, "armv7"),
    ("armv6l", None, "armv6"),
    ("armv7l", "armhf", "armv7"),
    ("aarch64", "armhf", "arm64"),  # 64-bit kernel: the static arm64 build runs whatever the userland
    ("weird", "arm64", "arm64"),
    ("weird", "armhf", "armv7"),
    ("weird", "armel", "armv6"),
    ("weird", "amd64", "amd64"),
]


@pytest.mark.parametrize(
    ("machine", "dpkg_arch", "arch"), [pytest.param(*row, id=f"{row[0]}-{row[1]}") for row in ARCH_TABLE]
)
def test_detect_arch(machine: str, dpkg_arch: str | None, arch: str) -> None:
    assert detect_arch(machine, dpkg_arch) == arch


@pytest.mark.parametrize(
    ("machine", "dpkg_arch", "arch"), [pytest.param(*row, id=f"{row[0]}-{row[1]}") for row in ARCH_TABLE]
)
def test_script_detects_the_same_arch(machine: str, dpkg_arch: str | None, arch: str) -> None:
    env = {"UNAME_M": machine, "DPKG_ARCH": dpkg_arch or "unknown"}
    result = proc.run([str(SCRIPT), "--print-arch"], env=env, timeout=10)
    assert (result.returncode, result.stdout) == (0, f"{arch}\n"), result.stderr


@pytest.mark.parametrize("dpkg_arch", [pytest.param(None, id="no-dpkg"), pytest.param("riscv64", id="riscv64")])
def test_unknown_arch(dpkg_arch: str | None) -> None:
    with pytest.raises(ConfigError, match="^no mediamtx release for machine 'riscv64'"):
        detect_arch("riscv64", dpkg_arch)
    result = proc.run([str(SCRIPT), "--print-arch"], env={"UNAME_M": "riscv64", "DPKG_ARCH": dpkg_arch or "none"}, timeout=10)
    assert result.returncode == 2
    assert "no mediamtx release for machine 'riscv64'" in result.stderr


def test_urls() -> None:
    assert asset_name("v1.15.6", "armv7") == "mediamtx_v1.15.6_linux_armv7.tar.gz"
    install = MediamtxInstall(arch="arm64")
    assert install.asset_url == f"{DEFAULT_BASE_URL}/{MEDIAMTX_VERSION}/mediamtx_{MEDIAMTX_VERSION}_linux_arm64.tar.gz"
    assert install.asset_url == (
        "https://github.com/bluenviron/mediamtx/releases/download/v1.15.6/mediamtx_v1.15.6_linux_arm64.tar.gz"
    )
    assert install.checksums_url == "https://github.com/bluenviron/mediamtx/releases/download/v1.15.6/checksums.sha256"
    assert release_url("file:///srv/mirror/", "v1.15.6", "x") == "file:///srv/mirror/v1.15.6/x"
    assert base_url_from_env({}) == DEFAULT_BASE_URL
    assert base_url_from_env({BASE_URL_ENV: "file:///m"}) == "file:///m"


def test_script_pins_the_same_version() -> None:
    match = re.search(r"^MEDIAMTX_VERSION=(\S+)$", SCRIPT.read_text(), re.MULTILINE)
    assert match is not None and match.group(1) == MEDIAMTX_VERSION


def test_parse_checksums() -> None:
    text = "AB12  mediamtx_v1_linux_amd64.tar.gz\ncd34 *mediamtx_v1_linux_arm64.tar.gz\n\ngarbage\n"
    assert parse_checksums(text) == {"mediamtx_v1_linux_amd64.tar.gz": "ab12", "mediamtx_v1_linux_arm64.tar.gz": "cd34"}


def _release(tmp_path: Path, arch: str, *, tamper: bool = False, script: str = "echo fake-mediamtx") -> str:
    """A local release dir <base>/<version>/ with a tarball and `sha256sum -b` checksums; returns a file:// base."""
    base = tmp_path / "mirror"
    release = base / MEDIAMTX_VERSION
    release.mkdir(parents=True, exist_ok=True)
    name = asset_name(MEDIAMTX_VERSION, arch)
    payload = f"#!/bin/sh\n{script}\n".encode()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as archive:
        for member_name, data, mode in (("mediamtx", payload, 0o755), ("mediamtx.yml", b"logLevel: info\n", 0o644)):
            info = tarfile.TarInfo(member_name)
            info.size, info.mode = len(data), mode
            archive.addfile(info, io.BytesIO(data))
    tarball = buf.getvalue()
    digest = hashlib.sha256(tarball).hexdigest()
    (release / name).write_bytes(tarball + (b"\0" if tamper else b""))
    (release / "checksums.sha256").write_text(f"{'0' * 64} *mediamtx_{MEDIAMTX_VERSION}_windows_amd64.zip\n{digest} *{name}\n")
    return base.as_uri()


def test_verify_checksum_good_tampered_and_unlisted(tmp_path: Path) -> None:
    _release(tmp_path, "amd64")
    release = tmp_path / "mirror" / MEDIAMTX_VERSION
    name = asset_name(MEDIAMTX_VERSION, "amd64")
    sums = (release / "checksums.sha256").read_text()
    verify_checksum(release / name, name, sums)
    with (release / name).open("ab") as handle:
        handle.write(b"x")
    with pytest.raises(ChecksumError, match=f"^{name} has sha256 [0-9a-f]{{64}}, checksums.sha256 says [0-9a-f]{{64}}"):
        verify_checksum(release / name, name, sums)
    with pytest.raises(ChecksumError, match="is not listed in checksums.sha256"):
        verify_checksum(release / name, "mediamtx_v1.15.6_linux_armv6.tar.gz", sums)


def test_install_flow_from_local_mirror(tmp_path: Path) -> None:
    base = _release(tmp_path, "armv7")
    root = tmp_path / "root"
    steps: list[str] = []
    installed = MediamtxInstall(arch="armv7", base_url=base).apply(Host(root=root, euid=0), on_step=steps.append)
    assert installed == root / "usr/local/bin/mediamtx"
    assert stat_mode.S_IMODE(installed.stat().st_mode) == 0o755
    assert proc.run([str(installed)]).stdout == "fake-mediamtx\n"
    assert steps[0] == f"downloading {base}/{MEDIAMTX_VERSION}/mediamtx_{MEDIAMTX_VERSION}_linux_armv7.tar.gz"
    assert os.listdir(root / "usr/local/bin") == ["mediamtx"]


def test_install_refuses_tampered_download(tmp_path: Path) -> None:
    base = _release(tmp_path, "arm64", tamper=True)
    root = tmp_path / "root"
    with pytest.raises(ChecksumError, match="the download is corrupt or tampered$"):
        MediamtxInstall(arch="arm64", base_url=base).apply(Host(root=root, euid=0))
    assert not (root / "usr/local/bin/mediamtx").exists()


def test_install_reports_missing_release(tmp_path: Path) -> None:
    base = _release(tmp_path, "amd64")
    with pytest.raises(DownloadError, match=f"^download of {base}/.*armv6.tar.gz failed .*set {BASE_URL_ENV} to a mirror$"):
        MediamtxInstall(arch="armv6", base_url=base).apply(Host(root=tmp_path / "root", euid=0))


def test_install_needs_root(tmp_path: Path) -> None:
    with pytest.raises(NeedsRootError, match="^camstream install-server mediamtx changes the system and needs root"):
        MediamtxInstall(arch="amd64").apply(Host(root=tmp_path, euid=1000))


def test_script_installs_from_local_mirror_and_refuses_tampered(tmp_path: Path) -> None:
    base = _release(tmp_path, "armv6")
    prefix = tmp_path / "prefix"
    env = {BASE_URL_ENV: base, "UNAME_M": "armv6l"}
    result = proc.run([str(SCRIPT), "--prefix", str(prefix)], env=env, timeout=30)
    assert result.returncode == 0, result.stderr
    assert proc.run([str(prefix / "bin/mediamtx")]).stdout == "fake-mediamtx\n"

    tampered = _release(tmp_path / "t", "armv6", tamper=True)
    other = tmp_path / "prefix2"
    result = proc.run([str(SCRIPT), "--prefix", str(other)], env={**env, BASE_URL_ENV: tampered}, timeout=30)
    assert result.returncode == 1
    assert "the download is corrupt or tampered" in result.stderr
    assert not (other / "bin/mediamtx").exists()


def test_dry_runs_agree_and_change_nothing(tmp_path: Path) -> None:
    base = _release(tmp_path, "arm64")
    prefix = tmp_path / "prefix"
    script = proc.run([str(SCRIPT), "--dry-run", "--prefix", str(prefix)], env={BASE_URL_ENV: base, "UNAME_M": "aarch64"})
    assert script.returncode == 0, script.stderr
    plan = MediamtxInstall(arch="arm64", base_url=base, dest=f"{prefix}/bin/mediamtx")
    assert script.stdout == plan.describe()
    assert not prefix.exists()


def test_cli_install_server_mediamtx_dry_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import typer
    from typer.testing import CliRunner

    from camstream.cli import install_server

    monkeypatch.setenv(BASE_URL_ENV, "file:///srv/mirror")
    app = typer.Typer()
    install_server.register(app)

    @app.command("other")
    def _other() -> None:  # a second command keeps typer from collapsing the app into one command
        """Unused."""

    result = CliRunner().invoke(app, ["install-server", "mediamtx", "--dry-run", "--arch", "armv7"])
    assert result.exit_code == 0, result.output
    assert result.stdout == MediamtxInstall(arch="armv7", base_url="file:///srv/mirror").describe()


# ---------------------------------------------------------------- end to end with a real mediamtx

MEDIAMTX = find_mediamtx()


def _real_mediamtx() -> bool:
    return MEDIAMTX is not None and proc.run([MEDIAMTX, "--version"], timeout=10).stdout.strip().startswith("v1.")


@pytest.fixture
def mediamtx(tmp_path: Path) -> Iterator[MediamtxServer]:
    if not _real_mediamtx():
        pytest.skip("no mediamtx binary on PATH or in /usr/local/bin: `camstream install-server mediamtx` installs one")
    rtp = free_udp_pair()
    server = MediamtxServer(tmp_path / "mtx", binary=MEDIAMTX, rtsp_port=free_port(), rtp_port=rtp,
                            api_port=free_port(), metrics_port=free_port())  # fmt: skip
    server.start()
    try:
        server.wait_ready(timeout=15)
        yield server
    finally:
        port = server.rtsp_port
        server.stop()
        with socket.socket() as sock:
            assert sock.connect_ex(("127.0.0.1", port)) != 0, "mediamtx still listening after stop()"


@pytest.mark.slow
@pytest.mark.parametrize("transport", [pytest.param("udp", id="udp"), pytest.param("tcp", id="tcp")])
def test_mediamtx_end_to_end(mediamtx: MediamtxServer, transport: str) -> None:
    publisher = proc.Child(
        "ffmpeg-publish",
        ["ffmpeg", "-hide_banner", "-loglevel", "error", "-re", "-f", "lavfi", "-i", "testsrc=size=320x240:rate=25",
         "-t", "6", "-c:v", "libx264", "-tune", "zerolatency", "-g", "25", "-pix_fmt", "yuv420p",
         *PUBLISH_FFMPEG_ARGS, mediamtx.publish_url()],
    )  # fmt: skip
    try:
        publisher.start()
        deadline = time.monotonic() + 10
        probe = None
        while time.monotonic() < deadline:
            probe = proc.run(
                ["ffprobe", "-v", "error", "-rtsp_transport", transport, "-show_entries", "stream=codec_name,width,height",
                 "-of", "csv=p=0", mediamtx.url("127.0.0.1")],
                timeout=15,
            )  # fmt: skip
            if probe.returncode == 0:
                break
            time.sleep(0.3)
        assert probe is not None and probe.returncode == 0, probe.stderr if probe else "no probe"
        assert probe.stdout.strip() == "h264,320,240"
    finally:
        publisher.stop(2)
