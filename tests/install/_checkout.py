"""Whether this checkout (its venv, its package source) lies where a systemd service cannot see it."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from camstream.install.service import TMP_DIRS

ROOT = Path(__file__).resolve().parents[2]
HIDDEN_BY = next((d for d in TMP_DIRS for p in (ROOT, Path(sys.prefix)) if p == Path(d) or Path(d) in p.parents), None)

# install-service rightly refuses to point a unit at a program or Python under /tmp or /var/tmp (PrivateTmp=yes
# hides them: tests/install/test_install_service.py::test_rule_paths_private_tmp_would_hide_are_refused), so the
# end-to-end installs need a checkout elsewhere; a checkout under /tmp checks that refusal instead
# (test_install_service.py::test_checkout_under_tmp_is_refused).
needs_visible_checkout = pytest.mark.skipif(
    HIDDEN_BY is not None, reason=f"this checkout is under {HIDDEN_BY}, which the service's PrivateTmp hides")
