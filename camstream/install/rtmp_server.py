"""`camstream install-server nginx`: the system nginx with the RTMP module and camstream's rtmp.conf."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from camstream.errors import ProcessError
from camstream.install.plan import Host, Run, Step, WriteFile, apply, describe, require_root
from camstream.servers.nginx_rtmp import render_system_conf

NGINX_CONF = "/etc/nginx/nginx.conf"
RTMP_CONF = "/etc/nginx/camstream-rtmp.conf"
PACKAGES = ("nginx", "libnginx-mod-rtmp")
INCLUDE_COMMENT = "# Added by camstream: RTMP endpoint (the rtmp block must be at top level, outside http {})."


def include_line(rtmp_conf: str = RTMP_CONF) -> str:
    """The line that pulls camstream's rtmp block into nginx.conf."""
    return f"include {rtmp_conf};"


def packages_plan() -> list[Step]:
    """apt steps: nginx plus the RTMP dynamic module (Debian enables it in /etc/nginx/modules-enabled)."""
    return [
        Run(("apt-get", "update")),
        Run(("apt-get", "install", "-y", *PACKAGES)),
    ]


def with_include(nginx_conf_text: str, rtmp_conf: str = RTMP_CONF) -> str | None:
    """nginx.conf with the include line appended at top level, or None when it is already there (idempotent)."""
    line = include_line(rtmp_conf)
    if any(existing.strip() == line for existing in nginx_conf_text.splitlines()):
        return None
    text = nginx_conf_text if nginx_conf_text.endswith("\n") or not nginx_conf_text else nginx_conf_text + "\n"
    # Appended at the end of the file: Debian's nginx.conf closes every block, so the end is top level.
    return f"{text}\n{INCLUDE_COMMENT}\n{line}\n"


def config_plan(
    nginx_conf_text: str | None,
    *,
    port: int = 1935,
    nginx_conf: str = NGINX_CONF,
    rtmp_conf: str = RTMP_CONF,
) -> list[Step]:
    """Write rtmp.conf, add the include to nginx.conf once, test, reload. `nginx_conf_text` is its current text."""
    steps: list[Step] = [WriteFile(rtmp_conf, render_system_conf(port=port))]
    if nginx_conf_text is not None:
        updated = with_include(nginx_conf_text, rtmp_conf)
        if updated is not None:
            steps.append(WriteFile(nginx_conf, updated))
    steps += [
        Run(("nginx", "-t")),
        # reload-or-restart: reload a running nginx without dropping viewers, start one that is stopped.
        Run(("systemctl", "reload-or-restart", "nginx")),
    ]
    return steps


def _read(host: Host, path: str) -> str | None:
    target = host.path(path)
    return target.read_text() if target.exists() else None


@dataclass
class NginxInstall:
    """The install as two phases: packages first, then files computed from the nginx.conf apt left behind."""

    host: Host
    port: int = 1935
    nginx_conf: str = NGINX_CONF
    rtmp_conf: str = RTMP_CONF

    def dry_run(self) -> str:
        """Every command and every file the install would run and write, changing nothing."""
        current = _read(self.host, self.nginx_conf)
        text = describe(packages_plan())
        if current is None:
            text += f"# {self.nginx_conf} does not exist yet (apt creates it); then append:\n"
            text += f"{INCLUDE_COMMENT}\n{include_line(self.rtmp_conf)}\n"
        return text + describe(self._config_plan(current))

    def _config_plan(self, current: str | None) -> list[Step]:
        return config_plan(current, port=self.port, nginx_conf=self.nginx_conf, rtmp_conf=self.rtmp_conf)

    def apply(self, on_step: Callable[[str], None] = lambda _line: None) -> None:
        """Install packages and config; if `nginx -t` fails, put the old files back and raise."""
        require_root(self.host, "camstream install-server nginx")
        on_step(f"installing {' '.join(PACKAGES)}")
        apply(packages_plan(), self.host)
        current = _read(self.host, self.nginx_conf)
        if current is None:
            raise ProcessError(f"{self.nginx_conf} is missing after installing nginx: reinstall the nginx package")
        plan = self._config_plan(current)
        files = [step for step in plan if isinstance(step, WriteFile)]
        commands = [step for step in plan if isinstance(step, Run)]
        backup = {step.path: _read(self.host, step.path) for step in files}
        on_step(f"writing {self.rtmp_conf} and the include in {self.nginx_conf}")
        apply(files, self.host)
        try:
            on_step("checking the configuration (nginx -t) and reloading nginx")
            apply(commands, self.host)
        except ProcessError:
            self._restore(backup)
            raise

    def _restore(self, backup: dict[str, str | None]) -> None:
        for path, old in backup.items():
            target = self.host.path(path)
            if old is None:
                target.unlink(missing_ok=True)
            else:
                target.write_text(old)
