"""The web view's pure parts: settings, the server's argv, path checks, /metrics text, the plan's web wiring."""

from __future__ import annotations

import base64
import os
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from camstream import encoders, metrics
from camstream.app import make_plan, profile_in_use
from camstream.config import load_config
from camstream.errors import ConfigError
from camstream.supervise import BitrateMeter, human_bitrate
from camstream.web.api import BadPath, safe_file
from camstream.web.server import Credentials, parse_args, server_argv, viewers_by_protocol

CAPS = encoders.Capabilities(ffmpeg="ffmpeg", version="5.1", encoders=frozenset({"libx264"}),
                            working={"libx264": True})


def cfg_for(tmp_path: Path, **flags: object):  # type: ignore[no-untyped-def]
    base = {"source": "testsrc", "paths.ssd_path": str(tmp_path / "ssd"), "paths.state_dir": str(tmp_path / "st"),
            "video.width": 320, "video.height": 240}
    base.update(flags)
    return load_config(None, env={}, flags={k: (k, v) for k, v in base.items()}, search_defaults=False)


# -- settings ------------------------------------------------------------------------------------------------------

def test_web_defaults_and_env(tmp_path: Path) -> None:
    cfg = cfg_for(tmp_path)
    assert (cfg.web.enabled, cfg.web.port, cfg.web.address) == (True, 8080, "0.0.0.0")
    env = {"CAMSTREAM_WEB_PORT": "9090", "CAMSTREAM_WEB_STUN": "stun:10.0.0.1:3478", "CAMSTREAM_WEB_ICE_UDP_PORT": "0"}
    cfg = load_config(None, env=env, search_defaults=False)
    assert (cfg.web.port, cfg.web.stun, cfg.web.ice_udp_port) == (9090, "stun:10.0.0.1:3478", 0)


@pytest.mark.parametrize(("key", "value", "message"), [
    pytest.param("web.port", "0", "--web-port 0: expected a whole number 1-65535", id="port"),
    pytest.param("web.stun", "http://x", "expected a URL like stun:host:3478", id="stun"),
    pytest.param("web.turn", "stun:x:1", "expected a URL like turn:host:3478", id="turn"),
    pytest.param("web.ice_udp_port", "70000", "expected a whole number 1-65535", id="udp-port"),
])
def test_bad_web_settings_name_the_setting(tmp_path: Path, key: str, value: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("?", r"\?")):
        load_config(None, env={}, flags={key: ("--web-port" if key == "web.port" else key, value)},
                    search_defaults=False)


def test_web_user_needs_password(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="web.user and web.password: set both or neither"):
        cfg_for(tmp_path, **{"web.user": "ann"})


# -- the server process's command line ----------------------------------------------------------------------------

def test_server_argv_exact() -> None:
    argv = server_argv("py", address="0.0.0.0", port=8080, state_dir="/st", video_dir="/v", images_dir="/i",
                       latest_dir="/l", ingest_port=4000, path="live", user="ann", ice_udp_port=50000,
                       stun="stun:s:3478", turn="turn:t:3478", turn_user="tu", profile="main", status_file="/st/web.json")
    assert argv == ["py", "-m", "camstream.web", "--address", "0.0.0.0", "--port", "8080", "--state-dir", "/st",
                    "--video-dir", "/v", "--images-dir", "/i", "--latest-dir", "/l", "--ffmpeg", "ffmpeg",
                    "--ingest-port", "4000", "--path", "live", "--user", "ann", "--ice-udp-port", "50000",
                    "--stun", "stun:s:3478", "--turn", "turn:t:3478", "--turn-user", "tu", "--profile", "main",
                    "--status-file", "/st/web.json"]


def test_server_password_comes_from_the_environment() -> None:
    base = ["--state-dir", "/st", "--video-dir", "/v", "--images-dir", "/i", "--latest-dir", "/l"]
    settings = parse_args([*base, "--user", "ann"], env={"CAMSTREAM_WEB_AUTH_PASSWORD": "pw"})
    assert settings.credentials == Credentials("ann", "pw")
    with pytest.raises(SystemExit) as exc:
        parse_args([*base, "--user", "ann"], env={})
    assert exc.value.code == 2


def test_credentials_check() -> None:
    creds = Credentials("ann", "pa:ss")

    def basic(text: str) -> str:
        return "Basic " + base64.b64encode(text.encode()).decode()

    assert creds.accepts(basic("ann:pa:ss"))
    for bad in (None, "", basic("ann:wrong"), basic("bob:pa:ss"), basic("annpa:ss"), "Basic !!!", "Bearer x"):
        assert not creds.accepts(bad)


def test_viewers_by_protocol_from_hub_stats() -> None:
    assert viewers_by_protocol({"viewers": {"webrtc": 2, "ws": 1}}) == {"webrtc": 2, "ws": 1}
    assert viewers_by_protocol({"webrtc": 3, "ws": {"viewers": 1}, "other": 9}) == {"webrtc": 3, "ws": 1}
    assert viewers_by_protocol({}) == {}


# -- recordings paths ---------------------------------------------------------------------------------------------

@pytest.fixture
def video_dir(tmp_path: Path) -> Path:
    video = tmp_path / "video"
    video.mkdir()
    (video / "20261123T101010Z.mp4").write_bytes(b"x")
    (tmp_path / "secret.mp4").write_bytes(b"secret")
    os.symlink(tmp_path / "secret.mp4", video / "escape.mp4")
    os.symlink(video / "20261123T101010Z.mp4", video / "inside.mp4")
    return video


@pytest.mark.parametrize(("requested", "status"), [
    pytest.param("../secret.mp4", 400, id="dotdot"),
    pytest.param("a/../../secret.mp4", 400, id="dotdot-inner"),
    pytest.param("/etc/passwd", 400, id="absolute"),
    pytest.param("./20261123T101010Z.mp4", 400, id="dot"),
    pytest.param("..\\secret.mp4", 400, id="backslash"),
    pytest.param("x\x00.mp4", 400, id="nul"),
    pytest.param("escape.mp4", 404, id="symlink-escape"),
    pytest.param("missing.mp4", 404, id="missing"),
    pytest.param("20261123T101010Z.jpg", 404, id="not-mp4"),
])
def test_bad_recording_paths_refused(video_dir: Path, requested: str, status: int) -> None:
    with pytest.raises(BadPath) as exc:
        safe_file(video_dir, requested, (".mp4",))
    assert exc.value.status == status


def test_good_recording_paths(video_dir: Path) -> None:
    assert safe_file(video_dir, "20261123T101010Z.mp4", (".mp4",)) == (video_dir / "20261123T101010Z.mp4").resolve()
    assert safe_file(video_dir, "inside.mp4", (".mp4",)).name == "20261123T101010Z.mp4"


# -- /metrics -----------------------------------------------------------------------------------------------------

def test_metrics_text_parses_and_carries_every_series(tmp_path: Path) -> None:
    status = {"pid": 1, "state": "running", "source": "testsrc", "encoder": "libx264", "profile": "main",
              "uptime": 12.5, "frames": 300, "fps": 29.97, "bitrate_bps": 1_500_000, "dropped_frames": 2,
              "restarts": 3, "restart_reasons": {"stalled": 2, "ffmpeg_exited": 1}, "recording_paused": False,
              "disk_not_answering": True, "viewers_by_protocol": {"rtsp": 1, "webrtc": 2}, "disk_free_bytes": 10**9}
    thermal = tmp_path / "thermal"
    (thermal / "thermal_zone0").mkdir(parents=True)
    (thermal / "thermal_zone0" / "temp").write_text("48312\n")
    (thermal / "thermal_zone0" / "type").write_text("cpu-thermal\n")
    readings = metrics.Readings(now=100.0, last_chunk_mtime=98.0, last_snapshot_mtime=99.5,
                                temperatures=metrics.soc_temperatures(thermal), profile='con"strained')
    families = {f.name: f for f in text_string_to_metric_families(metrics.render(status, readings))}
    value = {(s.name, tuple(sorted(s.labels.items()))): s.value for f in families.values() for s in f.samples}
    assert value[("camstream_up", ())] == 1
    assert value[("camstream_frames_total", ())] == 300
    assert families["camstream_frames"].type == "counter"
    assert value[("camstream_fps", ())] == pytest.approx(29.97)
    assert value[("camstream_dropped_frames_total", ())] == 2
    assert value[("camstream_bitrate_bits_per_second", ())] == 1_500_000
    assert value[("camstream_viewers", (("protocol", "webrtc"),))] == 2
    assert value[("camstream_viewers", (("protocol", "rtsp"),))] == 1
    assert value[("camstream_restarts_total", ())] == 3
    assert value[("camstream_restart_reasons_total", (("reason", "stalled"),))] == 2
    assert value[("camstream_disk_free_bytes", ())] == 10**9
    assert value[("camstream_recording_paused", ())] == 0
    assert value[("camstream_disk_not_answering", ())] == 1
    assert value[("camstream_seconds_since_last_chunk", ())] == 2
    assert value[("camstream_seconds_since_last_snapshot", ())] == 0.5
    assert value[("camstream_soc_temperature_celsius", (("zone", "cpu-thermal"),))] == pytest.approx(48.312)
    info = families["camstream_info"].samples[0].labels
    assert info == {"source": "testsrc", "encoder": "libx264", "profile": 'con"strained', "state": "running"}


def test_metrics_carry_the_audio_state() -> None:
    """--audio: codec, state, level (dBFS) and last error as series; without it no audio series at all."""
    status = {"state": "running", "audio": {"input": "pulse:mic.monitor", "codec": "aac,opus", "state": "silence",
                                            "level_dbfs": -23.4, "last_error": "pulse: Connection refused",
                                            "device_restarts": 2}}
    families = {f.name: f for f in text_string_to_metric_families(metrics.render(status, metrics.Readings()))}
    assert families["camstream_audio_info"].samples[0].labels == {
        "input": "pulse:mic.monitor", "codec": "aac,opus", "state": "silence", "last_error": "pulse: Connection refused"}
    assert families["camstream_audio_up"].samples[0].value == 0
    assert families["camstream_audio_level_dbfs"].samples[0].value == pytest.approx(-23.4)
    value = {s.name: s.value for f in families.values() for s in f.samples}
    assert value["camstream_audio_device_restarts_total"] == 2
    without = metrics.render({"state": "running", "audio": None}, metrics.Readings())
    assert "camstream_audio" not in without


def test_metrics_when_not_running() -> None:
    families = {f.name: f for f in text_string_to_metric_families(metrics.render(None, metrics.Readings()))}
    assert families["camstream_up"].samples[0].value == 0
    assert "camstream_frames" not in families


@pytest.mark.parametrize(("reason", "kind"), [
    ("ffmpeg exited with code 1", "ffmpeg_exited"),
    ("stalled: no new frame for 5.1 s", "stalled"),
    ("source /dev/video0 disappeared", "source_lost"),
    ("rtsp server exited", "server_exited"),
    ("recording stalled: no chunk closed for 30 s", "recording_stalled"),
    ("something new", "other"),
])
def test_restart_reason_kinds(reason: str, kind: str) -> None:
    assert metrics.reason_kind(reason) == kind


def test_bitrate_meter_from_chunks_and_ingest(tmp_path: Path) -> None:
    now = [0.0]
    meter = BitrateMeter(clock=lambda: now[0])
    assert meter.bps() is None
    chunk = tmp_path / "c.mp4"
    chunk.write_bytes(b"\0" * 125_000)  # 1 Mbit
    meter.add_chunk(chunk, 2.0)
    assert meter.bps() == 500_000
    for t, total in ((0.0, 0), (1.0, 250_000), (2.0, 500_000)):
        now[0] = t
        meter.add_ingest(total)
    assert meter.bps() == 2_000_000  # the ingest, when measured, is the live figure
    assert human_bitrate(1_987_000) == "1987 kbit/s"
    assert human_bitrate(12_500_000) == "12.5 Mbit/s"


# -- the plan -----------------------------------------------------------------------------------------------------

def test_plan_serves_the_page_first_and_feeds_it_from_the_one_encode(tmp_path: Path) -> None:
    cfg = cfg_for(tmp_path, **{"rtsp.enabled": True, "rtsp.server": "builtin", "web.port": 18080})
    plan = make_plan(cfg, CAPS, dry_run=True)
    assert plan.urls[0].startswith("http://") and plan.urls[0].endswith(":18080/")
    web = next(s for s in plan.servers if getattr(s, "name", "") == "web")
    tee = next(a for a in plan.argv if str(web.ingest_url()) in a)  # type: ignore[attr-defined]
    assert f"[f=mpegts:bsfs/v=dump_extra=freq=keyframe:onfail=ignore:flush_packets=1:omit_video_pes_length=0]" \
           f"{web.ingest_url()}" in tee  # type: ignore[attr-defined]
    assert plan.argv.count("-c:v") == 2  # one H.264 encode (+ the snapshots' mjpeg)
    assert plan.profile == profile_in_use(plan.argv, plan.encoder)


def test_plan_without_web(tmp_path: Path) -> None:
    for flags in ({"rtsp.enabled": True, "rtsp.server": "builtin", "web.enabled": False},
                  {"rtsp.enabled": False}):
        plan = make_plan(cfg_for(tmp_path, **flags), CAPS, dry_run=True)
        assert not any(getattr(s, "name", "") == "web" for s in plan.servers)
        assert not any(u.startswith("http://") for u in plan.urls)


@pytest.mark.parametrize(("argv", "encoder", "label"), [
    (["-profile:v", "baseline"], "libx264", "constrained baseline"),
    (["-profile:v", "578"], "h264_v4l2m2m", "constrained baseline"),
    (["-profile:v", "main"], "libx264", "main"),
    ([], "h264_v4l2m2m", "h264_v4l2m2m default"),
    ([], "copy", "the source's own (passed through)"),
])
def test_profile_in_use(argv: list[str], encoder: str, label: str) -> None:
    assert profile_in_use(argv, encoder) == label


def test_web_view_makes_auto_profile_constrained_baseline(tmp_path: Path) -> None:
    """Browsers' WebRTC decoders want constrained baseline (42e01f): profile=auto gives it whenever the page is on."""
    on = make_plan(cfg_for(tmp_path, **{"rtsp.enabled": True, "rtsp.server": "builtin"}), CAPS, dry_run=True)
    assert on.argv[on.argv.index("-profile:v") + 1] == "baseline"
    assert on.profile == "constrained baseline"
    off = make_plan(cfg_for(tmp_path, **{"rtsp.enabled": True, "rtsp.server": "builtin", "web.enabled": False}),
                    CAPS, dry_run=True)
    assert off.profile == "main"


def test_ice_settings_reach_the_hub_and_the_browser() -> None:
    from camstream.web.server import browser_ice_servers, hub_ice

    ice = {"udp_port": 50000, "stun": "stun:10.0.0.1:3478", "turn": "turn:t.example:3478?transport=udp",
           "turn_user": "u@x", "turn_password": "p:w"}
    # webrtcbin's stun-server / turn-server properties take stun://host:port and turn://user:pass@host:port.
    assert hub_ice(ice) == {"udp_port": 50000, "stun_server": "stun://10.0.0.1:3478",
                            "turn_server": "turn://u%40x:p%3Aw@t.example:3478"}
    assert browser_ice_servers(ice) == [{"urls": "stun:10.0.0.1:3478"},
                                        {"urls": "turn:t.example:3478?transport=udp", "username": "u@x",
                                         "credential": "p:w"}]
    assert hub_ice({"udp_port": None, "stun": None, "turn": None}) == {}
    assert browser_ice_servers({}) == []


def test_web_address_limits_the_printed_url(tmp_path: Path) -> None:
    cfg = cfg_for(tmp_path, **{"rtsp.enabled": True, "rtsp.server": "builtin", "web.address": "127.0.0.1",
                               "web.port": 18081})
    plan = make_plan(cfg, CAPS, dry_run=True)
    assert [u for u in plan.urls if u.startswith("http://")] == ["http://127.0.0.1:18081/"]


def test_status_table_shows_viewers_by_protocol_and_profile() -> None:
    import io

    from rich.console import Console

    from camstream.cli.run import _status_table
    from camstream.status import Status

    status = Status(pid=1, state="running", source="testsrc", encoder="libx264", started_at=0.0, viewers=3,
                    viewers_by_protocol={"webrtc": 2, "rtsp": 1}, profile="constrained baseline")
    out = io.StringIO()
    Console(file=out, width=120, color_system=None).print(_status_table(status))
    assert "3 (rtsp 1, webrtc 2)" in out.getvalue()
    assert "libx264 (constrained baseline)" in out.getvalue()


async def _gate_responses(state: str) -> list[int]:
    from aiohttp.test_utils import TestClient, TestServer

    from camstream.web.server import MediaGate, Settings, build_app

    class Hub:  # only the routes matter here: the gate answers before any handler runs
        def routes(self):  # type: ignore[no-untyped-def]
            from aiohttp import web

            async def ok(request: web.Request) -> web.Response:
                return web.Response(text="hub")

            return [web.post("/live/whep", ok), web.get("/live/ws", ok)]

    hub = Hub()
    gate = MediaGate(hub)
    gate.state = state
    client = TestClient(TestServer(build_app(Settings(state_dir=Path("/nonexistent")), hub, gate)))
    await client.start_server()
    try:
        return [(await client.post("/live/whep")).status, (await client.get("/live/ws")).status,
                (await client.get("/api/time")).status]
    finally:
        await client.close()


@pytest.mark.parametrize(("state", "codes"), [("starting", [503, 503, 200]), ("on", [200, 200, 200]),
                                              ("off", [404, 404, 200])])
def test_media_routes_wait_for_the_hub(state: str, codes: list[int]) -> None:
    import asyncio

    assert asyncio.run(_gate_responses(state)) == codes
