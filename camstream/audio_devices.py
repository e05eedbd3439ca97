"""Sound capture devices for `camstream devices`: ALSA cards (`arecord -l`) and PulseAudio/PipeWire sources
(`pactl list short sources`), parsed from their text output."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from camstream import proc
from camstream.errors import MissingToolError

# "card 1: Device [USB PnP Sound Device], device 0: USB Audio [USB Audio]" (alsa-utils aplay.c device_list)
_CARD = re.compile(r"^card (\d+): (\S+) \[(.*?)\], device (\d+): (.*?) \[(.*?)\]\s*$")


@dataclass(frozen=True)
class AudioDevice:
    """One capture device and the --audio value that opens it."""

    spec: str
    description: str
    detail: str = ""


def parse_arecord_list(text: str) -> list[AudioDevice]:
    """ALSA capture devices from `arecord -l`; each is offered as plughw:CARD=<id>,DEV=<n> (stable across
    reboots, unlike card numbers, and converting rate/channels as needed)."""
    found = []
    for line in text.splitlines():
        match = _CARD.match(line.strip())
        if match:
            index, card_id, card_name, dev, _dev_id, dev_name = match.groups()
            found.append(AudioDevice(f"plughw:CARD={card_id},DEV={dev}", f"{card_name}: {dev_name}",
                                     f"also hw:{index},{dev}"))
    return found


def parse_pactl_sources(text: str) -> list[AudioDevice]:
    """PulseAudio/PipeWire sources from `pactl list short sources` (index, name, driver, sample spec, state)."""
    found = []
    for line in text.splitlines():
        fields = line.split("\t")
        if len(fields) < 4 or not fields[0].strip().isdigit():
            continue
        name, spec = fields[1].strip(), fields[3].strip()
        state = fields[4].strip() if len(fields) > 4 else ""
        kind = "monitor of an output" if name.endswith(".monitor") else "input"
        found.append(AudioDevice(f"pulse:{name}", f"{kind}, {spec}", state.lower()))
    return found


Runner = Callable[[list[str]], tuple[int, str]]


def _run(argv: list[str]) -> tuple[int, str]:
    try:
        result = proc.run(argv, timeout=10)
    except MissingToolError:
        return 127, ""
    return result.returncode, result.stdout


def list_audio_devices(run: Runner = _run) -> list[AudioDevice]:
    """ALSA capture cards, then PulseAudio sources (either list may be empty: no cards, no sound server)."""
    devices: list[AudioDevice] = []
    code, out = run(["arecord", "-l"])
    if code == 0:
        devices += parse_arecord_list(out)
    code, out = run(["pactl", "list", "short", "sources"])
    if code == 0:
        devices += parse_pactl_sources(out)
    return devices


def format_audio_devices(devices: list[AudioDevice]) -> str:
    """The sound part of `camstream devices`: the --audio value first, so it can be copied."""
    if not devices:
        return "sound: no capture devices (no ALSA card with a capture device, no PulseAudio source)\n"
    lines = ["sound (use with --audio):"]
    for dev in devices:
        detail = f" ({dev.detail})" if dev.detail else ""
        lines.append(f"  {dev.spec}  {dev.description}{detail}")
    return "\n".join(lines) + "\n"
