"""Installer plans: files to write or remove and commands to run, rendered for --dry-run or applied in order."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from camstream import proc
from camstream.errors import NeedsRootError, ProcessError
from camstream.storage.atomic import write_atomic


@dataclass(frozen=True)
class WriteFile:
    """Write `content` to the absolute `path` (parents created), with `mode`."""

    path: str
    content: str
    mode: int = 0o644


@dataclass(frozen=True)
class RemoveFile:
    """Remove the absolute `path` if it exists."""

    path: str


@dataclass(frozen=True)
class Run:
    """Run `argv`; a non-zero exit stops the plan unless `check` is False."""

    argv: tuple[str, ...]
    check: bool = True


Step = WriteFile | RemoveFile | Run


@dataclass(frozen=True)
class Host:
    """Where installers read and write: a filesystem root (tests use a temp dir) and the effective uid."""

    root: Path = Path("/")
    euid: int = field(default_factory=os.geteuid)

    @classmethod
    def from_env(cls) -> Host:
        """The real machine. Test hooks: CAMSTREAM_HOST_ROOT re-roots every file path (also useful for
        image builds); CAMSTREAM_HOST_EUID overrides the uid used only for camstream's own root check."""
        euid = os.environ.get("CAMSTREAM_HOST_EUID", "")
        return cls(root=Path(os.environ.get("CAMSTREAM_HOST_ROOT", "/")), euid=int(euid) if euid.isdigit() else os.geteuid())

    def path(self, absolute: str) -> Path:
        """`absolute` (e.g. /etc/systemd/system/x.service) below this host's root."""
        return self.root / absolute.lstrip("/")

    @property
    def is_root(self) -> bool:
        """True when running with root privileges."""
        return self.euid == 0


def require_root(host: Host, what: str) -> None:
    """Refuse a system-changing command without root; --dry-run never calls this."""
    if not host.is_root:
        raise NeedsRootError(f"{what} changes the system and needs root: run it with sudo, or add --dry-run to see what it would do")


def describe(steps: Sequence[Step]) -> str:
    """The plan as text for --dry-run: full contents of every file, every command, in order."""
    out: list[str] = []
    for step in steps:
        if isinstance(step, WriteFile):
            out.append(f"# write {step.path} (mode {step.mode:04o})")
            out.append(step.content.rstrip("\n"))
            out.append(f"# end of {step.path}")
        elif isinstance(step, RemoveFile):
            out.append(f"# remove {step.path}")
        else:
            out.append(f"$ {proc.quote(step.argv)}" + ("" if step.check else "  # failure ignored"))
    return "\n".join(out) + "\n"


def apply(steps: Sequence[Step], host: Host, on_step: Callable[[str], None] | None = None) -> None:
    """Carry out the plan in order; the first failing checked command raises ProcessError."""
    for step in steps:
        if on_step is not None:
            on_step(describe([step]).splitlines()[0])  # "# write PATH (mode ...)", "# remove PATH" or "$ argv"
        if isinstance(step, WriteFile):
            target = host.path(step.path)
            target.parent.mkdir(parents=True, exist_ok=True)
            # Write then rename, so a crash never leaves a half-written unit or config behind.
            write_atomic(target, step.content, mode=step.mode)
        elif isinstance(step, RemoveFile):
            host.path(step.path).unlink(missing_ok=True)
        else:
            argv = [proc.which(step.argv[0]), *step.argv[1:]]
            result = proc.run(argv, timeout=120.0)
            if result.returncode != 0 and step.check:
                detail = (result.stderr or result.stdout).strip().splitlines()
                raise ProcessError(
                    f"`{proc.quote(step.argv)}` failed with exit code {result.returncode}"
                    + (f": {detail[-1]}" if detail else "")
                )
