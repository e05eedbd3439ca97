"""Credentials never reach logs, the mediamtx config (read password) is private from the first byte."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import pytest

from camstream import proc
from support import camstream_cmd, free_port, ROOT


@pytest.mark.parametrize(("text", "expected"), [
    pytest.param("rtmp://cam:topsecret@h/live", "rtmp://***:***@h/live", id="userinfo"),
    pytest.param("srt://h:9000?mode=caller&passphrase=verysecret123", "srt://h:9000?mode=caller&passphrase=***",
                 id="srt-passphrase"),
    pytest.param("[f=mpegts]srt://h:1?passphrase=abc\\:def|[f=flv]rtmp://h/x",
                 "[f=mpegts]srt://h:1?passphrase=***|[f=flv]rtmp://h/x", id="inside-tee"),
    pytest.param("rtsp://h/live?user=a", "rtsp://h/live?user=a", id="nothing-secret"),
])
def test_scrub(text: str, expected: str) -> None:
    assert proc.scrub(text) == expected


@pytest.mark.slow
def test_debug_log_of_a_real_run_carries_no_credentials(tmp_path: Path) -> None:
    env = {**os.environ, "CAMSTREAM_RTSP_USER": "viewer", "CAMSTREAM_RTSP_PASSWORD": "rtsp-pw-42"}
    argv = camstream_cmd(
        "run", "-vv", "--source", "testsrc", "--resolution", "320x240", "--fps", "10", "--no-record",
        "--no-snapshots", "--rtsp", "--rtsp-port", str(free_port()),
        "--server", f"rtmp://camuser:topsecret@127.0.0.1:{free_port()}/live",
        "--srt-url", f"srt://127.0.0.1:{free_port()}?mode=caller&passphrase=verysecret123",
        "--ssd-path", str(tmp_path / "ssd"), "--state-dir", str(tmp_path / "state"), "--duration", "4")
    result = subprocess.run(argv, capture_output=True, text=True, timeout=90, env=env, cwd=ROOT,
                            stdin=subprocess.DEVNULL)
    out = result.stdout + result.stderr
    assert result.returncode == 0, out
    assert "ffmpeg command: " in out and "start ffmpeg: " in out  # the debug lines are there ...
    for secret in ("topsecret", "verysecret123", "rtsp-pw-42"):  # ... and hide every secret
        assert secret not in out
    assert "rtmp://***:***@127.0.0.1" in out and "passphrase=***" in out


MEDIAMTX_STANDIN = """#!/bin/sh
# Stand-in for the mediamtx binary (not installed here): records how its config looked when it started.
if [ "$1" = "--version" ]; then echo v1.9.3; exit 0; fi
stat -c %a "$1" > "{out}/mode"
cp "$1" "{out}/seen.yml"
exit 1
"""


@pytest.mark.slow
def test_mediamtx_config_is_written_once_with_mode_0600(tmp_path: Path) -> None:
    standin = tmp_path / "mediamtx"
    standin.write_text(MEDIAMTX_STANDIN.format(out=tmp_path))
    standin.chmod(0o755)
    state = tmp_path / "state"
    env = {**os.environ, "CAMSTREAM_RTSP_MEDIAMTX_PATH": str(standin), "CAMSTREAM_RTSP_USER": "viewer",
           "CAMSTREAM_RTSP_PASSWORD": "mtx-pw-42"}
    argv = camstream_cmd("run", "--source", "testsrc", "--no-record", "--no-snapshots", "--rtsp",
                         "--rtsp-server", "mediamtx", "--rtsp-port", str(free_port()),
                         "--ssd-path", str(tmp_path / "ssd"), "--state-dir", str(state), "--duration", "3")
    # umask 0: a file created without an explicit mode would be world-readable.
    result = subprocess.run(argv, capture_output=True, text=True, timeout=90, env=env, cwd=ROOT,
                            stdin=subprocess.DEVNULL, preexec_fn=lambda: os.umask(0))
    assert result.returncode != 0  # the stand-in never serves; what matters is what it was given
    assert "mtx-pw-42" in (tmp_path / "seen.yml").read_text()
    assert (tmp_path / "mode").read_text().strip() == "600"
    conf = state / "mediamtx" / "mediamtx.yml"
    assert stat.S_IMODE(conf.stat().st_mode) == 0o600
    assert sorted(p.name for p in conf.parent.iterdir()) == ["mediamtx.yml"]  # no temp copy left behind


@pytest.mark.slow
def test_mediamtx_config_is_never_world_readable_even_when_the_server_cannot_start(tmp_path: Path) -> None:
    # The server refuses to start (its API port is taken) after the run began: the CLI used to have written
    # mediamtx.yml with default permissions by then; now only the server writes it, created 0600.
    import socket

    from camstream.servers.mediamtx import DEFAULT_API_PORT

    standin = tmp_path / "mediamtx"
    standin.write_text(MEDIAMTX_STANDIN.format(out=tmp_path))
    standin.chmod(0o755)
    state = tmp_path / "state"
    env = {**os.environ, "CAMSTREAM_RTSP_MEDIAMTX_PATH": str(standin), "CAMSTREAM_RTSP_USER": "viewer",
           "CAMSTREAM_RTSP_PASSWORD": "mtx-pw-42"}
    argv = camstream_cmd("run", "--source", "testsrc", "--no-record", "--no-snapshots", "--rtsp",
                         "--rtsp-server", "mediamtx", "--rtsp-port", str(free_port()),
                         "--ssd-path", str(tmp_path / "ssd"), "--state-dir", str(state), "--duration", "3")
    with socket.socket() as busy:
        busy.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            busy.bind(("127.0.0.1", DEFAULT_API_PORT))
            busy.listen()
        except OSError:
            pass  # already taken by someone else: just as good
        result = subprocess.run(argv, capture_output=True, text=True, timeout=90, env=env, cwd=ROOT,
                                stdin=subprocess.DEVNULL, preexec_fn=lambda: os.umask(0))
    assert result.returncode != 0
    assert f"port {DEFAULT_API_PORT} is already in use" in result.stderr
    conf = state / "mediamtx" / "mediamtx.yml"
    assert not conf.exists() or stat.S_IMODE(conf.stat().st_mode) == 0o600
