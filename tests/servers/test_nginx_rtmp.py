"""Managed nginx-rtmp: rendered config (exact), nginx -t, real nginx + FFmpeg publish/play, access rules, installer."""

from __future__ import annotations

import os
import shutil
import socket
import stat as stat_mode
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from camstream import proc
from camstream.errors import ConfigError, MissingToolError, NeedsRootError, PortInUseError, ProcessError, ServerError
from camstream.install.plan import Host, Run, WriteFile
from camstream.install.rtmp_server import INCLUDE_COMMENT, NginxInstall, config_plan, packages_plan, with_include
from camstream.servers.nginx_rtmp import (
    NginxRtmpServer,
    RtmpStat,
    RtmpStream,
    find_rtmp_module,
    parse_stat,
    port_accepts,
    render_managed_conf,
    render_system_conf,
)

REPO = Path(__file__).resolve().parents[2]
MODULE = "/usr/lib/nginx/modules/ngx_rtmp_module.so"
needs_nginx = pytest.mark.skipif(
    shutil.which("nginx") is None or not os.path.isfile(MODULE), reason="nginx with libnginx-mod-rtmp not installed"
)

EXPECTED_MANAGED_CONF = """\
# Rendered by camstream for its managed nginx-rtmp; rewritten on every start.
load_module /usr/lib/nginx/modules/ngx_rtmp_module.so;

worker_processes 1;
pid /var/lib/camstream/nginx-rtmp/nginx.pid;
error_log /var/lib/camstream/nginx-rtmp/logs/error.log info;
error_log stderr warn;

events {
    worker_connections 256;
}

rtmp {
    access_log /var/lib/camstream/nginx-rtmp/logs/rtmp-access.log;

    server {
        listen 1935;
        chunk_size 8192;
        timeout 15s;
        ping 10s;
        ping_timeout 5s;

        application live {
            live on;
            record off;
            drop_idle_publisher 10s;
            allow publish 127.0.0.1;
            deny publish all;
            allow play all;
        }
    }
}

http {
    access_log /var/lib/camstream/nginx-rtmp/logs/access.log;
    client_body_temp_path /var/lib/camstream/nginx-rtmp/temp/client_body;
    proxy_temp_path /var/lib/camstream/nginx-rtmp/temp/proxy;
    fastcgi_temp_path /var/lib/camstream/nginx-rtmp/temp/fastcgi;
    uwsgi_temp_path /var/lib/camstream/nginx-rtmp/temp/uwsgi;
    scgi_temp_path /var/lib/camstream/nginx-rtmp/temp/scgi;

    server {
        listen 127.0.0.1:8089;
        location /stat {
            rtmp_stat all;
        }
    }
}
"""

# Shaped like nginx 1.22.1 / nginx-rtmp 1.1.4 `rtmp_stat all` output (publisher + one player, plus a stream with
# a player but no publisher); test_publish_play_and_stat checks the parser against a live server as well.
STAT_XML = """<?xml version="1.0" encoding="utf-8" ?>
<rtmp><nginx_version>1.22.1</nginx_version><nginx_rtmp_version>1.1.4</nginx_rtmp_version>
<server><application><name>live</name><live>
<stream><name>cam</name><time>3120</time><bw_in>402816</bw_in><bytes_in>158213</bytes_in><bw_out>0</bw_out>
<bytes_out>61502</bytes_out><bw_audio>0</bw_audio><bw_video>402816</bw_video>
<client><id>3</id><address>127.0.0.1</address><time>3200</time><flashver>FMLE/3.0 (compatible; Lavf59.27</flashver>
<dropped>0</dropped><avsync>0</avsync><timestamp>3080</timestamp><publishing/><active/></client>
<client><id>4</id><address>127.0.0.1</address><time>1100</time><flashver>LNX 9,0,124,2</flashver>
<dropped>0</dropped><avsync>0</avsync><timestamp>3040</timestamp><active/></client>
<meta><video><width>320</width><height>240</height><frame_rate>25</frame_rate><codec>H264</codec>
<profile>High</profile><compat>0</compat><level>1.2</level></video></meta>
<nclients>2</nclients><publishing/><active/></stream>
<stream><name>other</name><time>900</time><bw_in>0</bw_in><bytes_in>0</bytes_in>
<client><id>7</id><address>10.42.0.12</address><time>900</time><flashver>LNX 9,0,124,2</flashver><active/></client>
<nclients>1</nclients></stream>
<nclients>3</nclients></live></application></server></rtmp>
"""


def free_port() -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# ---------------------------------------------------------------- pure rendering


def test_render_managed_conf_default_is_exact() -> None:
    assert render_managed_conf("/var/lib/camstream/nginx-rtmp") == EXPECTED_MANAGED_CONF


@pytest.mark.parametrize(
    ("allow_publish", "rules"),
    [
        pytest.param(("127.0.0.1",), ["allow publish 127.0.0.1;", "deny publish all;"], id="localhost-only"),
        pytest.param("all", ["allow publish all;"], id="anyone"),
        pytest.param(("all",), ["allow publish all;"], id="anyone-as-list"),
        pytest.param(
            ("127.0.0.1", "10.42.0.0/24"),
            ["allow publish 127.0.0.1;", "allow publish 10.42.0.0/24;", "deny publish all;"],
            id="localhost-and-hotspot",
        ),
    ],
)
def test_publish_rules(allow_publish: tuple[str, ...] | str, rules: list[str]) -> None:
    conf = render_managed_conf("/s", allow_publish=allow_publish)
    app_block = conf.split("application live {\n", 1)[1].split("        }\n", 1)[0]
    expected = ["live on;", "record off;", "drop_idle_publisher 10s;", *rules, "allow play all;"]
    assert [line.strip() for line in app_block.splitlines()] == expected


def test_render_options_land_in_conf() -> None:
    conf = render_managed_conf("/s", port=2000, stat_port=2001, app="cams", drop_idle_publisher="30s", module_path=None)
    assert "load_module" not in conf
    assert "        listen 2000;\n" in conf
    assert "        listen 127.0.0.1:2001;\n" in conf
    assert "        application cams {\n" in conf
    assert "drop_idle_publisher 30s;" in conf


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        pytest.param({"allow_publish": ("nobody",)}, "rtmp.allow_publish entry 'nobody' is not an address", id="bad-address"),
        pytest.param({"allow_publish": ()}, "rtmp.allow_publish is empty", id="empty-allow"),
        pytest.param({"port": 0}, "rtmp.port 0 is not a TCP port", id="port-zero"),
        pytest.param({"stat_port": 70000}, "rtmp.stat_port 70000 is not a TCP port", id="stat-port-range"),
        pytest.param({"port": 1935, "stat_port": 1935}, "rtmp.stat_port 1935 equals rtmp.port", id="same-ports"),
    ],
)
def test_render_rejects_bad_settings(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match="^" + message.replace(".", r"\.").replace("(", r"\(")):
        render_managed_conf("/s", **kwargs)  # type: ignore[arg-type]


def test_argv_is_exact(tmp_path: Path) -> None:
    server = NginxRtmpServer(tmp_path / "ng", port=1935, stat_port=8089)
    assert server.argv("/usr/sbin/nginx") == [
        "/usr/sbin/nginx", "-p", f"{tmp_path}/ng/", "-c", f"{tmp_path}/ng/nginx.conf", "-g", "daemon off;",
    ]


def test_urls() -> None:
    server = NginxRtmpServer("/s", port=1940, stat_port=8090)
    assert server.url("10.42.0.1") == "rtmp://10.42.0.1:1940/live/cam"
    assert server.url("127.0.0.1", "side") == "rtmp://127.0.0.1:1940/live/side"
    assert server.stat_url() == "http://127.0.0.1:8090/stat"


def test_parse_stat() -> None:
    assert parse_stat(STAT_XML) == RtmpStat(
        streams=[
            RtmpStream(app="live", name="cam", publishing=True, viewers=1, bytes_in=158213, bw_in=402816,
                       codec="H264", width=320, height=240),
            RtmpStream(app="live", name="other", publishing=False, viewers=1, bytes_in=0, bw_in=0),
        ]
    )
    assert parse_stat(STAT_XML).viewers == 2
    assert parse_stat(STAT_XML).stream("missing") is None


def test_parse_stat_rejects_garbage() -> None:
    with pytest.raises(ServerError, match="^nginx-rtmp /stat is not valid XML"):
        parse_stat("<html>502 Bad Gateway")


def test_shipped_system_conf_matches_renderer() -> None:
    assert (REPO / "config/nginx/rtmp.conf").read_text() == render_system_conf()


def test_missing_module_and_nginx(tmp_path: Path) -> None:
    with pytest.raises(MissingToolError, match=r"^ngx_rtmp_module\.so not found: install it with `sudo apt install libnginx-mod-rtmp`$"):
        find_rtmp_module((str(tmp_path / "nope.so"),))
    server = NginxRtmpServer(tmp_path / "ng", nginx_path=str(tmp_path / "no-nginx"), port=free_port(), stat_port=free_port())
    with pytest.raises(MissingToolError, match=r"not found: install it with `sudo apt install nginx libnginx-mod-rtmp`$"):
        server.start()


# ---------------------------------------------------------------- nginx -t


@needs_nginx
def test_nginx_accepts_rendered_managed_conf(tmp_path: Path) -> None:
    server = NginxRtmpServer(tmp_path / "ng", port=free_port(), stat_port=free_port())
    server.write_config()
    server.check_config(shutil.which("nginx") or "nginx")  # raises ServerError if nginx -t fails


@needs_nginx
@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("runuser") is None, reason="needs root and runuser to become nobody")
def test_managed_nginx_runs_as_an_ordinary_user() -> None:
    """Nothing in the rendered config may need root: nginx -t and a real start as `nobody`."""
    import pwd
    import tempfile

    nobody = pwd.getpwnam("nobody")
    state = Path(tempfile.mkdtemp(prefix="camstream-nginx-user-", dir="/tmp"))
    child = None
    try:
        server = NginxRtmpServer(state / "ng", port=free_port(), stat_port=free_port())
        server.write_config()
        for path in (state, *state.rglob("*")):
            os.chown(path, nobody.pw_uid, nobody.pw_gid)
        as_nobody = ["runuser", "-u", "nobody", "--", *server.argv(shutil.which("nginx") or "nginx")]
        checked = proc.run([*as_nobody, "-t"], timeout=20)
        assert checked.returncode == 0, checked.stderr
        child = proc.Child("nginx-as-nobody", as_nobody)
        child.start()
        assert wait_for(lambda: port_accepts(server.port) and port_accepts(server.stat_port), 10), child.tail()
        assert server.stat().streams == []
    finally:
        if child is not None:
            child.stop(3)
        shutil.rmtree(state, ignore_errors=True)


@needs_nginx
def test_nginx_rejection_is_reported(tmp_path: Path) -> None:
    server = NginxRtmpServer(tmp_path / "ng", port=free_port(), stat_port=free_port(), drop_idle_publisher="soon")
    server.write_config()
    with pytest.raises(ServerError, match=r"^nginx rejected .*nginx\.conf: .*\[emerg\]"):
        server.check_config(shutil.which("nginx") or "nginx")


@needs_nginx
def test_nginx_accepts_shipped_system_conf(tmp_path: Path) -> None:
    wrapper = tmp_path / "nginx.conf"
    wrapper.write_text(
        f"load_module {MODULE};\n"
        f"pid {tmp_path}/nginx.pid;\n"
        f"error_log {tmp_path}/error.log;\n"
        "events { }\n"
        f"include {REPO}/config/nginx/rtmp.conf;\n"
    )
    result = proc.run(["nginx", "-t", "-p", f"{tmp_path}/", "-c", str(wrapper)], timeout=20)
    assert result.returncode == 0, result.stderr
    assert "test is successful" in result.stderr


# ---------------------------------------------------------------- real nginx, real FFmpeg


def _gone(pids: list[int]) -> bool:
    return all(not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE for pid in pids)


@pytest.fixture
def make_server(tmp_path: Path) -> Iterator:
    """Start managed nginx-rtmp servers; on teardown stop them and check nothing listens or lives on."""
    started: list[tuple[NginxRtmpServer, list[int]]] = []

    def make(**kwargs: object) -> NginxRtmpServer:
        server = NginxRtmpServer(tmp_path / f"ng{len(started)}", port=free_port(), stat_port=free_port(), **kwargs)  # type: ignore[arg-type]
        server.start()
        try:
            server.wait_ready(timeout=15)
        except Exception:
            server.stop()
            raise
        assert server.child is not None and server.child.pid is not None
        master = psutil.Process(server.child.pid)
        started.append((server, [master.pid, *(child.pid for child in master.children(recursive=True))]))
        return server

    yield make
    for server, pids in started:
        ports = (server.port, server.stat_port)
        server.stop()
        assert not any(port_accepts(port) for port in ports), "nginx still listening after stop()"
        assert _gone(pids), "an nginx process survived stop()"


def publish_argv(url: str, seconds: int) -> list[str]:
    """FFmpeg publishing a testsrc pattern as H.264 in FLV, as camstream's RTMP output does."""
    return [
        "ffmpeg", "-hide_banner", "-nostats", "-loglevel", "error",
        "-re", "-f", "lavfi", "-i", "testsrc=size=320x240:rate=25",
        "-t", str(seconds), "-c:v", "libx264", "-tune", "zerolatency", "-g", "25", "-pix_fmt", "yuv420p",
        "-f", "flv", url,
    ]  # fmt: skip


def wait_for(predicate, timeout: float) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


@needs_nginx
@pytest.mark.slow
def test_publish_play_and_stat(make_server) -> None:  # type: ignore[no-untyped-def]
    server = make_server()
    url = server.url("127.0.0.1")
    publisher = proc.Child("ffmpeg-publish", publish_argv(url, 5))
    player = proc.Child("ffmpeg-play", ["ffmpeg", "-hide_banner", "-loglevel", "error", "-i", url, "-t", "3", "-f", "null", "-"])
    try:
        publisher.start()
        assert wait_for(lambda: (s := server.stat().stream("cam")) is not None and s.publishing, 10), server.stat()
        player.start()
        assert wait_for(lambda: server.stat().viewers == 1, 10), server.stat()
        assert server.viewers() == 1  # what the supervisor reports as viewers_by_protocol["rtmp"]
        # ffprobe's FLV demuxer waits for an audio track that never comes; 1 s of analysis is enough for video.
        probe = proc.run(
            ["ffprobe", "-v", "error", "-analyzeduration", "1000000", "-select_streams", "v:0",
             "-show_entries", "stream=codec_name,width,height", "-of", "csv=p=0", url],
            timeout=20,
        )  # fmt: skip
        assert probe.returncode == 0, probe.stderr
        assert probe.stdout.strip() == "h264,320,240"
        cam = server.stat().stream("cam")
        assert cam is not None and cam.publishing and cam.bytes_in > 0
        assert (cam.codec, cam.width, cam.height) == ("H264", 320, 240)
    finally:
        player.stop(2)
        publisher.stop(2)


class SourceRelay:
    """TCP relay whose connections to the server come from `source`, so nginx sees another loopback address."""

    def __init__(self, target_port: int, source: str) -> None:
        self.target_port = target_port
        self.source = source
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.sockets: list[socket.socket] = [self.listener]
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.socket()
            upstream.bind((self.source, 0))
            upstream.connect(("127.0.0.1", self.target_port))
            self.sockets += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (src, dst):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def close(self) -> None:
        for sock in self.sockets:
            sock.close()
        self.thread.join(timeout=2)


@needs_nginx
@pytest.mark.slow
@pytest.mark.parametrize(
    ("allow_publish", "source", "allowed"),
    [
        pytest.param(("127.0.0.1",), "127.0.0.1", True, id="default-rules-local-publisher-accepted"),
        pytest.param(("127.0.0.1",), "127.0.0.2", False, id="default-rules-other-address-refused"),
        pytest.param(("127.0.0.2",), "127.0.0.1", False, id="other-address-only-localhost-refused"),
        pytest.param("all", "127.0.0.2", True, id="allow-all-accepts-any-address"),
    ],
)
def test_publish_access_rules(make_server, allow_publish: tuple[str, ...] | str, source: str, allowed: bool) -> None:  # type: ignore[no-untyped-def]
    server = make_server(allow_publish=allow_publish)
    relay = SourceRelay(server.port, source)
    publisher = proc.Child("ffmpeg-publish", publish_argv(f"rtmp://127.0.0.1:{relay.port}/live/cam", 4))
    try:
        publisher.start()
        published = wait_for(lambda: (s := server.stat().stream("cam")) is not None and s.publishing, 6)
        assert published is allowed, server.stat()
        if not allowed:
            assert publisher.wait(15) not in (0, None), "FFmpeg should fail when nginx refuses the publish"
            log = server.error_log.read_text()
            assert f"client connected '{source}'" in log
            assert "access forbidden by rule" in log
    finally:
        publisher.stop(2)
        relay.close()


@needs_nginx
def test_port_in_use_is_a_usage_error(tmp_path: Path) -> None:
    with socket.create_server(("0.0.0.0", 0)) as busy:
        port = busy.getsockname()[1]
        server = NginxRtmpServer(tmp_path / "ng", port=port, stat_port=free_port())
        with pytest.raises(PortInUseError) as err:
            server.start()
    assert str(err.value) == f"port {port} is already in use: choose another with --rtmp-port or rtmp.port"
    assert err.value.exit_code == 2
    assert server.child is None


# ---------------------------------------------------------------- installer (system nginx)

DEBIAN_LIKE_CONF = "user www-data;\ninclude /etc/nginx/modules-enabled/*.conf;\nevents {\n}\nhttp {\n}\n"
INCLUDE = "include /etc/nginx/camstream-rtmp.conf;"


@pytest.mark.parametrize(
    ("before", "after"),
    [
        pytest.param(DEBIAN_LIKE_CONF, f"{DEBIAN_LIKE_CONF}\n{INCLUDE_COMMENT}\n{INCLUDE}\n", id="appended"),
        pytest.param("events {\n}", f"events {{\n}}\n\n{INCLUDE_COMMENT}\n{INCLUDE}\n", id="no-final-newline"),
        pytest.param(f"{DEBIAN_LIKE_CONF}  {INCLUDE}\n", None, id="already-there"),
    ],
)
def test_with_include(before: str, after: str | None) -> None:
    assert with_include(before) == after


def test_plans_are_exact() -> None:
    assert packages_plan() == [Run(("apt-get", "update")), Run(("apt-get", "install", "-y", "nginx", "libnginx-mod-rtmp"))]
    assert config_plan(DEBIAN_LIKE_CONF) == [
        WriteFile("/etc/nginx/camstream-rtmp.conf", render_system_conf()),
        WriteFile("/etc/nginx/nginx.conf", f"{DEBIAN_LIKE_CONF}\n{INCLUDE_COMMENT}\n{INCLUDE}\n"),
        Run(("nginx", "-t")),
        Run(("systemctl", "reload-or-restart", "nginx")),
    ]
    already = with_include(DEBIAN_LIKE_CONF)
    assert already is not None
    assert [type(step).__name__ for step in config_plan(already)] == ["WriteFile", "Run", "Run"]


@pytest.fixture
def stand_ins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """apt-get, nginx and systemctl stand-ins that log their argv (this machine's packages stay untouched)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "calls.log"
    for tool in ("apt-get", "nginx", "systemctl"):
        script = bin_dir / tool
        script.write_text(
            f'#!/bin/sh\necho "{tool} $*" >> {log}\n'
            f'if [ "{tool}" = nginx ] && [ -e {tmp_path}/nginx-fails ]; then echo "nginx: [emerg] broken" >&2; exit 1; fi\n'
        )
        script.chmod(script.stat().st_mode | stat_mode.S_IEXEC)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    return log


def _root_with_nginx_conf(tmp_path: Path) -> Path:
    root = tmp_path / "root"
    (root / "etc/nginx").mkdir(parents=True)
    (root / "etc/nginx/nginx.conf").write_text(DEBIAN_LIKE_CONF)
    return root


def test_nginx_install_applies_idempotently(tmp_path: Path, stand_ins: Path) -> None:
    root = _root_with_nginx_conf(tmp_path)
    install = NginxInstall(host=Host(root=root, euid=0))
    install.apply()
    install.apply()
    conf = (root / "etc/nginx/nginx.conf").read_text()
    assert conf == f"{DEBIAN_LIKE_CONF}\n{INCLUDE_COMMENT}\n{INCLUDE}\n"
    assert (root / "etc/nginx/camstream-rtmp.conf").read_text() == render_system_conf()
    assert stand_ins.read_text().splitlines() == [
        "apt-get update", "apt-get install -y nginx libnginx-mod-rtmp", "nginx -t", "systemctl reload-or-restart nginx",
    ] * 2  # fmt: skip


def test_nginx_install_restores_files_when_nginx_t_fails(tmp_path: Path, stand_ins: Path) -> None:
    root = _root_with_nginx_conf(tmp_path)
    (tmp_path / "nginx-fails").touch()
    with pytest.raises(ProcessError, match=r"^`nginx -t` failed with exit code 1: nginx: \[emerg\] broken$"):
        NginxInstall(host=Host(root=root, euid=0)).apply()
    assert (root / "etc/nginx/nginx.conf").read_text() == DEBIAN_LIKE_CONF
    assert not (root / "etc/nginx/camstream-rtmp.conf").exists()
    assert "systemctl" not in stand_ins.read_text()


def test_nginx_install_needs_root(tmp_path: Path) -> None:
    with pytest.raises(NeedsRootError, match="^camstream install-server nginx changes the system and needs root"):
        NginxInstall(host=Host(root=tmp_path, euid=1000)).apply()


def test_nginx_dry_run_prints_everything_and_changes_nothing(tmp_path: Path) -> None:
    root = _root_with_nginx_conf(tmp_path)
    text = NginxInstall(host=Host(root=root, euid=1000)).dry_run()
    assert text.startswith("$ apt-get update\n$ apt-get install -y nginx libnginx-mod-rtmp\n")
    assert render_system_conf() in text
    assert f"{INCLUDE_COMMENT}\n{INCLUDE}\n" in text
    assert text.endswith("$ nginx -t\n$ systemctl reload-or-restart nginx\n")
    assert (root / "etc/nginx/nginx.conf").read_text() == DEBIAN_LIKE_CONF
    assert not (root / "etc/nginx/camstream-rtmp.conf").exists()


def _script(tmp_path: Path, *args: str, env_extra: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "NGINX_CONF": str(tmp_path / "root/etc/nginx/nginx.conf"),
        "RTMP_CONF_DEST": str(tmp_path / "root/etc/nginx/camstream-rtmp.conf"),
        **(env_extra or {}),
    }
    return proc.run([str(REPO / "scripts/install_rtmp_server.sh"), *args], env=env, timeout=30)


def test_script_dry_run_changes_nothing(tmp_path: Path, stand_ins: Path) -> None:
    root = _root_with_nginx_conf(tmp_path)
    result = _script(tmp_path, "--dry-run")
    assert result.returncode == 0, result.stderr
    dest = tmp_path / "root/etc/nginx/camstream-rtmp.conf"
    assert result.stdout.startswith("$ apt-get update\n$ apt-get install -y nginx libnginx-mod-rtmp\n")
    assert render_system_conf() in result.stdout
    assert f"{INCLUDE_COMMENT}\ninclude {dest};\n" in result.stdout
    assert result.stdout.endswith("$ nginx -t\n$ systemctl reload-or-restart nginx\n")
    assert (root / "etc/nginx/nginx.conf").read_text() == DEBIAN_LIKE_CONF
    assert not dest.exists()
    assert not stand_ins.exists()


def test_script_installs_once_and_restores_on_failure(tmp_path: Path, stand_ins: Path) -> None:
    root = _root_with_nginx_conf(tmp_path)
    dest = root / "etc/nginx/camstream-rtmp.conf"
    for _ in range(2):
        result = _script(tmp_path)
        assert result.returncode == 0, result.stderr
    assert (root / "etc/nginx/nginx.conf").read_text() == f"{DEBIAN_LIKE_CONF}\n{INCLUDE_COMMENT}\ninclude {dest};\n"
    assert dest.read_text() == render_system_conf()
    assert stand_ins.read_text().count("systemctl reload-or-restart nginx") == 2

    (root / "etc/nginx/nginx.conf").write_text(DEBIAN_LIKE_CONF)
    dest.unlink()
    (tmp_path / "nginx-fails").touch()
    result = _script(tmp_path)
    assert result.returncode == 1
    assert "error: nginx -t failed: restoring" in result.stderr
    assert (root / "etc/nginx/nginx.conf").read_text() == DEBIAN_LIKE_CONF
    assert not dest.exists()


def test_cli_install_server_nginx_dry_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import typer
    from typer.testing import CliRunner

    from camstream.cli import install_server

    root = _root_with_nginx_conf(tmp_path)
    monkeypatch.setenv("CAMSTREAM_HOST_ROOT", str(root))
    app = typer.Typer()
    install_server.register(app)

    @app.command("other")
    def _other() -> None:  # a second command keeps typer from collapsing the app into one command
        """Unused."""

    result = CliRunner().invoke(app, ["install-server", "nginx", "--dry-run"])
    assert result.exit_code == 0, result.output
    assert result.stdout == NginxInstall(host=Host(root=root)).dry_run()
    bad = CliRunner().invoke(app, ["install-server", "apache"])
    assert bad.exit_code == 2


def test_rtmp_connections_get_a_bounded_send_buffer() -> None:
    # What nginx inherits: every accepted connection keeps the listener's send buffer instead of growing to
    # tcp_wmem's maximum, so a player that stops reading blocks nginx's writes (and its timeout) within seconds.
    import socket

    from camstream.errors import PortInUseError
    from camstream.net import free_port, listening_socket
    from camstream.servers.nginx_rtmp import PLAYER_SEND_BUFFER

    port = free_port()
    listener = listening_socket("127.0.0.1", port, "--rtmp-port", send_buffer=PLAYER_SEND_BUFFER)
    try:
        with socket.create_connection(("127.0.0.1", port)):
            accepted, _ = listener.accept()
            with accepted:
                cap = int(Path("/proc/sys/net/core/wmem_max").read_text())  # SO_SNDBUF is capped there (socket(7))
                assert accepted.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF) == 2 * min(PLAYER_SEND_BUFFER, cap)
        with pytest.raises(PortInUseError, match=f"port {port} is already in use: choose another with --rtmp-port"):
            listening_socket("127.0.0.1", port, "--rtmp-port", send_buffer=PLAYER_SEND_BUFFER)
    finally:
        listener.close()
