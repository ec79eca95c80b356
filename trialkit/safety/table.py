"""The adverse-event table of safety reviews: participants with at least one event per system organ
class and preferred term, by group, with risk differences.

Each participant counts once per row (system organ class or preferred term), at the worst grade of
their events in that row; events are counted too. Rows are keyed by (system organ class, preferred
term), so a term recorded under two classes is shown under each.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np
import pandas as pd

from ..errors import EmptySelectionError, TrialkitError
from ..results import Result
from ._data import safety_data
from ._stats import DIFFERENCE_METHOD, check_conf_level, check_flag, risk_differences

__all__ = ["ae_table", "AETableResult", "ROWS", "SORTS", "ANY_ROW"]

ROWS = ("soc", "pt")
SORTS = ("frequency", "alphabetical")
ANY_ROW = "Any adverse event"
_GRADE_LABELS = ("grade 1", "grade 2", "grade 3", "grade 4", "grade 5", "grade missing")


@dataclass(frozen=True)
class AETableResult(Result):
    """Participants with adverse events per system organ class and preferred term, by group.

    Attributes
    ----------
    summary : DataFrame
        ``order, kind, soc, term, group, N, n, pct, events``: one row per table row and group. ``kind``
        is ``"any"`` (participants with any event), ``"soc"`` or ``"pt"``; ``order`` is the row's
        place in the table; ``n`` counts participants (each once per row), ``events`` the records.
    differences : DataFrame
        ``order, kind, soc, term, comparison, rd, lower, upper, p_value`` (group minus reference; the
        Newcombe hybrid score interval; Fisher's exact two-sided p).
    grades : DataFrame
        ``order, kind, soc, term, group, grade, n``: participants by their worst grade in the row.
    """

    summary: pd.DataFrame
    differences: pd.DataFrame
    grades: pd.DataFrame
    rows: str
    conf_level: float
    reference: str | None
    population: str
    filters: dict = field(default_factory=dict)
    notes: tuple[str, ...] = field(default_factory=tuple)

    analysis: ClassVar[str] = "ae_table"
    part_keys: ClassVar[dict[str, tuple[str, ...]]] = {
        "summary": ("order", "kind", "soc", "term"),
        "differences": ("order", "kind", "soc", "term", "comparison"),
        "grades": ("order", "kind", "soc", "term", "grade")}

    def parts(self) -> dict[str, pd.DataFrame]:
        return {"summary": self.summary, "differences": self.differences, "grades": self.grades}

    def settings(self) -> dict:
        return {"rows": self.rows, "population": self.population, "conf_level": self.conf_level,
                "reference": self.reference, "difference_method": DIFFERENCE_METHOD,
                "p_value": "Fisher's exact test, two-sided", **self.filters}

    def title(self) -> str:
        level = "system organ class" if self.rows == "soc" else "system organ class and preferred term"
        what = "treatment-emergent adverse events" if self.filters.get("treatment_emergent_only") else "adverse events"
        extra = [f"grade >= {self.filters['min_grade']}"] if self.filters.get("min_grade") else []
        extra += [k for k in ("serious", "related") if self.filters.get(f"{k}_only")]
        return f"Participants with {what} by {level}" + (f" ({', '.join(extra)})" if extra else "") + \
            f" — {self.population}"

    @property
    def groups(self) -> tuple[str, ...]:
        return tuple(str(g) for g in self.summary["group"].cat.categories)

    def display_frame(self) -> pd.DataFrame:
        """The table as a submission package shows it: one row per SOC / term, ``n (%) [events]`` per
        group, and each comparison's difference in % with its interval."""
        # the cells are formatted from the columns' arrays (row positions looked up per group and comparison)
        # rather than through pandas' set_index / loc / itertuples per group: the same text, a fraction of the time
        s = self.summary
        order = s["order"].to_numpy()
        rows, first = np.unique(order, return_index=True)  # each row's first line, in table order
        kind, soc, term = (s[c].to_numpy(dtype=object)[first] for c in ("kind", "soc", "term"))
        label = np.array([("  " + str(t)) if k == "pt" else str(c) if k == "soc" else str(t)
                          for k, c, t in zip(kind, soc, term)], dtype=object)
        out = {"System organ class / preferred term": label}
        group = s["group"].to_numpy()
        n, pct, events, big_n = (s[c].to_numpy() for c in ("n", "pct", "events", "N"))
        for g in self.groups:
            mine = np.flatnonzero(group == g)
            n_total = int(big_n[mine[0]]) if len(mine) else 0
            at = _positions(order[mine], rows, mine)
            out[f"{g} (N={n_total}) n (%) [events]"] = [f"{int(k)} ({p:.1f}%) [{int(e)}]"
                                                        for k, p, e in zip(n[at], pct[at], events[at])]
        ci = f"{self.conf_level:.0%}"
        d = self.differences
        if len(d):
            comp, d_order = d["comparison"].to_numpy(), d["order"].to_numpy()
            rd, lower, upper = (d[c].to_numpy() for c in ("rd", "lower", "upper"))
            for name in pd.unique(comp):  # in order of appearance, as groupby(sort=False)
                mine = np.flatnonzero(comp == name)
                at = _positions(d_order[mine], rows, mine)
                out[f"{name}, % ({ci} CI)"] = ["" if pd.isna(r) else f"{100 * r:.1f} ({100 * lo:.1f}, {100 * hi:.1f})"
                                               for r, lo, hi in zip(rd[at], lower[at], upper[at])]
        return pd.DataFrame(out)

    def html_parts(self):
        disp = self.display_frame()
        head = pd.Series(self.summary.drop_duplicates("order").sort_values("order")["kind"].ne("pt").to_numpy())
        return [("n (%) [events]; each participant counted once per row", disp, {"head_rows": head})]

    def figure(self, **kwargs):
        """The AE dot plot: incidence by group and the risk difference with its interval
        (:func:`trialkit.plots.safety.plot_ae_dotplot`)."""
        from ..plots.safety import plot_ae_dotplot

        return plot_ae_dotplot(self, **kwargs)


def _positions(keys: np.ndarray, wanted: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """The row (of ``rows``, whose keys are ``keys``) holding each of ``wanted``, as ``.loc`` finds it
    (a key missing raises KeyError, as ``.loc`` does)."""
    return pd.Series(rows, index=keys).loc[wanted].to_numpy()


def _check_args(rows, sort, min_pct, grade) -> None:
    if rows not in ROWS:
        raise TrialkitError(f"rows must be 'soc' (system organ classes) or 'pt' (preferred terms within their "
                            f"classes), not {rows!r}")
    if sort not in SORTS:
        raise TrialkitError(f"sort must be one of {', '.join(SORTS)}, not {sort!r}")
    if not isinstance(min_pct, int | float) or isinstance(min_pct, bool) or not 0 <= min_pct <= 100:
        raise TrialkitError(f"min_pct is a percentage between 0 and 100, not {min_pct!r}")
    if grade is not None and (isinstance(grade, bool) or grade not in (1, 2, 3, 4, 5)):
        raise TrialkitError(f"grade is the lowest CTCAE grade counted (1-5, e.g. grade=3), not {grade!r}")


def _filter(ev: pd.DataFrame, *, grade, soc, serious, related, notes: list[str]) -> pd.DataFrame:
    keep = np.ones(len(ev), dtype=bool)
    if grade is not None:
        missing = ev["grade"].isna().to_numpy()
        if missing.any():
            notes.append(f"{int(missing.sum())} event(s) without a grade left out by grade >= {grade}")
        keep &= ev["grade"].ge(grade).fillna(False).to_numpy(dtype=bool)
    for name, value in (("serious", serious), ("related", related)):
        if value is not None:
            col = ev[name].astype("boolean")
            if col.isna().any():
                notes.append(f"{int(col.isna().sum())} event(s) with `{name}` not recorded left out by {name}={value}")
            keep &= col.eq(bool(value)).fillna(False).to_numpy(dtype=bool)
    if soc is not None:
        wanted = [soc] if isinstance(soc, str) else list(soc)
        present = list(pd.unique(ev["soc"].astype(str)))
        lower = {p.casefold(): p for p in present}
        unknown = [w for w in wanted if str(w).casefold() not in lower]
        if unknown:
            close = difflib.get_close_matches(str(unknown[0]), present, n=3, cutoff=0.5)
            raise TrialkitError(f"system organ class {unknown[0]!r} has no adverse event in this analysis"
                                + (f"; did you mean {', '.join(map(repr, close))}?" if close else
                                   f" (present: {', '.join(sorted(present)[:8])} …)"))
        keep &= ev["soc"].astype(str).str.casefold().isin([str(w).casefold() for w in wanted]).to_numpy()
    return ev[keep]


def _counts(key: np.ndarray, n_keys: int, subject: np.ndarray, group: np.ndarray, grade: np.ndarray,
            n_groups: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per (key, group): participants, events, and participants by worst grade (1-5, 0 = missing)."""
    events = np.bincount(key * n_groups + group, minlength=n_keys * n_groups).reshape(n_keys, n_groups)
    n_subj = int(subject.max()) + 1 if len(subject) else 1
    pair = key.astype(np.int64) * n_subj + subject
    order = np.lexsort((-grade, pair))  # within a (row, participant) pair, the worst grade first
    first = order[np.r_[True, pair[order][1:] != pair[order][:-1]]] if len(order) else order
    cell = key[first] * n_groups + group[first]
    n = np.bincount(cell, minlength=n_keys * n_groups).reshape(n_keys, n_groups)
    worst = np.zeros((n_keys * n_groups, 6), dtype=np.int64)
    np.add.at(worst, (cell, grade[first]), 1)
    return n, events, worst.reshape(n_keys, n_groups, 6)


def _ranks(values) -> np.ndarray:
    """Dense ranks of ``values`` (equal values share a rank; strings compared as Python compares them)."""
    return np.unique(np.asarray(values), return_inverse=True)[1].reshape(-1)


def _row_order(kind, soc, term, total, sort: str) -> np.ndarray:
    """Rank of each row: the any-row first, classes by frequency (or name), terms inside their class."""
    kind = np.asarray(kind, dtype=object)
    soc = np.asarray(soc, dtype=object)
    total = np.asarray(total)
    is_soc, is_pt = kind == "soc", kind == "pt"
    not_any = (kind != "any").astype(np.int64)
    soc_fold = _ranks([str(x).casefold() for x in soc])
    term_fold = _ranks([str(x).casefold() for x in term])
    if sort == "frequency":
        # a class's total is its own row's; the any-row (whose class is "") and a term without its class row get 0
        soc_total = dict(zip(soc[is_soc], total[is_soc]))
        class_total = np.array([soc_total.get(x, 0) for x in soc], dtype=np.float64)
        keys = [not_any, -class_total, soc_fold, is_pt, -np.where(is_pt, total, 0), term_fold]
    else:
        keys = [not_any, soc_fold, is_pt, term_fold]
    ranked = np.lexsort(keys[::-1])  # stable; the first key is the primary one
    order = np.empty(len(kind), dtype=np.int64)
    order[ranked] = np.arange(len(kind))
    return order


def _keep_rows(kind, soc, pct, rows: str, min_pct: float) -> np.ndarray:
    """Rows shown: terms (or classes) with pct >= min_pct in some group; classes that keep a term."""
    high = (pct >= min_pct - 1e-9).any(axis=1)
    keep = np.ones(len(kind), dtype=bool)
    if rows == "soc":
        keep = (kind == "any") | ((kind == "soc") & high)
    else:
        pt_keep = (kind == "pt") & high
        socs_kept = set(soc[pt_keep])
        keep = (kind == "any") | pt_keep | ((kind == "soc") & np.isin(soc, list(socs_kept)))
    return keep


def ae_table(data, *, by: str | None = "arm", rows: str = "pt", min_pct: float = 0.0, grade: int | None = None,
             soc=None, serious: bool | None = None, related: bool | None = None,
             population: str | None = "safety", subgroup: dict | None = None, reference: str | None = None,
             treatment_emergent: bool = True, conf_level: float = 0.95, sort: str = "frequency") -> AETableResult:
    """Participants with ≥ 1 adverse event per system organ class (SOC) and preferred term (PT), by group.

    Each participant counts once per row, at the worst grade of their events in it; rows are sorted by
    frequency (over all groups) with the terms inside their class; each group other than the reference
    gets the risk difference with the Newcombe hybrid score interval and Fisher's exact p, as in the
    standard AE tables of submission packages. ``N`` is the size of each group in the population, so
    participants without events are in the denominator.

    Parameters
    ----------
    data : Study
        With an ``adverse_events`` table.
    by : str, default "arm"
    rows : {"pt", "soc"}, default "pt"
        ``"pt"``: each SOC followed by its preferred terms; ``"soc"``: SOCs only. (Not called
        ``level``: the vocabulary keeps that word away from anything but a confidence level.)
    min_pct : float, default 0
        Show only rows with an incidence of at least this percentage in some group (applied to terms;
        a SOC is shown when one of its terms is, with its full count).
    grade : int, optional
        Count only events of this CTCAE grade or higher (e.g. 3).
    soc : str or list of str, optional
        Only these system organ classes.
    serious, related : bool, optional
        Only serious (True) / non-serious (False) events; only related / unrelated events.
    population : str, default "safety"
    subgroup : dict, optional
    reference : str, optional
    treatment_emergent : bool, default True
        Treatment-emergent events only; False counts every event.
    conf_level : float, default 0.95
    sort : {"frequency", "alphabetical"}, default "frequency"

    Returns
    -------
    AETableResult

    Examples
    --------
    >>> import trialkit as tk
    >>> t = tk.ae_table(tk.load_study("data/demo/b1931036"), min_pct=20)
    >>> t.summary.query("kind == 'any'")[["group", "N", "n"]].to_dict("records")
    [{'group': 'ALLR3', 'N': 33, 'n': 33}, {'group': 'InO', 'N': 60, 'n': 60}]
    """
    _check_args(rows, sort, min_pct, grade)
    conf_level = check_conf_level(conf_level)
    serious, related = check_flag("serious", serious, optional=True), check_flag("related", related, optional=True)
    treatment_emergent = check_flag("treatment_emergent", treatment_emergent)
    sd = safety_data(data, by=by, population=population, subgroup=subgroup, reference=reference,
                     treatment_emergent=treatment_emergent, event_columns=("serious", "related"))
    notes = list(sd.notes)
    ev = _filter(sd.events, grade=grade, soc=soc, serious=serious, related=related, notes=notes)
    if not len(ev):
        raise EmptySelectionError("no adverse event is left to tabulate (after treatment_emergent, grade, soc, "
                                  "serious, related); loosen the filters")
    groups = list(sd.groups)
    n_groups = len(groups)
    n_total = np.array([sd.n[g] for g in groups], dtype=float)
    group = ev["group"].cat.codes.to_numpy().astype(np.int64)
    subject = ev["subject_pos"].to_numpy().astype(np.int64)
    grade_code = ev["grade"].fillna(0).to_numpy(dtype=np.int64)
    soc_code, soc_names = pd.factorize(ev["soc"], sort=False)
    soc_names = np.asarray(soc_names, dtype=object)
    term_code, term_names = pd.factorize(ev["preferred_term"], sort=False)
    term_names = np.asarray(term_names, dtype=object)
    # a row is a (SOC, term) pair: one integer per pair, then the pairs present
    pt_code, pairs = pd.factorize(soc_code.astype(np.int64) * max(len(term_names), 1) + term_code)
    pair_soc, pair_term = pairs // max(len(term_names), 1), pairs % max(len(term_names), 1)
    blocks = [_counts(np.zeros(len(ev), dtype=np.int64), 1, subject, group, grade_code, n_groups),
              _counts(soc_code.astype(np.int64), len(soc_names), subject, group, grade_code, n_groups)]
    kind = ["any"] + ["soc"] * len(soc_names)
    socs = [""] + list(soc_names)
    terms = [ANY_ROW] + [""] * len(soc_names)
    if rows == "pt":
        blocks.append(_counts(pt_code.astype(np.int64), len(pairs), subject, group, grade_code, n_groups))
        kind += ["pt"] * len(pairs)
        socs += list(soc_names[pair_soc])
        terms += list(term_names[pair_term])
    n = np.vstack([b[0] for b in blocks])
    events = np.vstack([b[1] for b in blocks])
    worst = np.concatenate([b[2] for b in blocks])
    kind, socs, terms = np.asarray(kind, dtype=object), np.asarray(socs, dtype=object), np.asarray(terms, dtype=object)
    with np.errstate(invalid="ignore", divide="ignore"):
        pct = 100.0 * n / n_total
    keep = _keep_rows(kind, socs, np.nan_to_num(pct), rows, min_pct)
    if min_pct > 0 and (~keep).any():
        notes.append(f"{int((~keep).sum())} row(s) below {min_pct:g}% in every group not shown")
    idx = np.flatnonzero(keep)
    order = _row_order(kind[idx], socs[idx], terms[idx], n[idx].sum(axis=1), sort)
    return _result(idx, order, kind, socs, terms, n, events, worst, pct, n_total, groups, sd, rows, conf_level,
                   notes, filters={"min_pct": min_pct, "min_grade": grade, "soc": soc, "serious_only": serious,
                                   "related_only": related, "treatment_emergent_only": treatment_emergent,
                                   "by": by, "sort": sort})


def _result(idx, order, kind, socs, terms, n, events, worst, pct, n_total, groups, sd, rows, conf_level, notes,
            filters) -> AETableResult:
    n_groups = len(groups)
    # the rows in table order (``order`` is a permutation), each row's groups in group order: the frames are
    # built sorted by (order, group), as sorting them afterwards would leave them
    idx, order = idx[np.argsort(order, kind="stable")], np.sort(order)
    rep = np.repeat(idx, n_groups)
    gi = np.tile(np.arange(n_groups), len(idx))
    order_rep = np.repeat(order, n_groups)
    cat = pd.CategoricalDtype(groups, ordered=True)
    summary = pd.DataFrame({
        "order": order_rep, "kind": kind[rep], "soc": socs[rep], "term": terms[rep],
        "group": pd.Categorical.from_codes(gi, dtype=cat), "N": n_total[gi].astype(np.int64),
        "n": n[rep, gi].astype(np.int64), "pct": pct[rep, gi], "events": events[rep, gi].astype(np.int64)})
    others = [j for j in range(n_groups) if j != groups.index(sd.reference)] if sd.reference is not None else []
    if others:
        r = groups.index(sd.reference)
        # every comparison in one vectorised call; within a row the comparisons sorted by name
        names = np.array([f"{groups[j]} - {sd.reference}" for j in others], dtype=object)
        by_name = np.argsort(names, kind="stable")
        comp = np.array(others)[by_name]
        m = len(comp)
        row = np.repeat(idx, m)
        cj = np.tile(comp, len(idx))
        differences = risk_differences(n[row, cj], n_total[cj], n[row, r], np.full(len(row), n_total[r]),
                                       conf_level=conf_level)
        differences.insert(0, "comparison", np.tile(names[by_name], len(idx)))
        differences.insert(0, "term", terms[row])
        differences.insert(0, "soc", socs[row])
        differences.insert(0, "kind", kind[row])
        differences.insert(0, "order", np.repeat(order, m))
    else:
        differences = pd.DataFrame(columns=["order", "kind", "soc", "term", "comparison", "rd", "lower", "upper",
                                            "p_value"])
    # participants by worst grade: per row and group, grades 1-5 then "grade missing" (column 0 of ``worst``)
    n_grades = len(_GRADE_LABELS)
    rep_g = np.repeat(rep, n_grades)
    gi_g = np.repeat(gi, n_grades)
    grade_col = np.tile(np.array([1, 2, 3, 4, 5, 0]), len(rep))
    grades = pd.DataFrame({"order": np.repeat(order_rep, n_grades), "kind": kind[rep_g], "soc": socs[rep_g],
                           "term": terms[rep_g], "group": pd.Categorical.from_codes(gi_g, dtype=cat),
                           "grade": np.tile(np.array(_GRADE_LABELS, dtype=object), len(rep)),
                           "n": worst[rep_g, gi_g, grade_col].astype(np.int64)})
    return AETableResult(summary=summary, differences=differences, grades=grades, rows=rows, conf_level=conf_level,
                         reference=sd.reference, population=sd.population, filters=filters, notes=tuple(notes))
