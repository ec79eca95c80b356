"""Drive a notebook in a real JupyterLab in headless Chromium (Debian's ``/usr/bin/chromium``).

Usage in a test module::

    import pytest
    from jupyter_browser import lab_page, run_all_cells, wait_for_text, screenshot

    pytestmark = pytest.mark.browser

    def test_explorer(jupyter_server):                  # session fixture in conftest.py
        with lab_page(jupyter_server, "notebooks/x.ipynb") as page:
            run_all_cells(page)                          # waits until every cell has run
            before = page.locator(".eligible-count").inner_text()
            page.locator(".widget-dropdown select").first.select_option("DE")
            wait_for_text(page, ".eligible-count", lambda t: t != before)
            screenshot(page, "eligibility")              # tests/_artifacts/eligibility.png

The server runs from the repository root with an empty token on 127.0.0.1, ``--allow-root``, the
IPC kernel transport (no TCP port collisions) and ``expose_app_in_browser`` so the test can call
JupyterLab commands (``window.jupyterapp``). Everything started here is stopped by its process id.
Skips (not fails) when Chromium or playwright is missing, e.g. a machine without ``make test``'s
set-up; CI installs both.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "tests" / "_artifacts"
CHROMIUM = os.environ.get("TRIALKIT_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage"]


def require_browser() -> None:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"Chromium not found at {CHROMIUM}: `make test` installs it (apt-get install chromium)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        pytest.skip("playwright is not installed: `make test` installs the test extras")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def jupyter_lab_server(root: Path = ROOT, timeout: float = 90):
    """Start JupyterLab on 127.0.0.1 with an empty token; yield its base URL; stop it by pid."""
    port = _free_port()
    tmp = Path(tempfile.mkdtemp(prefix="tk-lab-"))
    settings = tmp / "settings"
    # never autosave: a test run must not write outputs into a committed notebook
    for plugin, value in {"docmanager-extension/plugin": {"autosave": False},
                          "apputils-extension/notification": {"fetchNews": "false", "checkForUpdates": False}}.items():
        f = settings / "@jupyterlab" / f"{plugin}.jupyterlab-settings"
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_text(json.dumps(value))
    env = dict(os.environ, JUPYTER_RUNTIME_DIR=str(tmp / "runtime"), JUPYTER_CONFIG_DIR=str(tmp / "config"),
               JUPYTERLAB_WORKSPACES_DIR=str(tmp / "workspaces"), JUPYTERLAB_SETTINGS_DIR=str(settings),
               PYTHONUNBUFFERED="1")
    cmd = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
           "--allow-root", "--ServerApp.token=", "--ServerApp.password=", "--ServerApp.disable_check_xsrf=True",
           f"--ServerApp.root_dir={root}", "--LabApp.expose_app_in_browser=True",
           "--KernelManager.transport=ipc", "--LabApp.news_url=", "--LabApp.check_for_updates_class="
           "jupyterlab.NeverCheckForUpdate"]
    log = open(tmp / "server.log", "wb")
    proc = subprocess.Popen(cmd, cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError("JupyterLab exited early:\n" + (tmp / "server.log").read_text(errors="replace"))
            try:
                with urllib.request.urlopen(f"{base}/api/status", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("JupyterLab did not start in time:\n"
                                   + (tmp / "server.log").read_text(errors="replace"))
            time.sleep(0.5)
        yield base
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)
        log.close()
        shutil.rmtree(tmp, ignore_errors=True)


@contextlib.contextmanager
def chromium_context(width: int = 1500, height: int = 1800):
    """A fresh headless Chromium profile (playwright persistent context); closed on exit."""
    require_browser()
    from playwright.sync_api import sync_playwright

    profile = tempfile.mkdtemp(prefix="tk-chromium-")
    with sync_playwright() as p:
        ctx = p.chromium.launch_persistent_context(
            profile, executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS,
            viewport={"width": width, "height": height})
        try:
            yield ctx
        finally:
            ctx.close()
            shutil.rmtree(profile, ignore_errors=True)


@contextlib.contextmanager
def lab_page(base_url: str, notebook: str, *, width: int = 1500, height: int = 1800, timeout_ms: int = 120_000,
             init_script: str | None = None):
    """Open ``notebook`` (path relative to the repository root) in JupyterLab; yield the page.

    ``init_script`` (JavaScript) runs in the page before JupyterLab's own scripts (to simulate a slow page).

    The page's console errors are collected in ``page.console_errors`` (a list of str), every console
    message and uncaught page error in ``page.console_messages`` (for failure messages). On exit the
    notebook file is checked to be unchanged (a browser test must never save outputs into it).
    """
    nb_file = ROOT / notebook
    before = nb_file.read_bytes() if nb_file.exists() else None
    with chromium_context(width, height) as ctx:
        page = ctx.new_page()
        page.set_default_timeout(timeout_ms)
        errors: list[str] = []
        messages: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("console", lambda m: messages.append(f"{m.type}: {m.text}"))
        page.on("pageerror", lambda e: messages.append(f"pageerror: {e}"))
        page.console_errors = errors  # type: ignore[attr-defined]
        page.console_messages = messages  # type: ignore[attr-defined]
        if init_script:
            page.add_init_script(init_script)
        page.goto(f"{base_url}/lab/tree/{notebook}?reset", wait_until="domcontentloaded")
        page.wait_for_function("() => window.jupyterapp && window.jupyterapp.shell", timeout=timeout_ms)
        page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=timeout_ms)
        _wait_kernel_idle(page, timeout_ms)
        yield page
    if before is not None and nb_file.read_bytes() != before:
        nb_file.write_bytes(before)
        raise AssertionError(f"{notebook} was modified by the browser session (outputs saved?); restored it")


_KERNEL_STATUS = """() => {
  const w = window.jupyterapp.shell.currentWidget;
  if (!w || !w.sessionContext || !w.sessionContext.session) return 'none';
  const k = w.sessionContext.session.kernel;
  return k ? k.status : 'none';
}"""


def _wait_kernel_idle(page, timeout_ms: int) -> None:
    deadline = time.monotonic() + timeout_ms / 1000
    while time.monotonic() < deadline:
        if page.evaluate(_KERNEL_STATUS) == "idle":
            return
        time.sleep(0.25)
    raise TimeoutError("the notebook's kernel did not become idle")


def run_all_cells(page, *, timeout_ms: int = 240_000) -> None:
    """Run every cell (JupyterLab's ``notebook:run-all-cells``) and wait until all have finished.

    Fails with the text of the first error output if a cell raised.
    """
    page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
    deadline = time.monotonic() + timeout_ms / 1000
    done_js = """() => {
      const prompts = [...document.querySelectorAll('.jp-Notebook .jp-CodeCell .jp-InputPrompt')];
      if (!prompts.length) return false;
      return prompts.every(p => /\\[\\d+\\]/.test(p.textContent));
    }"""
    time.sleep(0.5)
    while time.monotonic() < deadline:
        if page.evaluate(done_js) and page.evaluate(_KERNEL_STATUS) == "idle":
            break
        time.sleep(0.5)
    else:
        raise TimeoutError("cells did not finish running in time")
    err = page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']")
    tracebacks = [t for t in err.all_inner_texts() if "Traceback" in t or "Error" in t]
    if tracebacks:
        raise AssertionError("a notebook cell raised:\n" + tracebacks[0][:3000])


def wait_for_text(page, selector: str, predicate, *, timeout_s: float = 60) -> str:
    """Poll the inner text of ``selector`` until ``predicate(text)`` holds; return the text.

    The element is scrolled into view first: JupyterLab renders only the cells near the viewport, and a
    cell outside it has no rendered text (what a user sees is what is tested).
    """
    deadline = time.monotonic() + timeout_s
    text = ""
    while time.monotonic() < deadline:
        loc = page.locator(selector)
        if loc.count():
            try:
                loc.first.scroll_into_view_if_needed(timeout=2_000)
            except Exception:  # noqa: BLE001 - detached while re-rendering: poll again
                time.sleep(0.25)
                continue
            text = loc.first.inner_text()
            if predicate(text):
                return text
        time.sleep(0.25)
    raise AssertionError(f"{selector!r} never satisfied the condition; last text: {text!r}")


def screenshot(page, name: str) -> Path:
    """Save a screenshot to tests/_artifacts/<name>.png (git-ignored) and return its path."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def notebook_json(path: str | Path) -> dict:
    return json.loads(Path(ROOT / path).read_text(encoding="utf-8"))


# --- the rendered page: layouts at the two screen sizes, bounding boxes, timings ------------------------
#: the screen sizes the layout must work at, with JupyterLab's file browser open
VIEWPORTS = ((1280, 800), (1440, 900))
TIMINGS = ARTIFACTS / "timings.txt"


def open_file_browser(page) -> dict:
    """Open JupyterLab's file browser in the left sidebar (as a user works); return its bounding box."""
    page.evaluate("() => window.jupyterapp.commands.execute('filebrowser:activate')")
    page.wait_for_function("() => { const e = document.querySelector('.jp-FileBrowser');"
                           " return e && e.getBoundingClientRect().width > 150; }")
    return bbox(page, ".jp-FileBrowser")


_BBOX_JS = """(els) => els.map(e => { const b = e.getBoundingClientRect();
  return {x: b.left, y: b.top, right: b.right, bottom: b.bottom, width: b.width, height: b.height,
          text: (e.textContent || '').trim()}; })"""


def bboxes(page, selector: str) -> list[dict]:
    """Bounding boxes (viewport coordinates, with the element's text) of every element matching ``selector``."""
    return page.eval_on_selector_all(selector, _BBOX_JS)


def bbox(page, selector: str) -> dict:
    boxes = bboxes(page, selector)
    assert boxes, f"nothing on the page matches {selector!r}"
    return boxes[0]


def overlap(a: dict, b: dict, tol: float = 0.5) -> bool:
    """Do two boxes intersect (by more than ``tol`` pixels)?"""
    return (min(a["right"], b["right"]) - max(a["x"], b["x"]) > tol
            and min(a["bottom"], b["bottom"]) - max(a["y"], b["y"]) > tol)


def horizontal_scrollers(page, selector: str) -> list[str]:
    """The elements around ``selector`` (itself and its ancestors) that scroll sideways: their class names.

    An empty list means everything in it is reachable without a horizontal scrollbar.
    """
    return page.eval_on_selector(selector, """(e) => { const out = [];
      for (let n = e; n && n !== document.body; n = n.parentElement) {
        const st = getComputedStyle(n);
        if (n.scrollWidth > n.clientWidth + 1 && !['hidden', 'clip', 'visible'].includes(st.overflowX))
          out.push(n.className || n.tagName);
      }
      return out; }""")


def visible_right_edge(page, selector: str = ".jp-NotebookPanel") -> float:
    """The right edge of what the user sees of the notebook (the panel, within the window)."""
    return min(bbox(page, selector)["right"], page.viewport_size["width"])


_ARM_TIMER = """() => {
  window.__tk_t0 = null;
  if (!window.__tk_armed) {
    window.__tk_armed = true;
    for (const type of ['pointerdown', 'keydown', 'input', 'change']) {
      document.addEventListener(type, () => { if (window.__tk_t0 === null) window.__tk_t0 = performance.now(); },
                                true);
    }
  }
}"""


def timed_update(page, action, js_predicate: str, *, timeout_ms: int = 60_000) -> float:
    """Seconds from the user's input (the first pointer, key, input or change event ``action()`` fires in
    the page) until ``js_predicate`` holds, both timed by the page's own clock, checked every frame.

    What a user waits for: the test driver's own overhead (playwright's actionability checks and round
    trips, 0.1-0.4 s here) is not counted.
    """
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    page.evaluate(_ARM_TIMER)
    t0 = time.perf_counter()
    action()
    try:
        page.wait_for_function(f"() => {{ if (({js_predicate})()) {{ window.__tk_t1 = performance.now(); return true; }}"
                               " return false; }", timeout=timeout_ms, polling="raf")
    except PlaywrightTimeout:
        raise AssertionError(f"no update within {timeout_ms / 1000:.0f} s: {js_predicate}\n{page_state(page)}") from None
    start, end = page.evaluate("[window.__tk_t0, window.__tk_t1]")
    if start is None:  # no input event reached the page (a programmatic change): the driver's clock
        return time.perf_counter() - t0
    return max(0.0, (end - start) / 1000)


_PAGE_STATE = """() => ({
  kernel: (() => { const w = window.jupyterapp.shell.currentWidget;
                   const k = w && w.sessionContext && w.sessionContext.session && w.sessionContext.session.kernel;
                   return k ? k.status : 'none'; })(),
  titles: [...document.querySelectorAll('.js-plotly-plot')].map(
    p => `${p.offsetParent !== null ? 'shown' : 'hidden'}: ${p.querySelector('.gtitle')?.textContent || '(no title)'}`),
  views: [...document.querySelectorAll('[data-tk-draws]')].map(e => `draws=${e.dataset.tkDraws} busy=${e.dataset.tkBusy} revived=${e.dataset.tkDeaf || 0}`),
  selects: [...document.querySelectorAll('.jp-Notebook select')].map(s => s.value),
  headlines: [...document.querySelectorAll('.jp-Notebook [class*="-count"]')].map(e => e.textContent.slice(0, 300)),
  errors: [...document.querySelectorAll('.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]')]
    .map(e => e.textContent.slice(0, 500)),
})"""


def page_state(page) -> str:
    """What the page shows now, for a failure message: kernel status, plot titles, figure views, select
    values, error outputs and the last console messages."""
    try:
        state = page.evaluate(_PAGE_STATE)
    except Exception as exc:  # noqa: BLE001 - a diagnostic must not hide the failure it describes
        state = {"unavailable": repr(exc)}
    state["console"] = getattr(page, "console_messages", [])[-20:]
    return json.dumps(state, indent=1, ensure_ascii=False)


def settled(check, *, timeout_s: float = 10.0, interval_s: float = 0.2):
    """``check()`` once the page has settled: retried while it fails with an AssertionError, for at most
    ``timeout_s`` (a figure mid-redraw measures at transient positions); the last failure is raised."""
    deadline = time.perf_counter() + timeout_s
    while True:
        try:
            return check()
        except AssertionError:
            if time.perf_counter() > deadline:
                raise
            time.sleep(interval_s)


def record_timing(test: str, what: str, seconds: float) -> None:
    """Print an interaction timing and keep it in tests/_artifacts/timings.txt (never asserted)."""
    line = f"{test}\t{what}\t{seconds:.3f} s"
    print("TIMING", line)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with open(TIMINGS, "a", encoding="utf-8") as f:
        f.write(line + "\n")


def plot_title(page, container: str) -> str:
    """The title of the first visible plotly figure inside ``container``."""
    return page.evaluate(f"""() => {{ const p = [...document.querySelectorAll('{container} .js-plotly-plot')]
      .find(p => p.offsetParent !== null); return p ? (p.querySelector('.gtitle')?.textContent || '') : ''; }}""")


def overflowing(page, container: str, limit: int = 8) -> list[str]:
    """Descendants of ``container`` reaching past its right edge (for a failing assertion's message)."""
    return page.eval_on_selector(container, f"""(c) => {{ const r = c.getBoundingClientRect().right; const out = [];
      for (const e of c.querySelectorAll('*')) {{ const b = e.getBoundingClientRect();
        if (b.right > r + 1 && b.width > 0) out.push(e.tagName + '.' + String(e.className.baseVal ?? e.className)
          .slice(0, 60) + ' ' + Math.round(b.left) + '-' + Math.round(b.right)); }}
      return out.slice(0, {limit}); }}""")
