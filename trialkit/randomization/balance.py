"""Baseline balance (Table 1) with standardized mean differences and their chance band.

Statistics
----------
Continuous covariates: n, mean (SD, ``ddof=1``), median [Q1, Q3] (linear interpolation, R type 7),
missing. Categorical covariates: n (%) per level, with the percentage of the non-missing values,
and missing. Everything is computed by arm and overall.

Standardized mean difference (SMD), for each arm against the reference (first) arm:

* continuous: ``d = (x̄_B − x̄_A) / sqrt((s_A² + s_B²) / 2)``;
* binary: ``d = (p_B − p_A) / sqrt((p_A(1−p_A) + p_B(1−p_B)) / 2)``;
* categorical with K > 2 levels: the multivariate (Mahalanobis) form
  ``d = sqrt((p_B − p_A)ᵀ S⁻¹ (p_B − p_A))`` over K − 1 levels (the first dropped), with
  ``S = (Σ_A + Σ_B) / 2`` and ``Σ`` the multinomial covariance (``p_k(1−p_k)`` on the diagonal,
  ``−p_k p_l`` off it). Levels absent from both arms are left out (they would make S singular).

The table reports ``|d|`` (the multi-level form has no sign); the signed value is in ``.smd``.

Chance band. Under randomization, ``d`` of one covariate is approximately normal with standard
error ``sqrt(1/n_A + 1/n_B)`` (the large-sample variance of d at d = 0:
``(n_A + n_B)/(n_A n_B) = 1/n_A + 1/n_B``, the first term of ``V_d = (n_A + n_B)/(n_A n_B) +
d²/(2(n_A + n_B))``; Hedges & Olkin 1985, ch. 5; Borenstein et al. 2009, ch. 4). For 67 vs 33 patients
this is 0.213, so the customary "SMD > 0.1 means imbalance" rule would flag most covariates of a
100-patient trial by chance alone. We report this standard error as the band and flag a covariate
only beyond the 95 % chance limit ``sqrt((1/n_A + 1/n_B) · χ²_{df, 0.95})`` with ``df = 1`` for
continuous and binary covariates (= 1.96 SE) and ``df = K − 1`` for the multi-level form (whose
square is approximately ``(1/n_A + 1/n_B) χ²_{K−1}`` under randomization).

No baseline p-values by default. CONSORT 2010 (Moher et al., BMJ 2010;340:c869, explanation of
item 15) advises against significance tests of baseline differences in randomized trials: any
difference is by definition due to chance. ``pvalues=True`` adds them for those who must.

References
----------
Austin PC. Balance diagnostics for comparing the distribution of baseline covariates between
treatment groups in propensity-score matched samples. *Stat Med* 2009;28:3083-3107.
Yang D, Dalton JE. A unified approach to measuring the effect size between two groups using
SAS. SAS Global Forum 2012, paper 335-2012.
Hedges LV, Olkin I. *Statistical Methods for Meta-Analysis*. Academic Press, 1985, ch. 5.
Borenstein M, Hedges LV, Higgins JPT, Rothstein HR. *Introduction to Meta-Analysis*. Wiley,
2009, ch. 4 (variance of d).
Moher D, Hopewell S, Schulz KF, et al. CONSORT 2010 explanation and elaboration. *BMJ*
2010;340:c869 (item 15).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from typing import ClassVar

import numpy as np
import pandas as pd

from ..analysis_set import analysis_set, is_study
from ..errors import BalanceError, TrialkitError
from ..protocols import Protocol
from ..results import Result

__all__ = ["BalanceTable", "balance_table", "smd", "DEFAULT_STUDY_COVARIATES", "default_covariates"]

#: Screening columns shown by default for a Study whose protocol declares no ``baseline_covariates``
#: (those present and not entirely empty).
DEFAULT_STUDY_COVARIATES = ("age_years", "sex", "height_cm", "weight_kg", "diagnosis", "relapse_site",
                            "marrow_blasts_pct", "cd22_pct", "wbc_per_ul", "cns_status", "down_syndrome",
                            "testicular_involvement")


# ---------------------------------------------------------------------------------------------
# SMD formulas (pure functions on summary statistics; tested against hand calculations)
# ---------------------------------------------------------------------------------------------

def smd_continuous(mean_a: float, sd_a: float, mean_b: float, sd_b: float) -> float:
    """``(mean_b − mean_a) / sqrt((sd_a² + sd_b²) / 2)`` (Austin 2009, eq. 1)."""
    pooled = np.sqrt((sd_a ** 2 + sd_b ** 2) / 2)
    if pooled == 0 or not np.isfinite(pooled):
        return 0.0 if mean_a == mean_b else np.nan
    return float((mean_b - mean_a) / pooled)


def smd_categorical(p_a: Sequence[float], p_b: Sequence[float]) -> float:
    """Yang & Dalton (2012) multivariate SMD of two vectors of level proportions (sum 1 each).

    For two levels it equals ``|p_b − p_a| / sqrt((p_a q_a + p_b q_b) / 2)`` (Austin 2009, eq. 2).
    """
    p_a, p_b = np.asarray(p_a, dtype=float), np.asarray(p_b, dtype=float)
    keep = (p_a > 0) | (p_b > 0)
    p_a, p_b = p_a[keep][1:], p_b[keep][1:]
    if len(p_a) == 0:
        return 0.0
    t = p_b - p_a
    cov = []
    for p in (p_a, p_b):
        c = -np.outer(p, p)
        c[np.diag_indices_from(c)] = p * (1 - p)
        cov.append(c)
    s = (cov[0] + cov[1]) / 2
    try:
        val = float(t @ np.linalg.solve(s, t))
    except np.linalg.LinAlgError:
        val = float(t @ np.linalg.pinv(s) @ t)
    return float(np.sqrt(max(val, 0.0)))


def smd(a: pd.Series, b: pd.Series, *, categorical: bool | None = None) -> float:
    """SMD between two samples (``b`` minus ``a``); categorical when the values are not numbers.

    Continuous and binary values keep their sign; the multi-level categorical form is ≥ 0.
    """
    a, b = pd.Series(a).dropna(), pd.Series(b).dropna()
    if categorical is None:
        categorical = not (pd.api.types.is_numeric_dtype(a) and not pd.api.types.is_bool_dtype(a))
    if not categorical:
        return smd_continuous(a.mean(), a.std(ddof=1), b.mean(), b.std(ddof=1))
    levels = sorted(set(a.astype(str)) | set(b.astype(str)))
    pa = a.astype(str).value_counts(normalize=True).reindex(levels, fill_value=0).to_numpy()
    pb = b.astype(str).value_counts(normalize=True).reindex(levels, fill_value=0).to_numpy()
    d = smd_categorical(pa, pb)
    if len(levels) == 2:
        d = float(np.sign(pb[1] - pa[1]) * d)
    return d


# ---------------------------------------------------------------------------------------------
# the table
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class BalanceTable(Result):
    """Result of :func:`balance_table`.

    Attributes
    ----------
    summary : DataFrame
        Tidy analysis results: ``variable, kind, level, group, statistic, value`` with statistics
        ``n, mean, sd, median, q1, q3, missing`` (continuous) or ``count, percent, missing``
        (categorical); ``group`` is an arm or ``"Overall"``.
    smd : DataFrame
        One row per covariate and comparison: ``variable, kind, comparison, smd`` (signed for
        continuous/binary), ``abs_smd, n_ref, n_other, se_chance, df, chance_limit,
        beyond_chance`` and, when requested, ``p_value, test``.
    groups : list of str
        Arm labels in display order (reference first).
    n : dict
        Subjects per group and ``"Overall"``.
    band : float
        ``sqrt(1/n_A + 1/n_B)`` with the two first groups' sizes (0.213 for 67 vs 33).
    notes : tuple of str
        What a reader must know (rows without a group, covariates left out and why).
    """

    summary: pd.DataFrame
    smd: pd.DataFrame
    groups: list
    n: dict
    by: str
    band: float
    conf_level: float = 0.95
    digits: int = 1
    labels: dict = field(default_factory=dict)
    pvalues: bool = False
    population: str | None = None
    notes: tuple = ()

    analysis: ClassVar[str] = "balance_table"
    part_keys: ClassVar[dict] = {"summary": ("variable", "kind", "level", "group"),
                                 "smd": ("variable", "kind", "comparison")}

    # -- views -----------------------------------------------------------------------------------
    def parts(self) -> dict[str, pd.DataFrame]:
        return {"summary": self.summary, "smd": self.smd,
                "n": pd.DataFrame({"group": list(self.n), "n": list(self.n.values())})}

    def settings(self) -> dict:
        return {"by": self.by, "band": self.band, "conf_level": self.conf_level, "pvalues": self.pvalues,
                "population": self.population}

    def title(self) -> str:
        return f"Table 1: baseline characteristics by {self.by}"

    def html_parts(self):
        df = self.display_frame()
        head = df["Characteristic"].ne("")
        flags = pd.DataFrame({c: df[c].str.endswith("†") for c in df.columns if c.startswith("SMD")})
        return [(self.caption, df, {"head_rows": head, "flags": flags})]

    def figure(self, **kwargs):
        """The SMD plot (:func:`trialkit.plot_smd`)."""
        from ..plots.randomization import plot_smd

        return plot_smd(self, **kwargs)

    @property
    def caption(self) -> str:
        g = self.groups
        band = (f"SMD chance scale sqrt(1/n_{g[0]} + 1/n_{g[1]}) = {self.band:.3f} "
                f"({self.n[g[0]]} vs {self.n[g[1]]}): under randomization |SMD| exceeds it about a third of the "
                f"time; flagged (red) only beyond the {self.conf_level:.0%} chance limit "
                f"(1.96 × band for a continuous or binary covariate). ") if len(g) >= 2 else ""
        pv = ("p-values were requested; CONSORT 2010 (item 15) advises against testing baseline differences "
              "in randomized trials. " if self.pvalues else "No baseline p-values (CONSORT 2010, item 15). ")
        return (f"Baseline characteristics by {self.by}. Continuous: mean (SD) and median [Q1, Q3]; "
                f"categorical: n (%) of non-missing. SMD: |standardized mean difference| vs {g[0]} "
                f"(multi-level categorical: Yang & Dalton 2012). " + band + pv + " ".join(self.notes))

    def display_frame(self) -> pd.DataFrame:
        """The Table 1 layout: one row per statistic or level, one column per arm, Overall, SMD."""
        d = self.digits
        st = self.summary.set_index(["variable", "level", "group", "statistic"])["value"]
        cols = [*self.groups, "Overall"]
        headers = {g: f"{g} (N={self.n[g]})" for g in cols}
        smd = self.smd
        comps = list(dict.fromkeys(smd["comparison"])) if len(smd) else []
        smd_cols = {c: ("SMD" if len(comps) == 1 else f"SMD {c}") for c in comps}
        rows = [{"Characteristic": "N", "Statistic": "", **{headers[g]: str(self.n[g]) for g in cols}}]
        kinds = self.summary.drop_duplicates("variable").set_index("variable")["kind"]
        for var, kind in kinds.items():
            label = self.labels.get(var, var)
            first = {"Characteristic": label}
            sm = smd[smd["variable"] == var].set_index("comparison")
            for c, name in smd_cols.items():
                if c in sm.index:
                    v = sm.loc[c, "abs_smd"]
                    first[name] = "" if pd.isna(v) else f"{v:.3f}" + (" †" if sm.loc[c, "beyond_chance"] else "")
            if self.pvalues and len(sm):
                pv = sm["p_value"].iloc[0]
                first["p-value"] = "" if pd.isna(pv) else ("<0.001" if pv < 0.001 else f"{pv:.3f}")
                first["test"] = sm["test"].iloc[0]
            if kind == "continuous":
                def cell(g, var=var):
                    def s(x):
                        return st.get((var, "", g, x), np.nan)
                    if s("n") == 0:
                        return "", ""
                    return (f"{s('mean'):.{d}f} ({s('sd'):.{d}f})",
                            f"{s('median'):.{d}f} [{s('q1'):.{d}f}, {s('q3'):.{d}f}]")
                r1 = {**first, "Statistic": "mean (SD)"}
                r2 = {"Characteristic": "", "Statistic": "median [Q1, Q3]"}
                for g in cols:
                    a, b = cell(g)
                    r1[headers[g]], r2[headers[g]] = a, b
                rows += [r1, r2]
            else:
                levels = list(dict.fromkeys(self.summary.loc[(self.summary["variable"] == var)
                                                             & (self.summary["statistic"] == "count"), "level"]))
                rows.append({**first, "Statistic": "n (%)", **{headers[g]: "" for g in cols}})
                for lv in levels:
                    r = {"Characteristic": "", "Statistic": f"  {lv}"}
                    for g in cols:
                        c, p = st.get((var, lv, g, "count"), 0), st.get((var, lv, g, "percent"), np.nan)
                        r[headers[g]] = f"{int(c)} ({p:.{d}f})" if pd.notna(p) else f"{int(c)}"
                    rows.append(r)
            miss = {g: st.get((var, "", g, "missing"), 0) for g in cols}
            if any(miss.values()):
                r = {"Characteristic": "", "Statistic": "missing, n (%)"}
                for g in cols:
                    tot = self.n[g]
                    r[headers[g]] = f"{int(miss[g])} ({100 * miss[g] / tot:.{d}f})" if tot else "0"
                rows.append(r)
        out = pd.DataFrame(rows)
        order = ["Characteristic", "Statistic", *headers.values(), *smd_cols.values()]
        if self.pvalues:
            order += ["p-value", "test"]
        return out.reindex(columns=order).fillna("")

    def to_html(self, path: str | PathLike) -> Path:
        """Write the table as a standalone HTML page; return the path."""
        return self._render(path, ".html")

    def to_excel(self, path: str | PathLike) -> Path:
        """Write the table (caption in A1) to an .xlsx file; return the path."""
        return self._render(path, ".xlsx")

    def to_latex(self, path: str | PathLike) -> Path:
        """Write the table as a LaTeX ``table`` (booktabs); return the path."""
        return self._render(path, ".tex")

    def _render(self, path, suffix):
        from ..tables import render_table

        path = Path(path)
        if path.suffix.lower() != suffix:
            raise BalanceError(f"{path.name}: this export writes {suffix} files; name the file *{suffix}.")
        return render_table(self, path)


def default_covariates(study) -> list[str]:
    """The covariates Table 1 shows for a Study: the protocol's ``baseline_covariates`` (else
    :data:`DEFAULT_STUDY_COVARIATES`) that have data, with the stratification factors after age and sex."""
    declared = (study.protocol.raw or {}).get("baseline_covariates") or DEFAULT_STUDY_COVARIATES
    scr = study.screening
    cand = [c for c in declared if c in scr and scr[c].notna().any()]
    factors = [f.name for f in study.protocol.stratification if f.name in study.randomization]
    return list(dict.fromkeys([*cand[:2], *factors, *cand[2:]]))


def _default_labels(study) -> dict:
    """Readable labels: the canonical column descriptions (with units) and the protocol factor labels."""
    from ..model import columns

    out = {}
    for c in columns("screening"):
        text = c.description.split(" (")[0].split(";")[0]
        if c.unit and text.endswith(f" in {c.unit}"):
            text = text[: -len(f" in {c.unit}")]
        out[c.name] = f"{text}, {c.unit}" if c.unit else text
    adsl = (getattr(study, "adam", None) or {}).get("adsl")
    if adsl is not None:  # a study loaded from ADaM: ADSL's own variable labels
        out.update({k: v for k, v in (adsl.attrs.get("labels") or {}).items() if v})
        out.setdefault("bmi", (adsl.attrs.get("labels") or {}).get("BMIBL") or "BMI")
    for f in study.protocol.stratification:
        out[f.name] = f"{f.label} (stratification factor)"
    return out


def _kind(s: pd.Series, force_cat: bool) -> str:
    if force_cat or not (pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s)):
        return "categorical"
    return "continuous"


def _p_value(kind, samples, table=None):
    from scipy import stats

    if kind == "continuous":
        xs = [s for s in samples if len(s) >= 2]
        if len(xs) < 2:
            return np.nan, ""
        if len(xs) == 2:
            return float(stats.ttest_ind(xs[0], xs[1], equal_var=False).pvalue), "Welch t-test"
        return float(stats.f_oneway(*xs).pvalue), "one-way ANOVA"
    t = table[:, table.sum(axis=0) > 0]
    t = t[t.sum(axis=1) > 0]
    if t.shape[0] < 2 or t.shape[1] < 2:
        return np.nan, ""
    expected = stats.contingency.expected_freq(t)
    if t.shape == (2, 2) and (expected < 5).any():
        return float(stats.fisher_exact(t).pvalue), "Fisher exact"
    return float(stats.chi2_contingency(t, correction=False).pvalue), "Pearson chi-square"


def _continuous(var: str, s: pd.Series, gg: np.ndarray, G: int, names: list[str], pvalues: bool):
    """Table 1 rows (mean, SD, median, quartiles, missing per group and overall) and SMDs vs the first group."""
    kind = "continuous"
    stat_rows: list[tuple] = []
    smd_rows: list[dict] = []
    x = s.to_numpy(dtype=float, na_value=np.nan)
    ok = ~np.isnan(x)
    cnt = np.bincount(gg[ok], minlength=G + 1)[:G]
    tot = np.bincount(gg[ok], weights=x[ok], minlength=G + 1)[:G]
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = tot / cnt
        dev = (x[ok] - np.append(mean, np.nan)[gg[ok]]) ** 2
        var_ = np.bincount(gg[ok], weights=dev, minlength=G + 1)[:G] / (cnt - 1)
    sd = np.sqrt(var_)
    miss = np.bincount(gg[~ok], minlength=G + 1)[:G]
    xs = x[ok]
    per = [xs[gg[ok] == k] for k in range(G)] + [xs]
    for k, name in enumerate([*names, "Overall"]):
        v = per[k]
        if k < G:
            mu, sdev, nn, mm = mean[k], sd[k], cnt[k], miss[k]
        else:
            nn, mm = len(v), int((~ok).sum())
            mu = v.mean() if nn else np.nan
            sdev = v.std(ddof=1) if nn > 1 else np.nan
        q = np.quantile(v, [0.25, 0.5, 0.75]) if len(v) else [np.nan] * 3
        stat_rows += [(var, kind, "", name, "n", float(nn)), (var, kind, "", name, "mean", float(mu)),
                      (var, kind, "", name, "sd", float(sdev)), (var, kind, "", name, "median", float(q[1])),
                      (var, kind, "", name, "q1", float(q[0])), (var, kind, "", name, "q3", float(q[2])),
                      (var, kind, "", name, "missing", float(mm))]
    for k in range(1, G):
        d = smd_continuous(mean[0], sd[0], mean[k], sd[k]) if min(cnt[0], cnt[k]) > 1 else np.nan
        row = {"variable": var, "kind": kind, "comparison": f"{names[k]} vs {names[0]}", "smd": d,
               "n_ref": int(cnt[0]), "n_other": int(cnt[k]), "df": 1}
        if pvalues:
            row["p_value"], row["test"] = _p_value(kind, per[:G])
        smd_rows.append(row)
    return stat_rows, smd_rows


def _levels_of(var: str, s: pd.Series, protocol) -> tuple[list, np.ndarray]:
    """The levels of a categorical covariate (declared order first) and each row's level code."""
    if isinstance(s.dtype, pd.CategoricalDtype):
        return list(s.cat.categories), s.cat.codes.to_numpy().astype(np.int64)
    if pd.api.types.is_bool_dtype(s):
        lv = [False, True]
    else:
        pf = {f.name: f.levels for f in protocol.stratification} if protocol else {}
        present = list(pd.unique(s.dropna()))
        lv = [x for x in pf.get(var, ()) if x in set(present)]
        lv += sorted([x for x in present if x not in set(lv)], key=str)
    return lv, pd.Categorical(s, categories=lv).codes.astype(np.int64)


def _categorical(var: str, s: pd.Series, gg: np.ndarray, G: int, names: list[str], pvalues: bool, protocol):
    """Table 1 rows (count and percent per level, missing) and SMDs (Yang & Dalton) vs the first group."""
    stat_rows: list[tuple] = []
    smd_rows: list[dict] = []
    lv, c = _levels_of(var, s, protocol)
    L = len(lv)
    ok = c >= 0
    tab = np.bincount(gg[ok] * L + c[ok], minlength=(G + 1) * L).reshape(G + 1, L)
    over = tab.sum(axis=0)
    tab = tab[:G]
    miss = np.bincount(gg[~ok], minlength=G + 1)[:G]
    nonmiss = tab.sum(axis=1)
    kind = "binary" if L == 2 else ("categorical" if L > 2 else "constant")
    disp = ["yes" if x is True else "no" if x is False else str(x) for x in lv]
    for k, name in enumerate([*names, "Overall"]):
        counts = tab[k] if k < G else over
        tot = counts.sum()
        for j in range(L):
            stat_rows.append((var, kind, disp[j], name, "count", float(counts[j])))
            stat_rows.append((var, kind, disp[j], name, "percent", float(100 * counts[j] / tot) if tot else np.nan))
        mm = miss[k] if k < G else int((~ok).sum())
        stat_rows.append((var, kind, "", name, "missing", float(mm)))
    for k in range(1, G):
        if nonmiss[0] and nonmiss[k]:
            pa, pb = tab[0] / nonmiss[0], tab[k] / nonmiss[k]
            d = smd_categorical(pa, pb)
            if L == 2:
                d = float(np.sign(pb[1] - pa[1]) * d)
        else:
            d = np.nan
        row = {"variable": var, "kind": kind, "comparison": f"{names[k]} vs {names[0]}", "smd": d,
               "n_ref": int(nonmiss[0]), "n_other": int(nonmiss[k]),
               "df": max(int(((tab[0] + tab[k]) > 0).sum()) - 1, 1)}
        if pvalues:
            row["p_value"], row["test"] = _p_value(kind, None, tab)
        smd_rows.append(row)
    return stat_rows, smd_rows


def balance_table(data, *, by: str = "arm", covariates: Sequence[str] | None = None,
                  categorical: Sequence[str] = (), labels: Mapping[str, str] | None = None,
                  protocol: str | Protocol | None = None, reference: str | None = None,
                  population: str | None = None, subgroup: Mapping | None = None,
                  pvalues: bool = False, conf_level: float = 0.95, digits: int = 1) -> BalanceTable:
    """Table 1: baseline characteristics by arm and overall, with SMDs and their chance band.

    Parameters
    ----------
    data : Study or DataFrame
        A Study (its randomized subjects with columns from any of its tables, and every ADSL variable
        of a study loaded from ADaM) or any frame with one row per subject (e.g. a CDISC ADSL with
        ``by="TRT01P"``, ordered by ``TRT01PN``).
    by : str
        Grouping column (``"arm"``; ``"actual_arm"`` for as-treated).
    covariates : sequence of str, optional
        Columns to summarize, in order. Default for a Study: the protocol's ``baseline_covariates``
        (else :data:`DEFAULT_STUDY_COVARIATES`) that have data, with the stratification factors after
        age and sex; for a frame, every other column.
    categorical : sequence of str
        Numeric columns to treat as categorical (codes).
    labels : mapping, optional
        Display labels ``{column: label}``.
    protocol : str or Protocol, optional
        Orders the arms (reference first) when ``data`` is a frame.
    reference : str, optional
        The group SMDs compare with (shown first); default the protocol's reference arm or the first
        group of a declared order (see :func:`trialkit.analysis_set.resolve_reference`).
    population, subgroup
        As for :func:`trialkit.analysis_set` (default: everyone randomized).
    pvalues : bool
        Add baseline p-values (off by default; see CONSORT 2010 item 15).
    conf_level : float
        Coverage of the chance limit used to flag an SMD (default 0.95).

    Returns
    -------
    BalanceTable
        ``.summary`` (tidy), ``.smd``, ``.display_frame()``; renders in Jupyter; ``to_html``,
        ``to_excel``, ``to_latex``.

    Examples
    --------
    >>> import pandas as pd, trialkit as tk
    >>> df = pd.DataFrame({"arm": ["A", "A", "B", "B"], "age": [1.0, 3.0, 2.0, 6.0]})
    >>> round(float(tk.balance_table(df, covariates=["age"], reference="A").smd["abs_smd"].iloc[0]), 3)
    0.894
    >>> bt = tk.balance_table(tk.load_study("data/demo/b1931036"))
    >>> bt.groups, round(bt.band, 2)
    (['ALLR3', 'InO'], 0.21)
    """
    from scipy.stats import chi2

    if not 0 < conf_level < 1:
        raise BalanceError(f"conf_level must lie strictly between 0 and 1 (e.g. 0.95), not {conf_level!r}")
    if is_study(data):
        covariates = default_covariates(data) if covariates is None else covariates
        labels = {**_default_labels(data), **dict(labels or {})}
    elif isinstance(data, pd.DataFrame):
        if by not in data:
            raise BalanceError(f"grouping column `{by}` is not in the frame; pass by=<the arm column> "
                               f"(columns: {', '.join(map(str, data.columns[:30]))}).")
        if covariates is None:
            covariates = [c for c in data.columns if c != by and not (c == f"{by}N" and by.isupper())]
    else:
        raise BalanceError(f"expected a Study or a DataFrame, got {type(data).__name__}.")
    covariates = [covariates] if isinstance(covariates, str) else list(covariates)
    if by in covariates:
        raise BalanceError(f"`{by}` is the grouping column; remove it from covariates.")
    if len(set(covariates)) != len(covariates):
        raise BalanceError(f"covariates repeat a column: {covariates}.")
    if not covariates:
        raise BalanceError("no covariates to summarize; pass covariates=[...].")
    try:
        aset = analysis_set(data, by=by, columns=covariates, population=population, subgroup=subgroup,
                            reference=reference, protocol=protocol, require_reference=True, missing_group="keep")
    except TrialkitError as exc:
        raise BalanceError(str(exc)) from None
    df = aset.frame
    notes: list[str] = list(aset.notes)
    protocol = aset.protocol
    labels = dict(labels or {})
    groups = [aset.reference, *[g for g in aset.groups if g != aset.reference]] if aset.reference else list(aset.groups)
    if not groups:
        raise BalanceError(f"`{by}` has no values; nothing to compare.")
    g_codes = pd.Categorical(df["group"].astype("string").astype(object), categories=groups).codes.astype(np.int64)
    no_group = int((g_codes < 0).sum())
    if no_group:
        notes.append(f"{no_group} row(s) have no `{by}` value: counted in Overall only.")
    G = len(groups)
    names = [str(g) for g in groups]
    n_group = np.bincount(g_codes[g_codes >= 0], minlength=G)
    n = {names[k]: int(n_group[k]) for k in range(G)}
    n["Overall"] = int(len(df))
    gg = np.where(g_codes >= 0, g_codes, G)  # G = "no group" bucket
    stat_rows: list[tuple] = []
    smd_rows: list[dict] = []
    cat_force = set(categorical)
    for var in covariates:
        s = df[var]
        if _kind(s, var in cat_force) == "continuous":
            rows, smds = _continuous(var, s, gg, G, names, pvalues)
        else:
            rows, smds = _categorical(var, s, gg, G, names, pvalues, protocol)
        stat_rows += rows
        smd_rows += smds
    stats = pd.DataFrame(stat_rows, columns=["variable", "kind", "level", "group", "statistic", "value"])
    smd_df = pd.DataFrame(smd_rows, columns=["variable", "kind", "comparison", "smd", "n_ref", "n_other", "df",
                                             *(["p_value", "test"] if pvalues else [])])
    if len(smd_df):
        with np.errstate(divide="ignore"):
            se = np.sqrt(1 / smd_df["n_ref"].astype(float) + 1 / smd_df["n_other"].astype(float))
        smd_df.insert(4, "abs_smd", smd_df["smd"].abs())
        smd_df["se_chance"] = se
        smd_df["chance_limit"] = np.sqrt(se ** 2 * chi2.ppf(conf_level, smd_df["df"].astype(float)))
        smd_df["beyond_chance"] = (smd_df["abs_smd"] > smd_df["chance_limit"]).fillna(False).astype(bool)
    band = float(np.sqrt(1 / n_group[0] + 1 / n_group[1])) if G >= 2 and n_group[:2].min() > 0 else np.nan
    return BalanceTable(summary=stats, smd=smd_df, groups=names, n=n, by=by, band=band, conf_level=conf_level,
                        digits=digits, labels=labels, pvalues=pvalues, population=aset.population, notes=tuple(notes))
