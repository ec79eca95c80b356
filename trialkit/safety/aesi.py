"""Adverse events of special interest (AESI): who had one, when (cumulative incidence with death as a
competing risk), and the listing a Data Monitoring Committee reads event by event.

Time runs from the first dose (day 1 = the day of the first dose, as ADaM study days count). A
participant's time is that of their first event of the category; a participant who died without it
has the competing event at death; everyone else is censored at the last contact
(``disposition.last_contact_date``, else the study's data cut). The cumulative incidence is the
Aalen–Johansen estimate (lifelines, see :func:`trialkit.safety._stats.aalen_johansen`), which — unlike
1 − Kaplan–Meier with deaths censored — does not count the dead as still at risk of the event.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np
import pandas as pd

from ..errors import TrialkitError
from ..results import Result
from ._data import aesi_categories, safety_data
from ._stats import DIFFERENCE_METHOD, aalen_johansen, check_conf_level, check_flag, risk_differences
from .summary import participant_counts

__all__ = ["aesi", "AESIResult", "LANDMARK_DAYS"]

#: default landmarks (days from the first dose) of the cumulative incidence
LANDMARK_DAYS = (30, 100, 180, 365)
_LISTING = ("subject_id", "site_id", "group", "ae_seq", "preferred_term", "term", "soc", "start_date", "study_day",
            "end_date", "grade", "serious", "related", "action_taken", "outcome")


@dataclass(frozen=True)
class AESIResult(Result):
    """One category of adverse events of special interest, by group.

    Attributes
    ----------
    summary : DataFrame
        ``group, N, n, pct, events, serious, grade_3_plus, fatal``: participants (each once) with an
        event of the category, its records, and participants with a serious / grade ≥ 3 / fatal one.
    differences : DataFrame
        ``comparison, rd, lower, upper, p_value`` on the participants with an event.
    incidence : DataFrame
        ``group, time, at_risk, events, competing, censored, cif, lower, upper``: the Aalen–Johansen
        cumulative incidence of the first event (time in ``time_unit`` from the first dose).
    landmarks : DataFrame
        ``group, time, cif, lower, upper`` at the landmark times.
    listing : DataFrame
        Every event of the category: ``subject_id, site_id, group, ae_seq, preferred_term, term, soc,
        start_date, study_day, end_date, grade, serious, related, action_taken, outcome``.
    """

    summary: pd.DataFrame
    differences: pd.DataFrame
    incidence: pd.DataFrame
    landmarks: pd.DataFrame
    listing: pd.DataFrame
    category: str
    label: str
    time_unit: str
    conf_level: float
    reference: str | None
    population: str
    treatment_emergent: bool = True
    notes: tuple[str, ...] = field(default_factory=tuple)

    analysis: ClassVar[str] = "aesi"
    part_keys: ClassVar[dict[str, tuple[str, ...]]] = {
        "summary": (), "differences": ("comparison",), "incidence": ("time",), "landmarks": ("time",),
        "listing": ("subject_id", "ae_seq")}

    def parts(self) -> dict[str, pd.DataFrame]:
        return {"summary": self.summary, "differences": self.differences, "incidence": self.incidence,
                "landmarks": self.landmarks, "listing": self.listing}

    def settings(self) -> dict:
        return {"category": self.category, "label": self.label, "population": self.population,
                "time_origin": "first dose (day 1)", "time_unit": self.time_unit,
                "estimator": "Aalen-Johansen, death without the event as competing risk (lifelines)",
                "interval": "lifelines: delta method on log(-log), Collett's variance", "conf_level": self.conf_level,
                "reference": self.reference, "difference_method": DIFFERENCE_METHOD,
                "treatment_emergent_only": self.treatment_emergent}

    def title(self) -> str:
        return f"Adverse events of special interest: {self.label} ({self.population})"

    def html_parts(self):
        lm = self.landmarks.assign(time=self.landmarks["time"].map(lambda t: f"{t:g} {self.time_unit}"))
        return [("", self.summary), ("differences (group minus reference)", self.differences),
                (f"cumulative incidence of the first event ({self.conf_level:.0%} CI), death as competing risk", lm),
                ("listing", self.listing)]

    def figure(self, **kwargs):
        """Cumulative incidence by group (:func:`trialkit.plots.safety.plot_cumulative_incidence`)."""
        from ..plots.safety import plot_cumulative_incidence

        return plot_cumulative_incidence(self, **kwargs)


def _resolve_category(category: str, sd, protocol) -> tuple[str, str]:
    declared = aesi_categories(protocol) if protocol is not None else {}
    present = list(pd.unique(sd.events["aesi_category"].dropna().astype(str)))
    known = {**{c: declared[c]["label"] for c in declared}, **{c: c for c in present if c not in declared}}
    match = next((c for c in known if c.casefold() == str(category).casefold()), None)
    if match is None:
        raise TrialkitError(f"unknown adverse-event-of-special-interest category {category!r}; this study knows "
                            f"{', '.join(map(repr, known)) or 'none'} (the protocol's `aesi:` and the data's "
                            "aesi_category)")
    return match, known[match]


def _times(sd, cat_ev: pd.DataFrame, cut, notes: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(time in days from the first dose + 1, status 0/1/2, usable) per subject of ``sd.subjects``."""
    subj = sd.subjects
    n = len(subj)
    nat = np.full(n, np.datetime64("NaT"), dtype="datetime64[ns]")

    def col(name):
        return subj[name].to_numpy(dtype="datetime64[ns]") if name in subj.columns else nat

    dose, death, last = col("treatment_start_date"), col("death_date"), col("last_contact_date")
    first_ev = nat.copy()
    start = cat_ev["start_date"].to_numpy(dtype="datetime64[ns]")
    ev_pos = cat_ev["subject_pos"].to_numpy()
    dated = ~np.isnat(start)
    if dated.any():  # each participant's first dated event of the category
        first = np.full(n, np.iinfo(np.int64).max, dtype=np.int64)
        np.minimum.at(first, ev_pos[dated], start[dated].view(np.int64))
        has = first != np.iinfo(np.int64).max
        first_ev[has] = first[has].view("datetime64[ns]")
    undated = np.zeros(n, dtype=bool)
    undated[ev_pos[~dated]] = True
    undated &= np.isnat(first_ev)
    cut64 = pd.Timestamp(cut).to_datetime64().astype("datetime64[ns]") if cut is not None else np.datetime64("NaT", "ns")
    end = np.where(np.isnat(last), cut64, last)
    has_event, died = ~np.isnat(first_ev), ~np.isnat(death)
    when = np.where(has_event, first_ev, np.where(died, death, end))
    status = np.where(has_event, 1, np.where(died, 2, 0))
    days = (when - dose).astype("timedelta64[D]").astype("float64") + 1
    days[np.isnat(when) | np.isnat(dose)] = np.nan
    usable = ~np.isnan(days) & ~undated & (np.nan_to_num(days, nan=1) >= 1)
    for mask, why in ((np.isnat(dose), "no first-dose date"), (undated, "an event without a start date"),
                      (~np.isnat(dose) & np.isnat(when), "no last-contact date or data cut"),
                      (~np.isnan(days) & (np.nan_to_num(days) < 1), "the event before the first dose")):
        if mask.any():
            notes.append(f"cumulative incidence: {int(mask.sum())} participant(s) left out ({why}); they are counted "
                         "in the summary")
    return days, status, usable


def _landmark_times(times, scale: float) -> np.ndarray:
    if times is None:
        return np.asarray(LANDMARK_DAYS, dtype=float) / scale
    values = [times] if isinstance(times, int | float) else list(times) if not isinstance(times, str) else [times]
    try:
        out = np.asarray(values, dtype=float)
    except (TypeError, ValueError):
        out = np.array([np.nan])
    if not len(out) or np.isnan(out).any() or (out < 0).any():
        raise TrialkitError(f"times are landmark times (numbers >= 0 in time_unit), e.g. times=[30, 100]; not {times!r}")
    return out


def _landmarks(incidence: pd.DataFrame, times: np.ndarray) -> pd.DataFrame:
    columns = ["group", "time", "cif", "lower", "upper"]
    if not len(incidence):
        return pd.DataFrame([], columns=columns)
    group = incidence["group"]
    codes = group.cat.codes.to_numpy()
    time = incidence["time"].to_numpy()
    values = {c: incidence[c].to_numpy() for c in ("cif", "lower", "upper")}
    times = np.asarray(times, dtype=float)
    parts = {c: [] for c in columns}
    for code in pd.unique(codes[codes >= 0]):  # the groups in order of appearance, as groupby(sort=False, observed=True)
        m = codes == code
        t = time[m]
        i = np.searchsorted(t, times, side="right") - 1  # the step function's value at each landmark
        beyond = times > t.max()
        parts["group"] += [group.cat.categories[code]] * len(times)
        parts["time"].append(times)
        for c, v in values.items():
            parts[c].append(np.where(beyond, np.nan, v[m][i]))
    return pd.DataFrame({"group": parts["group"], **{c: np.concatenate(parts[c]) for c in columns[1:]}},
                        columns=columns)


def aesi(data, *, category: str = "hepatic_vod_sos", by: str | None = "arm", population: str | None = "safety",
         subgroup: dict | None = None, reference: str | None = None, treatment_emergent: bool = True,
         conf_level: float = 0.95, time_unit: str = "days", times=None) -> AESIResult:
    """Participants with an adverse event of special interest, its cumulative incidence and listing.

    Parameters
    ----------
    data : Study
        With an ``adverse_events`` table; the categories come from the protocol's ``aesi:`` section
        (B1931036 and AALL1732: ``hepatic_vod_sos``, ``hepatotoxicity``, ``infusion_reaction``,
        ``febrile_neutropenia``, ``infection``) or from the data's ``aesi_category`` (an ADaM
        ``CQ01NAM``).
    category : str, default "hepatic_vod_sos"
    by, population, subgroup, reference, treatment_emergent, conf_level
        As for :func:`trialkit.ae_table`.
    time_unit : {"days", "weeks", "months", "years"}, default "days"
    times : sequence of float, optional
        Landmark times (in ``time_unit``) for the cumulative incidence; default 30, 100, 180 and 365 days.

    Returns
    -------
    AESIResult

    Examples
    --------
    >>> import trialkit as tk
    >>> res = tk.aesi(tk.load_study("data/demo/b1931036"), category="hepatic_vod_sos")
    >>> res.summary[["group", "N", "n"]].to_dict("records")
    [{'group': 'ALLR3', 'N': 33, 'n': 2}, {'group': 'InO', 'N': 60, 'n': 8}]
    """
    from ..outcomes._data import TIME_UNITS

    conf_level = check_conf_level(conf_level)
    if time_unit not in TIME_UNITS:
        raise TrialkitError(f"time_unit must be one of {', '.join(TIME_UNITS)}, not {time_unit!r}")
    treatment_emergent = check_flag("treatment_emergent", treatment_emergent)
    lm_times = _landmark_times(times, TIME_UNITS[time_unit])
    sd = safety_data(data, by=by, population=population, subgroup=subgroup, reference=reference,
                     treatment_emergent=treatment_emergent)
    category, label = _resolve_category(category, sd, data.protocol)
    ev = sd.events
    # the category's events, matched without regard to case on the distinct category names
    code, names = pd.factorize(ev["aesi_category"])
    match = np.array([str(name).casefold() == category.casefold() for name in names], dtype=bool)
    cat_ev = ev[(code >= 0) & match[np.maximum(code, 0)] if len(names) else np.zeros(len(ev), dtype=bool)]
    notes = list(sd.notes)
    groups = list(sd.groups)
    codes = cat_ev["group"].cat.codes.to_numpy()
    pos = cat_ev["subject_pos"].to_numpy()
    n_total = np.array([sd.n[g] for g in groups])
    count = {name: participant_counts(pos[m], codes[m], len(groups)) for name, m in (
        ("n", np.ones(len(cat_ev), dtype=bool)),
        ("serious", cat_ev["serious"].astype("boolean").fillna(False).to_numpy(dtype=bool)),
        ("grade_3_plus", cat_ev["grade"].ge(3).fillna(False).to_numpy(dtype=bool)),
        ("fatal", cat_ev["fatal"].to_numpy(dtype=bool)))}
    events = np.bincount(codes, minlength=len(groups))
    summary = pd.DataFrame({"group": pd.Categorical(groups, categories=groups, ordered=True), "N": n_total,
                            "n": count["n"], "pct": 100.0 * count["n"] / np.maximum(n_total, 1), "events": events,
                            "serious": count["serious"], "grade_3_plus": count["grade_3_plus"],
                            "fatal": count["fatal"]})
    if sd.reference is not None and len(groups) > 1:
        r = groups.index(sd.reference)
        others = [j for j in range(len(groups)) if j != r]
        differences = risk_differences(count["n"][others], n_total[others], np.full(len(others), count["n"][r]),
                                       np.full(len(others), n_total[r]), conf_level=conf_level)
        differences.insert(0, "comparison", [f"{groups[j]} - {sd.reference}" for j in others])
    else:  # (built only when it is the result: an empty frame costs as much as the differences)
        differences = pd.DataFrame(columns=["comparison", "rd", "lower", "upper", "p_value"])
    days, status, usable = _times(sd, cat_ev, data.data_cut_date, notes)
    scale = TIME_UNITS[time_unit]
    subj_codes = sd.subjects["group"].cat.codes.to_numpy()
    curves = []
    for j, g in enumerate(groups):
        m = usable & (subj_codes == j)
        if m.any():
            cur = aalen_johansen(days[m] / scale, status[m], conf_level=conf_level)
            cur.insert(0, "group", g)
            curves.append(cur)
    incidence = pd.concat(curves, ignore_index=True) if curves else pd.DataFrame(
        columns=["group", "time", "at_risk", "events", "competing", "censored", "cif", "lower", "upper"])
    incidence["group"] = pd.Categorical(incidence["group"], categories=groups, ordered=True)
    listing = _listing(cat_ev, sd)
    return AESIResult(summary=summary, differences=differences, incidence=incidence,
                      landmarks=_landmarks(incidence, lm_times), listing=listing, category=category, label=label,
                      time_unit=time_unit, conf_level=conf_level, reference=sd.reference, population=sd.population,
                      treatment_emergent=treatment_emergent, notes=tuple(notes))


def _sort_order(keys) -> np.ndarray:
    """The row order ``sort_values`` gives a frame sorted by ``keys`` (Series): ascending, each key ranked as
    pandas ranks it (a categorical by its categories, others by their sorted distinct values), missing values
    last, ties in their original order."""
    labels = []
    for k in keys:
        if isinstance(k.dtype, pd.CategoricalDtype):
            codes, n = k.cat.codes.to_numpy(), len(k.cat.categories)
        else:
            codes, uniques = pd.factorize(k, sort=True)
            n = len(uniques)
        labels.append(np.where(codes == -1, n, codes))
    return np.lexsort(labels[::-1])


def _listing(cat_ev: pd.DataFrame, sd) -> pd.DataFrame:
    subj = sd.subjects
    pos = cat_ev["subject_pos"].to_numpy()
    site = subj["site_id"].to_numpy(dtype=object)[pos] if "site_id" in subj else np.full(len(pos), None)
    dose = (subj["treatment_start_date"].to_numpy(dtype="datetime64[ns]")[pos] if "treatment_start_date" in subj
            else np.full(len(pos), np.datetime64("NaT"), dtype="datetime64[ns]"))
    day = (cat_ev["start_date"].to_numpy(dtype="datetime64[ns]") - dose).astype("timedelta64[D]").astype("float64")
    day = np.where(np.isnan(day), np.nan, np.where(day >= 0, day + 1, day))  # study days: no day 0
    added = {"site_id": pd.array(site, dtype="string"), "study_day": pd.array(day, dtype="Float64").astype("Int64")}
    # sorted by group, participant, start date and sequence number; the columns taken in that order directly
    # rather than through assign, a column selection and sort_values (the same frame)
    order = _sort_order([cat_ev[c] for c in ("group", "subject_id", "start_date", "ae_seq")])
    return pd.DataFrame({c: (added[c] if c in added else cat_ev[c].array).take(order) for c in _LISTING})
