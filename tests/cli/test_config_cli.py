"""`camstream config show` (every setting with its source) and `config check FILE` (every error class: exit 2,
one line with FILE:LINE), through the CLI's own error handling (issue 16)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from camstream.cli._app import run_app
from camstream.config import SETTINGS


def _cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = run_app(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for setting in SETTINGS.values():
        for name in (*setting.env, setting.generic_env):
            monkeypatch.delenv(name, raising=False)


CONFIG = """\
# front camera
video:
  fps: 25
  width: 1920
  height: 1080
rtsp:
  user: viewer
  password: s3cret
rtmp:
  enabled: true
  server: rtmp://me:pw@ingest.example/live
record:
  max_age: 7d
"""


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    _clean_env(monkeypatch)
    monkeypatch.chdir(tmp_path)  # no ./camstream.yaml to pick up
    path = tmp_path / "cam.yaml"
    path.write_text(CONFIG)
    return path


def test_show_names_the_source_of_every_value(config: Path, monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("VIDEO_WIDTH", "1280")  # the first seed's name beats the file
    monkeypatch.setenv("CAMSTREAM_VIDEO_BITRATE", "3M")
    monkeypatch.setenv("VIDEO_FPS", "20")  # ... and a flag beats the environment
    code, out, err = _cli(capsys, "config", "show", "--config", str(config), "--fps", "15", "--json")
    assert (code, err) == (0, "")
    got = {row["key"]: (row["value"], row["source"]) for row in json.loads(out)}
    assert list(got) == list(SETTINGS)
    assert got["video.fps"] == ("15", "flag --fps")
    assert got["video.width"] == ("1280", "env VIDEO_WIDTH")
    assert got["video.height"] == ("1080", f"{config}:5")
    assert got["video.bitrate"] == ("3000000", "env CAMSTREAM_VIDEO_BITRATE")
    assert got["rtsp.user"] == ("viewer", f"{config}:7")
    assert got["rtsp.password"] == ("***", f"{config}:8")
    assert got["rtmp.server"] == ("rtmp://***:***@ingest.example/live", f"{config}:11")
    assert got["record.max_age"] == ("604800", f"{config}:13")
    assert got["rtsp.port"] == ("8554", "default")
    assert got["record.max_size"] == ("", "default")


def test_show_text_and_changed_only(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _cli(capsys, "config", "show", "--config", str(config), "--changed", "--rtsp-port", "9000",
                          "--no-record")
    assert (code, err) == (0, "")
    lines = [line.split() for line in out.splitlines()]
    assert [cells[0] for cells in lines] == ["video.width", "video.height", "video.fps", "rtsp.port", "rtsp.user",
                                            "rtsp.password", "rtmp.enabled", "rtmp.server", "record.enabled",
                                            "record.max_age"]
    assert lines[3] == ["rtsp.port", "9000", "flag", "--rtsp-port"]
    assert lines[8] == ["record.enabled", "false", "flag", "--no-record"]
    assert lines[0] == ["video.width", "1920", f"{config}:4"]


def test_show_reports_bad_input_like_run(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _cli(capsys, "config", "show", "--config", str(config), "--fps", "0") == (
        2, "", "error: --fps 0: expected a whole number 1-240\n")


def test_check_ok(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _cli(capsys, "config", "check", str(config)) == (
        0, f"{config}: ok (8 settings set, the rest at their defaults)\n", "")


def test_check_ignores_the_environment(config: Path, monkeypatch: pytest.MonkeyPatch,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    # A check is about the file: a bad value in this shell's environment is not the file's fault.
    monkeypatch.setenv("VIDEO_FPS", "abc")
    assert _cli(capsys, "config", "check", str(config))[0] == 0


@pytest.mark.parametrize(("text", "message"), [
    pytest.param("video:\n  fps: 25\n   width: 640\n", "{f}:3: not valid YAML (mapping values are not allowed here): "
                 "fix the syntax", id="yaml-syntax"),
    pytest.param("video:\n  fps: [25\n", "{f}:3: not valid YAML (expected ',' or ']', but got '<stream end>'): "
                 "fix the syntax", id="yaml-unclosed"),
    pytest.param("- video\n- rtsp\n", "{f}:1: expected a mapping of settings at the top level", id="not-a-mapping"),
    pytest.param("source: testsrc\nvidoe:\n  fps: 25\n", "{f}:2: unknown setting 'vidoe': known settings at the top "
                 "level are ", id="unknown-section"),
    pytest.param("video:\n  fps: 25\n  framerate: 30\n", "{f}:3: unknown setting 'video.framerate': known settings "
                 "in video are ", id="unknown-key"),
    pytest.param("rtsp: true\n", "{f}:1: 'rtsp' is a section, not a value: put its settings on the lines below it, "
                 "indented (e.g. '  enabled: ...')", id="section-as-value"),
    pytest.param("video:\n  fps: 25\n  fps: 30\n", "{f}:3: 'video.fps' is given twice (first at line 2): keep one",
                 id="duplicate-key"),
    pytest.param("record:\n  enabled: true\nrecord:\n  max_age: 7d\n", "{f}:3: 'record' is given twice (first at "
                 "line 2): keep one", id="duplicate-section"),
    pytest.param("source: !!python/object:os.system {}\n", "{f}:1: source: not a plain YAML value (could not determine"
                 " a constructor for the tag 'tag:yaml.org,2002:python/object:os.system'): write a number, word, "
                 "quoted string or list", id="unsafe-tag"),
    pytest.param("\nvideo:\n  fps: fast\n", "{f}:3: video.fps=fast: expected a whole number 1-240", id="bad-number"),
    pytest.param("record:\n  max_size: lots\n", "{f}:2: record.max_size=lots: expected a size like 500MB, 20GB or 1TB",
                 id="bad-size"),
    pytest.param("record:\n  max_age: 1 week\n", "{f}:2: record.max_age=1 week: expected a duration like 90s, 30m, "
                 "12h or 7d", id="bad-duration"),
    pytest.param("rtsp:\n  port: 70000\n", "{f}:2: rtsp.port=70000: expected a whole number 1-65535", id="bad-port"),
    pytest.param("rtsp:\n  enabled: maybe\n", "{f}:2: rtsp.enabled=maybe: expected 1/0, true/false, yes/no or on/off",
                 id="bad-switch"),
    pytest.param("rtsp:\n  server: external\n", "{f}:2: rtsp.server=external needs rtsp.url: give --rtsp-url "
                 "rtsp://host:port/path", id="cross-external-rtsp"),
    pytest.param("srt:\n  enabled: true\n", "{f}:2: srt.url: expected a URL like srt://10.0.0.2:9000 when SRT is on "
                 "(--srt-url)", id="cross-srt"),
    pytest.param("rtsp:\n  password: x\n", "{f}:2: rtsp.user and rtsp.password: set both or neither",
                 id="cross-credentials"),
    pytest.param("rtsp: {enabled: false}\nrecord: {enabled: false}\nsnapshots: {enabled: false}\n",
                 "{f}:1: every output is off: turn on at least one of --rtsp, --rtmp, --srt, --record, --snapshots",
                 id="cross-no-output"),
])
def test_check_every_error_class_exits_2_with_file_and_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                            capsys: pytest.CaptureFixture[str], text: str,
                                                            message: str) -> None:
    _clean_env(monkeypatch)
    path = tmp_path / "cam.yaml"
    path.write_text(text)
    code, out, err = _cli(capsys, "config", "check", str(path))
    assert (code, out) == (2, "")
    assert err.startswith("error: " + message.format(f=path)), err
    assert err.count("\n") == 1  # one line, no traceback


def test_check_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _cli(capsys, "config", "check", str(tmp_path / "nope.yaml")) == (
        2, "", f"error: {tmp_path}/nope.yaml: no such file: give the path of a camstream YAML file\n")
