"""Packaging promises: environment.yml and pyproject.toml agree; docs match the model; imports are cheap."""

import json
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]


def _norm(req: str) -> tuple[str, str]:
    m = re.match(r"^\s*([A-Za-z0-9_.\-]+)\s*(.*)$", req)
    name, spec = m.group(1).lower().replace("_", "-"), m.group(2).replace(" ", "")
    return name, spec


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_environment_yml_matches_pyproject():
    """environment.yml is `pip install -e .[all,test]`: the core, every extra and the test tools."""
    py = _pyproject()
    extras = py["project"]["optional-dependencies"]
    wanted = {_norm(r) for r in py["project"]["dependencies"]}
    for name, reqs in extras.items():
        if name != "all":
            wanted |= {_norm(r) for r in reqs}
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


def test_core_is_the_analysis_library_and_all_is_every_extra():
    py = _pyproject()
    core = {_norm(r)[0] for r in py["project"]["dependencies"]}
    assert core == {"pandas", "numpy", "scipy", "statsmodels", "lifelines", "plotly", "pandera", "pyarrow", "pyyaml"}
    assert dict([_norm(r) for r in py["project"]["dependencies"]])["pandera"] == ">=0.24"  # pandera.pandas
    extras = py["project"]["optional-dependencies"]
    assert {"notebooks", "reports", "excel", "all", "test"} <= set(extras)
    listed = re.fullmatch(r"trialkit\[(.*)\]", extras["all"][0]).group(1).split(",")
    assert len(extras["all"]) == 1 and sorted(listed) == sorted(set(extras) - {"all", "test"})
    jupyter = {"jupyterlab", "ipywidgets", "papermill", "nbclient", "nbconvert", "nbformat", "ipykernel",
               "jupyter-client", "tqdm", "openpyxl"}
    assert not core & jupyter


def test_extras_cover_every_optional_module_trialkit_imports():
    """trialkit._optional maps each optional module to the extra that installs it."""
    from trialkit._optional import EXTRAS

    py = _pyproject()["project"]["optional-dependencies"]
    dist = {"ipywidgets": "ipywidgets", "IPython": "ipywidgets", "anywidget": "anywidget", "papermill": "papermill", "nbclient": "nbclient",
            "nbconvert": "nbconvert", "nbformat": "nbformat", "jupyter_client": "jupyter-client",
            "jupyter_core": "jupyter-client", "ipykernel": "ipykernel", "tqdm": "tqdm", "openpyxl": "openpyxl"}
    for extra, modules in EXTRAS.items():
        names = {_norm(r)[0] for r in py[extra]}
        for m in modules:
            assert dist[m] in names, f"{m} (installed by {dist[m]}) is not in the [{extra}] extra"


def test_make_installs_all_extras_and_test_tiers_exist():
    make = (ROOT / "Makefile").read_text()
    assert '-e ".[all,test]"' in make
    assert re.search(r"^test-fast:", make, re.M) and '-m "not kernel and not browser and not slow"' in make
    assert (ROOT / ".ci" / "run").read_text().rstrip().endswith("make test")


# the Jupyter and Excel packages of the extras, hidden from a child interpreter
_EXTRA_MODULES = ("ipywidgets", "IPython", "anywidget", "papermill", "nbclient", "nbconvert", "nbformat", "jupyter_client",
                  "jupyter_core", "ipykernel", "tqdm", "openpyxl", "jupyterlab", "jupyter_server", "notebook")

_CORE_CHECK = r"""
import importlib, json, pkgutil, shutil, sys
from pathlib import Path
demo, tmp = Path(sys.argv[1]), Path(sys.argv[2])
import trialkit as tk
from trialkit.errors import MissingDependencyError
# every module of the package imports without the extras
modules = [m.name for m in pkgutil.walk_packages(tk.__path__, "trialkit.")]
for name in modules:
    importlib.import_module(name)
study = tk.load_study(demo)
res = tk.km(study, endpoint="EFS")
out = {"modules": len(modules), "km_groups": res.summary["group"].tolist(), "errors": {}}
calls = {
    "outcomes_explorer": lambda: tk.outcomes_explorer(study),
    "eligibility_explorer": lambda: tk.eligibility_explorer(study),
    "balance_explorer": lambda: tk.balance_explorer(study),
    "render_site_reports": lambda: tk.render_site_reports(demo, sites=["DE06"], out=tmp / "reports"),
    "render_table": lambda: tk.render_table(res.summary, tmp / "km.xlsx"),
}
shutil.copytree(demo, tmp / "xl")
(tmp / "xl" / "screening.csv").rename(tmp / "xl" / "screening.xlsx")
calls["load_study_xlsx"] = lambda: tk.load_study(tmp / "xl")
for name, call in calls.items():
    try:
        call()
        out["errors"][name] = None
    except tk.TrialkitError as exc:
        out["errors"][name] = [type(exc).__name__, isinstance(exc, MissingDependencyError), str(exc)]
out["loaded"] = sorted(m for m in sys.modules if m.split(".")[0] in BLOCKED and sys.modules[m] is not None)
print(json.dumps(out))
"""


def _check_core(python: str, tmp_path: Path, *, block: bool) -> dict:
    prelude = f"BLOCKED = {_EXTRA_MODULES!r}\n"
    if block:  # `None` in sys.modules makes `import x` raise ImportError, as if x were not installed
        prelude += "import sys\nfor _m in BLOCKED: sys.modules[_m] = None\n"
    proc = subprocess.run([python, "-c", prelude + _CORE_CHECK, str(ROOT / "data" / "demo" / "b1931036"),
                           str(tmp_path)], capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _assert_core_works(out: dict) -> None:
    assert out["modules"] > 40 and out["km_groups"] == ["ALLR3", "InO"]
    assert out["loaded"] == []
    want = {"outcomes_explorer": "notebooks", "eligibility_explorer": "notebooks", "balance_explorer": "notebooks",
            "render_site_reports": "reports", "render_table": "excel", "load_study_xlsx": "excel"}
    for call, extra in want.items():
        err = out["errors"][call]
        assert err is not None, f"{call} worked without the [{extra}] extra?"
        assert f"pip install 'trialkit[{extra}]'" in err[2], f"{call}: {err}"
        assert err[1] or call == "load_study_xlsx", f"{call} raised {err[0]}, not MissingDependencyError"


@pytest.mark.slow  # several seconds without a kernel: in `make test`, not `make test-fast`
def test_core_modules_work_without_the_extras(tmp_path):
    """With every Jupyter/Excel package hidden, all modules import, `tk.km` runs, extras are named."""
    _assert_core_works(_check_core(sys.executable, tmp_path, block=True))


@pytest.mark.slow
def test_core_install_in_a_fresh_venv(tmp_path):
    """`pip install trialkit` (the wheel, with its declared dependencies only) gives a working core."""
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy2(ROOT / name, src / name)
    shutil.copytree(ROOT / "trialkit", src / "trialkit", ignore=shutil.ignore_patterns("__pycache__"))
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--quiet"]
    subprocess.run([*pip, "wheel", "--no-deps", "-w", str(tmp_path / "dist"), str(src)], check=True)
    wheel = next((tmp_path / "dist").glob("trialkit-*.whl"))
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = str(venv / "bin" / "python")
    subprocess.run([python, "-m", "pip", "--disable-pip-version-check", "--quiet", "install", str(wheel)], check=True)
    work = tmp_path / "work"
    work.mkdir()
    hidden = subprocess.run([python, "-c", "import importlib.util as u, sys; "
                             f"print([m for m in {_EXTRA_MODULES!r} if u.find_spec(m)])"],
                            capture_output=True, text=True, check=True).stdout.strip()
    assert hidden == "[]", f"the core install pulled in Jupyter/Excel packages: {hidden}"
    _assert_core_works(_check_core(python, work, block=False))


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
