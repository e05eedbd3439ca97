"""One error hierarchy: the CLI catches CamstreamError, prints `error: <message>` and exits."""

from __future__ import annotations


class CamstreamError(Exception):
    """Root of every error camstream reports to a user; `str()` is the one-line message."""

    exit_code: int = 1


class UsageError(CamstreamError):
    """A setting, flag or argument has a value camstream cannot use (exit code 2)."""

    exit_code = 2


class ConfigError(UsageError):
    """A configuration value (YAML, environment or flag) is invalid or unknown."""


class SourceError(UsageError):
    """The video source does not exist or cannot be opened."""


class PortInUseError(UsageError):
    """A port camstream must listen on is already taken by another program."""


class AlreadyRunningError(UsageError):
    """Another camstream already runs with the same state directory."""


class MissingToolError(UsageError):
    """An external program camstream needs (ffmpeg, nginx, ...) is not installed."""

    def __init__(self, tool: str, how: str) -> None:
        super().__init__(f"{tool} not found: {how}")
        self.tool = tool


class NeedsRootError(UsageError):
    """A command that changes the system was run without root privileges."""


class ServerError(CamstreamError):
    """A media server camstream manages failed to start or stay up."""


class ProcessError(CamstreamError):
    """A child process failed in a way camstream cannot recover from."""


class NotRunningError(CamstreamError):
    """No running camstream instance was found (for `camstream status`)."""
