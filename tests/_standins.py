"""Stand-in executables (nmcli, systemctl, ip, hostapd, ...) that record their argv and print canned output.

Real ones would change this machine's network and services; these are placed first on PATH.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

SCRIPT = """#!{python}
import json, os, sys
name = os.path.basename(sys.argv[0])
with open(os.environ["STANDIN_LOG"], "a") as f:
    f.write(json.dumps([name, *sys.argv[1:]]) + "\\n")
responses = {{}}
if os.path.exists(os.environ.get("STANDIN_RESPONSES", "")):
    with open(os.environ["STANDIN_RESPONSES"]) as f:
        responses = json.load(f)
answer = responses.get(" ".join([name, *sys.argv[1:]]), {{}})
sys.stdout.write(answer.get("stdout", ""))
sys.exit(answer.get("rc", 0))
"""


class StandIns:
    """A bin dir of recording stand-ins plus their log and canned responses."""

    def __init__(self, root: Path, names: tuple[str, ...]) -> None:
        self.bin = root / "standin-bin"
        self.bin.mkdir()
        self.log = root / "standin.log"
        self.responses_file = root / "standin-responses.json"
        self.responses: dict[str, dict[str, object]] = {}
        for name in names:
            exe = self.bin / name
            exe.write_text(SCRIPT.format(python=sys.executable))
            exe.chmod(0o755)
        self.save()

    def respond(self, command: str, stdout: str = "", rc: int = 0) -> None:
        """Canned answer for an exact command line (`name arg arg ...`)."""
        self.responses[command] = {"stdout": stdout, "rc": rc}
        self.save()

    def save(self) -> None:
        """Write the responses file the stand-ins read."""
        self.responses_file.write_text(json.dumps(self.responses))

    def calls(self) -> list[list[str]]:
        """Every recorded argv (program name first), in order."""
        if not self.log.exists():
            return []
        return [json.loads(line) for line in self.log.read_text().splitlines()]

    def clear(self) -> None:
        """Forget the calls recorded so far."""
        self.log.unlink(missing_ok=True)

    def env(self) -> dict[str, str]:
        """Environment that puts the stand-ins first on PATH."""
        return {
            "PATH": f"{self.bin}{os.pathsep}{os.environ.get('PATH', '')}",
            "STANDIN_LOG": str(self.log),
            "STANDIN_RESPONSES": str(self.responses_file),
        }
