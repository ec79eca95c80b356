"""Shared fixtures: the CDISC pilot folder (skipped when absent) and the demo studies.

Every test runs from the repository root. The kernel guard and the doctest set-up are in the
repository's root conftest.py (they also cover the package's doctests).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "data" / "demo"


def _cdisc_dir() -> Path:
    env = os.environ.get("TRIALKIT_CDISC_DIR")
    return Path(env) if env else ROOT.parent / "shared" / "external" / "cdiscpilot01"


@pytest.fixture(autouse=True)
def _run_from_the_repository_root(monkeypatch):
    """Every test starts in the repository root, whatever folder pytest was started from."""
    monkeypatch.chdir(ROOT)


@pytest.fixture(scope="session")
def cdisc_dir() -> Path:
    """The real CDISC SDTM/ADaM Pilot 01 files (CDISC, public pilot submission package).

    They are never copied into the repository (CDISC's terms forbid altering them and require
    attribution); tests read them from ../shared and skip when they are absent.
    """
    d = _cdisc_dir()
    if not (d / "sdtm" / "dm.xpt").exists():
        pytest.skip(f"CDISC Pilot 01 files not found at {d} (set TRIALKIT_CDISC_DIR to their folder)")
    return d


@pytest.fixture(scope="session")
def cdisc_study(cdisc_dir):
    """The CDISC Pilot 01 study as ``load_cdisc`` reads it (SDTM + ADaM), loaded once per test session.

    Shared: a test must not change it (a trialkit function that did would be a bug these tests catch).
    """
    import trialkit as tk

    return tk.load_cdisc(cdisc_dir / "sdtm", cdisc_dir / "adam")


@pytest.fixture(scope="session")
def demo_b1931036():
    """The committed B1931036 demo study (made by `trialkit demo`)."""
    import trialkit as tk

    return tk.load_study(DEMO / "b1931036")


@pytest.fixture(scope="session")
def demo_aall1732():
    """The committed AALL1732 demo study (made by `trialkit demo`)."""
    import trialkit as tk

    return tk.load_study(DEMO / "aall1732")


@pytest.fixture(scope="session")
def jupyter_server():
    """A JupyterLab server for the browser tests (one per session); see tests/jupyter_browser.py."""
    from jupyter_browser import jupyter_lab_server, require_browser

    require_browser()
    with jupyter_lab_server() as base_url:
        yield base_url
