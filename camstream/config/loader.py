"""The one loader: defaults < YAML file < environment < command-line flags; every error names its origin."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from camstream.config.model import Config, default_state_dir
from camstream.config.schema import SECTIONS, SETTINGS, set_value
from camstream.errors import ConfigError

DEFAULT_CONFIG_PATHS = (Path("camstream.yaml"), Path("/etc/camstream/camstream.yaml"))


def _yaml_values(file: Path) -> dict[str, tuple[Any, int]]:
    """Flatten a YAML file to {dotted key: (value, line)}; unknown keys are errors with file and line."""
    try:
        node = yaml.compose(file.read_text())
    except OSError as exc:
        raise ConfigError(f"--config {file}: cannot read it ({exc.strerror}): check the path") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{file}:{mark.line + 1}" if mark else str(file)
        raise ConfigError(f"{where}: not valid YAML ({getattr(exc, 'problem', exc)}): fix the syntax") from None
    out: dict[str, tuple[Any, int]] = {}
    if node is None:
        return out
    if not isinstance(node, yaml.MappingNode):
        raise ConfigError(f"{file}:{node.start_mark.line + 1}: expected a mapping of settings at the top level")
    _flatten(file, node, "", out)
    return out


def _flatten(file: Path, node: yaml.MappingNode, prefix: str, out: dict[str, tuple[Any, int]]) -> None:
    for key_node, value_node in node.value:
        name = str(key_node.value)
        key = prefix + name
        line = key_node.start_mark.line + 1
        if key in out or any(k.startswith(key + ".") for k in out):
            first = out[key][1] if key in out else min(v[1] for k, v in out.items() if k.startswith(key + "."))
            raise ConfigError(f"{file}:{line}: '{key}' is given twice (first at line {first}): keep one")
        if key in SETTINGS:
            try:
                value = yaml.SafeLoader("").construct_object(value_node, deep=True)
            except yaml.YAMLError as exc:
                raise ConfigError(f"{file}:{line}: {key}: not a plain YAML value ({getattr(exc, 'problem', exc)}): "
                                  "write a number, word, quoted string or list") from None
            out[key] = (value, line)
        elif key in SECTIONS and isinstance(value_node, yaml.MappingNode):
            _flatten(file, value_node, key + ".", out)
        elif key in SECTIONS:
            example = next(k for k in SETTINGS if k.startswith(key + "."))
            raise ConfigError(f"{file}:{line}: '{key}' is a section, not a value: put its settings on the lines "
                              f"below it, indented (e.g. '  {example.split('.', 1)[1]}: ...')")
        else:
            section = prefix.rstrip(".")
            known = sorted(k[len(prefix):] for k in SETTINGS if k.startswith(prefix) and "." not in k[len(prefix):])
            if not section:
                known = sorted(set(known) | set(SECTIONS))
            where = f"in {section}" if section else "at the top level"
            raise ConfigError(f"{file}:{line}: unknown setting '{key}': known settings {where} are {', '.join(known)}")


def find_config_file(explicit: Path | None) -> Path | None:
    """The --config file, or the first default location that exists."""
    if explicit is not None:
        if not explicit.is_file():
            raise ConfigError(f"--config {explicit}: no such file: give an existing YAML file")
        return explicit
    for candidate in DEFAULT_CONFIG_PATHS:
        if candidate.is_file():
            return candidate
    return None


DEFAULT_SOURCE = "default"


def load_config(
    config_file: Path | None = None,
    env: Mapping[str, str] | None = None,
    flags: Mapping[str, tuple[str, Any]] | None = None,
    search_defaults: bool = True,
    sources: dict[str, str] | None = None,
) -> Config:
    """Build the Config: defaults < YAML file < environment < flags; every error names its origin.

    `flags` maps dotted keys to (flag as typed, value), e.g. {"video.fps": ("--fps", "0")}. `sources`, when
    given, is filled with where each setting's value came from: "default", "FILE:LINE", "env NAME", "flag --x".
    """
    env = os.environ if env is None else env
    cfg = Config(default_state_dir=default_state_dir(env))
    origin_of = {key: DEFAULT_SOURCE for key in SETTINGS}
    file = find_config_file(config_file) if (config_file or search_defaults) else None
    if file is not None:
        for key, (raw, line) in _yaml_values(file).items():
            _apply(cfg, key, raw, f"{file}:{line}: {key}={raw}")
            origin_of[key] = f"{file}:{line}"
    for key, setting_ in SETTINGS.items():
        # The seeds' names (VIDEO_FPS, SSD_PATH, ...) and CAMSTREAM_VIDEO_FPS both work; the latter wins.
        for name in (*setting_.env, setting_.generic_env):
            if name in env:
                _apply(cfg, key, env[name], f"{name}={env[name]}")
                origin_of[key] = f"env {name}"
    for key, (flag, raw) in (flags or {}).items():
        _apply(cfg, key, raw, f"{flag} {raw}")
        origin_of[key] = f"flag {flag}"
    if sources is not None:
        sources.update(origin_of)
    try:
        validate(cfg)
    except ConfigError as err:
        raise ConfigError(locate(str(err), origin_of)) from None
    return cfg


def locate(message: str, origin_of: Mapping[str, str]) -> str:
    """Prefix a cross-setting error with the FILE:LINE of the first setting it names that came from a YAML file."""
    named = [k for k in SETTINGS if re.search(rf"(?<![\w.]){re.escape(k)}(?![\w])", message)]
    if not named and message.startswith("every output is off"):
        named = [k for k in SETTINGS if k.endswith(".enabled")]
    # Then the other settings of the same sections (srt.enabled, for "srt.url: ... when SRT is on").
    sections = {k.split(".")[0] for k in named if "." in k}
    named += [k for k in SETTINGS if k.split(".")[0] in sections and k not in named]
    for key in named:
        origin = origin_of.get(key, DEFAULT_SOURCE)
        if origin != DEFAULT_SOURCE and not origin.startswith(("env ", "flag ")):
            return f"{origin}: {message}"
    return message


def _apply(cfg: Config, key: str, raw: Any, origin: str) -> None:
    try:
        value = SETTINGS[key].parser(raw)
    except ValueError as exc:
        raise ConfigError(f"{origin}: {exc}") from None
    set_value(cfg, key, value)


def validate(cfg: Config) -> None:
    """Checks that span several settings."""
    if cfg.rtsp.enabled and cfg.rtsp.server == "external" and not cfg.rtsp.url:
        raise ConfigError("rtsp.server=external needs rtsp.url: give --rtsp-url rtsp://host:port/path")
    if cfg.rtsp.url and not re.match(r"rtsps?://", cfg.rtsp.url):
        raise ConfigError(f"rtsp.url={cfg.rtsp.url}: expected a URL starting with rtsp://")
    if cfg.srt.enabled and not cfg.srt.url.startswith("srt://"):
        raise ConfigError("srt.url: expected a URL like srt://10.0.0.2:9000 when SRT is on (--srt-url)")
    if bool(cfg.rtsp.user) != bool(cfg.rtsp.password):
        raise ConfigError("rtsp.user and rtsp.password: set both or neither")
    if not any((cfg.rtsp.enabled, cfg.rtmp.enabled, cfg.srt.enabled, cfg.record.enabled, cfg.snapshots.enabled,
                cfg.extra_outputs)):
        raise ConfigError("every output is off: turn on at least one of --rtsp, --rtmp, --srt, --record, --snapshots")


# ---------------------------------------------------------------------------
# Rendering (the example file and --dry-run)
