"""servers/base.py: the one lifecycle (a tiny real child process) and the server table app.make_plan walks."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

import pytest

from camstream import app
from camstream.config import Config, load_config
from camstream.encoders import Capabilities
from camstream.errors import ServerError
from camstream.outputs.base import Endpoints, EncodedSink, Sink
from camstream.servers import registry
from camstream.servers.base import Launch, ManagedServer
from camstream.servers.mediamtx import MediamtxServer
from camstream.servers.nginx_rtmp import NginxRtmpServer
from camstream.servers import rtsp_builtin
from camstream.servers.rtsp_builtin import BuiltinRtspServer

ROOT = Path(__file__).resolve().parents[2]


class Sleeper(ManagedServer):
    """A server whose process is `python -c CODE`, ready once `marker` exists."""

    role = "test"
    label = "sleeper"

    def __init__(self, code: str, marker: Path) -> None:
        super().__init__()
        self.code, self.marker, self.cleaned = code, marker, 0

    @classmethod
    def wanted(cls, cfg: Config) -> bool:
        return False

    @classmethod
    def from_config(cls, cfg: Config, *, dry_run: bool = False) -> Sleeper:
        raise NotImplementedError

    def _launch(self) -> Launch:
        return Launch([sys.executable, "-c", self.code])

    def _ready(self) -> bool:
        return self.marker.exists()

    def _stopped(self) -> None:
        self.cleaned += 1


def test_ready_then_stop_returns_how_it_ended(tmp_path: Path) -> None:
    marker = tmp_path / "up"
    server = Sleeper(f"import pathlib, time; pathlib.Path({str(marker)!r}).touch(); time.sleep(60)", marker)
    assert server.stop() is None and server.cleaned == 1  # never started
    server.start()
    server.start()  # already running: no second process
    server.wait_ready(10)
    assert server.running() and server.poll() is None
    info = server.stop(grace=5)
    assert info is not None and info.returncode is not None and not server.running()
    assert server.cleaned == 2


def test_wait_ready_reports_a_process_that_dies(tmp_path: Path) -> None:
    server = Sleeper("import sys; print('bad flag', file=sys.stderr); sys.exit(3)", tmp_path / "never")
    server.start()
    with pytest.raises(ServerError, match=r"^sleeper exited with code 3: bad flag$"):
        server.wait_ready(10)
    assert not server.running() and server.tail() == ["bad flag"]


def test_wait_ready_gives_up_and_reaps(tmp_path: Path) -> None:
    server = Sleeper("import sys, time; print('still busy', file=sys.stderr, flush=True); time.sleep(60)",
                     tmp_path / "never")
    server.start()
    with pytest.raises(ServerError, match=r"^sleeper not ready after 0.5s"):
        server.wait_ready(0.5)
    assert not server.running() and server.poll() is not None


def test_wait_ready_before_start_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ServerError, match="was not started"):
        Sleeper("", tmp_path / "x").wait_ready(1)


def plan(tmp_path: Path, env: dict[str, str], *flags: tuple[str, tuple[str, object]]) -> app.Plan:
    base = {"SSD_PATH": str(tmp_path / "ssd"), "CAMSTREAM_PATHS_STATE_DIR": str(tmp_path / "state"),
            "CAMERA": "testsrc"}
    cfg = load_config(env={**base, **env}, flags=dict(flags), search_defaults=False)
    return app.make_plan(cfg, Capabilities("ffmpeg", "5.1", frozenset({"libx264"}), {"libx264": True}), dry_run=True)


@pytest.mark.parametrize(("env", "expected"), [
    pytest.param({"CAMSTREAM_RTSP_SERVER": "builtin"}, [BuiltinRtspServer], id="builtin"),
    pytest.param({"CAMSTREAM_RTSP_SERVER": "mediamtx", "CAMSTREAM_RTSP_MEDIAMTX_PATH": sys.executable},
                 [MediamtxServer], id="mediamtx"),
    pytest.param({"CAMSTREAM_RTSP_SERVER": "builtin", "CAMSTREAM_RTMP_ENABLED": "1"},
                 [BuiltinRtspServer, NginxRtmpServer], id="builtin+nginx"),
    pytest.param({"CAMSTREAM_RTSP_SERVER": "external", "CAMSTREAM_RTSP_URL": "rtsp://10.0.0.2:8554/cam",
                  "CAMSTREAM_RTMP_ENABLED": "1", "CAMSTREAM_RTMP_SERVER": "rtmp://10.0.0.3/live"}, [],
                 id="nothing-managed"),
])
def test_the_table_picks_the_servers(tmp_path: Path, env: dict[str, str], expected: list[type]) -> None:
    if BuiltinRtspServer in expected and not rtsp_builtin.available()[0]:
        pytest.skip("gst-rtsp-server bindings are not installed")
    p = plan(tmp_path, env)
    assert [type(s) for s in p.servers] == expected
    assert all(s.role in ("rtsp", "rtmp") for s in p.servers)
    for server in p.servers:
        assert set(server.files()) <= set(p.files)


def test_urls_keep_their_order(tmp_path: Path) -> None:
    p = plan(tmp_path, {"CAMSTREAM_RTSP_SERVER": "external", "CAMSTREAM_RTSP_URL": "rtsp://u:pw@10.0.0.2:8554/cam",
                        "CAMSTREAM_RTMP_ENABLED": "1", "CAMSTREAM_SRT_ENABLED": "1",
                        "CAMSTREAM_SRT_URL": "srt://10.0.0.4:9000"})
    assert p.urls[0] == "rtsp://***:***@10.0.0.2:8554/cam"
    assert p.urls[-1] == "srt://10.0.0.4:9000"
    assert all(u.startswith("rtmp://") for u in p.urls[1:-1]) and len(p.urls) > 2


class EchoServer(ManagedServer):
    """What the next server (e.g. the web view) adds: one module with this class, one line in the table."""

    role = "echo"
    label = "echo server"

    @classmethod
    def wanted(cls, cfg: Config) -> bool:
        return True

    @classmethod
    def from_config(cls, cfg: Config, *, dry_run: bool = False) -> EchoServer:
        return cls()

    def _launch(self) -> Launch:
        return Launch([sys.executable, "-c", "pass"])

    def _ready(self) -> bool:
        return True

    def files(self) -> dict[Path, str]:
        return {Path("/state/echo.conf"): "port 9\n"}

    def publish_url(self) -> str:
        return "tcp://127.0.0.1:9"

    def viewer_urls(self, hosts: Sequence[str]) -> list[str]:
        return [f"echo://{h}:9/" for h in hosts]


class EchoOutput:
    """Its output plug-in reads its own ingest from Endpoints.publish: no new Endpoints field."""

    name = "echo"

    def enabled(self, cfg: Config) -> bool:
        return True

    def sinks(self, cfg: Config, endpoints: Endpoints) -> list[Sink]:
        return [EncodedSink("echo", "mpegts", endpoints.publish["echo"])]


def test_a_new_server_is_one_class_and_one_table_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(registry, "SERVERS", (EchoServer, *registry.SERVERS))
    monkeypatch.setattr(app, "SERVERS", registry.SERVERS)
    from camstream.outputs import base as outputs_base

    real = outputs_base.load_outputs
    monkeypatch.setattr(outputs_base, "load_outputs", lambda: {**real(), "echo": EchoOutput()})
    p = plan(tmp_path, {"CAMSTREAM_RTSP_ENABLED": "0"})
    assert [type(s) for s in p.servers] == [EchoServer]
    assert p.files[Path("/state/echo.conf")] == "port 9\n"
    assert p.urls[0].startswith("echo://")
    assert any("[f=mpegts:onfail=ignore]tcp://127.0.0.1:9|" in a for a in p.argv)


def test_app_has_no_type_ignores() -> None:
    assert "type: ignore" not in (ROOT / "camstream" / "app.py").read_text()
