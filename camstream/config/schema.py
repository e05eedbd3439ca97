"""The model as data: every leaf setting by dotted key (video.fps), its sections, and the seeds' env names."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from camstream.config.model import Config
from camstream.config.parsers import Parser


@dataclass(frozen=True)
class Setting:
    """One leaf setting of the model, addressed by its dotted key (e.g. video.fps)."""

    key: str
    parser: Parser
    help: str
    env: tuple[str, ...]
    default: Any

    @property
    def generic_env(self) -> str:
        """The CAMSTREAM_<SECTION>_<NAME> environment variable for this setting."""
        return "CAMSTREAM_" + self.key.replace(".", "_").upper()


def _is_section(f: dataclasses.Field[Any]) -> bool:
    # Annotations are strings (from __future__ import annotations); every section class is named *Config.
    return "parser" not in f.metadata and (dataclasses.is_dataclass(f.type) or str(f.type).endswith("Config"))


def _walk(cls: type, prefix: str = "") -> Iterator[Setting]:
    instance = cls()
    for f in dataclasses.fields(cls):
        key = f"{prefix}{f.name}"
        if "parser" in f.metadata:
            yield Setting(key, f.metadata["parser"], f.metadata["help"], f.metadata["env"], getattr(instance, f.name))
        elif _is_section(f):
            yield from _walk(type(getattr(instance, f.name)), key + ".")


SETTINGS: dict[str, Setting] = {s.key: s for s in _walk(Config)}
SECTIONS: dict[str, str] = {
    f.name: (type(getattr(Config(), f.name)).__doc__ or "").strip()
    for f in dataclasses.fields(Config)
    if _is_section(f)
}
LEGACY_ENV: dict[str, str] = {name: s.key for s in SETTINGS.values() for name in s.env}


def set_value(cfg: Config, key: str, value: Any) -> None:
    """Write a setting by dotted key (no parsing)."""
    target: Any = cfg
    *parents, leaf = key.split(".")
    for part in parents:
        target = getattr(target, part)
    setattr(target, leaf, value)


_set = set_value  # the name before the config package split


def get(cfg: Config, key: str) -> Any:
    """Read a setting by dotted key."""
    target: Any = cfg
    for part in key.split("."):
        target = getattr(target, part)
    return target


def help_for(key: str, extra: str = "") -> str:
    """CLI help for the flag behind `key`: the setting's own help as a sentence (one wording, one place)."""
    help_ = SETTINGS[key].help
    # Capitalise like the other flags' help, except a leading value or name ("auto = ...", "libx264 preset").
    first, _, rest = help_.partition(" ")
    keep = first == "auto" or rest.startswith("= ") or not first.isalpha()
    text = help_ if keep else help_[0].upper() + help_[1:]
    return f"{text} ({extra})." if extra else f"{text}."
