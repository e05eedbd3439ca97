"""The supervisor dies (SIGKILL, OOM killer, crash): nothing it started survives it, and the next start works."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil

from _rtsp import RawRtsp
from camstream import proc
from support import ffprobe_stream, free_port, run_cli

SMALL = ["--source", "testsrc", "--resolution", "320x240", "--fps", "25", "--bitrate", "400k"]


def _settings(tmp_path: Path, rtsp: int, rtmp: int, stat: int) -> list[str]:
    return [*SMALL, "--rtsp", "--rtsp-server", "builtin", "--rtsp-port", str(rtsp), "--rtmp", "--rtmp-port",
            str(rtmp), "--rtmp-stat-port", str(stat), "--record", "--snapshots",
            "--ssd-path", str(tmp_path / "ssd"), "--state-dir", str(tmp_path / "state")]


def _describes(port: int) -> bool:
    try:
        client = RawRtsp(port)
    except OSError:
        return False
    try:
        status, _headers, body = client.request("DESCRIBE", headers={"Accept": "application/sdp"})
        return status == 200 and b"H264" in body
    except (OSError, ValueError):
        return False
    finally:
        client.close()


def _serves_rtsp(port: int) -> bool:
    return ffprobe_stream(f"rtsp://127.0.0.1:{port}/live", "-rtsp_transport", "tcp", timeout=10)\
        .get("codec_name") == "h264"


def test_sigkill_leaves_no_child_and_the_next_run_serves_at_once(camstream_run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    rtsp, rtmp, stat = free_port(), free_port(), free_port()
    first = camstream_run(*_settings(tmp_path, rtsp, rtmp, stat))
    first.wait_for(lambda: _serves_rtsp(rtsp), 40, "RTSP from the first run")
    # ffmpeg, the RTSP server, the nginx master and its worker
    children = first.wait_for(lambda: (lambda c: len(c) >= 4 and "nginx" in {p.name() for p in c} and c)(
        first.children()), 20, "all children")
    first.proc.send_signal(signal.SIGKILL)
    first.proc.wait(5)
    killed_at = time.monotonic()
    _gone, alive = psutil.wait_procs(children, timeout=3)
    assert not alive, f"alive 3 s after camstream was SIGKILLed: {[p.cmdline() for p in alive]}"
    assert time.monotonic() - killed_at <= 3.5

    second = camstream_run(*_settings(tmp_path, rtsp, rtmp, stat))
    started = time.monotonic()
    # "Serves" = DESCRIBE answered with the stream's SDP, which gst-rtsp-server sends only once the media
    # has its first keyframe; then a real client decodes it (not timed: ffprobe's analysis is its own cost).
    served_after = second.wait_for(lambda: _describes(rtsp) and time.monotonic() - started, 30,
                                   "RTSP from the second run")
    assert served_after <= 5.0, f"the second run served RTSP only after {served_after:.1f} s"
    assert _serves_rtsp(rtsp)
    assert "already in use" not in second.log()


def test_leftovers_of_a_killed_instance_are_stopped_and_nothing_else(camstream_run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    # Stand-ins for children of an instance that died before PR_SET_PDEATHSIG existed: a session leader
    # that is still alive, and a session whose leader is gone but whose member (like an nginx worker) is not.
    state = tmp_path / "state"
    state.mkdir()
    leader = subprocess.Popen(["sleep", "300"], start_new_session=True)
    orphan_parent = subprocess.Popen(["sh", "-c", "sleep 301 & echo $!; exec sleep 302"], start_new_session=True,
                                     stdout=subprocess.PIPE, text=True)
    assert orphan_parent.stdout is not None
    orphan = psutil.Process(int(orphan_parent.stdout.readline()))
    # Not ours: a process whose pid is in the file but whose command line differs (a reused pid).
    stranger = subprocess.Popen(["sleep", "303"], start_new_session=True)
    entries = [
        {"pid": leader.pid, "name": "ffmpeg", "create_time": psutil.Process(leader.pid).create_time(),
         "cmdline": ["sleep", "300"]},
        {"pid": orphan_parent.pid, "name": "nginx-rtmp",
         "create_time": psutil.Process(orphan_parent.pid).create_time(), "cmdline": ["sleep", "302"]},
        {"pid": stranger.pid, "name": "rtsp-server", "create_time": psutil.Process(stranger.pid).create_time(),
         "cmdline": ["ffmpeg", "-i", "something"]},
    ]
    try:
        orphan_parent.kill()
        orphan_parent.wait()
        (state / "children.json").write_text(json.dumps(entries))
        port = free_port()
        cs = camstream_run(*SMALL, "--rtsp", "--rtsp-port", str(port), "--no-record", "--no-snapshots",
                           "--ssd-path", str(tmp_path / "ssd"), "--state-dir", str(state))
        cs.wait_for(lambda: _serves_rtsp(port), 40, "RTSP")
        assert leader.wait(5) is not None
        assert not orphan.is_running()
        assert stranger.poll() is None, "a process camstream did not start was killed"
        log = cs.log()
        assert f"stopped ffmpeg (pid {leader.pid}) left running by an earlier camstream" in log
        assert f"stopped nginx-rtmp (pid {orphan_parent.pid})" in log
        assert "rtsp-server" not in log.split("stopped", 1)[-1].split("\n")[0]
        # The new instance records its own children for the next one.
        recorded = json.loads((state / "children.json").read_text())
        assert {e["name"] for e in recorded} >= {"ffmpeg", "builtin RTSP server"}
    finally:
        for p in (leader, stranger):
            p.kill()
            p.wait()
        try:
            orphan.kill()
        except psutil.NoSuchProcess:
            pass


def test_second_instance_refuses_and_leaves_the_first_alone(camstream_run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    port = free_port()
    args = [*SMALL, "--rtsp", "--rtsp-port", str(port), "--no-record", "--no-snapshots",
            "--ssd-path", str(tmp_path / "ssd"), "--state-dir", str(tmp_path / "state")]
    first = camstream_run(*args)
    first.wait_for(lambda: _serves_rtsp(port), 40, "RTSP from the first run")
    children = first.children()
    result = run_cli("run", *args, "--rtsp-port", str(free_port()))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"error: camstream is already running with state directory {tmp_path / 'state'} (pid {first.proc.pid}): "
        "stop it first, or give this one its own --state-dir"]
    assert first.proc.poll() is None
    assert all(p.is_running() for p in children)
    assert _serves_rtsp(port)


def test_child_whose_parent_died_before_prctl_kills_itself() -> None:
    # The fork -> prctl gap: a parent that is already gone (here: "expected parent" pid 1 is not ours).
    child = subprocess.Popen(["sleep", "30"], preexec_fn=proc.tie_to_parent(1, signal.SIGKILL))
    assert child.wait(5) == -signal.SIGKILL


def test_child_started_by_proc_dies_with_its_parent(tmp_path: Path) -> None:
    # A real intermediate parent that starts a proc.Child and is then SIGKILLed.
    script = ("import sys, time; from camstream import proc; c = proc.Child('sleeper', ['sleep', '60']); "
              "c.start(); print(c.pid, flush=True); time.sleep(60)")
    parent = subprocess.Popen([sys.executable,
                               "-c", script], stdout=subprocess.PIPE, text=True, start_new_session=True)
    assert parent.stdout is not None
    grandchild = psutil.Process(int(parent.stdout.readline()))
    parent.kill()
    parent.wait()
    _gone, alive = psutil.wait_procs([grandchild], timeout=3)
    assert not alive
