"""The test tiers hold: an unmarked test that starts a Jupyter kernel fails, doctests run from anywhere.

Each check runs an inner pytest session in a subprocess, on a small test file written here, with
the repository's own conftest.py (the kernel guard lives there). Both start Python processes that
import the scientific stack, so they are marked slow: `make test` runs them, `make test-fast` not.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

GUARDED = '''
import subprocess, sys
import pytest

CHILD = ("from jupyter_client.manager import start_new_kernel\\n"
         "try:\\n    start_new_kernel(kernel_name='python3', startup_timeout=60)\\n"
         "except Exception as exc:\\n    print('child:', type(exc).__name__)\\n")


def _start_here():
    from jupyter_client.manager import KernelManager
    KernelManager(kernel_name="python3").start_kernel()


@pytest.fixture(scope="module")
def started_by_a_fixture():
    try:
        _start_here()
    except Exception:
        pass


def test_unmarked_in_process():
    try:
        _start_here()
    except Exception:  # swallowed, as the report runner records a failed site and goes on
        pass


def test_unmarked_in_a_child_process():
    subprocess.run([sys.executable, "-c", CHILD], check=True)


def test_unmarked_through_a_module_fixture(started_by_a_fixture):
    pass


def test_unmarked_without_a_kernel():
    assert 1 + 1 == 2


@pytest.mark.kernel
def test_marked_is_not_guarded():
    import os
    from jupyter_client.manager import KernelManager
    assert KernelManager._async_pre_start_kernel.__name__ != "refuse"
    assert "kernel-guard" not in os.environ.get("JUPYTER_PATH", "")
'''


def _inner_pytest(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)}
    env.pop("PYTEST_ADDOPTS", None)
    env.pop("JUPYTER_PATH", None)
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "no:xdist", *args],
                          cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


@pytest.mark.slow
def test_unmarked_kernel_start_fails_loudly(tmp_path):
    shutil.copy2(ROOT / "conftest.py", tmp_path / "conftest.py")
    (tmp_path / "pytest.ini").write_text("[pytest]\nmarkers =\n    kernel: starts a kernel\n    browser: browser\n")
    (tmp_path / "test_guarded.py").write_text(GUARDED)
    proc = _inner_pytest(["-q", "-rA", "test_guarded.py"], tmp_path)
    out = proc.stdout
    assert proc.returncode == 1, out[-4000:]
    assert "2 failed, 2 passed, 1 error" in out, out[-4000:]  # the fixture's start fails its test's setup
    for test, phase, route in [("test_unmarked_in_process", "the test", "jupyter_client KernelManager"),
                               ("test_unmarked_in_a_child_process", "the test", "kernel spec"),
                               ("test_unmarked_through_a_module_fixture", "setup", "jupyter_client KernelManager")]:
        assert re.search(rf"test_guarded.py::{test} started a Jupyter kernel during {phase} but is not marked "
                         rf"`kernel`: add `@pytest.mark.kernel`.*{route}", out), (test, out[-4000:])
    assert re.search(r"PASSED test_guarded.py::test_unmarked_without_a_kernel", out)
    assert re.search(r"PASSED test_guarded.py::test_marked_is_not_guarded", out)


@pytest.mark.slow
def test_doctests_run_from_any_working_directory(tmp_path):
    """`cd elsewhere && pytest <repo>/trialkit/...`: the doctest loads data/demo/... relative to the repository."""
    target = ROOT / "trialkit" / "eligibility" / "consort.py"
    assert 'tk.load_study("data/demo/b1931036")' in target.read_text()
    proc = _inner_pytest(["-q", str(target)], tmp_path)
    assert proc.returncode == 0 and re.search(r"\b[1-9]\d* passed", proc.stdout), proc.stdout[-4000:]

