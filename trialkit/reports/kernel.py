"""Warm kernels: one per worker, started once with the heavy libraries imported, reused across sites.

A naive batch pays, for every site, a kernel start plus the import of pandas, plotly and lifelines
(lifelines pulls in scipy), then a separate ``nbconvert`` process. Here a worker — a thread of a
:class:`~concurrent.futures.ThreadPoolExecutor`, a process of a ``ProcessPoolExecutor`` or a
``dask.distributed`` worker — keeps one kernel alive and runs every site it is given on it:

* the kernel is started once per worker (per thread and process) with IPC transport (Unix
  sockets in a private temporary folder: TCP ports picked by several kernels started together can
  collide) and pre-imports :data:`PRELOAD` (after that, ``import lifelines`` in a site costs nothing);
* each site's run starts with a clean slate: the IPython namespace and output history are wiped
  (``%reset -f``), plotly's defaults restored and the working directory set to the site's own data
  folder, so nothing one site defined can be seen by the next;
* a kernel that died or timed out is replaced before the next site;
* the executed notebook is converted to HTML in-process with one reused exporter.

The kernels are shut down when the worker's process exits (``atexit`` and multiprocessing
finalizers) or by :func:`shutdown_kernels`.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
import threading
import time

__all__ = ["KernelWorker", "get_worker", "shutdown_kernels", "PRELOAD"]

#: Modules imported once when a worker's kernel starts.
PRELOAD = ("numpy", "pandas", "pyarrow", "plotly.graph_objects", "plotly.io", "scipy.stats", "lifelines",
           "pandera", "trialkit", "trialkit.io.flatfile", "trialkit.schemas", "trialkit.reports.sections",
           "trialkit.reports.quality", "trialkit.reports.study_sections", "trialkit.reports.dsmb_sections",
           "trialkit.eligibility", "trialkit.randomization", "trialkit.outcomes", "trialkit.safety")

_WARMUP = """
import importlib as _tk_il
for _tk_m in {modules!r}:
    try:
        _tk_il.import_module(_tk_m)
    except ImportError:
        pass
import plotly.graph_objects as _tk_go
_tk_go.Figure(_tk_go.Scatter(x=[1], y=[1])).to_html(include_plotlyjs=False, full_html=False)
del _tk_il, _tk_m, _tk_go
import gc as _tk_gc
_tk_gc.collect()
_tk_gc.freeze()  # the preloaded libraries are permanent: later collections need not scan them
del _tk_gc
"""

_RESET = """
import os as _tk_os
_tk_os.chdir({cwd!r})
get_ipython().reset(new_session=False)  # = %reset -f: user namespace, Out/_ caches
import plotly.io as _tk_pio
_tk_pio.templates.default = "plotly"
del _tk_pio
"""

_lock = threading.Lock()
_workers: dict[tuple[int, int, str], KernelWorker] = {}


class KernelWorker:
    """One warm kernel and the clients to run notebooks on it (not thread-safe: one per thread)."""

    def __init__(self, kernel_name: str = "python3", *, startup_timeout: float = 120,
                 preload: tuple[str, ...] = PRELOAD):
        self.kernel_name = kernel_name
        self.startup_timeout = startup_timeout
        self.preload = tuple(preload)
        self.km = None
        self.kc = None
        self.dir = None
        self.sites_run = 0
        self.starts = 0
        self._exporter = None

    # -- kernel lifecycle ------------------------------------------------------------------------
    def start(self) -> None:
        import nbformat
        from jupyter_client.manager import AsyncKernelManager
        from nbclient import NotebookClient

        self.dir = tempfile.mkdtemp(prefix="tk-kernel-")
        self.km = AsyncKernelManager(kernel_name=self.kernel_name, transport="ipc",
                                     connection_file=os.path.join(self.dir, "kernel.json"),
                                     ip=os.path.join(self.dir, "k"))
        nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(_WARMUP.format(modules=self.preload))])
        env = {**os.environ, "MPLBACKEND": "agg", "PYDEVD_DISABLE_FILE_VALIDATION": "1"}
        client = NotebookClient(nb, km=self.km, kernel_name=self.kernel_name, timeout=self.startup_timeout,
                                startup_timeout=self.startup_timeout,
                                extra_arguments=["--HistoryManager.hist_file=:memory:"])
        client.execute(cwd=self.dir, env=env)
        self.kc = client.kc
        self.starts += 1

    def alive(self) -> bool:
        from jupyter_core.utils import run_sync

        if self.km is None:
            return False
        try:
            return bool(run_sync(self._is_alive)())
        except Exception:  # noqa: BLE001 - a broken manager is a dead kernel
            return False

    async def _is_alive(self):
        return await self.km.is_alive()

    def shutdown(self) -> None:
        from jupyter_core.utils import run_sync

        try:
            if self.kc is not None:
                self.kc.stop_channels()
            if self.km is not None:
                run_sync(self._shutdown)()
        except Exception:  # noqa: BLE001 - best effort at exit
            pass
        finally:
            self.km = self.kc = None
            if self.dir:
                shutil.rmtree(self.dir, ignore_errors=True)
                self.dir = None

    async def _shutdown(self):
        await self.km.shutdown_kernel(now=True)
        await self.km.cleanup_resources()

    # -- running ---------------------------------------------------------------------------------
    def run(self, nb, *, cwd: str | None = None, timeout: float | None = 600):
        """Execute ``nb`` (a NotebookNode) on the warm kernel, clean slate first; return it executed.

        The kernel's working directory is ``cwd`` (default: the worker's private folder, which lives
        as long as the kernel; a site's data folder is deleted after its run, so it is passed to the
        notebook as a parameter rather than used as the working directory).

        Raises whatever nbclient raises (``CellExecutionError``, ``CellTimeoutError``,
        ``DeadKernelError``); after a timeout or a dead kernel the worker restarts its kernel.
        """
        import nbformat
        from nbclient import NotebookClient
        from nbclient.exceptions import CellTimeoutError, DeadKernelError

        if not self.alive():
            self.shutdown()
            self.start()
        reset = nbformat.v4.new_code_cell(_RESET.format(cwd=str(cwd or self.dir)),
                                          metadata={"tags": ["trialkit-reset"]})
        nb.cells.insert(0, reset)
        client = NotebookClient(nb, km=self.km, kernel_name=self.kernel_name, timeout=timeout,
                                allow_errors=False, record_timing=False)
        client.kc = self.kc
        try:
            client.execute()
        except (CellTimeoutError, DeadKernelError):
            self.shutdown()  # a busy or dead kernel is not reused
            raise
        finally:
            nb.cells.pop(0)
            self.sites_run += 1
        return nb

    # -- HTML ------------------------------------------------------------------------------------
    @property
    def exporter(self):
        if self._exporter is None:
            from nbconvert import HTMLExporter

            self._exporter = HTMLExporter(template_name="basic", exclude_input=True, exclude_input_prompt=True,
                                          exclude_output_prompt=True, anchor_link_text="")
        return self._exporter


def get_worker(kernel_name: str = "python3") -> KernelWorker:
    """This thread's warm worker (started on first use)."""
    key = (os.getpid(), threading.get_ident(), kernel_name)
    with _lock:
        w = _workers.get(key)
    if w is None or w.km is None:
        w = KernelWorker(kernel_name)
        t0 = time.perf_counter()
        w.start()
        w.startup_seconds = time.perf_counter() - t0
        with _lock:
            _workers[key] = w
    return w


def shutdown_kernels(*, this_thread_only: bool = False) -> int:
    """Shut down the warm kernels of this process (or of this thread); return how many there were."""
    with _lock:
        keys = [k for k in _workers if k[0] == os.getpid()
                and (not this_thread_only or k[1] == threading.get_ident())]
        ws = [_workers.pop(k) for k in keys]
    for w in ws:
        w.shutdown()
    return len(ws)


atexit.register(shutdown_kernels)
try:  # worker processes of multiprocessing pools exit through their finalizers, not atexit
    from multiprocessing import util as _mp_util

    _mp_util.Finalize(None, shutdown_kernels, exitpriority=10)
except Exception:  # pragma: no cover
    pass
