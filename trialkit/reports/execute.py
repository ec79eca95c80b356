"""Execute a report plan: run each task on a worker's warm kernel, keep going when one fails.

The work of one task (:func:`run_page`) is a plain picklable function of a
:class:`~trialkit.reports.plan.ReportTask`, so any :class:`concurrent.futures.Executor` can run it —
the default thread pool (:class:`Workers`), a process pool, or a ``dask.distributed`` cluster
(``client.get_executor()``). A task carries only what its audience may see (a site's own rows and
pooled study aggregates; the study team's pooled data; the dsmb's whole study); it writes them into
a private temporary folder on the worker, runs the template there and returns the HTML as text.
Nothing here writes into the output folder.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
import tempfile
import threading
import time
import traceback
from concurrent.futures import Executor, ThreadPoolExecutor, as_completed
from pathlib import Path

from .plan import ReportTask

__all__ = ["run_page", "run_site", "execute", "Workers"]

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


# ------------------------------------------------------------------------------------------------
# one task (runs on a worker)
# ------------------------------------------------------------------------------------------------
def _write_task_folder(task: ReportTask, folder: Path) -> None:
    """The task's tables as Parquet, its aggregates and a marker naming the page and its audience."""
    import yaml

    from .sections import AGGREGATES_FILE, SITE_FILE

    for name, df in task.tables.items():
        df.to_parquet(folder / f"{name}.parquet", index=False)
    cfg = {"protocol": task.protocol}
    if task.data_cut_date:
        cfg["data_cut_date"] = task.data_cut_date
    (folder / "study.yaml").write_text(yaml.safe_dump(cfg), encoding="utf-8")
    (folder / AGGREGATES_FILE).write_text(json.dumps(task.aggregates), encoding="utf-8")
    marker = {"audience": task.audience, "page": task.page, "protocol": task.protocol,
              "data_cut_date": task.data_cut_date}
    if task.audience == "site":
        marker["site_id"] = task.page
    (folder / SITE_FILE).write_text(json.dumps(marker), encoding="utf-8")


def _error_text(exc: BaseException) -> str:
    from nbclient.exceptions import CellExecutionError

    if isinstance(exc, CellExecutionError):
        tb = _ANSI.sub("", str(getattr(exc, "traceback", "") or ""))
        lines = [ln for ln in tb.splitlines() if ln.strip()]
        return f"{exc.ename}: {exc.evalue}" + ("\n" + "\n".join(lines[-6:]) if lines else "")
    return f"{type(exc).__name__}: {exc}"


def _parameterized(task: ReportTask, folder: Path):
    import nbformat
    from papermill.parameterize import parameterize_notebook

    nb = nbformat.reads(task.template, as_version=4)
    # the metadata papermill expects (as papermill.iorw.load_notebook_node sets it)
    nb.metadata.setdefault("papermill", {"default_parameters": {}, "parameters": {}, "environment_variables": {}})
    for cell in nb.cells:
        cell.metadata.setdefault("tags", [])
        cell.metadata.setdefault("papermill", {})
    own = {"site_id": task.page} if task.audience == "site" else {}
    return parameterize_notebook(nb, {**task.parameters, **own, "study_path": str(folder)})


def _drop_stderr(nb) -> int:
    """Remove warnings printed to stderr (not part of a report); return how many were removed."""
    dropped = 0
    for cell in nb.cells:
        if cell.get("outputs"):
            keep = [o for o in cell.outputs if not (o.get("output_type") == "stream" and o.get("name") == "stderr")]
            dropped += len(cell.outputs) - len(keep)
            cell.outputs = keep
    return dropped


def run_page(task: ReportTask) -> dict:
    """Render one task on this worker's warm kernel; return a JSON-able dict with the page HTML.

    Never raises for a failing notebook: the error is in ``result["error"]``.
    """
    from .kernel import get_worker
    from .page import page

    t0 = time.perf_counter()
    folder = Path(tempfile.mkdtemp(prefix=f"tk-{task.audience}-"))
    out = {"page": task.page, "status": "failed", "html": None, "error": None, "stderr_outputs": 0,
           "worker": f"{os.uname().nodename}:{os.getpid()}"}
    try:
        _write_task_folder(task, folder)
        nb = _parameterized(task, folder)
        worker = get_worker(task.kernel_name)
        nb = worker.run(nb, timeout=task.timeout)
        out["stderr_outputs"] = _drop_stderr(nb)
        body, _ = worker.exporter.from_notebook_node(nb)
        out["html"] = page(body, title=task.title, plotly_js=task.plotly_js, footer=task.footer,
                           banner=task.banner)
        out["status"] = "ok"
    except Exception as exc:  # noqa: BLE001 - one page's failure must not stop the others
        out["error"] = _error_text(exc)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
        out["duration_s"] = round(time.perf_counter() - t0, 3)
    return out


run_site = run_page  # the name of earlier versions


# ------------------------------------------------------------------------------------------------
# the workers
# ------------------------------------------------------------------------------------------------
def _warm_up(barrier, kernel_name: str) -> None:
    """Start this thread's warm kernel (the barrier puts one warm-up on each thread)."""
    from .kernel import get_worker

    try:
        barrier.wait(timeout=30)
    except Exception:  # noqa: BLE001 - a broken barrier only means less overlap
        pass
    get_worker(kernel_name)


def _cool_down(barrier) -> None:
    """Stop this thread's warm kernel (the barrier puts one call on each thread)."""
    from .kernel import shutdown_kernels

    try:
        barrier.wait(timeout=30)
    except Exception:  # noqa: BLE001
        pass
    shutdown_kernels(this_thread_only=True)


class Workers:
    """The executor of a run: the caller's, or a thread pool of warm kernels this object owns.

    Used as a context manager. An owned pool starts one kernel per thread as soon as
    :meth:`warm_up` is called (while the study-wide work runs) and stops them on exit; a caller's
    executor is used as it is and its kernels stay warm for the next call.
    """

    def __init__(self, executor: Executor | None = None, *, jobs: int | None = None, n_tasks: int = 1,
                 kernel_name: str = "python3"):
        self.own = executor is None
        self.kernel_name = kernel_name
        self.n = max(1, jobs or min(2, os.cpu_count() or 1, n_tasks)) if self.own else 0
        self.executor = (ThreadPoolExecutor(max_workers=self.n, thread_name_prefix="tk-report") if self.own
                         else executor)
        self._warm = []

    @property
    def name(self) -> str:
        return type(self.executor).__name__

    def warm_up(self) -> None:
        """Start the owned threads' kernels now (no-op for a caller's executor)."""
        if self.own:
            barrier = threading.Barrier(self.n)  # one warm-up per thread, all at once
            self._warm = [self.executor.submit(_warm_up, barrier, self.kernel_name) for _ in range(self.n)]

    def __enter__(self) -> Workers:
        return self

    def __exit__(self, *exc) -> None:
        if not self.own:
            return
        for w in self._warm:  # a kernel that could not start fails the sites, not the run
            w.exception()
        barrier = threading.Barrier(self.n)  # each thread stops its own kernel, on its own loop
        for f in [self.executor.submit(_cool_down, barrier) for _ in range(self.n)]:
            f.exception()
        self.executor.shutdown(wait=True)
        from .kernel import shutdown_kernels

        shutdown_kernels()


def _failed(exc: BaseException) -> dict:
    return {"status": "failed", "html": None, "duration_s": 0.0,
            "error": f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=2)}"}


def execute(tasks: dict[str, ReportTask], executor: Executor, *, progress: bool = True, desc: str = "reports",
            run=run_page) -> dict[str, dict]:
    """Run every task on ``executor``; return each task's outcome dict by its key (never raises)."""
    outcomes: dict[str, dict] = {}
    if not tasks:
        return outcomes
    futures = {executor.submit(run, t): key for key, t in tasks.items()}
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(futures), desc=desc, unit="page", file=sys.stderr)
    for fut in as_completed(futures):
        key = futures[fut]
        try:
            outcomes[key] = fut.result()
        except Exception as exc:  # noqa: BLE001 - a broken worker fails its task, not the run
            outcomes[key] = _failed(exc)
        if bar is not None:
            bar.update(1)
            if outcomes[key]["status"] != "ok":
                bar.set_postfix_str(f"failed: {key}")
    if bar is not None:
        bar.close()
    return outcomes
