"""The builtin RTSP server counts as hung when its status stops changing, judged on the monotonic clock."""

from __future__ import annotations

import json
import os
from pathlib import Path

from camstream.servers.rtsp_builtin import HEARTBEAT_LINE, HUNG_S, STATUS_FILE_NAME, BuiltinRtspServer


def test_hung_after_status_stops_changing(tmp_path: Path) -> None:
    server = BuiltinRtspServer(port=8554, mount="/live", ingest_port=9000, state_dir=tmp_path)
    status = tmp_path / STATUS_FILE_NAME
    status.write_text(json.dumps({"updated_at": 1000.0}))
    assert server.hung(now=0.0) is None
    assert server.hung(now=HUNG_S) is None
    status.write_text(json.dumps({"updated_at": 1001.0}))  # it wrote again: alive
    assert server.hung(now=HUNG_S + 1) is None
    assert server.hung(now=2 * HUNG_S + 0.5) is None
    assert server.hung(now=2 * HUNG_S + 2) == f"hung (no status for {HUNG_S:g} s)"
    assert server.hung(now=2 * HUNG_S + 3) is None  # judged once; a fresh watch starts


def test_wall_clock_jump_is_not_a_hang(tmp_path: Path) -> None:
    server = BuiltinRtspServer(port=8554, mount="/live", ingest_port=9000, state_dir=tmp_path)
    status = tmp_path / STATUS_FILE_NAME
    for i, wall in enumerate([1000.0, 1001.0, 5000.0, 5001.0]):  # NTP stepped the clock by an hour
        status.write_text(json.dumps({"updated_at": wall}))
        assert server.hung(now=float(i)) is None


def test_a_touched_status_file_is_a_sign_of_life(tmp_path: Path) -> None:
    # A full state directory: the server cannot rewrite its status, only touch it. That is not a hang.
    server = BuiltinRtspServer(port=8554, mount="/live", ingest_port=9000, state_dir=tmp_path)
    status = tmp_path / STATUS_FILE_NAME
    status.write_text(json.dumps({"updated_at": 1000.0}))
    assert server.hung(now=0.0) is None
    for i in range(1, 4):
        os.utime(status, ns=(i * 10**9, i * 10**9))
        assert server.hung(now=i * HUNG_S) is None
    assert server.hung(now=5 * HUNG_S) == f"hung (no status for {HUNG_S:g} s)"  # then it stops: hung


def test_heartbeat_lines_are_a_sign_of_life(tmp_path: Path) -> None:
    # A read-only state directory: no status file at all, only the heartbeat the server prints on stdout.
    server = BuiltinRtspServer(port=8554, mount="/live", ingest_port=9000, state_dir=tmp_path)
    assert server.hung(now=0.0) is None
    for i in range(1, 4):
        server._on_stdout(HEARTBEAT_LINE)
        assert server.hung(now=i * HUNG_S) is None
    assert server.hung(now=5 * HUNG_S) == f"hung (no status for {HUNG_S:g} s)"
