"""From per-criterion statuses to the screening funnel, exclusion lists and site disagreements."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np
import pandas as pd

from ..analysis_set import is_study, with_site_columns
from ..errors import ProtocolError, ReconciliationError
from ..results import Result
from .evaluate import EligibilityResult, evaluate_eligibility

__all__ = ["FunnelResult", "funnel", "funnel_problems", "exclusion_list", "screening_disagreements", "as_result",
           "compute_screen_failure_rates"]


def as_result(data, eligibility: EligibilityResult | None = None, **evaluate_kw) -> EligibilityResult:
    """The eligibility of ``data``: ``eligibility`` when given (or ``data`` itself when it is an
    :class:`EligibilityResult`), else ``evaluate_eligibility(data, **evaluate_kw)``."""
    if isinstance(data, EligibilityResult):
        if eligibility is not None and eligibility is not data:
            raise ProtocolError("pass the eligibility result once: as `data` or as `eligibility=`, not both.")
        eligibility = data
    if eligibility is not None:
        if not isinstance(eligibility, EligibilityResult):
            raise ProtocolError(f"eligibility= takes the result of trialkit.evaluate_eligibility, got "
                                f"{type(eligibility).__name__}.")
        if evaluate_kw and any(v is not None and v != () for v in evaluate_kw.values()):
            raise ProtocolError("pass evaluation options (protocol, thresholds, disabled, order, ...) to "
                                "evaluate_eligibility, not with an eligibility result that is already evaluated.")
        return eligibility
    return evaluate_eligibility(data, **{k: v for k, v in evaluate_kw.items() if v is not None})


def _first_index(mask: np.ndarray) -> np.ndarray:
    """Column index of the first True per row (n_cols when none); column by column, so a
    column-major (Fortran-ordered) matrix is read contiguously."""
    n, m = mask.shape
    out = np.full(n, m, dtype=np.intp)
    for j in range(m - 1, -1, -1):
        out[mask[:, j]] = j
    return out


@dataclass(frozen=True)
class FunnelResult(Result):
    """The sequential screening funnel and the independent per-criterion counts.

    Attributes
    ----------
    summary : pandas.DataFrame
        One row per step in evaluation order: ``step, criterion_id, label, category, stage,
        entering, excluded, unknown, remaining, remaining_all_known``. ``excluded`` counts subjects
        whose *first* failed criterion is this one; ``unknown`` counts subjects still in the funnel
        whose status for this criterion is unknown (they stay in and are never counted as excluded);
        ``remaining = entering - excluded``. Post-enrollment criteria come last and apply to the
        subjects who passed screening.
    independent : pandas.DataFrame
        One row per criterion: ``criterion_id, label, category, stage, met, not_met, unknown,
        excludes, sole_reason`` (``sole_reason`` = subjects excluded by this criterion only).
    totals : dict
        ``screened, eligible, not_eligible, undetermined`` (screening stage) and, when the protocol
        has post-enrollment criteria, ``off_protocol_after_enrollment`` (the post-enrollment steps
        continue from the last screening step's remaining subjects, undetermined ones included).
    params : dict
        The thresholds in force, ``{parameter: value}``.
    changed : dict
        The thresholds a what-if moved, ``{parameter: the protocol's value}``.
    disabled : tuple of str
        Criteria a what-if switched off.
    """

    summary: pd.DataFrame
    independent: pd.DataFrame
    totals: dict
    protocol_id: str | None = None
    source: str = "rules"
    notes: tuple[str, ...] = ()
    params: dict = field(default_factory=dict)
    changed: dict = field(default_factory=dict)
    disabled: tuple[str, ...] = ()

    analysis: ClassVar[str] = "funnel"
    part_keys: ClassVar[dict] = {"summary": ("step", "criterion_id", "label", "category", "stage"),
                                 "independent": ("criterion_id", "label", "category", "stage"),
                                 "totals": ("verdict",)}

    def parts(self) -> dict[str, pd.DataFrame]:
        return {"summary": self.summary, "independent": self.independent,
                "totals": pd.DataFrame({"verdict": list(self.totals), "n": list(self.totals.values())})}

    def settings(self) -> dict:
        return {"protocol": self.protocol_id, "source": self.source, "disabled": self.disabled,
                **{f"threshold {k}": v for k, v in self.params.items()}}

    def title(self) -> str:
        t = self.totals
        src = "" if self.source == "rules" else " (site-recorded reasons: the protocol's criteria are not executable)"
        return (f"Screening funnel{src} — {t['screened']} screened → {t['eligible']} eligible "
                f"({t['not_eligible']} excluded, {t['undetermined']} undetermined)")

    def html_parts(self):
        return [("", self.summary)]

    def check(self) -> None:
        """Raise :class:`~trialkit.errors.ReconciliationError` unless every count adds up."""
        problems = funnel_problems(self.summary, self.totals)
        if problems:
            raise ReconciliationError("funnel counts do not reconcile: " + "; ".join(problems)
                                      + ". Recompute it with trialkit.funnel() from the eligibility result.")

    @property
    def what_if(self) -> bool:
        """True when criteria were switched off or thresholds moved from the protocol's values."""
        return bool(self.disabled or self.changed)

    def figure(self, **kw):
        """The funnel as a plotly figure (:func:`trialkit.plots.eligibility.plot_funnel`)."""
        from ..plots.eligibility import plot_funnel

        return plot_funnel(self, **kw)


def funnel(data, *, eligibility: EligibilityResult | None = None, order: Iterable[str] | None = None,
           protocol=None, thresholds=None, disabled: Iterable[str] = (), criteria=None) -> FunnelResult:
    """Sequential funnel (protocol order or ``order``) and independent per-criterion counts.

    When the protocol's criteria are not executable (a study loaded from CDISC, whose trial design
    holds only their wording), the funnel shows the sites' recorded outcomes and reasons instead and
    says so in its title.

    Parameters
    ----------
    data : Study, DataFrame or EligibilityResult
        Screening data to evaluate with :func:`evaluate_eligibility` (or an evaluated result).
    eligibility : EligibilityResult, optional
        A precomputed evaluation of ``data``.
    order : iterable of str, optional
        Criterion ids in the order the funnel applies them (the rest follow in protocol order).
    protocol, thresholds, disabled, criteria
        Passed to :func:`evaluate_eligibility` when ``data`` is not yet evaluated.

    Returns
    -------
    FunnelResult

    Examples
    --------
    >>> import pandas as pd, trialkit as tk
    >>> df = pd.DataFrame({"subject_id": list("abcd"), "marrow_blasts_pct": [40.0, 2.0, None, 9.0],
    ...                    "ph_positive": pd.array([False, False, False, True], dtype="boolean")})
    >>> crit = [tk.Criterion(id="BLASTS", category="inclusion", rule="marrow_blasts_pct >= 5"),
    ...         tk.Criterion(id="PH", category="exclusion", rule="ph_positive")]
    >>> tk.funnel(df, criteria=crit).summary[["criterion_id", "entering", "excluded", "unknown"]]
      criterion_id  entering  excluded  unknown
    0       BLASTS         4         1        1
    1           PH         3         1        0
    """
    if (eligibility is None and criteria is None and is_study(data) and protocol is None
            and not _executable(data.protocol)):
        return recorded_funnel(data)
    res = as_result(data, eligibility, protocol=protocol, thresholds=thresholds, disabled=tuple(disabled or ()),
                    criteria=criteria)
    crits = list(res.criteria)
    idx = list(range(len(crits)))
    if order is not None:
        order = list(order)
        ids = [c.id for c in crits]
        bad = sorted(set(order) - set(ids))
        if bad:
            raise ProtocolError(f"`order` names criterion id(s) {bad} that were not evaluated; known: {ids}.")
        rank = {cid: i for i, cid in enumerate(order)}
        idx = sorted(idx, key=lambda j: (rank.get(crits[j].id, len(order)), j))
    screen = [j for j in idx if crits[j].stage == "screening"]
    post = [j for j in idx if crits[j].stage != "screening"]
    P = res.pass_codes
    n = P.shape[0]
    # one forward pass over the criteria (columns are contiguous): who is still in, and who is still in
    # with every input known so far. Post-enrollment criteria come last and continue from the screening
    # steps' remaining subjects, so every step enters exactly what the step before left.
    rows, passes, fails, n_fail, totals = _forward_pass(P, crits, screen, post)
    Ps = P if screen == list(range(P.shape[1])) else P[:, screen]
    seq = pd.DataFrame(rows, columns=["step", "criterion_id", "label", "category", "stage", "entering", "excluded",
                                      "unknown", "remaining", "remaining_all_known"])
    if post:
        ind = res.summary.copy()
    else:
        cs = [crits[j] for j in screen]
        met = [fails[j] if c.is_exclusion else passes[j] for j, c in zip(screen, cs)]
        not_met = [passes[j] if c.is_exclusion else fails[j] for j, c in zip(screen, cs)]
        ind = pd.DataFrame({"criterion_id": [c.id for c in cs], "category": [c.category for c in cs],
                            "stage": [c.stage for c in cs], "label": [c.label for c in cs], "met": met,
                            "not_met": not_met, "unknown": [n - a - b for a, b in zip(met, not_met)],
                            "excludes": [fails[j] for j in screen]})
    single = n_fail == 1
    sole_counts = {crits[jj].id: int(np.count_nonzero((Ps[:, j] == 0) & single)) for j, jj in enumerate(screen)}
    ind["sole_reason"] = [int(sole_counts.get(cid, 0)) for cid in ind["criterion_id"]]
    rows_in_order = pd.Index(ind["criterion_id"]).get_indexer([crits[j].id for j in idx])  # ids are unique
    ind = ind.take(rows_in_order).reset_index(drop=True)
    params, changed = _what_if_params(res)
    out = FunnelResult(summary=seq, independent=ind, totals=totals, protocol_id=res.protocol_id,
                       notes=res.notes, params=params, changed=changed, disabled=tuple(res.disabled))
    out.check()
    return out


def _what_if_params(res: EligibilityResult) -> tuple[dict, dict]:
    """``({parameter: value in force}, {parameter: protocol value} for the moved ones)``."""
    params, changed = {}, {}
    for c in res.criteria:
        for p, default in (c.params or {}).items():
            v = (res.params.get(c.id) or {}).get(p, default)
            params[p] = v
            if float(v) != float(default):
                changed[p] = default
    return params, changed


def funnel_problems(summary: pd.DataFrame, totals: dict) -> list[str]:
    """Every way a funnel's counts fail to add up, as messages (empty when they reconcile).

    Each step enters what the step before left (post-enrollment steps included), excludes
    ``entering - remaining``, keeps at most ``remaining`` with unknown inputs; the screening steps
    exclude the not-eligible total and leave the eligible ones with every input known; the
    post-enrollment steps exclude ``off_protocol_after_enrollment``.
    """
    problems = []
    s, t = summary, totals
    if len(s):
        ent, exc, rem = (s[c].to_numpy(dtype=np.int64) for c in ("entering", "excluded", "remaining"))
        bad = np.flatnonzero(rem != ent - exc)
        problems += [f"step {int(s['step'].iloc[i])}: remaining {rem[i]} != entering {ent[i]} - excluded {exc[i]}"
                     for i in bad]
        gap = np.flatnonzero(ent[1:] != rem[:-1]) + 1
        problems += [f"step {int(s['step'].iloc[i])} enters {ent[i]} but the step before left {rem[i - 1]}"
                     for i in gap]
        if ent[0] != t["screened"]:
            problems.append(f"first step enters {ent[0]} but {t['screened']} were screened")
        over = np.flatnonzero((s["unknown"].to_numpy() > rem) | (s["remaining_all_known"].to_numpy() > rem))
        problems += [f"step {int(s['step'].iloc[i])}: more unknown or fully-known subjects than remaining"
                     for i in over]
    scr = s[s["stage"] == "screening"]
    if len(scr):
        if int(scr["excluded"].sum()) != t["not_eligible"]:
            problems.append(f"screening steps exclude {int(scr['excluded'].sum())} but {t['not_eligible']} "
                            "are not eligible")
        if int(scr["remaining_all_known"].iloc[-1]) != t["eligible"]:
            problems.append("the last screening step's fully-known remaining count differs from the eligible count")
    post = s[s["stage"] != "screening"]
    if len(post) and int(post["excluded"].sum()) != t.get("off_protocol_after_enrollment", -1):
        problems.append(f"post-enrollment steps exclude {int(post['excluded'].sum())} but "
                        f"{t.get('off_protocol_after_enrollment')} are off protocol after enrollment")
    if t["eligible"] + t["not_eligible"] + t["undetermined"] != t["screened"]:
        problems.append("eligible + not eligible + undetermined != screened")
    return problems


def _forward_pass(P: np.ndarray, crits, screen: list[int], post: list[int]):
    """Step rows, per-criterion pass/fail counts, failures per subject and the totals of the funnel."""
    n = P.shape[0]
    alive = np.ones(n, dtype=bool)
    known = np.ones(n, dtype=bool)
    n_fail = np.zeros(n, dtype=np.int16)
    entering = n
    rows, passes, fails = [], {}, {}
    totals: dict = {}
    for step, j in enumerate([*screen, *post]):
        col = P[:, j]
        fail = col == 0
        ok = col == 1
        if j in screen:  # independent counts (screening criteria) from the same pass
            passes[j], fails[j] = int(np.count_nonzero(ok)), int(np.count_nonzero(fail))
            n_fail += fail
        alive &= ~fail
        remaining = int(np.count_nonzero(alive))
        unknown = int(np.count_nonzero(alive & (col < 0)))
        known &= ok
        rows.append(_row(step + 1, crits[j], entering, entering - remaining, unknown, int(np.count_nonzero(known))))
        entering = remaining
        if step == len(screen) - 1:  # the verdict of screening, before any post-enrollment step
            totals = _screening_totals(n, entering, known)
    if not screen:
        totals = _screening_totals(n, n, np.ones(n, dtype=bool))
    if post:
        totals["off_protocol_after_enrollment"] = int(sum(r["excluded"] for r in rows[len(screen):]))
    return rows, passes, fails, n_fail, totals


def _screening_totals(n: int, remaining: int, known: np.ndarray) -> dict:
    k = int(np.count_nonzero(known))
    return {"screened": int(n), "eligible": k, "not_eligible": int(n - remaining), "undetermined": int(remaining - k)}


def _executable(protocol) -> bool:
    from .criteria import criteria_from_protocol

    try:
        return bool(criteria_from_protocol(protocol))
    except ProtocolError:
        return False


def recorded_funnel(data) -> FunnelResult:
    """The funnel of the sites' own verdicts: screened → each recorded screen-failure reason → eligible.

    For a study whose protocol has no executable criteria. Subjects with ``screening_outcome`` "screen
    failure" are excluded at the step of their recorded reason ("reason not recorded" when empty, most
    frequent first); "declined" and "other" outcomes are their own steps; a randomized subject, or one
    recorded "eligible", is eligible; an empty outcome is undetermined.
    """
    scr = data.screening
    n = len(scr)
    outcome = (scr["screening_outcome"].astype("string") if "screening_outcome" in scr
               else pd.Series(pd.NA, index=scr.index, dtype="string"))
    randomized = scr["subject_id"].isin(data.randomization["subject_id"]) if len(data.randomization) else \
        pd.Series(False, index=scr.index)
    reason = (scr["screen_failure_reason"].astype("string").str.strip().replace("", pd.NA)
              if "screen_failure_reason" in scr else pd.Series(pd.NA, index=scr.index, dtype="string"))
    step_of = pd.Series(pd.NA, index=scr.index, dtype="string")
    failed = outcome.eq("screen failure").fillna(False) & ~randomized
    step_of[failed] = reason[failed].fillna("reason not recorded")
    for other in ("declined", "other"):
        m = outcome.eq(other).fillna(False) & ~randomized
        step_of[m] = f"site outcome: {other}"
    counts = step_of.value_counts(sort=True)
    rows, entering = [], n
    eligible = int((randomized | outcome.eq("eligible").fillna(False)).sum())
    for i, (label, k) in enumerate(counts.items()):
        rows.append({"step": i + 1, "criterion_id": str(label), "label": str(label), "category": "recorded",
                     "stage": "screening", "entering": entering, "excluded": int(k), "unknown": 0,
                     "remaining": entering - int(k), "remaining_all_known": entering - int(k)})
        entering -= int(k)
    undetermined = n - eligible - int(counts.sum())
    if rows:
        rows[-1]["remaining_all_known"] = eligible
    seq = pd.DataFrame(rows, columns=["step", "criterion_id", "label", "category", "stage", "entering", "excluded",
                                      "unknown", "remaining", "remaining_all_known"])
    ind = seq[["criterion_id", "label", "category", "stage"]].assign(met=0, not_met=seq["excluded"], unknown=0,
                                                                     excludes=seq["excluded"],
                                                                     sole_reason=seq["excluded"])
    totals = {"screened": n, "eligible": eligible, "not_eligible": int(counts.sum()), "undetermined": undetermined}
    notes = (f"protocol {data.protocol.id} has no executable criteria: the funnel shows the sites' recorded "
             "outcomes and reasons",)
    if undetermined:
        notes += (f"{undetermined} screened subject(s) have no recorded outcome and were not randomized "
                  "(undetermined)",)
    out = FunnelResult(summary=seq, independent=ind, totals=totals, protocol_id=data.protocol.id, source="site",
                       notes=notes)
    out.check()
    return out


def _row(step, c, entering, excluded, unknown, all_known):
    return {"step": step, "criterion_id": c.id, "label": c.label, "category": c.category, "stage": c.stage,
            "entering": int(entering), "excluded": int(excluded), "unknown": int(unknown),
            "remaining": int(entering - excluded), "remaining_all_known": int(all_known)}


def exclusion_list(data, *, eligibility: EligibilityResult | None = None,
                   criterion: str | Iterable[str] | None = None, first_only: bool = False,
                   include_unknown: bool = False, protocol=None, thresholds=None, disabled=(),
                   criteria=None) -> pd.DataFrame:
    """Which subjects each criterion excluded, one row per subject × excluding criterion.

    Parameters
    ----------
    data : Study, DataFrame or EligibilityResult
    eligibility : EligibilityResult, optional
        A precomputed evaluation of ``data``.
    criterion : str or iterable of str, optional
        Restrict to these criterion ids.
    first_only : bool
        Keep only each subject's first excluding criterion (evaluation order), as in the funnel.
    include_unknown : bool
        Also list subjects whose status is unknown (``status = "unknown"``), to chase missing data.

    Returns
    -------
    pandas.DataFrame
        ``subject_id, site_id, country, screening_date, criterion_id, label, category, stage, status,
        first_excluding, text`` (``status`` is "met" for an exclusion criterion that excludes, "not
        met" for a failed inclusion criterion, or "unknown"). Sorted by criterion order, then in
        the data's row order. Export with ``trialkit.io.export.write_table(frame, path)`` (formula-safe).
    """
    res = as_result(data, eligibility, protocol=protocol, thresholds=thresholds, disabled=tuple(disabled or ()),
                    criteria=criteria)
    ids = res.criterion_ids
    if criterion is not None:
        wanted = [criterion] if isinstance(criterion, str) else list(criterion)
        bad = sorted(set(wanted) - set(ids))
        if bad:
            raise ProtocolError(f"exclusion_list: unknown criterion id(s) {bad}; known: {ids}.")
        cols = [ids.index(c) for c in wanted]
    else:
        cols = list(range(len(ids)))
    P = res.pass_codes
    screen = np.array([c.stage == "screening" for c in res.criteria])
    first = _first_index(P[:, screen] == 0) if screen.any() else np.full(len(res), -1)
    screen_pos = np.cumsum(screen) - 1  # position of each criterion among screening criteria
    ctx = res.context
    row_parts, col_parts, first_parts = [], [], []
    for j in cols:
        c = res.criteria[j]
        col = P[:, j]
        mask = (col == 0) | ((col < 0) if include_unknown else False)
        is_first = (first == screen_pos[j]) & (col == 0) if c.stage == "screening" else np.zeros(len(res), bool)
        if first_only:
            mask &= is_first
        rows = np.flatnonzero(mask)
        row_parts.append(rows)
        col_parts.append(np.full(len(rows), j))
        first_parts.append(is_first[rows])
    cols_out = ["subject_id", "site_id", "country", "screening_date", "criterion_id", "label", "category",
                "stage", "status", "first_excluding", "text"]
    rows = np.concatenate(row_parts) if row_parts else np.array([], dtype=np.intp)
    if not len(rows):
        return pd.DataFrame({k: pd.Series(dtype="object") for k in cols_out})
    js = np.concatenate(col_parts)
    order = np.argsort(js, kind="stable")  # criterion order, then input (screening) order
    rows, js, firsts = rows[order], js[order], np.concatenate(first_parts)[order]
    crits = res.criteria
    attr = {name: np.array([getattr(c, name) for c in crits], dtype=object)
            for name in ("id", "label", "category", "stage", "text")}
    out = pd.DataFrame({"subject_id": res.subject_ids.to_numpy()[rows]})
    for k in ("site_id", "country", "screening_date"):
        out[k] = ctx[k].array.take(rows) if k in ctx else pd.NA
    out["criterion_id"] = attr["id"][js]
    out["label"] = attr["label"][js]
    out["category"] = attr["category"][js]
    out["stage"] = attr["stage"][js]
    out["status"] = np.array(["unknown", "not met", "met"], dtype=object)[res.codes[rows, js] + 1]
    out["first_excluding"] = firsts
    out["text"] = attr["text"][js]
    return out[cols_out]


def screening_disagreements(data, *, eligibility: EligibilityResult | None = None, protocol=None,
                            thresholds=None, disabled=()) -> pd.DataFrame:
    """Patients whose site-recorded screening outcome disagrees with the protocol's rules.

    Parameters
    ----------
    data : Study or DataFrame
        Screening data with ``screening_outcome`` (a Study also uses its randomization table: a
        randomized subject counts as judged eligible by the site when the outcome is empty).
    eligibility : EligibilityResult, optional
        A precomputed evaluation of ``data`` (else it is evaluated here).

    Returns
    -------
    pandas.DataFrame
        One row per disagreeing patient: ``subject_id, site_id, screening_outcome, randomized,
        rules_eligible, disagreement, failed_criteria, unknown_criteria, screen_failure_reason``.
        ``disagreement`` is one of "site eligible, rules exclude" (the rules name the failed
        criteria), "site screen failure, rules eligible", or "site eligible, rules undetermined"
        (some input is missing, none excludes). Declined / other outcomes are not disagreements.
    """
    frame = data.screening if is_study(data) else data
    if not isinstance(frame, pd.DataFrame):
        raise ProtocolError(f"screening_disagreements needs a Study or a screening DataFrame, got "
                            f"{type(data).__name__}.")
    if "screening_outcome" not in frame.columns:
        raise ProtocolError("the data have no `screening_outcome` column, so there is no site verdict to compare; "
                            "add it (values: eligible, screen failure, declined, other).")
    res = as_result(data, eligibility, protocol=protocol, thresholds=thresholds, disabled=tuple(disabled or ()))
    if len(res) != len(frame):
        raise ReconciliationError(f"the eligibility result has {len(res)} rows but the data {len(frame)}; "
                                  "evaluate the same data.")
    outcome = frame["screening_outcome"].astype("string").reset_index(drop=True)
    randomized = pd.Series(False, index=outcome.index)
    if is_study(data) and len(data.randomization):
        randomized = frame["subject_id"].isin(data.randomization["subject_id"]).reset_index(drop=True)
    site_eligible = outcome.eq("eligible").fillna(False) | (outcome.isna() & randomized)
    site_fail = outcome.eq("screen failure").fillna(False)
    elig = res.eligible.reset_index(drop=True)
    kind = pd.Series(pd.NA, index=outcome.index, dtype="string")
    kind[site_eligible & elig.eq(False).fillna(False)] = "site eligible, rules exclude"
    kind[site_eligible & elig.isna()] = "site eligible, rules undetermined"
    kind[site_fail & elig.eq(True).fillna(False)] = "site screen failure, rules eligible"
    rows = np.flatnonzero(kind.notna().to_numpy())
    screen = [j for j, c in enumerate(res.criteria) if c.stage == "screening"]
    ids = np.array(res.criterion_ids, dtype=object)
    P = res.pass_codes

    def names(r, code):
        return "; ".join(ids[[j for j in screen if P[r, j] == code]])

    out = pd.DataFrame({
        "subject_id": res.subject_ids.to_numpy()[rows],
        "site_id": frame["site_id"].to_numpy()[rows] if "site_id" in frame else pd.NA,
        "screening_outcome": outcome.to_numpy()[rows],
        "randomized": randomized.to_numpy()[rows],
        "rules_eligible": elig.to_numpy()[rows],
        "disagreement": kind.to_numpy()[rows],
        "failed_criteria": [names(r, 0) for r in rows],
        "unknown_criteria": [names(r, -1) for r in rows],
        "screen_failure_reason": (frame["screen_failure_reason"].to_numpy()[rows]
                                  if "screen_failure_reason" in frame else pd.NA),
    })
    out["rules_eligible"] = out["rules_eligible"].astype("boolean")
    return out


def compute_screen_failure_rates(data, *, by: str = "country", freq: str = "QS", source: str = "rules",
                                 eligibility: EligibilityResult | None = None, protocol=None) -> pd.DataFrame:
    """Screen-failure rate per site or country and calendar period.

    Parameters
    ----------
    data : EligibilityResult, Study or DataFrame
        Needs ``screening_date`` and the ``by`` column (for a Study, ``country`` is filled from
        ``sites`` when the screening table leaves it empty).
    by : {"country", "site_id"}
        The grouping column.
    freq : str
        pandas period-start alias for the calendar periods ("MS" months, "QS" quarters, "YS" years).
    source : {"rules", "site"}
        ``"rules"``: failed = the protocol's rules exclude the patient; undetermined patients are
        counted apart and left out of the rate's denominator. ``"site"``: failed = the site recorded
        "screen failure" (declined / other are not failures; an empty outcome is undetermined).
    eligibility : EligibilityResult, optional
        A precomputed evaluation of ``data`` (for ``source="rules"``).

    Returns
    -------
    pandas.DataFrame
        ``<by>, period, screened, failed, undetermined, rate`` (rate = failed / (screened -
        undetermined), NaN when that is 0), sorted by group and period. Rows with no screening
        date or no group are counted under ``"(not recorded)"``, never dropped.
    """
    if by not in ("country", "site_id"):
        raise ProtocolError(f"by={by!r}; use 'country' or 'site_id'.")
    if source not in ("rules", "site"):
        raise ProtocolError(f"source={source!r}; use 'rules' or 'site'.")
    use_rules = source == "rules" or isinstance(data, EligibilityResult) or eligibility is not None
    res = as_result(data, eligibility, protocol=protocol) if use_rules else None
    if res is not None:
        ctx = res.context.copy()
    else:
        frame = data.screening if is_study(data) else data
        ctx = frame.reset_index(drop=True).copy()
    if by == "country" and is_study(data):
        ctx = with_site_columns(ctx, data)
    if "screening_date" not in ctx:
        raise ProtocolError("the data have no `screening_date`, so there is no calendar time to group by.")
    group = ctx[by].astype("string").fillna("(not recorded)") if by in ctx else pd.Series(
        "(not recorded)", index=ctx.index, dtype="string")
    dates = pd.to_datetime(ctx["screening_date"], errors="coerce")
    period = dates.dt.to_period(_period_alias(freq)).dt.start_time
    if source == "rules":
        verdict = res.eligible.reset_index(drop=True)
        failed = verdict.eq(False).fillna(False).to_numpy(dtype=bool)
        undetermined = verdict.isna().to_numpy()
    else:
        if "screening_outcome" not in ctx:
            raise ProtocolError("source='site' needs the `screening_outcome` column.")
        o = ctx["screening_outcome"].astype("string")
        failed = o.eq("screen failure").fillna(False).to_numpy(dtype=bool)
        undetermined = o.isna().to_numpy()
    df = pd.DataFrame({by: group.to_numpy(), "period": period.to_numpy(), "failed": failed,
                       "undetermined": undetermined})
    out = (df.groupby([by, "period"], dropna=False, sort=True)
             .agg(screened=("failed", "size"), failed=("failed", "sum"), undetermined=("undetermined", "sum"))
             .reset_index())
    denom = (out["screened"] - out["undetermined"]).astype(float)
    out["rate"] = np.where(denom > 0, out["failed"] / denom.where(denom > 0, 1.0), np.nan)
    for c in ("screened", "failed", "undetermined"):
        out[c] = out[c].astype("int64")
    return out


def _period_alias(freq: str) -> str:
    return {"MS": "M", "M": "M", "ME": "M", "QS": "Q", "Q": "Q", "QE": "Q", "YS": "Y", "Y": "Y", "YE": "Y",
            "AS": "Y", "W": "W"}.get(freq, freq)
