"""The config loader: precedence, the seeds' names, one-line errors with their origin, the example file."""

from __future__ import annotations

from pathlib import Path

import pytest

from camstream.config import MinFree, load_config, render_example
from camstream.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]


def load(env: dict[str, str] | None = None, flags: dict[str, tuple[str, object]] | None = None,
         file: Path | None = None):  # type: ignore[no-untyped-def]
    return load_config(file, env=env or {}, flags=flags or {}, search_defaults=False)


def test_defaults_match_the_seeds() -> None:
    cfg = load()
    assert (cfg.video.width, cfg.video.height, cfg.video.fps) == (1280, 720, 30)
    assert (cfg.rtsp.port, cfg.rtsp.path, cfg.rtmp.stream_key, cfg.rtmp.port) == (8554, "live", "cam", 1935)
    assert cfg.record.segment_seconds == 5.5 and cfg.snapshots.interval == 1.0
    assert cfg.latest_dir == cfg.paths.ssd_path / "drone_temp"


def test_first_seed_environment_names(tmp_path: Path) -> None:
    env = {"SSD_PATH": str(tmp_path), "ENABLE_RTSP": "0", "ENABLE_VIDEO": "1", "ENABLE_IMAGES": "0",
           "CAMERA": "/dev/video2", "VIDEO_FPS": "25", "VIDEO_WIDTH": "640", "VIDEO_HEIGHT": "480",
           "VIDEO_BITRATE": "1500000"}
    cfg = load(env)
    assert cfg.paths.ssd_path == tmp_path and cfg.source == "/dev/video2"
    assert (cfg.rtsp.enabled, cfg.record.enabled, cfg.snapshots.enabled) == (False, True, False)
    assert (cfg.video.fps, cfg.video.width, cfg.video.height, cfg.video.bitrate) == (25, 640, 480, 1_500_000)


def test_precedence_flags_over_env_over_yaml(tmp_path: Path) -> None:
    file = tmp_path / "c.yaml"
    file.write_text("video:\n  fps: 10\n  width: 320\n  height: 240\nrtsp:\n  port: 9000\n")
    cfg = load({"VIDEO_FPS": "20", "CAMSTREAM_RTSP_PORT": "9100"}, {"video.fps": ("--fps", "30")}, file)
    assert cfg.video.fps == 30  # flag beats env and YAML
    assert cfg.rtsp.port == 9100  # env beats YAML
    assert cfg.video.width == 320  # YAML beats default


@pytest.mark.parametrize(
    ("env", "flags", "message"),
    [
        pytest.param({"VIDEO_FPS": "abc"}, {}, "VIDEO_FPS=abc: expected a whole number 1-240", id="env-fps"),
        pytest.param({}, {"video.fps": ("--fps", "0")}, "--fps 0: expected a whole number 1-240", id="fps-0"),
        pytest.param({}, {"video.bitrate": ("--bitrate", "-5")},
                     "--bitrate -5: expected bits per second 16000-100000000 (e.g. 2000000, 2M or 2000k)",
                     id="negative-bitrate"),
        pytest.param({"ENABLE_RTSP": "maybe"}, {}, "ENABLE_RTSP=maybe: expected 1/0, true/false, yes/no or on/off",
                     id="bad-bool"),
        pytest.param({}, {"record.max_size": ("--max-size", "20XB")},
                     "--max-size 20XB: expected a size like 500MB, 20GB or 1TB", id="bad-size"),
        pytest.param({}, {"video.encoder": ("--encoder", "x265")},
                     "--encoder x265: expected one of auto, libx264, h264_v4l2m2m, h264_vaapi, h264_nvenc",
                     id="bad-encoder"),
    ],
)
def test_bad_values_name_their_origin(env: dict[str, str], flags: dict[str, tuple[str, object]], message: str) -> None:
    with pytest.raises(ConfigError) as err:
        load(env, flags)
    assert str(err.value) == message


def test_unknown_yaml_key_has_file_and_line(tmp_path: Path) -> None:
    file = tmp_path / "c.yaml"
    file.write_text("video:\n  fps: 10\n  fsp: 3\n")
    with pytest.raises(ConfigError) as err:
        load(file=file)
    assert str(err.value).startswith(f"{file}:3: unknown setting 'video.fsp': known settings in video are ")


def test_bad_yaml_value_has_file_and_line(tmp_path: Path) -> None:
    file = tmp_path / "c.yaml"
    file.write_text("record:\n  segment_seconds: 0\n")
    with pytest.raises(ConfigError) as err:
        load(file=file)
    assert str(err.value) == f"{file}:2: record.segment_seconds=0: expected seconds 1-3600"


def test_min_free_accepts_size_or_percent() -> None:
    assert load({"CAMSTREAM_RECORD_MIN_FREE": "5%"}).record.min_free == MinFree(percent=5.0)
    assert load({"CAMSTREAM_RECORD_MIN_FREE": "1GB"}).record.min_free == MinFree(bytes=10**9)
    assert MinFree(percent=5).required(1000) == 50


def test_example_file_documents_every_setting() -> None:
    """config/camstream.example.yaml is exactly what the schema renders, and loads back to the defaults."""
    example = ROOT / "config" / "camstream.example.yaml"
    assert example.read_text() == render_example()
    assert load(file=example) == load()


def test_state_dir_comes_from_the_injected_environment(tmp_path: Path) -> None:
    assert load({"XDG_RUNTIME_DIR": str(tmp_path)}).state_dir == tmp_path / "camstream"
    assert load({}).state_dir == Path("~/.local/state/camstream").expanduser()
    assert load({"XDG_RUNTIME_DIR": str(tmp_path), "CAMSTREAM_PATHS_STATE_DIR": "/srv/st"}).state_dir == Path("/srv/st")


def test_model_never_reads_os_environ(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from camstream.config import Config

    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    assert Config().state_dir == Path("~/.local/state/camstream").expanduser()
    assert load({}).state_dir == Path("~/.local/state/camstream").expanduser()
    assert "import os" not in (ROOT / "camstream" / "config" / "model.py").read_text()


def test_cli_help_is_the_settings_own_help() -> None:
    from typer.testing import CliRunner

    from camstream.cli import app
    from camstream.config import SETTINGS, help_for

    assert help_for("rtsp.port") == "RTSP port, 1-65535."
    assert help_for("rtmp.server", "turns RTMP on").endswith("rtmp://host/live (turns RTMP on).")
    assert help_for("video.fps").startswith(SETTINGS["video.fps"].help[0].upper() + SETTINGS["video.fps"].help[1:])
    result = CliRunner().invoke(app, ["run", "--help"], env={"COLUMNS": "400", "TERM": "dumb"})
    assert result.exit_code == 0
    flat = " ".join(result.output.split())
    for key in ("rtsp.port", "video.bitrate", "record.max_age", "watchdog.stall_seconds", "audio.input"):
        assert help_for(key) in flat, key
