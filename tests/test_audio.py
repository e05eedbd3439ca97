"""Sound (issue 14): settings, the device reader's argv, the builtin RTSP server's audio branch, the feeder."""

from __future__ import annotations

import math
import os
import struct
import time
from pathlib import Path

import pytest

from camstream import audio
from camstream.config import AudioConfig, load_config
from camstream.errors import ConfigError, SourceError
from camstream.servers import rtsp_builtin
from pulse import MONITOR, Pulse


def cfg_audio(**flags: str) -> AudioConfig:
    """AudioConfig from dotted settings, through the one loader."""
    return load_config(env={}, flags={k: (k, v) for k, v in flags.items()}, search_defaults=False).audio


@pytest.mark.parametrize("spec", ["none", "source", "pulse:mic.monitor", "pulse:alsa_input.usb-0d8c_C-Media.mono",
                                  "default", "hw:1,0", "plughw:CARD=Device,DEV=0", "sysdefault:CARD=1"])
def test_audio_specs_accepted(spec: str) -> None:
    assert cfg_audio(**{"audio.input": spec}).input == spec


@pytest.mark.parametrize(("key", "value", "message"), [
    pytest.param("audio.input", "mic", "expected none, source, pulse:NAME", id="bare-word"),
    pytest.param("audio.input", "pulse:", "expected none, source, pulse:NAME", id="empty-pulse"),
    pytest.param("audio.input", "hw:1;rm", "expected none, source, pulse:NAME", id="shell-chars"),
    pytest.param("audio.rate", "1000", "expected a whole number 8000-192000", id="rate"),
    pytest.param("audio.channels", "9", "expected auto or a whole number 1-8", id="channels"),
    pytest.param("audio.bitrate", "1k", "expected bits per second", id="bitrate"),
])
def test_bad_audio_settings_are_one_line_errors(key: str, value: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as err:
        cfg_audio(**{key: value})
    assert "\n" not in str(err.value)


def test_env_names() -> None:
    env = {"CAMSTREAM_AUDIO_INPUT": "hw:2,0", "CAMSTREAM_AUDIO_RATE": "44100", "CAMSTREAM_AUDIO_CHANNELS": "2",
           "CAMSTREAM_AUDIO_BITRATE": "128k"}
    a = load_config(env=env, search_defaults=False).audio
    assert (a.input, a.rate, a.layout_channels, a.bitrate) == ("hw:2,0", 44100, 2, 128000)


def test_yaml(tmp_path: Path) -> None:
    file = tmp_path / "c.yaml"
    file.write_text("audio:\n  input: pulse:mic.monitor\n  channels: auto\n")
    a = load_config(config_file=file, env={}).audio
    assert (a.input, a.layout_channels, a.enabled, a.is_device) == ("pulse:mic.monitor", 1, True, True)


def test_defaults_mono_for_microphones_stereo_for_a_track() -> None:
    assert AudioConfig().enabled is False
    assert cfg_audio(**{"audio.input": "hw:1,0"}).layout_channels == 1
    assert cfg_audio(**{"audio.input": "source"}).layout_channels == 2


HEAD = ["ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error"]


@pytest.mark.parametrize(("spec", "expected"), [
    pytest.param("pulse:mic.monitor",
                 [*HEAD, "-f", "pulse", "-name", "camstream", "-fragment_size", "1920", "-sample_rate", "48000",
                  "-channels", "1", "-i", "mic.monitor", "-f", "s16le", "-ac", "1", "-ar", "48000",
                  "-flush_packets", "1", "pipe:1"], id="pulse"),
    pytest.param("hw:1,0",
                 [*HEAD, "-f", "alsa", "-sample_rate", "48000", "-channels", "1", "-i", "hw:1,0",
                  "-f", "s16le", "-ac", "1", "-ar", "48000", "-flush_packets", "1", "pipe:1"], id="alsa-hw"),
    pytest.param("plughw:CARD=Device,DEV=0",
                 [*HEAD, "-f", "alsa", "-sample_rate", "48000", "-channels", "1", "-i", "plughw:CARD=Device,DEV=0",
                  "-f", "s16le", "-ac", "1", "-ar", "48000", "-flush_packets", "1", "pipe:1"], id="alsa-plughw"),
    pytest.param("default",
                 [*HEAD, "-f", "alsa", "-sample_rate", "48000", "-channels", "1", "-i", "default",
                  "-f", "s16le", "-ac", "1", "-ar", "48000", "-flush_packets", "1", "pipe:1"], id="alsa-default"),
])
def test_device_reader_argv(spec: str, expected: list[str]) -> None:
    assert audio.device_argv("ffmpeg", cfg_audio(**{"audio.input": spec})) == expected


def test_device_check_argv() -> None:
    a = cfg_audio(**{"audio.input": "hw:1,0", "audio.rate": "44100", "audio.channels": "2"})
    assert audio.device_argv("ffmpeg", a, seconds=0.5) == [
        *HEAD, "-f", "alsa", "-sample_rate", "44100", "-channels", "2", "-i", "hw:1,0",
        "-t", "0.5", "-af", "volumedetect", "-f", "null", "-"]


def test_parse_volumedetect() -> None:
    text = "[Parsed_volumedetect_0 @ 0x1] n_samples: 24000\n[Parsed_volumedetect_0 @ 0x1] mean_volume: -23.4 dB\n"
    assert audio.parse_volumedetect(text) == -23.4
    assert audio.parse_volumedetect("nothing") is None


def test_level_dbfs() -> None:
    full = struct.pack("<4800h", *([32767, -32767] * 2400))
    assert audio.level_dbfs(full) == pytest.approx(0, abs=0.01)
    tone = struct.pack("<4800h", *(int(3276.7 * math.sin(i / 7)) for i in range(4800)))
    assert audio.level_dbfs(tone) == pytest.approx(-23, abs=0.5)  # -20 dB peak sine = -23 dBFS RMS
    assert audio.level_dbfs(bytes(960)) == audio.SILENCE_DBFS


def test_rtsp_server_audio_flag_and_pipelines() -> None:
    argv = rtsp_builtin.server_argv("py", address="0.0.0.0", port=8554, mount="/live", ingest_port=9, audio=True)
    assert argv[-1] == "--audio"
    assert rtsp_builtin.parse_args(["--ingest-port", "9", "--audio"]).audio is True
    pytest.importorskip("gi")
    from camstream.servers import rtsp_gst

    assert rtsp_gst.ingest_description(9, audio=True) == (
        "tcpserversrc name=src host=127.0.0.1 port=9 ! tsdemux name=demux "
        "demux. ! video/x-h264 ! queue ! capssetter caps=video/x-h264,alignment=au ! "
        "h264parse config-interval=-1 ! video/x-h264,stream-format=byte-stream,alignment=au ! "
        "appsink name=sink sync=false max-buffers=100 drop=true emit-signals=true "
        "demux. ! audio/mpeg ! queue ! aacparse ! audio/mpeg,mpegversion=4,stream-format=raw ! "
        "appsink name=asink sync=false max-buffers=100 drop=true emit-signals=true"
    )
    assert rtsp_gst.media_description(audio=True) == (
        "( appsrc name=src is-live=true format=time do-timestamp=true block=false ! "
        "h264parse config-interval=-1 ! rtph264pay name=pay0 pt=96 config-interval=0 "
        "appsrc name=asrc is-live=true format=time do-timestamp=true block=false ! rtpmp4gpay name=pay1 pt=97 )"
    )
    assert "asrc" not in rtsp_gst.media_description()


# -- real devices (PulseAudio null sink) ---------------------------------------------------------------------


@pytest.mark.slow
def test_check_device_reads_a_real_source_and_names_a_missing_one(pulse: Pulse, monkeypatch: pytest.MonkeyPatch) -> None:
    for k, v in pulse.env().items():
        monkeypatch.setenv(k, v)
    pulse.play_tone()
    level = audio.check_device("ffmpeg", cfg_audio(**{"audio.input": f"pulse:{MONITOR}"}), seconds=1.0)
    assert level is not None and -40 < level < 0
    with pytest.raises(SourceError, match=r"audio pulse:nosuch: cannot capture from it .*`camstream devices`"):
        audio.check_device("ffmpeg", cfg_audio(**{"audio.input": "pulse:nosuch"}))


@pytest.mark.slow
def test_feeder_relays_sound_and_sends_silence_while_the_device_is_gone(pulse: Pulse, tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """The feeder's pipe never stops: tone while the daemon runs, silence while it is down, tone again after."""
    for k, v in pulse.env().items():
        monkeypatch.setenv(k, v)
    pulse.play_tone()
    feeder = audio.Feeder("ffmpeg", cfg_audio(**{"audio.input": f"pulse:{MONITOR}"}), tmp_path / "a.pcm")
    feeder.start()
    fd = os.open(tmp_path / "a.pcm", os.O_RDONLY)  # blocks until the feeder opens it for writing
    try:
        def read_for(seconds: float) -> bytes:
            out = bytearray()
            end = time.monotonic() + seconds
            while time.monotonic() < end:
                out += os.read(fd, 65536)
            return bytes(out)

        def until_live() -> None:
            deadline = time.monotonic() + 5  # the device reader needs ~1-2 s to deliver its first samples
            while time.monotonic() < deadline and feeder.status().state != "live":
                read_for(0.2)
            assert feeder.status().state == "live"

        def loudest(pcm: bytes) -> float:  # the loudest 100 ms: robust to a player stalled by a busy machine
            return max(audio.level_dbfs(pcm[i:i + 9600]) for i in range(0, len(pcm) - 9599, 9600))

        until_live()
        first = read_for(2.0)
        assert loudest(first) > -40
        pulse.stop()  # the device vanishes (daemon gone)
        gone = read_for(3.0)
        assert feeder.status().state == "silence"
        assert len(gone) >= 0.8 * 3.0 * 96000  # data kept coming at about the nominal rate
        assert audio.level_dbfs(gone[-9600:]) == audio.SILENCE_DBFS
        pulse.start()
        pulse.play_tone()
        until_live()  # back within 5 s
        back = read_for(2.0)
        assert loudest(back) > -40
        assert feeder.status().last_error
    finally:
        feeder.stop()
        os.close(fd)


@pytest.mark.slow
@pytest.mark.parametrize("spec", ["pulse:nosuch", "hw:9,0"])
def test_missing_device_at_start_is_one_line_exit_2(pulse: Pulse, tmp_path: Path, spec: str) -> None:
    from support import run_cli

    result = run_cli("run", "--source", "testsrc", "--audio", spec, "--no-rtsp", "--no-snapshots",
                     "--ssd-path", str(tmp_path / "ssd"), "--state-dir", str(tmp_path / "st"), "--duration", "5",
                     env=pulse.env())
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: audio {spec}: cannot capture from it"), lines
    assert "`camstream devices`" in lines[0]
    assert not (tmp_path / "ssd" / "video").exists() or not any((tmp_path / "ssd" / "video").iterdir())


# -- `camstream devices`: sound capture devices, parsed from real outputs ------------------------------------

from camstream import audio_devices  # noqa: E402
from camstream.audio_devices import AudioDevice  # noqa: E402

AUDIO_FIXTURES = Path(__file__).parent / "fixtures" / "audio"


@pytest.mark.parametrize(("fixture", "expected"), [
    pytest.param("arecord_pi_webcam_mic.txt",
                 [AudioDevice("plughw:CARD=Camera,DEV=0", "Vimicro USB2.0 UVC Camera: USB Audio", "also hw:1,0")],
                 id="pi-webcam-mic"),
    pytest.param("arecord_i2s_and_usb.txt",
                 [AudioDevice("plughw:CARD=i2smic,DEV=0", "i2smic: bcm2835-i2s-dir-hifi dir-hifi-0", "also hw:2,0"),
                  AudioDevice("plughw:CARD=Creation,DEV=0", "Cable Creation: USB Audio", "also hw:3,0")],
                 id="i2s-and-usb"),
    pytest.param("arecord_none.txt", [], id="no-cards-here"),
])
def test_parse_arecord(fixture: str, expected: list[AudioDevice]) -> None:
    assert audio_devices.parse_arecord_list((AUDIO_FIXTURES / fixture).read_text()) == expected


def test_parse_pactl_sources() -> None:
    here = audio_devices.parse_pactl_sources((AUDIO_FIXTURES / "pactl_short_sources.txt").read_text())
    assert here == [AudioDevice("pulse:mic.monitor", "monitor of an output, s16le 2ch 48000Hz", "idle"),
                    AudioDevice("pulse:room.monitor", "monitor of an output, s16le 2ch 44100Hz", "idle")]
    usb = audio_devices.parse_pactl_sources((AUDIO_FIXTURES / "pactl_usb_headset.txt").read_text())
    assert usb[-1] == AudioDevice("pulse:alsa_input.usb-Logitech_Logitech_USB_Headset-00-Headset.analog-mono",
                                  "input, s16le 1ch 48000Hz", "running")
    for dev in [*here, *usb]:
        assert load_config(env={}, flags={"audio.input": ("--audio", dev.spec)}, search_defaults=False)


def test_list_and_format() -> None:
    outputs = {"arecord": (0, (AUDIO_FIXTURES / "arecord_pi_webcam_mic.txt").read_text()),
               "pactl": (1, "")}
    found = audio_devices.list_audio_devices(lambda argv: outputs[argv[0]])
    assert audio_devices.format_audio_devices(found) == (
        "sound (use with --audio):\n  plughw:CARD=Camera,DEV=0  Vimicro USB2.0 UVC Camera: USB Audio (also hw:1,0)\n")


@pytest.mark.slow
def test_cli_devices_lists_a_real_pulseaudio_source(pulse: Pulse, tmp_path: Path) -> None:
    from support import run_cli

    (tmp_path / "root/dev").mkdir(parents=True)
    result = run_cli("devices", env={**pulse.env(), "CAMSTREAM_HOST_ROOT": str(tmp_path / "root")})
    assert result.returncode == 0, result.stderr
    assert "sound (use with --audio):\n  pulse:mic.monitor  monitor of an output, s16le 2ch 48000Hz" in result.stdout
    assert result.stdout.startswith("no camera: no camera found")


# -- `camstream doctor`: the configured microphone, with a short real capture --------------------------------


def test_doctor_audio_off_and_fake_results() -> None:
    from camstream import doctor

    assert doctor.check_audio("ffmpeg", None).detail == "off (--audio none)"
    mic = cfg_audio(**{"audio.input": "hw:1,0"})
    assert doctor.check_audio("ffmpeg", mic, lambda f, a: -30.0).status == doctor.PASS
    assert doctor.check_audio("ffmpeg", mic, lambda f, a: -120.0).status == doctor.WARN


@pytest.mark.slow
def test_doctor_captures_from_the_configured_device(pulse: Pulse, monkeypatch: pytest.MonkeyPatch) -> None:
    from camstream import doctor

    for k, v in pulse.env().items():
        monkeypatch.setenv(k, v)
    pulse.play_tone()
    ok = doctor.check_audio("ffmpeg", cfg_audio(**{"audio.input": f"pulse:{MONITOR}"}))
    assert ok.status == doctor.PASS and "mean level" in ok.detail, ok
    bad = doctor.check_audio("ffmpeg", cfg_audio(**{"audio.input": "pulse:gone"}))
    assert bad.status == doctor.FAIL and bad.detail.startswith("audio pulse:gone: cannot capture from it"), bad
    assert bad.fix == "pick a device from `camstream devices`"


@pytest.mark.slow
def test_audio_source_needs_a_track(tmp_path: Path) -> None:
    """--audio source on a file without sound, or on a pipe, is one line and exit 2; nothing is written."""
    import subprocess

    from support import run_cli

    silent = tmp_path / "silent.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=160x120:rate=10", "-t", "1",
                    "-c:v", "libx264", str(silent)], check=True, timeout=60)
    fifo = tmp_path / "cam.y4m"
    os.mkfifo(fifo)
    for source, message in ((silent, "has no audio track: use --audio none or a microphone"),
                            (fifo, "is a camera/pipe without sound")):
        result = run_cli("run", "--source", str(source), "--audio", "source", "--no-rtsp", "--no-snapshots",
                         "--ssd-path", str(tmp_path / "ssd"), "--state-dir", str(tmp_path / "st"), "--dry-run")
        assert result.returncode == 2, result.stderr
        assert result.stderr.count("\n") == 1 and message in result.stderr, result.stderr
    assert not (tmp_path / "ssd").exists()
