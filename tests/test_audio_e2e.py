"""Sound end to end (issue 14): every live output and the chunks carry AAC that real clients decode."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import pytest

from camstream.supervise import read_status
from pulse import MONITOR, Pulse
from support import free_port

pytestmark = pytest.mark.slow

SMALL = ("--resolution", "320x240", "--fps", "25", "--bitrate", "500k", "--segment-seconds", "2")


def streams(url: str, *extra: str) -> list[str]:
    """codec_name of every stream ffprobe sees at `url`."""
    out = subprocess.run(["ffprobe", "-v", "error", *extra, "-show_entries", "stream=codec_name", "-of", "json", url],
                         capture_output=True, text=True, timeout=20, stdin=subprocess.DEVNULL)
    return [s["codec_name"] for s in json.loads(out.stdout or "{}").get("streams", [])]


def decode_audio(url: str, *extra: str, seconds: float = 3) -> tuple[float, str]:
    """Decode `seconds` of the audio at `url` with FFmpeg: (seconds of audio decoded, error output)."""
    out = subprocess.run(
        ["ffmpeg", "-v", "error", *extra, "-i", url, "-map", "0:a:0", "-t", f"{seconds:g}", "-f", "s16le",
         "-ac", "1", "-ar", "8000", "pipe:1"],
        capture_output=True, timeout=30, stdin=subprocess.DEVNULL,
    )
    # The raw muxer of this probe complains when a live client clamps the first packets' timestamps (RTSP
    # before the first RTCP sender report); that is about our output file, not a decoding error.
    lines = [ln for ln in out.stderr.decode(errors="replace").splitlines()
             if ln.strip() and "non monotonically increasing dts to muxer" not in ln and "Last message repeated" not in ln]
    return len(out.stdout) / 16000, "\n".join(lines)


def gst_decode_audio(url: str, protocols: str, tmp: Path) -> float:
    """Seconds of audio a GStreamer RTSP client (rtspsrc -> rtpmp4gdepay -> avdec_aac) decoded in ~3 s."""
    wav = tmp / f"gst-{protocols}.wav"
    player = subprocess.Popen(
        ["gst-launch-1.0", "-q", "-e", "rtspsrc", f"location={url}", f"protocols={protocols}", "latency=100",
         "name=r", "r.", "!", "application/x-rtp,media=audio", "!", "rtpmp4gdepay", "!", "aacparse", "!",
         "avdec_aac", "!", "audioconvert", "!", "audio/x-raw,format=S16LE", "!", "wavenc", "!", "filesink",
         f"location={wav}", "r.", "!", "application/x-rtp,media=video", "!", "fakesink"],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True,
    )
    try:
        time.sleep(4)
        player.send_signal(signal.SIGINT)  # -e: EOS on interrupt, so wavenc finishes the file
        player.wait(10)
    finally:
        if player.poll() is None:
            player.kill()
            player.wait()
    probe = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0",
                            str(wav)], capture_output=True, text=True, timeout=20)
    return float(probe.stdout.strip() or 0)


def file_with_sound(path: Path) -> Path:
    """A 6-second clip with H.264 video and an AAC tone."""
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25",
                    "-f", "lavfi", "-i", "sine=frequency=700:sample_rate=48000", "-t", "6", "-c:v", "libx264",
                    "-g", "25", "-c:a", "aac", str(path)], check=True, timeout=60)
    return path


@pytest.mark.parametrize("kind", ["file", "pulse"])
def test_every_output_carries_decodable_audio(kind: str, request: pytest.FixtureRequest, camstream_run,  # type: ignore[no-untyped-def]
                                              tmp_path: Path) -> None:
    env: dict[str, str] = {}
    if kind == "file":
        args = ["--source", str(file_with_sound(tmp_path / "clip.mp4")), "--audio", "source"]
    else:
        pulse: Pulse = request.getfixturevalue("pulse")
        pulse.play_tone()
        env = pulse.env()
        args = ["--source", "testsrc", "--audio", f"pulse:{MONITOR}"]
    rtsp, rtmp, srt = free_port(), free_port(), free_port()
    received = tmp_path / "srt.ts"
    listener = subprocess.Popen(
        ["ffmpeg", "-v", "error", "-i", f"srt://127.0.0.1:{srt}?mode=listener", "-t", "5", "-c", "copy",
         "-f", "mpegts", str(received)], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    ssd = tmp_path / "ssd"
    try:
        cs = camstream_run(*SMALL, *args, "--rtsp", "--rtsp-server", "builtin", "--rtsp-port", str(rtsp), "--rtmp",
                           "--rtmp-port", str(rtmp), "--rtmp-stat-port", str(free_port()), "--no-snapshots",
                           "--srt-url", f"srt://127.0.0.1:{srt}?mode=caller", "--ssd-path", str(ssd),
                           "--state-dir", str(tmp_path / "state"), env=env)
        rtsp_url = f"rtsp://127.0.0.1:{rtsp}/live"
        rtmp_url = f"rtmp://127.0.0.1:{rtmp}/live/cam"
        cs.wait_for(lambda: "aac" in streams(rtsp_url, "-rtsp_transport", "tcp"), 30, "AAC over RTSP")
        for transport in ("udp", "tcp"):
            assert sorted(streams(rtsp_url, "-rtsp_transport", transport)) == ["aac", "h264"], transport
            seconds, errors = decode_audio(rtsp_url, "-rtsp_transport", transport)
            assert seconds >= 2.5 and not errors, (transport, seconds, errors)
            assert gst_decode_audio(rtsp_url, transport, tmp_path) >= 1.5, transport
        assert sorted(streams(rtmp_url)) == ["aac", "h264"]
        seconds, errors = decode_audio(rtmp_url)
        assert seconds >= 2.5 and not errors, (seconds, errors)
        listener.wait(30)
        chunks = cs.wait_for(lambda: sorted(p for p in (ssd / "video").glob("*.mp4")), 20, "a finished chunk")
        status = read_status(tmp_path / "state")
        assert status is not None and status["audio"]["codec"] == "aac" and status["audio"]["state"] == "live"
        if kind == "pulse":  # the feeder meters the microphone: a -20 dB sine is about -23 dBFS
            assert -35 < status["audio"]["level_dbfs"] < -10, status["audio"]
        assert cs.stop() == 0
    finally:
        if listener.poll() is None:
            listener.kill()
        listener.wait()
    assert sorted(streams(str(received))) == ["aac", "h264"]
    seconds, errors = decode_audio(str(received), seconds=10)
    assert seconds >= 3 and not errors, (seconds, errors)
    for chunk in chunks[:2]:
        assert sorted(streams(str(chunk))) == ["aac", "h264"]
        seconds, errors = decode_audio(str(chunk), seconds=10)
        assert seconds >= 1.5 and not errors, (chunk.name, seconds, errors)
