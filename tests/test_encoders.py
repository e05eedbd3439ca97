"""Encoder probing: the real trial encode, the per-machine verdict cache, and encoder choice."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from camstream import encoders
from camstream.errors import ConfigError


def test_trial_encode_is_real() -> None:
    ffmpeg = shutil.which("ffmpeg")
    assert ffmpeg
    assert encoders.trial_encode(ffmpeg, "libx264") == (True, "")
    ok, why = encoders.trial_encode(ffmpeg, "no_such_encoder")
    assert not ok and "no_such_encoder" in why


def test_detect_caches_and_retrial_replaces_the_verdict(tmp_path: Path) -> None:
    cache = tmp_path / "encoders.json"
    caps = encoders.detect("ffmpeg", cache=cache)
    assert caps.working["libx264"] is True
    assert encoders.choose_encoder("auto", caps) in ("h264_v4l2m2m", "libx264")
    key = next(iter(json.loads(cache.read_text())))
    # A stored verdict is used as is (no new trial): pretend libx264 failed here.
    cache.write_text(json.dumps({key: {"libx264": False, "h264_v4l2m2m": False}}))
    assert encoders.detect("ffmpeg", cache=cache).working["libx264"] is False
    # doctor's re-probe tries again for real and corrects the cache.
    assert encoders.retrial(caps.ffmpeg, "libx264", cache=cache) == (True, "")
    assert json.loads(cache.read_text())[key]["libx264"] is True


def test_auto_falls_back_to_libx264_when_hardware_fails() -> None:
    caps = encoders.Capabilities("ffmpeg", "5.1", frozenset({"libx264", "h264_v4l2m2m"}),
                                 {"h264_v4l2m2m": False, "libx264": True})
    assert encoders.choose_encoder("auto", caps) == "libx264"
    caps_hw = encoders.Capabilities("ffmpeg", "5.1", frozenset({"libx264", "h264_v4l2m2m"}),
                                    {"h264_v4l2m2m": True, "libx264": True})
    assert encoders.choose_encoder("auto", caps_hw) == "h264_v4l2m2m"


def test_explicit_encoder_must_be_compiled_in() -> None:
    caps = encoders.Capabilities("ffmpeg", "5.1", frozenset({"libx264"}), {"libx264": True})
    with pytest.raises(ConfigError, match=r"^--encoder h264_nvenc: not in this ffmpeg: choose one of libx264, or auto$"):
        encoders.choose_encoder("h264_nvenc", caps)
