"""The overview of adverse events a safety report opens with: participants with any event, related,
grade 3 or higher, serious, leading to discontinuation, fatal — per group, with differences.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np
import pandas as pd

from ..results import Result
from ._data import safety_data
from ._stats import DIFFERENCE_METHOD, check_conf_level, check_flag, risk_differences

__all__ = ["ae_summary", "AESummaryResult", "SUMMARY_CATEGORIES"]

#: category -> (label, which events count)
SUMMARY_CATEGORIES = {
    "any": "Participants with any adverse event",
    "related": "with a related adverse event",
    "grade_3_plus": "with an adverse event of grade 3 or higher",
    "serious": "with a serious adverse event",
    "serious_related": "with a serious related adverse event",
    "discontinuation": "with an adverse event leading to discontinuation (drug withdrawn)",
    "fatal": "with a fatal adverse event (outcome fatal or grade 5)",
}


def _masks(ev: pd.DataFrame) -> dict[str, np.ndarray]:
    related = ev["related"].astype("boolean").fillna(False).to_numpy(dtype=bool)
    serious = ev["serious"].astype("boolean").fillna(False).to_numpy(dtype=bool)
    return {
        "any": np.ones(len(ev), dtype=bool),
        "related": related,
        "grade_3_plus": ev["grade"].ge(3).fillna(False).to_numpy(dtype=bool),
        "serious": serious,
        "serious_related": serious & related,
        "discontinuation": ev["action_taken"].astype("string").eq("drug withdrawn").fillna(False).to_numpy(dtype=bool),
        "fatal": ev["fatal"].to_numpy(dtype=bool),
    }


#: category -> (the column it reads, what an event must record to count)
_RECORDED = {
    "related": ("related", "related"),
    "grade_3_plus": ("grade", "a grade of 3 or higher"),
    "serious": ("serious", "serious"),
    "discontinuation": ("action_taken", "'drug withdrawn'"),
}


def _unrecorded_notes(ev: pd.DataFrame) -> tuple[str, ...]:
    """A note for each summary category whose column is empty for some of the events counted: those events
    cannot count towards it, so its n is a lower bound (and says nothing when the column is empty throughout)."""
    notes = []
    for cat, (column, what) in _RECORDED.items():
        missing = int(ev[column].isna().sum())
        if not missing:
            continue
        text = (f"{column} not recorded for {missing} of {len(ev)} event(s): '{SUMMARY_CATEGORIES[cat]}' counts "
                f"only events recorded as {what}")
        if missing == len(ev):
            text += f"; no event records it, so its 0 means not recorded, not none (fill {column} to count it)"
        notes.append(text)
    return tuple(notes)


def participant_counts(subject_pos: np.ndarray, group_codes: np.ndarray, n_groups: int) -> np.ndarray:
    """Participants (each once) per group among the events given by their subject rows and group codes."""
    if not len(subject_pos):
        return np.zeros(n_groups, dtype=np.int64)
    first = np.unique(subject_pos, return_index=True)[1]
    return np.bincount(group_codes[first], minlength=n_groups)


@dataclass(frozen=True)
class AESummaryResult(Result):
    """Participants with adverse events by group.

    Attributes
    ----------
    summary : DataFrame
        ``category, label, group, N, n, pct`` — one row per category and group; ``N`` is the group's
        size in the population, ``n`` the participants with at least one such event (each once).
    differences : DataFrame
        ``category, comparison, rd, lower, upper, p_value``: risk difference (group minus reference)
        with the Newcombe hybrid score interval and Fisher's exact two-sided p.
    """

    summary: pd.DataFrame
    differences: pd.DataFrame
    conf_level: float
    reference: str | None
    population: str
    treatment_emergent: bool
    by: str | None = "arm"
    notes: tuple[str, ...] = field(default_factory=tuple)

    analysis: ClassVar[str] = "ae_summary"
    part_keys: ClassVar[dict[str, tuple[str, ...]]] = {"summary": ("category", "label"),
                                                        "differences": ("category", "comparison")}

    def parts(self) -> dict[str, pd.DataFrame]:
        return {"summary": self.summary, "differences": self.differences}

    def settings(self) -> dict:
        return {"by": self.by, "population": self.population, "treatment_emergent_only": self.treatment_emergent,
                "conf_level": self.conf_level, "reference": self.reference, "difference_method": DIFFERENCE_METHOD,
                "p_value": "Fisher's exact test, two-sided"}

    def title(self) -> str:
        what = "treatment-emergent adverse events" if self.treatment_emergent else "adverse events"
        return f"Participants with {what} ({self.population})"

    def display_frame(self) -> pd.DataFrame:
        """One row per category: ``n (%)`` per group and the differences with their intervals."""
        s = self.summary
        # formatted from the columns' arrays (one dict lookup per cell instead of a pandas .loc)
        out = {"": [SUMMARY_CATEGORIES[c] for c in SUMMARY_CATEGORIES]}
        cat, group = s["category"].to_numpy(), s["group"].to_numpy()
        n, pct, big_n = s["n"].to_numpy(), s["pct"].to_numpy(), s["N"].to_numpy()
        for g in s["group"].cat.categories:
            mine = np.flatnonzero(group == g)
            n_total = int(big_n[mine[0]]) if len(mine) else 0
            at = _positions(cat[mine], mine)
            out[f"{g} (N={n_total})"] = [f"{int(n[at[c]])} ({pct[at[c]]:.1f}%)" for c in SUMMARY_CATEGORIES]
        ci = f"{self.conf_level:.0%}"
        d = self.differences
        if len(d):
            comp, d_cat = d["comparison"].to_numpy(), d["category"].to_numpy()
            rd, lower, upper = (d[c].to_numpy() for c in ("rd", "lower", "upper"))
            for name in pd.unique(comp):  # in order of appearance, as groupby(sort=False)
                mine = np.flatnonzero(comp == name)
                at = _positions(d_cat[mine], mine)
                out[f"{name}: difference, % ({ci} CI)"] = [
                    _rd_text(rd[at[c]], lower[at[c]], upper[at[c]]) for c in SUMMARY_CATEGORIES]
        return pd.DataFrame(out)

    def html_parts(self):
        return [("", self.display_frame())]


def _rd_text(rd, lower, upper) -> str:
    if pd.isna(rd):
        return ""
    return f"{100 * rd:.1f} ({100 * lower:.1f}, {100 * upper:.1f})"


def _positions(keys: np.ndarray, rows: np.ndarray) -> dict:
    """key -> its row (of ``rows``); every category appears once per group and comparison (a missing one
    raises KeyError when looked up, as ``.loc`` did)."""
    return dict(zip(keys, rows))


def ae_summary(data, *, by: str | None = "arm", population: str | None = "safety", subgroup: dict | None = None,
               reference: str | None = None, treatment_emergent: bool = True,
               conf_level: float = 0.95) -> AESummaryResult:
    """Participants (n, %) with any adverse event, related, grade ≥ 3, serious, leading to discontinuation, fatal.

    Each participant counts once per category. ``N`` per group is the population's size (the safety
    population: ``disposition.safety``, ADaM SAFFL, else the treated), so participants without any event
    are in the denominator.

    Parameters
    ----------
    data : Study
        With an ``adverse_events`` table.
    by : str, default "arm"
        The grouping column (``"actual_arm"`` for as-treated).
    population : str, default "safety"
    subgroup : dict, optional
    reference : str, optional
        The group the differences are taken against (default the protocol's reference arm).
    treatment_emergent : bool, default True
        Count treatment-emergent events only (see :mod:`trialkit.safety`); False counts every event.
    conf_level : float, default 0.95

    Returns
    -------
    AESummaryResult

    Examples
    --------
    >>> import trialkit as tk
    >>> res = tk.ae_summary(tk.load_study("data/demo/b1931036"))
    >>> res.summary.query("category == 'any'")[["group", "N"]].to_dict("records")
    [{'group': 'ALLR3', 'N': 33}, {'group': 'InO', 'N': 60}]
    """
    conf_level = check_conf_level(conf_level)
    treatment_emergent = check_flag("treatment_emergent", treatment_emergent)
    sd = safety_data(data, by=by, population=population, subgroup=subgroup, reference=reference,
                     treatment_emergent=treatment_emergent)
    ev = sd.events
    groups = list(sd.groups)
    codes = ev["group"].cat.codes.to_numpy()
    pos = ev["subject_pos"].to_numpy()
    n_total = np.array([sd.n[g] for g in groups])
    masks = _masks(ev)
    cats = list(masks)
    n_groups = len(groups)
    # participants per (category, group), then every category's differences in one vectorised call
    k = np.vstack([participant_counts(pos[m], codes[m], n_groups) for m in masks.values()])
    with np.errstate(invalid="ignore", divide="ignore"):
        pct = np.where(n_total > 0, 100.0 * k / n_total, np.nan)
    summary = pd.DataFrame({
        "category": [c for c in cats for _ in groups], "label": [SUMMARY_CATEGORIES[c] for c in cats for _ in groups],
        "group": pd.Categorical(groups * len(cats), categories=groups, ordered=True),
        "N": np.tile(n_total, len(cats)).astype(np.int64), "n": k.ravel().astype(np.int64), "pct": pct.ravel()})
    if sd.reference is not None:
        r = groups.index(sd.reference)
        others = [j for j in range(n_groups) if j != r]
        m = len(others)
        differences = risk_differences(k[:, others].ravel(), np.tile(n_total[others], len(cats)),
                                       np.repeat(k[:, r], m), np.full(m * len(cats), n_total[r]),
                                       conf_level=conf_level)
        differences.insert(0, "comparison", [f"{groups[j]} - {sd.reference}" for _ in cats for j in others])
        # (no other group: an empty frame whose category column is typed as the one-category-at-a-time code left it)
        differences.insert(0, "category", [c for c in cats for _ in others] if others else cats[0])
    else:
        differences = pd.DataFrame(columns=["category", "comparison", "rd", "lower", "upper", "p_value"])
    return AESummaryResult(summary=summary, differences=differences, conf_level=conf_level, reference=sd.reference,
                           population=sd.population, treatment_emergent=treatment_emergent, by=by,
                           notes=sd.notes + _unrecorded_notes(ev))
