"""`camstream probe` against a real `camstream run`: builtin RTSP (UDP, TCP), managed nginx-rtmp, and latency."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from support import free_port, run_cli


@pytest.fixture(scope="module")
def stamped(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """One clock-stamped testsrc run serving RTSP (builtin) and RTMP (managed nginx) for the whole module."""
    from support import Camstream

    tmp = tmp_path_factory.mktemp("probe-e2e")
    rtsp_port, rtmp_port = free_port(), free_port()
    cs = Camstream(["--source", "testsrc", "--clock", "--resolution", "640x360", "--fps", "25", "--rtsp",
                    "--rtsp-port", str(rtsp_port), "--rtmp", "--rtmp-port", str(rtmp_port), "--rtmp-stat-port", str(free_port()), "--no-record",
                    "--no-snapshots", "--ssd-path", str(tmp / "ssd"), "--state-dir", str(tmp / "state")],
                   tmp / "camstream.log")
    cs.rtsp = f"rtsp://127.0.0.1:{rtsp_port}/live"
    cs.rtmp = f"rtmp://127.0.0.1:{rtmp_port}/live/cam"
    try:
        cs.wait_for(lambda: "rtsp-server: listening" in cs.log(), 30, "the RTSP server")
        yield cs
    finally:
        cs.stop()
        cs.kill()


def probe(url: str, *extra: str) -> tuple[int, dict]:  # type: ignore[type-arg]
    result = run_cli("probe", url, "--seconds", "4", "--json", *extra, timeout=60)
    return result.returncode, json.loads(result.stdout)


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_probe_builtin_rtsp_with_latency(stamped, transport: str) -> None:  # type: ignore[no-untyped-def]
    code, data = probe(stamped.rtsp, "--transport", transport, "--latency")
    assert code == 0, data
    assert (data["codec"], data["width"], data["height"], data["transport"]) == ("h264", 640, 360, transport)
    assert abs(data["fps"] - 25) < 0.5 and data["frames"] > 50 and 0 < data["time_to_first_frame"] < 5
    lat = data["latency"]
    assert lat["samples"] >= 0.9 * data["frames"], lat  # the stamp survives the encode on (nearly) every frame
    assert 0 < lat["p50_ms"] <= lat["p99_ms"] <= lat["max_ms"] < 1000


def test_probe_managed_rtmp(stamped) -> None:  # type: ignore[no-untyped-def]
    code, data = probe(stamped.rtmp, "--latency")
    assert code == 0, data
    assert (data["codec"], data["width"], data["height"], data["transport"]) == ("h264", 640, 360, "tcp")
    assert 0 < data["latency"]["p50_ms"] < 1000


def test_probe_wrong_path_is_not_found(stamped) -> None:  # type: ignore[no-untyped-def]
    code, data = probe(stamped.rtsp.replace("/live", "/nope"), "--transport", "tcp")
    assert code == 1 and data["reason"] == "not found"
