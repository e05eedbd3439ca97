"""Every package camstream/ imports is a declared dependency (issue 18: an undeclared `import click` broke the CLI)."""

from __future__ import annotations

import ast
import importlib.metadata
import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "camstream"

# Import names of declared optional dependencies that need not be installed here (no metadata to map them).
NOT_INSTALLED = {"cv2": "opencv-python"}


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def declared() -> set[str]:
    """Normalised names in [project] dependencies and every extra except `test`."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = list(project["dependencies"])
    for extra, items in project["optional-dependencies"].items():
        if extra != "test":
            reqs += items
    return {_norm(re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", r).group(0)) for r in reqs}  # type: ignore[union-attr]


def imported_modules() -> dict[str, list[str]]:
    """{top-level module: [files importing it]} for absolute imports in camstream/, stdlib and camstream excluded."""
    found: dict[str, list[str]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            for name in names:
                top = name.split(".")[0]
                if top in sys.stdlib_module_names or top in ("camstream", "__future__"):
                    continue
                found.setdefault(top, []).append(str(path.relative_to(ROOT)))
    return found


def test_every_third_party_import_is_declared() -> None:
    providers = importlib.metadata.packages_distributions()
    allowed = declared()
    problems = []
    for module, files in imported_modules().items():
        dists = {_norm(d) for d in providers.get(module, [])} or {_norm(NOT_INSTALLED.get(module, module))}
        if not dists & allowed:
            problems.append(f"{module} (from {', '.join(sorted(dists))}) imported by {sorted(set(files))}")
    assert not problems, "imports of packages pyproject.toml does not declare: " + "; ".join(problems)


def test_the_check_sees_third_party_imports() -> None:
    """The walk finds what camstream really imports, so the check above cannot pass by finding nothing."""
    modules = imported_modules()
    assert {"typer", "rich", "yaml", "psutil", "gi"} <= set(modules), sorted(modules)
    assert "click" not in modules
