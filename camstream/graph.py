"""Pure: (config, source, encoder, sinks) -> the one FFmpeg argv. No I/O here."""

from __future__ import annotations

from collections.abc import Sequence

from camstream import audio as audio_mod
from camstream.config import Config
from camstream.encoders import PRESETS, Knobs, resolve, web_view_enabled
from camstream.outputs.base import EncodedSink, FrameSink, Sink
from camstream.sources import Source, SourceKind, clock_overlay, input_args, passthrough

# Tee slaves that are isolated go through FFmpeg's fifo pseudo-muxer: a peer that stalls gets its packets
# dropped instead of blocking the encoder, and a peer that fails is reopened on its own, restarting on a
# keyframe (FFmpeg formats manual: "tee" use_fifo/fifo_options, "fifo" drop_pkts_on_overflow,
# attempt_recovery, recover_any_error, restart_with_keyframe).
FIFO_OPTIONS = (
    "queue_size=90:drop_pkts_on_overflow=1:attempt_recovery=1:recover_any_error=1"
    ":recovery_wait_time=1:restart_with_keyframe=1"
)
INBAND_HEADERS_BSF = "dump_extra=freq=keyframe"
# Cores assumed when build_argv is not told the machine's (the 2-core reference box of bench/results.md).
REFERENCE_CORES = 2


def _escape_option_value(value: str) -> str:
    # Level 2: a slave option value is read with av_get_token(":]"), so escape those and the escape chars.
    return "".join("\\" + c if c in "\\':]" else c for c in value)


def _escape_slave(spec: str) -> str:
    # Level 1: the tee target is split on "|" with av_get_token, which also eats one level of \ and '.
    return "".join("\\" + c if c in "\\'|" else c for c in spec)


def tee_slave(sink: EncodedSink, select: str | None = None) -> str:
    """One `[opt=val:...]target` tee slave spec, escaped for FFmpeg's two parsing levels.

    `select`: the stream specifiers this slave takes (tee "select"), when the encode has more than it needs.
    """
    options: list[tuple[str, str]] = [("f", sink.muxer)]
    if sink.inband_headers:
        options.append(("bsfs/v", INBAND_HEADERS_BSF))
    # A failing peer must not end the whole FFmpeg process (tee "onfail").
    options.append(("onfail", "ignore"))
    if not sink.isolate:
        options.append(("use_fifo", "0"))
    if select:
        options.append(("select", select))
    options.extend(sink.options)
    inner = ":".join(f"{key}={_escape_option_value(value)}" for key, value in options)
    return _escape_slave(f"[{inner}]{sink.target}")


def tee_spec(sinks: Sequence[EncodedSink], audio_codecs: Sequence[str] = ()) -> str:
    """The tee muxer's output string: slaves joined by '|', each taking its own audio codec's stream."""
    return "|".join(tee_slave(s, audio_mod.tee_select(audio_codecs, s.audio)) for s in sinks)


def prefilters(cfg: Config, source: Source, stamp: str | None = None) -> list[str]:
    """Filters applied to every frame before any sink: the visible clock on testsrc, the latency stamp."""
    chain: list[str] = []
    if source.kind is SourceKind.TESTSRC:
        chain.append(clock_overlay())
    if stamp:
        chain.append(stamp)
    return chain


def filter_graph(pre: Sequence[str], live_filter: str | None, frame_sinks: Sequence[FrameSink]) -> str:
    """The -filter_complex string: shared pre-filters, then split into the live branch and each frame sink."""
    branches: list[tuple[str, str]] = []
    if live_filter is not None:
        branches.append((live_filter, "live"))
    branches.extend((sink.filter, f"frames{i}") for i, sink in enumerate(frame_sinks))
    head = ",".join(pre) if pre else "null"
    if len(branches) == 1:
        chain, label = branches[0]
        return f"[0:v]{head},{chain}[{label}]"
    split_labels = "".join(f"[b{i}]" for i in range(len(branches)))
    parts = [f"[0:v]{head},split={len(branches)}{split_labels}"]
    parts.extend(f"[b{i}]{chain}[{label}]" for i, (chain, label) in enumerate(branches))
    return ";".join(parts)


def build_argv(
    cfg: Config,
    source: Source,
    encoder: str,
    sinks: Sequence[Sink],
    stamp: str | None = None,
    knobs: Knobs | None = None,
    audio_fifo: str = "",
) -> list[str]:
    """The whole FFmpeg command: capture once, encode H.264 (and AAC) once, tee it to every encoded sink.

    `knobs` are the resolved preset/profile/GOP (encoders.resolve); without them, `auto` resolves for
    REFERENCE_CORES cores. `audio_fifo` is the named pipe a microphone's feeder writes (camstream/audio.py).
    """
    encoded = [s for s in sinks if isinstance(s, EncodedSink)]
    # Sound only goes where encoded sinks are; snapshots never take it.
    akind = audio_mod.kind(cfg.audio, source.kind is SourceKind.TESTSRC) if encoded else audio_mod.AudioKind.NONE
    # One encode per audio codec the encoded sinks need (AAC; Opus for the web view).
    acodecs = audio_mod.codecs(encoded) if akind is not audio_mod.AudioKind.NONE else []
    frames = [s for s in sinks if isinstance(s, FrameSink)]
    copy = passthrough(source, cfg.video)
    preset = PRESETS[encoder]
    knobs = knobs or resolve(cfg.video, REFERENCE_CORES, web_view_enabled(cfg))
    argv = [
        cfg.ffmpeg.path, "-hide_banner", "-nostdin", "-loglevel", cfg.ffmpeg.loglevel, "-nostats",
        # key=value progress blocks on stdout twice a second: frames, fps, bitrate, speed, drops.
        "-progress", "pipe:1", "-stats_period", "0.5",
    ]
    if encoded and not copy:
        argv.extend(preset.global_args)
    if copy and frames and source.kind is SourceKind.V4L2:
        # The H.264 is copied; only the frame sinks (snapshots) decode, and keyframes are all they need
        # (FFmpeg codecs manual, decoder option skip_frame "nokey": discard all frames excluding keyframes).
        # Not for rpicam's raw Annex-B pipe: it has no timestamps, and FFmpeg 5.1 then derives the copied
        # stream's DTS from the decoder's progress, which skipped frames stall ("Non-monotonous DTS" for every
        # packet, tested here); V4L2 buffers carry their own timestamps and stay clean.
        argv += ["-skip_frame", "nokey"]
    wall = audio_mod.live_clock(akind, copy, paced_by_reader=source.kind in (SourceKind.TESTSRC, SourceKind.FILE))
    video_in = input_args(source, cfg.video)
    if wall:
        argv.append("-copyts")  # see audio.REBASE_VIDEO: camera and microphone on one clock
        if source.kind is not SourceKind.V4L2:
            video_in = [*video_in[:-2], *audio_mod.LIVE_CLOCK_INPUT, *video_in[-2:]]
    argv.extend(video_in)
    argv.extend(audio_mod.input_args(cfg.audio, akind, audio_fifo))

    pre = prefilters(cfg, source, stamp)
    if wall:
        pre = [audio_mod.REBASE_VIDEO, *pre]
    live_filter = None if (not encoded or copy) else preset.pix_fmt_filter
    # The sound joins the filter graph on the shared clock, or to be split between two encoders.
    audio_in_graph = wall or len(acodecs) > 1
    parts = []
    if live_filter is not None or frames:
        parts.append(filter_graph(pre, live_filter, frames))
    if audio_in_graph:
        parts.append(audio_mod.audio_branch(cfg.audio, akind, acodecs, rebase=wall))
    if parts:
        argv += ["-filter_complex", ";".join(parts)]

    if encoded:
        if copy:
            argv += ["-map", "0:v", "-c:v", "copy"]
        else:
            argv += ["-map", "[live]", *preset.args(cfg.video, knobs)]
            if cfg.record.enabled:
                # Extra keyframes exactly on chunk boundaries, so chunks are segment_seconds long, not rounded
                # up to the next GOP (FFmpeg manual, -force_key_frames expr:).
                argv += ["-force_key_frames", f"expr:gte(t,n_forced*{cfg.record.segment_seconds:g})"]
            # MP4 and FLV need SPS/PPS as extradata; tee cannot detect that, so ask for it explicitly
            # (FFmpeg formats manual, "tee": "the main example is the global_header flag").
            argv += ["-flags", "+global_header"]
        argv += audio_mod.output_args(cfg.audio, akind, in_graph=audio_in_graph, codec_list=acodecs) or ["-an"]
        argv += ["-f", "tee", "-use_fifo", "1", "-fifo_options", FIFO_OPTIONS, tee_spec(encoded, acodecs)]

    for i, sink in enumerate(frames):
        argv += ["-map", f"[frames{i}]", *sink.args]
        if sink.muxer:
            # A write error on a plain output ends the whole FFmpeg process (live included); behind tee with
            # onfail=ignore and fifo recovery it only pauses this output until the write works again.
            slave = EncodedSink(sink.name, sink.muxer, sink.target, sink.options)
            argv += ["-f", "tee", "-use_fifo", "1", "-fifo_options", FIFO_OPTIONS, tee_slave(slave)]
        else:
            argv.append(sink.target)
    return argv
