"""The URLs a viewer opens, for the lines `install-service` and `hotspot setup` print at the end."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import urlparse

from camstream import proc
from camstream.config import Config, load_config
from camstream.errors import ConfigError
from camstream.install.plan import Host

# Where `camstream install-service` puts the service's settings (camstream.install.service.DEFAULT_CONFIG).
DEFAULT_CONFIG = "/etc/camstream/camstream.yaml"

LOCAL_HOSTS = ("localhost", "127.0.0.1", "::1")


def _on_this_machine(url: str) -> bool:
    return (urlparse(url).hostname or "") in LOCAL_HOSTS


def _swap_host(url: str, host: str) -> str:
    parsed = urlparse(url)
    netloc = host + (f":{parsed.port}" if parsed.port else "")
    return parsed._replace(netloc=netloc).geturl()


def viewer_urls(cfg: Config, hosts: Sequence[str]) -> list[str]:
    """Every URL a viewer on the network opens, one per address of this machine; credentials scrubbed.

    Servers camstream runs itself (builtin/mediamtx RTSP, managed nginx-rtmp, the web view) are reached at each
    of `hosts`; a publish target elsewhere (external RTSP, a remote RTMP ingest, SRT) is listed as it is.
    """
    urls: list[str] = []
    hosts = list(hosts) or ["<this-machine>"]
    if cfg.rtsp.enabled:
        if cfg.rtsp.server == "external":
            urls.append(proc.scrub(cfg.rtsp.url))
        else:
            urls += [f"rtsp://{h}:{cfg.rtsp.port}/{cfg.rtsp.path}" for h in hosts]
    if cfg.rtmp.enabled:
        if cfg.rtmp.server == "managed":
            urls += [f"rtmp://{h}:{cfg.rtmp.port}/live/{cfg.rtmp.stream_key}" for h in hosts]
        else:
            published = f"{cfg.rtmp.server.rstrip('/')}/{cfg.rtmp.stream_key}"
            # An nginx on this machine (the second seed's setup) serves viewers on the same addresses.
            local = _on_this_machine(published)
            urls += [proc.scrub(_swap_host(published, h)) for h in hosts] if local else [proc.scrub(published)]
    if cfg.srt.enabled:
        urls.append(proc.scrub(cfg.srt.url))
    # The web view (issue: web page on port 8080) exists once the web settings are in the config model.
    web: Any = getattr(cfg, "web", None)
    if web is not None and getattr(cfg, "web_view", False):
        urls += [f"http://{h}:{web.port}/" for h in hosts]
    return urls


def installed_config(host: Host) -> tuple[Config, str | None]:
    """The settings camstream.service runs with (defaults when none is installed), and a note when unreadable."""
    path = host.path(DEFAULT_CONFIG)
    if not path.is_file():
        return Config(), None
    try:
        return load_config(path, env={}, search_defaults=False), None
    except ConfigError as err:
        return Config(), f"note: {err}; the URLs below assume the default settings"
