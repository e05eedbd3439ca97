"""Typed settings and the one loader: defaults < YAML file < environment < command-line flags.

The package is split by job (parsers, model, schema, loader, example renderer); every name that was importable
from the single `camstream.config` module still is, so `from camstream.config import X` keeps working.
"""

from __future__ import annotations

from camstream.config.example import render_example
from camstream.config.loader import DEFAULT_CONFIG_PATHS, DEFAULT_SOURCE, find_config_file, load_config, locate, validate
from camstream.config.model import (
    ENCODERS, H264_PROFILES, INPUT_FORMATS, RPICAM_AUTOFOCUS, RPICAM_AWB, RPICAM_MODES, X264_PRESETS, AudioConfig,
    Config, FfmpegConfig, LogConfig, PathsConfig, RecordConfig, RpicamConfig, RtmpConfig, RtspConfig,
    SnapshotsConfig, SrtConfig, VideoConfig, WatchdogConfig, default_state_dir, setting,
)
from camstream.config.parsers import (
    MinFree, Parser, audio_channels, audio_input, bitrate, boolean, choice, even_size, min_free, name_list, number,
    optional_duration, optional_number, optional_path, optional_size, path, port_number, resolution, rtmp_server,
    size_bytes, stream_key, text, url_path, whole,
)
from camstream.config.schema import LEGACY_ENV, SECTIONS, SETTINGS, Setting, get, help_for, set_value

__all__ = [
    "DEFAULT_CONFIG_PATHS", "DEFAULT_SOURCE", "locate", "ENCODERS", "H264_PROFILES", "INPUT_FORMATS", "LEGACY_ENV", "RPICAM_AUTOFOCUS",
    "RPICAM_AWB", "RPICAM_MODES", "SECTIONS", "SETTINGS", "X264_PRESETS",
    "AudioConfig", "RpicamConfig", "Config", "FfmpegConfig", "LogConfig", "MinFree", "Parser", "PathsConfig", "RecordConfig", "RtmpConfig",
    "RtspConfig", "Setting", "SnapshotsConfig", "SrtConfig", "VideoConfig", "WatchdogConfig",
    "audio_channels", "audio_input", "bitrate", "boolean", "choice", "default_state_dir", "even_size", "find_config_file", "get", "help_for",
    "load_config", "min_free", "name_list", "number", "optional_duration", "optional_number", "optional_path", "optional_size", "path",
    "port_number", "render_example", "resolution", "rtmp_server", "set_value", "setting", "size_bytes",
    "stream_key", "text", "url_path", "validate", "whole",
]
