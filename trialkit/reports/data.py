"""What a site report may see: one site's rows, and study aggregates with small cells suppressed.

Isolation is built into the data, not left to the template: :func:`site_subset` cuts a study down to
the rows of one site (its screening log, its randomized patients and their follow-up), and
:func:`study_aggregates` computes, once per run, the whole-study figures a site is compared with,
as counts only, with every cell under ``min_cell`` (5 by default) patients replaced by ``None``
(printed "<5"). A site notebook is given these two things and nothing else.

Suppression rules (statistical disclosure control, as in e.g. the ONS and CMS small-cell policies):

* a count ``1 ≤ n < min_cell`` is suppressed; 0 is shown (it discloses no patient);
* a split of a known total ``n`` into ``k`` and ``n - k`` (responders / non-responders, events /
  censored) is suppressed when either part is under ``min_cell``;
* when exactly one cell of a group with a published total is suppressed, the next smallest cell is
  suppressed too, so the hidden one cannot be recovered by subtraction;
* a cumulative series over time is thinned so that every published step adds at least ``min_cell``
  patients (monthly increments of 1–4 cannot be read off by differencing);
* when an arm's randomized count is suppressed, every per-arm figure (response, events) is
  suppressed too, since its denominators would reveal the arm sizes.

Limitation: suppression is complete within each group, not across every pair of tables. A
difference between two published tables can still disclose a small count in unusual data, e.g.
when a single criterion accounts for every screen failure, its count equals "not eligible" and
"undetermined" follows from the totals. The study figures are for context; check them before
sending reports outside the trial team when the study is very small.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import UsageError
from ..study import Study

__all__ = ["site_subset", "study_aggregates", "suppress", "suppress_split", "suppress_group",
           "thin_cumulative", "MIN_CELL"]

MIN_CELL = 5


def suppress(n, *, min_cell: int = MIN_CELL):
    """``n`` as an int, or ``None`` when ``0 < n < min_cell``."""
    n = int(n)
    return None if 0 < n < min_cell else n


def suppress_split(k, n, *, min_cell: int = MIN_CELL):
    """Part ``k`` of a total ``n``, or ``None`` when ``k`` or ``n - k`` is a small cell."""
    k, n = int(k), int(n)
    if 0 < k < min_cell or 0 < n - k < min_cell:
        return None
    return k


def suppress_group(counts: dict, *, min_cell: int = MIN_CELL) -> dict:
    """Suppress a group of counts whose total is published (with complementary suppression)."""
    out = {k: suppress(v, min_cell=min_cell) for k, v in counts.items()}
    hidden = [k for k, v in out.items() if v is None]
    if len(hidden) == 1:
        shown = sorted(((v, k) for k, v in out.items() if v is not None and v > 0))
        if shown:
            out[shown[0][1]] = None
    return out


def thin_cumulative(dates: pd.Series, counts: pd.Series, *, min_cell: int = MIN_CELL) -> pd.DataFrame:
    """Keep the points of a cumulative series where at least ``min_cell`` were added since the last kept."""
    keep, last = [], 0
    for d, c in zip(dates, counts):
        if c >= min_cell and c - last >= min_cell:
            keep.append((d, int(c)))
            last = c
    return pd.DataFrame(keep, columns=["date", "cumulative"])


def site_subset(study: Study, site_id: str) -> Study:
    """The study restricted to one site's patients.

    A site's patients are those screened there and those randomized there (a transfer keeps its
    screening row with its randomizing site). The sites table keeps only this site's row; the
    protocol and data-cut date are kept. Other sites' rows never enter the result.
    """
    scr, rnd = study.screening, study.randomization
    rnd_site = rnd[rnd["site_id"] == site_id]
    subjects = pd.Index(scr.loc[scr["site_id"] == site_id, "subject_id"]).union(pd.Index(rnd_site["subject_id"]))
    rnd_ids = pd.Index(rnd_site["subject_id"])

    def rows(df, ids):
        return df[df["subject_id"].isin(ids)].reset_index(drop=True)

    return study.replace(
        sites=study.sites[study.sites["site_id"] == site_id].reset_index(drop=True),
        screening=rows(scr, subjects),
        randomization=rnd_site.reset_index(drop=True),
        disposition=rows(study.disposition, rnd_ids),
        response=rows(study.response, rnd_ids),
        outcomes=rows(study.outcomes, rnd_ids),
        adverse_events=rows(study.adverse_events, rnd_ids),  # issue 11: a site sees its own patients' events only
        source=f"{study.source} [site {site_id}]",
    )


def _month_series(dates: pd.Series, months: pd.PeriodIndex) -> pd.Series:
    per = dates.dropna().dt.to_period("M").value_counts()
    return per.reindex(months, fill_value=0).cumsum()


def study_aggregates(study: Study, *, min_cell: int = MIN_CELL, eligibility=None,
                     checksum: str | None = None) -> dict:
    """Whole-study comparison figures for site reports, counts only, small cells suppressed.

    Parameters
    ----------
    study : Study
    min_cell : int, default 5
        Smallest count published; must be at least 5.
    eligibility : EligibilityResult, optional
        :func:`trialkit.evaluate_eligibility` of the whole study (evaluated here when not given).
    checksum : str, optional
        ``study.checksum()`` when the caller has it already.

    Returns
    -------
    dict
        JSON-serializable; ``None`` stands for a suppressed cell.
    """
    if min_cell < MIN_CELL:
        raise UsageError(f"min_cell={min_cell}: cells under {MIN_CELL} patients are always suppressed; "
                         f"give min_cell >= {MIN_CELL}.")
    s = study
    scr, rnd = s.screening, s.randomization
    arms = list(s.protocol.arm_codes)
    total = sum(s.protocol.ratio.values())
    outcome = scr["screening_outcome"].value_counts() if "screening_outcome" in scr else pd.Series(dtype=int)
    counts = {"screened": suppress(len(scr), min_cell=min_cell),
              "randomized": suppress(len(rnd), min_cell=min_cell)}
    verdicts = {k: int(outcome.get(k, 0)) for k in ("eligible", "screen failure", "declined", "other")}
    verdicts["not recorded"] = int(len(scr) - sum(verdicts.values()))
    arm_counts = {a: int((rnd["arm"] == a).sum()) for a in arms}

    # pace: cumulative counts at month ends, thinned; and the number of sites active by then
    dates = pd.concat([scr["screening_date"], rnd["randomization_date"]]).dropna()
    pace: dict = {"months": [], "cumulative_screened": [], "cumulative_randomized": [], "active_sites": []}
    if len(dates):
        months = pd.period_range(dates.min().to_period("M"), dates.max().to_period("M"), freq="M")
        cum_r = _month_series(rnd["randomization_date"], months)
        cum_s = _month_series(scr["screening_date"], months)
        first = pd.concat([scr[["site_id", "screening_date"]].rename(columns={"screening_date": "d"}),
                           rnd[["site_id", "randomization_date"]].rename(columns={"randomization_date": "d"})])
        start = first.groupby("site_id")["d"].min()
        if "activation_date" in s.sites and s.sites["activation_date"].notna().any():
            act = s.sites.set_index("site_id")["activation_date"].dropna()
            start = pd.concat([act, start], axis=1).min(axis=1)
        active = [int((start.dt.to_period("M") <= m).sum()) for m in months]
        ends = [m.to_timestamp(how="end").normalize() for m in months]
        tr = thin_cumulative(pd.Series(ends), cum_r.reset_index(drop=True), min_cell=min_cell)
        ts = thin_cumulative(pd.Series(ends), cum_s.reset_index(drop=True), min_cell=min_cell)
        pace = {
            "month_ends": [d.date().isoformat() for d in ends],
            "active_sites": active,
            "randomized": {"date": [d.date().isoformat() for d in tr["date"]], "cumulative": tr["cumulative"].tolist()},
            "screened": {"date": [d.date().isoformat() for d in ts["date"]], "cumulative": ts["cumulative"].tolist()},
        }

    # outcomes by arm: response and events
    arm_of = rnd.set_index("subject_id")["arm"] if len(rnd) else pd.Series(dtype="string")
    resp = s.response.assign(arm=s.response["subject_id"].map(arm_of))
    response = {}
    for a in arms:
        r = resp[resp["arm"] == a]
        assessed = int(r["response"].notna().sum())
        crcri = int(r["response"].isin(["CR", "CRi"]).sum())
        mrd_known = int(r["mrd_negative"].notna().sum())
        mrdneg = int(r["mrd_negative"].fillna(False).astype(bool).sum())
        response[a] = {"assessed": suppress(assessed, min_cell=min_cell),
                       "cr_cri": suppress_split(crcri, assessed, min_cell=min_cell),
                       "mrd_assessed": suppress(mrd_known, min_cell=min_cell),
                       "mrd_negative": suppress_split(mrdneg, mrd_known, min_cell=min_cell)}
    events = {}
    o = s.outcomes.assign(arm=s.outcomes["subject_id"].map(arm_of))
    for ep, g in o.groupby("endpoint", sort=True):
        events[str(ep)] = {a: {"n": suppress(int((g["arm"] == a).sum()), min_cell=min_cell),
                               "events": suppress_split(int(g.loc[g["arm"] == a, "event"].sum()),
                                                        int((g["arm"] == a).sum()), min_cell=min_cell)}
                           for a in arms}

    # eligibility by the protocol's rules, and each criterion's exclusions (independent counts)
    rules, excluding = None, None
    if len(scr) and s.protocol.criteria:
        from ..eligibility import evaluate_eligibility, funnel

        res = eligibility if eligibility is not None else evaluate_eligibility(s)
        f = funnel(res)
        rules = suppress_group({k: int(f.totals[k]) for k in ("eligible", "not_eligible", "undetermined")},
                               min_cell=min_cell)
        ind = f.independent
        excluding = {str(c): suppress(int(n), min_cell=min_cell) for c, n in zip(ind["criterion_id"], ind["excludes"])}
    # allocation tests of the whole study (statistics, not cells; the counts are suppressed)
    allocation = {"n": suppress(len(rnd), min_cell=min_cell), "p_binomial": None, "p_scheme": None}
    if len(rnd) >= min_cell:
        from ..randomization import allocation_summary

        row = allocation_summary(s, by=("overall",)).table.iloc[0]
        allocation.update(p_binomial=None if pd.isna(row["p_binomial"]) else float(row["p_binomial"]),
                          p_scheme=None if pd.isna(row["p_scheme"]) else float(row["p_scheme"]))

    # per-arm figures must not undo the arms' complementary suppression: an arm's assessed or
    # at-risk count usually equals its randomized count, which would reveal the hidden arm by subtraction
    arms_shown = suppress_group(arm_counts, min_cell=min_cell)
    if any(v is None for v in arms_shown.values()):
        response = {a: dict.fromkeys(v, None) for a, v in response.items()}
        events = {ep: {a: dict.fromkeys(v, None) for a, v in by_arm.items()} for ep, by_arm in events.items()}

    n_sites = int(s.sites["site_id"].nunique())
    rand_sites = rnd.groupby("site_id").size() if len(rnd) else pd.Series(dtype=int)
    return {
        "protocol": s.protocol.id,
        "title": s.protocol.title,
        "study_checksum": checksum or s.checksum(),
        "data_cut_date": s.data_cut_date.date().isoformat() if s.data_cut_date is not None else None,
        "min_cell": int(min_cell),
        "n_sites": n_sites,
        "n_sites_randomizing": int(len(rand_sites)),
        "median_randomized_per_randomizing_site": (float(np.median(rand_sites)) if len(rand_sites) >= min_cell
                                                   else None),
        "counts": counts,
        "site_verdicts": suppress_group(verdicts, min_cell=min_cell),
        "arms": {a: {"randomized": v, "planned_share": s.protocol.ratio[a] / total} for a, v in arms_shown.items()},
        "rules": rules,
        "criteria_excluding": excluding,
        "allocation": allocation,
        "pace": pace,
        "response": response,
        "events": events,
    }
