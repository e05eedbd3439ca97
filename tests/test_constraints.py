"""constraints.txt is the exact set CI tests, it agrees with pyproject.toml, and a fresh venv reproduces it (issue 18)."""

from __future__ import annotations

import re
import subprocess
import tomllib
import venv
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
CONSTRAINTS = ROOT / "constraints.txt"
EXTRAS = "rtsp,web,test"
REGENERATE = "run `make constraints` and commit constraints.txt"


def pins(text: str) -> dict[str, str]:
    """{canonical name: version} of `name==version` lines (comments and blank lines skipped)."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        match = re.fullmatch(r"([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)", line)
        assert match, f"constraints.txt: not a pin: {line!r}"
        out[canonicalize_name(match.group(1))] = match.group(2)
    return out


def requirements() -> list[Requirement]:
    """Direct requirements: [project] dependencies and the extras make install uses."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = list(project["dependencies"])
    for extra in EXTRAS.split(","):
        reqs += project["optional-dependencies"][extra]
    return [Requirement(r) for r in reqs]


def test_constraints_pin_every_direct_dependency_within_its_range() -> None:
    """A dependency added or re-ranged in pyproject.toml without regenerating the constraints fails here."""
    pinned = pins(CONSTRAINTS.read_text())
    for req in requirements():
        name = canonicalize_name(req.name)
        assert name in pinned, f"{req.name} is in pyproject.toml but not pinned: {REGENERATE}"
        assert req.specifier.contains(pinned[name], prereleases=True), (
            f"constraints.txt pins {req.name}=={pinned[name]}, outside pyproject's {req.specifier}: {REGENERATE}")
    assert "camstream" not in pinned


def test_zero_x_and_major_dependencies_have_upper_bounds() -> None:
    """The policy in the README: every direct dependency has an upper bound, except type stubs (they track pins)."""
    for req in requirements():
        if req.name.startswith("types-"):
            continue
        assert any(spec.operator in ("<", "<=", "~=", "==") for spec in req.specifier), f"{req} has no upper bound"


@pytest.mark.slow
def test_fresh_venv_with_constraints_reproduces_the_tested_versions(tmp_path: Path) -> None:
    """`pip install .[extras] -c constraints.txt` into an empty venv freezes to exactly the constraints file."""
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    python = env_dir / "bin" / "python"
    install = subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", "-c", str(CONSTRAINTS),
         f"{ROOT}[{EXTRAS}]"],
        capture_output=True, text=True, timeout=900, stdin=subprocess.DEVNULL,
    )
    assert install.returncode == 0, install.stderr[-3000:]
    freeze = subprocess.run([str(python), "-m", "pip", "freeze", "--exclude", "camstream"],
                            capture_output=True, text=True, timeout=120, check=True)
    assert pins(freeze.stdout) == pins(CONSTRAINTS.read_text())
    version = subprocess.run([str(env_dir / "bin" / "camstream"), "--version"], capture_output=True, text=True,
                             timeout=60)
    assert version.returncode == 0 and version.stdout.startswith("camstream "), version.stderr
