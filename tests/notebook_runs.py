"""What the notebook tests share: the thin-notebook rule, a papermill run, and the run's outputs as text."""

from __future__ import annotations

import json
from pathlib import Path


def assert_thin(notebook: Path) -> None:
    """Committed without outputs, no function or class defined in it, a `parameters` cell first."""
    nb = json.loads(Path(notebook).read_text())
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert all(not c.get("outputs") and c.get("execution_count") is None for c in code)
    assert not any(line.lstrip().startswith(("def ", "class ")) for c in code for line in "".join(c["source"]).splitlines())
    assert "parameters" in code[0]["metadata"]["tags"]


def run_notebook(notebook: Path, out: Path, *, timeout: int = 300, **parameters) -> dict:
    """Execute ``notebook`` with papermill into ``out``; return the executed notebook.

    IPC transport: TCP ports picked for a kernel can be taken by another kernel started at the same
    moment (the browser tests' JupyterLab), which leaves the client waiting forever; time limits as a
    backstop so a kernel that never answers fails instead of hanging the suite.
    """
    import papermill as pm
    from traitlets.config import Config

    notebook = Path(notebook)
    pm.execute_notebook(str(notebook), str(out), parameters=parameters, cwd=str(notebook.parent), progress_bar=False,
                        kernel_name="python3", start_timeout=120, execution_timeout=timeout,
                        config=Config({"KernelManager": {"transport": "ipc"}}))
    return json.loads(Path(out).read_text())


def output_text(nb: dict) -> str:
    """Every HTML and plain-text output of an executed notebook, joined."""
    parts = []
    for c in nb["cells"]:
        for o in c.get("outputs", []):
            data = o.get("data", {})
            html = data.get("text/html", "")
            parts.append(html if isinstance(html, str) else "".join(html))
            parts.append("".join(data.get("text/plain", "")))
    return "\n".join(parts)
