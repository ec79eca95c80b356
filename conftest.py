"""Repository-wide pytest set-up, for tests/ and for the package's doctests alike.

Two things live here because they must hold for every item pytest collects, whichever folder or
working directory it is started from:

* **The kernel guard.** A test that starts a Jupyter kernel (papermill, nbclient, the report
  runner's warm kernels, a JupyterLab server) must carry the ``kernel`` marker (or ``browser``),
  so that ``make test-fast`` (``-m "not kernel and not browser and not slow"``) can leave it out.
  A forgotten marker fails loudly: while an unmarked item runs (fixtures included), starting a
  kernel raises, in this process (``jupyter_client``'s ``KernelManager``, which papermill, nbclient
  and ``trialkit.reports.kernel`` all go through) and in child processes (the ``python3`` and
  ``python`` kernel specs are shadowed through ``JUPYTER_PATH`` by one that refuses to start). Each
  refused start is logged and the item fails with its name and the marker to add, even when the
  code under test caught the error (the report runner records a failed site and goes on).
* **No RFC 3987 grammar.** ``jsonschema`` builds an IRI grammar with ``lark`` when it is imported
  (``rfc3987_syntax``, 3 s of CPU; nbformat and so papermill import jsonschema), in each test
  worker. No test here validates an IRI, so the module is marked absent in the test process, which
  jsonschema handles by not offering the ``iri`` formats. Kernels and JupyterLab run in their own
  processes, with it.
* **Garbage collection.** Once the tests are collected, everything imported so far (pandas, scipy,
  plotly, lifelines: hundreds of thousands of objects that live as long as the process) is moved out
  of the collector's sight (``gc.freeze``), and the youngest generation is collected every 20,000
  allocations instead of 700: the many short-lived pandas objects of a test otherwise trigger about
  1,600 collections in a few hundred tests, 8 % of their time. Objects are still collected. At the
  end, after pytest's own last collection (which reports exceptions raised in finalizers), what is
  left is frozen too: the interpreter's teardown then skips a full scan of the tests' heap, which
  took about a second per test worker, in series with the run's end.
* **Doctests.** ``--doctest-modules`` (pyproject.toml) collects the numpydoc Examples of
  ``trialkit/``. Each doctest runs from the repository root, so ``tk.load_study("data/demo/b1931036")``
  works from any working directory, with ``tk`` (trialkit), ``pd``, ``np`` and ``study`` (the
  B1931036 demo study, loaded once) already in its namespace.
"""

from __future__ import annotations

import gc
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

import pytest

sys.modules.setdefault("rfc3987_syntax", None)  # see the module docstring: "No RFC 3987 grammar"

ROOT = Path(__file__).resolve().parent
# `pytest <repository>` would otherwise import this file a second time as a doctest module
collect_ignore = ["conftest.py"]
KERNEL_MARKERS = ("kernel", "browser")
_TRAP_NAMES = ("python3", "python")

# Run by a shadowed kernel spec in a child process: log the start, then refuse it.
_TRAP_SCRIPT = (
    "import os, sys; open(sys.argv[1], 'a').write(f'{sys.argv[2]} (kernel spec, process {os.getpid()})\\n'); "
    "sys.exit('trialkit test guard: a kernel was started by a test not marked `kernel`')"
)


class KernelStartRefused(RuntimeError):
    """Raised when an item without the ``kernel``/``browser`` marker starts a Jupyter kernel."""


class _KernelGuard:
    """Refuses kernel starts while armed; every refused start is appended to ``self.log``."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="tk-kernel-guard-"))
        self.log = self.dir / "started.log"
        self.log.touch()
        for name in _TRAP_NAMES:
            spec = self.dir / "kernels" / name / "kernel.json"
            spec.parent.mkdir(parents=True)
            spec.write_text(json.dumps({
                "argv": [sys.executable, "-c", _TRAP_SCRIPT, str(self.log), name, "{connection_file}"],
                "display_name": f"refused {name} (test not marked kernel)", "language": "python"}))
        self._saved_env: str | None = None
        self._saved_method = None
        self._offset = 0
        self.armed = False

    def arm(self) -> None:
        self._saved_env = os.environ.get("JUPYTER_PATH")
        os.environ["JUPYTER_PATH"] = os.pathsep.join(p for p in (str(self.dir), self._saved_env) if p)
        self._offset = self.log.stat().st_size
        try:
            from jupyter_client.manager import KernelManager
        except ImportError:  # the core install has no Jupyter: nothing can start a kernel
            KernelManager = None
        if KernelManager is not None:
            self._saved_method = KernelManager.__dict__["_async_pre_start_kernel"]
            log = self.log

            async def refuse(manager, **kw):
                with open(log, "a") as f:
                    f.write(f"{manager.kernel_name} (jupyter_client KernelManager, process {os.getpid()})\n")
                raise KernelStartRefused("this test is not marked `kernel`: it may not start a Jupyter kernel "
                                         "(add @pytest.mark.kernel)")

            KernelManager._async_pre_start_kernel = refuse
        self.armed = True

    def disarm(self) -> None:
        if not self.armed:
            return
        if self._saved_env is None:
            os.environ.pop("JUPYTER_PATH", None)
        else:
            os.environ["JUPYTER_PATH"] = self._saved_env
        if self._saved_method is not None:
            from jupyter_client.manager import KernelManager

            KernelManager._async_pre_start_kernel = self._saved_method
            self._saved_method = None
        self.armed = False

    def new_starts(self) -> list[str]:
        if os.stat(self.log).st_size == self._offset:  # nothing new: the usual case, three times per test
            return []
        with open(self.log, "rb") as f:
            f.seek(self._offset)
            data = f.read()
        self._offset += len(data)
        return [line for line in data.decode("utf-8", "replace").splitlines() if line]

    def close(self) -> None:
        self.disarm()
        shutil.rmtree(self.dir, ignore_errors=True)


_guard: _KernelGuard | None = None


def pytest_configure(config):
    global _guard
    _guard = _KernelGuard()


def pytest_collection_finish(session):
    gc.collect()  # see the module docstring: "Garbage collection"
    gc.freeze()
    gc.set_threshold(20_000, 20, 20)


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config):
    global _guard
    if _guard is not None:
        _guard.close()
        _guard = None
    gc.freeze()  # after pytest's final gc.collect (its unraisable-exception check): see "Garbage collection"


def _guarded(item) -> bool:
    return _guard is not None and not any(item.get_closest_marker(m) for m in KERNEL_MARKERS)


def _check(item, phase: str) -> None:
    starts = _guard.new_starts()
    if starts:
        pytest.fail(f"{item.nodeid} started a Jupyter kernel during {phase} but is not marked `kernel`: "
                    f"add `@pytest.mark.kernel` to the test (or `pytestmark = pytest.mark.kernel` to its module) "
                    f"so that `make test-fast` leaves it out. Kernel starts refused: {'; '.join(starts)}",
                    pytrace=False)


def _run_guarded(item, phase: str, *, arm: bool, disarm: bool):
    if not _guarded(item):
        return (yield)
    if arm:
        _guard.arm()
    try:
        result = yield
    except BaseException:
        _check(item, phase)  # a refused start explains the failure better than what it caused
        raise
    finally:
        if disarm:
            _guard.disarm()
    _check(item, phase)
    return result


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item):
    # armed before any fixture of the item is set up, module- and session-scoped ones included
    return (yield from _run_guarded(item, "setup", arm=True, disarm=False))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    return (yield from _run_guarded(item, "the test", arm=False, disarm=False))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item, nextitem):
    return (yield from _run_guarded(item, "teardown", arm=False, disarm=True))


# -- doctests -----------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def _demo_study():
    import trialkit as tk

    return tk.load_study(ROOT / "data" / "demo" / "b1931036")


@pytest.fixture(autouse=True)
def _doctest_setup(request):
    """For doctests only: run from the repository root with ``tk``, ``pd``, ``np`` and ``study`` defined."""
    dtest = getattr(request.node, "dtest", None)  # a pytest DoctestItem
    if dtest is None:
        yield
        return
    import numpy as np
    import pandas as pd

    import trialkit as tk

    dtest.globs.update(tk=tk, pd=pd, np=np, study=request.getfixturevalue("_demo_study"))
    mp = pytest.MonkeyPatch()
    mp.chdir(ROOT)
    try:
        yield
    finally:
        mp.undo()
