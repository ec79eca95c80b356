"""Packaging promises: environment.yml and pyproject.toml agree; docs match the model; imports are cheap."""

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def _norm(req: str) -> tuple[str, str]:
    m = re.match(r"^\s*([A-Za-z0-9_.\-]+)\s*(.*)$", req)
    name, spec = m.group(1).lower().replace("_", "-"), m.group(2).replace(" ", "")
    return name, spec


def test_environment_yml_matches_pyproject():
    py = tomllib.loads((ROOT / "pyproject.toml").read_text())
    wanted = {_norm(r) for r in py["project"]["dependencies"] + py["project"]["optional-dependencies"]["test"]}
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    got = set()
    for dep in env["dependencies"]:
        if isinstance(dep, dict):
            got |= {_norm(d) for d in dep["pip"] if not d.startswith("-e")}
        elif not dep.startswith(("python", "pip")):
            got.add(_norm(dep))
    missing, extra = wanted - got, got - wanted
    assert not missing and not extra, (
        f"environment.yml and pyproject.toml disagree; missing from environment.yml: {sorted(missing)}, "
        f"not in pyproject.toml: {sorted(extra)}")


def test_data_model_page_is_current():
    from trialkit.model import data_model_markdown

    page = (ROOT / "docs" / "data-model.md").read_text(encoding="utf-8")
    assert page == data_model_markdown(), "docs/data-model.md is stale: run `python -m trialkit.model > docs/data-model.md`"


def test_import_is_light():
    """`import trialkit` must not pull in lifelines/scipy/plotly (reports pay every import per kernel)."""
    code = ("import sys, trialkit; heavy = [m for m in ('lifelines', 'scipy', 'plotly', 'ipywidgets', 'papermill') "
            "if m in sys.modules]; print(','.join(heavy))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == ""


def test_public_api_names_resolve():
    import trialkit as tk

    missing = []
    for name in tk.__all__:
        try:
            getattr(tk, name)
        except (ImportError, AttributeError) as exc:
            missing.append(f"{name}: {exc}")
    assert not missing, "public names that do not resolve:\n" + "\n".join(missing)
