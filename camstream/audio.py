"""Sound: what --audio names, the FFmpeg arguments for it (pure), and the feeder that keeps a microphone
optional (I/O).

Design. The video FFmpeg never opens a microphone itself: losing a device inside FFmpeg ends the whole
process (pulse/alsa input returns EIO), and with it the video. A small *device reader* (a second FFmpeg,
`-f pulse|alsa ... -f s16le pipe:1`) is read by the :class:`Feeder`, which writes raw PCM into a named pipe
that the video FFmpeg reads as its second input. When the device vanishes the feeder writes silence at
the nominal rate and retries the device every second, so the video FFmpeg never notices: video goes on,
the audio track stays (silent), and sound comes back by itself. The video FFmpeg stamps the PCM with the
wall clock as it reads it (`-use_wallclock_as_timestamps 1`), and `aresample=async` stretches/squeezes the
samples to follow those timestamps, so a microphone whose crystal runs fast or slow stays on the video's
clock (FFmpeg filters manual, "aresample": async, min_hard_comp, first_pts; "Format Options":
use_wallclock_as_timestamps).
"""

from __future__ import annotations

import array
import errno
import logging
import math
import os
import stat
import threading
import time
from dataclasses import dataclass
from enum import Enum
from collections.abc import Sequence
from pathlib import Path

from camstream import proc
from camstream.config import AudioConfig
from camstream.errors import SourceError
from camstream.outputs.base import AAC, OPUS, EncodedSink

log = logging.getLogger("camstream.audio")

# The named pipe in the state directory that carries PCM from the feeder to the video FFmpeg.
FIFO_NAME = "audio.pcm"
# PCM chunk the feeder writes (and the device reader's pulse fragment): 20 ms keeps latency low.
CHUNK_MS = 20
# Seconds between attempts to reopen a vanished device.
RETRY_S = 1.0
# aresample async: at most this many samples per second are stretched/squeezed (~2% at 48 kHz, far
# above any crystal's drift); only jumps larger than min_hard_comp seconds are filled/trimmed at once.
# Read-time stamps jump when a loaded machine leaves the reader unscheduled for a moment (a burst of late
# packets that all look "now", then normal again); with the default 0.1 s such a stall inserted silence
# and delayed one beep by ~250 ms here, so stalls under 0.5 s are only ever smoothed softly.
ASYNC_SAMPLES = 1000
MIN_HARD_COMP = 0.5
# Differences under MIN_COMP are left alone (read-time stamps jitter by a few ms under load); larger ones
# are corrected over COMP_DURATION seconds, so the correction is a slow stretch, not a warble.
MIN_COMP = 0.02
COMP_DURATION = 2
# The raw PCM demuxer returns 1024-sample packets and -use_wallclock_as_timestamps stamps each when its last
# byte has been read; the first sample is one packet older (libavformat pcmdec.c RAW_SAMPLES).
RAW_SAMPLES = 1024
# Testsrc's tone: 1 kHz with a beep (4x the carrier) at the start of every second (lavfi "sine").
TONE = "sine=frequency=1000:beep_factor=4:sample_rate={rate}"
SILENCE_DBFS = -120.0
OPUS_RATE = 48000


class AudioKind(str, Enum):
    """What --audio names."""

    NONE = "none"
    TRACK = "track"  # the audio track of a file/URL source
    TONE = "tone"  # a generated tone for the test pattern
    PULSE = "pulse"
    ALSA = "alsa"


def kind(audio: AudioConfig, source_is_testsrc: bool) -> AudioKind:
    """Classify the audio setting for this source."""
    if audio.input == "none":
        return AudioKind.NONE
    if audio.input == "source":
        return AudioKind.TONE if source_is_testsrc else AudioKind.TRACK
    if audio.input.startswith("pulse:"):
        return AudioKind.PULSE
    return AudioKind.ALSA


def device_name(audio: AudioConfig) -> str:
    """The name FFmpeg's pulse/alsa input opens (pulse:NAME -> NAME)."""
    return audio.input.split(":", 1)[1] if audio.input.startswith("pulse:") else audio.input


def device_argv(ffmpeg: str, audio: AudioConfig, *, seconds: float | None = None) -> list[str]:
    """The device reader: capture the microphone, write raw s16le PCM to stdout (or run `seconds` for a check)."""
    rate, channels = audio.rate, audio.layout_channels
    fmt = "pulse" if audio.input.startswith("pulse:") else "alsa"
    argv = [ffmpeg, "-hide_banner", "-nostdin", "-loglevel", "error"]
    if fmt == "pulse":
        # fragment_size: bytes pulse buffers before handing them over; default is ~2 s on some servers
        # (FFmpeg devices manual, "pulse": fragment_size "affects latency").
        fragment = rate * channels * 2 * CHUNK_MS // 1000
        argv += ["-f", "pulse", "-name", "camstream", "-fragment_size", str(fragment)]
    else:
        argv += ["-f", "alsa"]
    argv += ["-sample_rate", str(rate), "-channels", str(channels), "-i", device_name(audio)]
    if seconds is not None:
        return [*argv, "-t", f"{seconds:g}", "-af", "volumedetect", "-f", "null", "-"]
    # flush_packets: hand every packet to the pipe at once instead of filling a 32 KiB buffer first.
    return [*argv, "-f", "s16le", "-ac", str(channels), "-ar", str(rate), "-flush_packets", "1", "pipe:1"]


def input_args(audio: AudioConfig, akind: AudioKind, fifo: Path | str) -> list[str]:
    """FFmpeg arguments for the audio input of the video FFmpeg (empty when it comes from input 0)."""
    if akind is AudioKind.TONE:
        return ["-re", "-f", "lavfi", "-i", TONE.format(rate=audio.rate)]
    if akind in (AudioKind.PULSE, AudioKind.ALSA):
        return [
            "-f", "s16le", "-sample_rate", str(audio.rate), "-channels", str(audio.layout_channels),
            # Stamp each packet with the wall clock as it is read: the same clock the live video is on,
            # moved back by one packet so the stamp is that of its first sample.
            "-use_wallclock_as_timestamps", "1",
            "-thread_queue_size", "1024", "-i", str(fifo),
        ]
    return []


def input_map(akind: AudioKind) -> str:
    """The -map specifier of the audio stream."""
    return "0:a:0" if akind is AudioKind.TRACK else "1:a:0"


def audio_filter(audio: AudioConfig) -> str:
    """Resample to follow the timestamps (drift, gaps), then fix the rate and layout the encoders get."""
    layout = "mono" if audio.layout_channels == 1 else ("stereo" if audio.layout_channels == 2 else "")
    fmt = f"aformat=sample_rates={audio.rate}" + (f":channel_layouts={layout}" if layout else "")
    return (f"aresample=async={ASYNC_SAMPLES}:min_comp={MIN_COMP:g}:comp_duration={COMP_DURATION:g}"
            f":min_hard_comp={MIN_HARD_COMP:g}:first_pts=0,{fmt}")


# One origin for the camera and the microphone. FFmpeg subtracts each input's own start time (its first
# packet), and the two inputs start at different moments (the second is opened after the first is probed),
# which left the sound a different 10-60 ms early or late on every start (measured by bench/audio.py).
# With -copyts both keep their capture times on the wall clock (V4L2 frames: kernel timestamps converted to
# the real-time clock, FFmpeg devices manual "video4linux2" -ts; every other input and the microphone pipe:
# -use_wallclock_as_timestamps), and the one filter graph subtracts one instant from both: RTCSTART, the
# wall clock when that graph was set up, identical for its filters (FFmpeg filters manual, "setpts").
REBASE_VIDEO = "setpts=PTS-RTCSTART/(1000000*TB)"
REBASE_AUDIO = "asetpts=PTS-RTCSTART/(1000000*TB)"
LIVE_CLOCK_INPUT = ["-use_wallclock_as_timestamps", "1"]


def live_clock(akind: AudioKind, copy: bool, paced_by_reader: bool) -> bool:
    """Whether the graph puts camera and microphone on the wall clock.

    Needs a microphone, video that goes through the filter graph (not the H.264 passthrough), and a live
    video source: the test pattern and files are paced by -re from their own timestamps, which wall-clock
    stamps would replace (they would then be read as fast as the CPU allows). For those the two inputs keep
    FFmpeg's per-input origin, which is off by the tens of milliseconds between opening the two.
    """
    return akind in (AudioKind.PULSE, AudioKind.ALSA) and not copy and not paced_by_reader


def audio_branch(audio: AudioConfig, akind: AudioKind, codec_list: Sequence[str] = (AAC,),
                 rebase: bool = True) -> str:
    """The sound's part of -filter_complex, ending in one label per codec ([aud], [aud_opus]).

    `rebase`: on the shared wall clock (live_clock); otherwise it only filters, and is in the graph to be
    split between two encoders.
    """
    labels = [graph_label(c) for c in codec_list]
    head = f"{REBASE_AUDIO}," if rebase else ""
    tail = split_args(labels) or f"[{labels[0]}]"
    return f"[{input_map(akind)}]{head}{audio_filter(audio)}{tail}"


def codecs(sinks: Sequence[EncodedSink]) -> list[str]:
    """The audio codecs the encoded sinks need, each encoded once: AAC first, then Opus (the web view's)."""
    wanted = {sink.audio for sink in sinks}
    return [codec for codec in (AAC, OPUS) if codec in wanted]


def encode_args(audio: AudioConfig, codec: str = AAC, index: int | None = None) -> list[str]:
    """One encode of the sound: AAC (FLV, MP4, MPEG-TS, RTSP) or Opus (WebRTC); `index` = its output audio stream."""
    spec = "" if index is None else f":{index}"
    per = "" if index is None else f":a:{index}"  # -ar/-ac take a full stream specifier (a:N, not N)
    if codec == OPUS:
        # RFC 7587: Opus over RTP is always announced at 48 kHz, and libopus only takes 48/24/16/12/8 kHz.
        return [f"-c:a{spec}", "libopus", f"-b:a{spec}", str(audio.bitrate), f"-ar{per}", str(OPUS_RATE),
                f"-ac{per}", str(audio.layout_channels)]
    return [f"-c:a{spec}", "aac", f"-b:a{spec}", str(audio.bitrate), f"-ar{per}", str(audio.rate),
            f"-ac{per}", str(audio.layout_channels)]


def graph_label(codec: str) -> str:
    """The filter graph's output label of the sound one codec encodes."""
    return "aud" if codec == AAC else f"aud_{codec}"


def split_args(labels: Sequence[str]) -> str:
    """Filter graph tail that hands one filtered sound to each encoder (nothing for a single codec)."""
    return f",asplit={len(labels)}" + "".join(f"[{label}]" for label in labels) if len(labels) > 1 else ""


def output_args(audio: AudioConfig, akind: AudioKind, in_graph: bool = False,
                codec_list: Sequence[str] = (AAC,)) -> list[str]:
    """Map, filter and encode the audio stream, once per codec (placed before the tee muxer).

    With more than one codec the sound is always in the filter graph (audio_branch), split once per encoder.
    """
    if akind is AudioKind.NONE or not codec_list:
        return []
    if len(codec_list) > 1:
        return [arg for i, codec in enumerate(codec_list)
                for arg in ("-map", f"[{graph_label(codec)}]", *encode_args(audio, codec, i))]
    codec = codec_list[0]
    if in_graph:
        return ["-map", f"[{graph_label(codec)}]", *encode_args(audio, codec)]
    return ["-map", input_map(akind), "-filter:a", audio_filter(audio), *encode_args(audio, codec)]


def tee_select(codec_list: Sequence[str], codec: str) -> str | None:
    """The tee slave's `select`: the video plus the one audio stream in its codec (None: one codec, take all)."""
    if len(codec_list) < 2:
        return None
    # FFmpeg formats manual, "tee": select takes stream specifiers separated by commas; the tee's output
    # streams are the video then the audio streams in -map order, so a:N is the Nth codec of codec_list.
    return f"v,a:{codec_list.index(codec)}"


# ---------------------------------------------------------------------------
# I/O: a short real capture (start-up check, doctor) and the feeder
# ---------------------------------------------------------------------------


def parse_volumedetect(stderr: str) -> float | None:
    """mean_volume in dBFS from FFmpeg's volumedetect output, or None."""
    for line in stderr.splitlines():
        if "mean_volume:" in line:
            try:
                return float(line.split("mean_volume:")[1].split("dB")[0])
            except ValueError:
                return None
    return None


def check_device(ffmpeg: str, audio: AudioConfig, seconds: float = 0.5) -> float | None:
    """Capture briefly from the configured device; return its mean level (dBFS); raise SourceError if it fails."""
    argv = device_argv(ffmpeg, audio, seconds=seconds)
    argv[argv.index("error")] = "info"  # volumedetect reports at info level
    result = proc.run(argv, timeout=10 + seconds)
    if result.returncode != 0:
        lines = [ln for ln in result.stderr.splitlines() if ln.strip() and "volumedetect" not in ln]
        why = lines[-1].strip() if lines else f"ffmpeg exited with {result.returncode}"
        raise SourceError(
            f"audio {audio.input}: cannot capture from it ({why}): check the name with `camstream devices`, "
            "or use --audio none"
        )
    return parse_volumedetect(result.stderr)


def level_dbfs(pcm: bytes) -> float:
    """RMS level of s16le PCM in dBFS (every 4th sample is enough for a meter)."""
    samples = array.array("h")
    samples.frombytes(pcm[: len(pcm) - len(pcm) % 2])
    sub = samples[::4]
    if not sub:
        return SILENCE_DBFS
    rms = math.sqrt(sum(s * s for s in sub) / len(sub))
    return max(SILENCE_DBFS, 20 * math.log10(rms / 32768)) if rms > 0 else SILENCE_DBFS


@dataclass
class AudioStatus:
    """What the status panel, `status --json` and /metrics show about sound."""

    input: str
    codec: str  # the encodes, comma-separated: "aac", or "aac,opus" when the web view is on
    state: str  # live, silence (device gone: sending silence), waiting (no reader yet), off
    level_dbfs: float | None = None
    last_error: str | None = None
    device_restarts: int = 0


def make_fifo(path: Path) -> None:
    """Create the named pipe (replacing a stale regular file)."""
    try:
        mode = os.stat(path).st_mode
        if stat.S_ISFIFO(mode):
            return
        path.unlink()
    except FileNotFoundError:
        pass
    os.mkfifo(path, 0o600)


class Feeder:
    """Relay PCM from the device reader to the video FFmpeg's named pipe; silence while the device is gone."""

    name = "audio"
    role = "audio"  # servers/base.py Server protocol: the supervisor starts it with the servers

    def __init__(self, ffmpeg: str, audio: AudioConfig, fifo: Path, codecs: str = AAC) -> None:
        self.audio = audio
        self.codecs = codecs  # what status shows as the codec: "aac", or "aac,opus" with the web view
        self.fifo = fifo
        self.argv = device_argv(ffmpeg, audio)
        self.chunk = audio.rate * audio.layout_channels * 2 * CHUNK_MS // 1000
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._child: proc.Child | None = None
        self._fd: int | None = None
        self._device_up = False
        self._last_data = 0.0
        self._level: float | None = None
        self._last_error: str | None = None
        self._restarts = 0
        self._meter: list[float] = []

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self) -> None:
        """Create the pipe and start the device and writer threads."""
        self._stop.clear()
        self._threads = []
        make_fifo(self.fifo)
        for target, name in ((self._device_loop, "audio-device"), (self._silence_loop, "audio-silence")):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)

    def wait_ready(self, timeout: float = 10.0) -> None:
        """Nothing to wait for: the pipe opens when the video FFmpeg reads it."""

    def running(self) -> bool:
        """True while the feeder threads run (they only end on stop)."""
        return bool(self._threads) and all(t.is_alive() for t in self._threads)

    def stop(self, grace: float = 1.0) -> proc.ExitInfo | None:
        """Stop the device reader and the threads; close the pipe. How the reader ended, if one ran."""
        self._stop.set()
        with self._lock:
            child = self._child
        info = child.stop(grace=1.0) if child is not None else None
        for thread in self._threads:
            thread.join(timeout=3.0)
        with self._lock:
            self._close_fd()
        return info

    def tail(self) -> list[str]:
        """The device reader's last stderr lines."""
        with self._lock:
            child = self._child
        return child.tail() if child is not None else []

    def viewers(self) -> int | None:
        """Not a server viewers connect to."""
        return None

    def status(self) -> AudioStatus:
        """Current state for status/metrics."""
        with self._lock:
            if self._fd is None:
                state = "waiting"
            else:
                state = "live" if self._device_up else "silence"
            level = self._level if self._device_up else None
            return AudioStatus(self.audio.input, self.codecs, state, None if level is None else round(level, 1),
                               self._last_error, self._restarts)

    # -- device side ------------------------------------------------------------------------------

    def _device_loop(self) -> None:
        announced_loss = False
        while not self._stop.is_set():
            child = proc.Child("audio-device", self.argv, raw_stdout=True)
            try:
                child.start()
            except Exception as exc:  # missing ffmpeg: nothing to retry soon
                self._last_error = str(exc)
                self._stop.wait(RETRY_S)
                continue
            with self._lock:
                self._child = child
            assert child.proc is not None and child.proc.stdout is not None
            stream = child.proc.stdout
            got_data = False
            while not self._stop.is_set():
                data = stream.read1(self.chunk) if hasattr(stream, "read1") else stream.read(self.chunk)
                if not data:
                    break
                if not got_data:
                    got_data = True
                    with self._lock:
                        self._device_up = True
                    if announced_loss:
                        log.info("audio device %s is back", self.audio.input)
                        announced_loss = False
                self._meter_add(data)
                self._write(data)
            info = child.stop(grace=1.0)
            with self._lock:
                self._child = None
                self._device_up = False
            if self._stop.is_set():
                break
            why = next((ln for ln in reversed(info.tail) if ln.strip()), f"exit code {info.returncode}")
            self._last_error = why
            self._restarts += 1
            if not announced_loss:
                # One line per loss; the retries that follow stay quiet until the device is back.
                log.warning("audio device %s lost (%s): sending silence, video goes on; retrying every %gs",
                            self.audio.input, why, RETRY_S)
                announced_loss = True
            self._stop.wait(RETRY_S)

    def _meter_add(self, data: bytes) -> None:
        self._meter.append(level_dbfs(data))
        if len(self._meter) >= 1000 // CHUNK_MS // 2:  # about twice a second
            powers = [10 ** (db / 10) for db in self._meter]
            self._level = 10 * math.log10(sum(powers) / len(powers))
            self._meter.clear()

    # -- pipe side --------------------------------------------------------------------------------

    def _silence_loop(self) -> None:
        """Keep the pipe open when a reader exists; write silence at the nominal rate while the device is down."""
        silence = bytes(self.chunk)
        period = CHUNK_MS / 1000
        next_at = time.monotonic()
        while not self._stop.is_set():
            with self._lock:
                need_open = self._fd is None
                down = not self._device_up
            if need_open:
                self._open_fd()
            if down:
                self._write(silence)
            next_at += period
            delay = next_at - time.monotonic()
            if delay < -1.0:  # we were suspended; do not burst to catch up
                next_at = time.monotonic()
                delay = 0
            self._stop.wait(max(0.0, delay))

    def _open_fd(self) -> None:
        try:
            # O_NONBLOCK: succeeds only while a reader has the pipe open (ENXIO otherwise), never blocks.
            fd = os.open(self.fifo, os.O_WRONLY | os.O_NONBLOCK)
        except OSError as exc:
            if exc.errno not in (errno.ENXIO, errno.ENOENT):
                self._last_error = f"{self.fifo}: {exc.strerror}"
            return
        with self._lock:
            if self._fd is None:
                self._fd = fd
                return
        os.close(fd)

    def _write(self, data: bytes) -> None:
        with self._lock:
            fd = self._fd
            if fd is None:
                return  # no reader (the video FFmpeg is restarting): drop, keep the device drained
            try:
                os.write(fd, data)
            except BlockingIOError:
                pass  # the reader is behind by a whole pipe buffer: drop this chunk rather than block
            except OSError:  # EPIPE: the reader went away; reopen when the next one comes
                self._close_fd()

    def _close_fd(self) -> None:
        if self._fd is not None:
            try:
                os.close(self._fd)
            except OSError:
                pass
            self._fd = None
