"""The long-running `camstream run` process: settings in, a supervised pipeline out; no Typer, no Rich.

The CLI parses and checks the flags, then (when no live panel is wanted: systemd, pipes, --log-json) replaces
itself with `python -m camstream.service`, handing over a RunSpec in the environment. The process keeps its pid,
so systemd, signals and PR_SET_PDEATHSIG children are unaffected, and the interpreter that supervises for days
never loaded the CLI library (issue 17: ~20 MB less on a 512 MB board).
"""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from camstream.errors import CamstreamError, ConfigError

if TYPE_CHECKING:
    from camstream.app import Plan
    from camstream.config import Config
    from camstream.instance import Instance
    from camstream.supervise import Status

SPEC_ENV = "CAMSTREAM_RUN_SPEC"
MODULE = "camstream.service"

log = logging.getLogger("camstream")


@dataclass
class RunSpec:
    """What `camstream run` was asked to do, as plain data: the config file, flag settings, duration, logging."""

    config: str | None = None
    settings: dict[str, tuple[str, Any]] = field(default_factory=dict)
    duration: float | None = None
    log_json: bool = False
    verbose: int = 0
    quiet: bool = False

    def to_json(self) -> str:
        """One JSON object (settings as {key: [flag, value]})."""
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> RunSpec:
        """Parse what to_json wrote."""
        data = json.loads(text)
        data["settings"] = {key: (flag, value) for key, (flag, value) in data.get("settings", {}).items()}
        return cls(**data)

    def load_config(self) -> Config:
        """The run's Config: defaults < YAML < environment < these flags."""
        from camstream.config import load_config

        return load_config(Path(self.config) if self.config else None, flags=self.settings)


def exec_service(spec: RunSpec) -> NoReturn:
    """Replace this process with the lean service process (same pid), handing it `spec`."""
    env = {**os.environ, SPEC_ENV: spec.to_json()}
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(sys.executable, [sys.executable, "-m", MODULE], env)


def serve(spec: RunSpec, cfg: Config, on_status: Callable[[Status], None] | None = None,
          around: AbstractContextManager[Any] | None = None) -> int:
    """Claim the state directory, plan, start everything and supervise until stopped; the exit code."""
    from camstream.app import check_writable, make_plan
    from camstream.instance import claim

    if spec.duration is not None and spec.duration <= 0:
        raise ConfigError(f"--duration {spec.duration}: expected a positive number of seconds")
    # Before any port check: a killed earlier instance's children may still hold the ports.
    check_writable(cfg.state_dir, "paths.state_dir")
    instance = claim(cfg.state_dir)
    try:
        plan = make_plan(cfg)
        return run_plan(cfg, plan, spec.duration, instance, on_status, around)
    finally:
        instance.release()


def run_plan(cfg: Config, plan: Plan, duration: float | None, instance: Instance | None = None,
             on_status: Callable[[Status], None] | None = None,
             around: AbstractContextManager[Any] | None = None) -> int:
    """Start the plan's servers and FFmpeg and supervise them until stopped or `duration` is over."""
    from camstream.supervise import Supervisor, install_signal_handlers

    plan.prepare(instance)  # folders, the state-directory lock, partial-chunk recovery, what will run
    sup = Supervisor(plan.pipeline(), cfg.watchdog, threading.Event(), on_status=on_status)
    install_signal_handlers(sup)
    with around or nullcontext():
        return sup.run(duration)


def main() -> None:
    """`python -m camstream.service`: run the RunSpec the CLI left in the environment."""
    from camstream.logsetup import setup_logging

    text = os.environ.pop(SPEC_ENV, None)  # not inherited by FFmpeg or the servers
    if text is None:
        print(f"error: {MODULE} is started by `camstream run`: run that instead", file=sys.stderr)
        sys.exit(2)
    spec = RunSpec.from_json(text)
    try:
        cfg = spec.load_config()
        setup_logging(cfg.log.level, spec.log_json or cfg.log.json, spec.verbose, spec.quiet)
        code = serve(spec, cfg)
    except CamstreamError as err:
        print(f"error: {err}", file=sys.stderr)
        code = err.exit_code
    except KeyboardInterrupt:
        code = 130
    sys.exit(code)


if __name__ == "__main__":
    main()
