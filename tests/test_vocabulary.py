"""One vocabulary, one result protocol, no import cycle (docs/vocabulary.md)."""

from __future__ import annotations

import ast
import dataclasses
import inspect
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import trialkit as tk
from trialkit.results import ARD_COLUMNS, Result, part_from_frame

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "trialkit"

#: first argument of public functions that do not take data to analyse (docs/vocabulary.md)
FIRST_ARGUMENT = {
    "load_study": "path", "load_protocol": "path", "load_cdisc": "sdtm", "get_protocol": "protocol_id",
    "generate_schedule": "protocol", "synthesize": "protocol", "render_table": "result",
    "plot_km": "result", "plot_forest": "result", "plot_smd": "result", "plot_cumulative_allocation": "result",
    "plot_design_simulation": "result", "plot_ph_check": "result", "plot_accrual_forecast": "result",
    "plot_backtest": "result", "plot_event_forecast": "result", "plot_site_rates": "result",
    "plot_ae_dotplot": "result", "plot_cumulative_incidence": "result",  # safety (issue 11)
}
#: names that the one vocabulary replaced
FORBIDDEN = {"level": "conf_level", "alpha": "conf_level", "stratify_by": "strata", "factors": "strata",
             "result": "eligibility", "study": "data", "studies": "data", "patients": "data", "accrual": "data"}
#: public names still to move onto the vocabulary when their modules' open work lands (kept explicit)
PENDING: set[str] = set()  # empty: every public function speaks it


def _public_functions():
    for name in sorted(tk.__all__):
        if name.startswith("_") or name in PENDING:
            continue
        obj = getattr(tk, name)
        if inspect.isfunction(obj) or (callable(obj) and inspect.ismodule(obj)):  # a callable module
            yield name, inspect.signature(obj)


@pytest.mark.parametrize("name, sig", list(_public_functions()), ids=lambda x: x if isinstance(x, str) else "")
def test_public_signatures_speak_the_vocabulary(name, sig):
    params = list(sig.parameters.values())
    if not params:  # e.g. protocols(): nothing to name
        return
    first = params[0]
    assert first.name == FIRST_ARGUMENT.get(name, "data"), f"{name}: first argument {first.name!r}"
    assert first.kind in (first.POSITIONAL_ONLY, first.POSITIONAL_OR_KEYWORD)
    rest = [p for p in params[1:] if (name, p.name) not in {("load_cdisc", "adam"), ("render_table", "path"), ("write_study", "path")}]
    positional = [p.name for p in rest if p.kind not in (p.KEYWORD_ONLY, p.VAR_KEYWORD)]
    assert not positional, f"{name}: {positional} should be keyword-only"
    for p in params:
        if p.name in FORBIDDEN and not (p is first and FIRST_ARGUMENT.get(name) == p.name):
            pytest.fail(f"{name}({p.name}=...) — the vocabulary says {FORBIDDEN[p.name]}")
    if "by" in sig.parameters:
        default = sig.parameters["by"].default
        assert default is None or default is inspect.Parameter.empty or isinstance(default, str), \
            f"{name}: `by` is one grouping column, not {default!r}"


def test_vocabulary_page_names_every_exception():
    text = (ROOT / "docs" / "vocabulary.md").read_text(encoding="utf-8")
    for name in FIRST_ARGUMENT:
        assert f"`{name}`" in text or name.startswith("plot_"), name


# ---- the result protocol ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def results(demo_b1931036):
    s = demo_b1931036
    elig = tk.evaluate_eligibility(s)
    sched = tk.generate_schedule("b1931036", n_per_stratum=6, seed=1, strata=["age_group"])
    return {
        "km": tk.km(s, endpoint="EFS", time_unit="months"),
        "logrank": tk.logrank(s, endpoint="EFS"),
        "cox": tk.cox(s, endpoint="EFS"),
        "cox_subgroups": tk.cox_subgroups(s, endpoint="EFS", subgroups=["sex"]),
        "response_rates": tk.response_rates(s),
        "median_followup": tk.median_followup(s, endpoint="OS"),
        "balance_table": tk.balance_table(s),
        "allocation_summary": tk.allocation_summary(s, n_sim=200),
        "cumulative_allocation": tk.cumulative_allocation(s, n_sim=100),
        "simulate_design": tk.simulate_design(s, n_trials=50),
        "generate_schedule": sched,
        "verify_schedule": tk.verify_schedule(sched),
        "evaluate_eligibility": elig,
        "funnel": tk.funnel(s, eligibility=elig),
        "consort": tk.consort(s, eligibility=elig),
    }


def test_every_result_follows_the_protocol(results):
    for name, res in results.items():
        assert isinstance(res, Result) and dataclasses.is_dataclass(res), name
        assert type(res).__dataclass_params__.frozen, name
        assert res.analysis == name
        assert isinstance(res.summary, pd.DataFrame) and len(res.summary), name
        assert next(iter(res.parts())) == "summary", name
        long = res.to_frame()
        assert tuple(long.columns) == ARD_COLUMNS, name
        assert set(long["part"]) >= set(k for k, v in res.parts().items() if len(v)), name
        html = res._repr_html_()
        assert "class='tk-result'" in html and "tk-table" in html, name


def test_results_with_figures_draw_them(results):
    import plotly.graph_objects as go

    for name in ("km", "cox_subgroups", "balance_table", "cumulative_allocation", "simulate_design", "funnel",
                 "consort"):
        assert isinstance(results[name].figure(), go.Figure), name


def test_km_to_frame_is_lossless(results):
    """Curves, landmarks and the risk table all come back from the long frame, number for number."""
    km = results["km"]
    long = km.to_frame()
    for part in ("summary", "curves", "landmarks", "risk_table"):
        original = km.parts()[part]
        back = part_from_frame(long, part)
        assert len(back) == len(original), part
        for col in original.columns:
            if col == "group":
                assert back[col].tolist() == original[col].astype(str).tolist()
            elif col == "time":
                np.testing.assert_array_equal(back[col].astype(float).to_numpy(), original[col].to_numpy(float))
            else:
                got = pd.to_numeric(back[col]).to_numpy(float)
                np.testing.assert_array_equal(got, original[col].to_numpy(float), err_msg=f"{part}.{col}")
    settings = long[long["part"] == "settings"].set_index("statistic")["value"]
    assert settings["conf_type"] == "log-log" and settings["time_unit"] == "months"


def test_response_to_frame_keeps_the_differences(results):
    rr = results["response_rates"]
    diffs = part_from_frame(rr.to_frame(), "differences")
    assert len(diffs) == len(rr.differences) and "difference" in diffs.columns


# ---- structure --------------------------------------------------------------------------------------
def _module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _import_statements(tree: ast.Module):
    """Every import statement, at module level or nested in functions, classes, if/try/with/for/match blocks:
    statements live only in these statement lists, so expressions need not be visited."""
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
            continue
        for name in ("body", "orelse", "finalbody", "handlers", "cases"):
            stack.extend(getattr(node, name, None) or ())


def _imports(path: Path, modules: set[str]) -> set[str]:
    """trialkit modules ``path`` imports, at module level or inside functions."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out: set[str] = set()
    for node in _import_statements(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.split(".")[0] == "trialkit"}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if not target.startswith("trialkit"):
                continue
            for a in node.names:
                sub = f"{target}.{a.name}"
                out.add(sub if sub in modules else target)
    return {m for m in out if m in modules and m != name}


def test_no_module_imports_one_that_imports_it_back():
    files = [p for p in PACKAGE.rglob("*.py")]
    modules = {_module_name(p) for p in files}
    graph = {_module_name(p): _imports(p, modules) for p in files}
    index, low, stack, on, cycles = {}, {}, [], set(), []
    counter = [0]

    def strong(v):  # Tarjan's strongly connected components
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                cycles.append(sorted(comp))

    for v in graph:
        if v not in index:
            strong(v)
    assert not cycles, f"import cycles: {cycles}"
