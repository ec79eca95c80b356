"""What each audience's kernel receives: the runner prepares it here, once per run.

Isolation is built into the data, not left to the template.

* **site**: :func:`site_subset` cuts a study down to the rows of one site (its screening log, its
  randomized patients and their follow-up), and :func:`study_aggregates` computes the whole-study
  figures a site is compared with, as counts only, pooled over arms for every outcome, with every
  cell under ``min_cell`` (5 by default) patients replaced by ``None`` (printed "§" with a footnote). A site
  notebook is given these two things and nothing else.
* **study** (the blinded study team): :func:`study_team_data` gives the sites, the screening log
  and the randomization table (allocation counts are not outcomes), no disposition, response or
  outcome rows; outcome and event counts pooled over arms and data-quality findings counted per
  site are computed here.
* **dsmb**: :func:`dsmb_data` gives every table; it is the only audience whose kernel can compute
  an outcome or a safety result by arm (:func:`safety_data` says whether adverse events exist).

With ``reporting: comparative_outcomes: open`` (see :mod:`trialkit.reports.audience`) the site and
study aggregates also carry study-wide outcome counts by arm (``by_arm``).

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

from ..defaults import DEFAULT_N_SIM, DEFAULT_SEED
from ..errors import UsageError
from ..model import TABLES
from ..study import Study
from .audience import Reporting

__all__ = ["site_subset", "site_subsets", "SiteSplit", "study_aggregates", "pooled_outcomes", "outcomes_by_arm",
           "study_team_data", "dsmb_data", "safety_data", "pooled_safety", "pooled_event_forecast", "findings_by_site", "suppress", "suppress_split",
           "suppress_group", "thin_cumulative", "MIN_CELL", "OUTCOME_TABLES"]

CLOSED = Reporting()
#: re-randomizations behind the study-wide scheme-based allocation p-value (site and study reports):
#: the shared default of the notebooks, the explorers and the reports (trialkit.defaults), so that
#: one allocation has one p-value wherever it is shown
ALLOCATION_SIMULATIONS = DEFAULT_N_SIM
#: tables that hold outcomes or safety data (or, through their dates, deaths); only the dsmb kernel gets
#: them whole, a site its own patients' rows, the study team none
OUTCOME_TABLES = ("disposition", "response", "outcomes", "adverse_events")

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


class SiteSplit:
    """A study cut by site once, so that each site's subset costs a few slices, not a pass over the study.

    Each table is sorted once by the site its rows belong to (stably: the original order within a
    site), and its row hashes are computed once; :meth:`subset` then gives exactly what
    :func:`site_subset` gives, and :meth:`checksum` exactly ``subset(site_id).checksum()``
    (:meth:`trialkit.Study.checksum` hashes rows independently), both in time independent of the
    study's size. For 1,000 sites of a 20,000-patient study this is the difference between seconds
    and minutes of planning.
    """

    def __init__(self, study: Study):
        from pandas.util import hash_pandas_object

        self.study = study
        rnd_site = study.randomization.drop_duplicates("subject_id").set_index("subject_id")["site_id"]
        keys = {"sites": study.sites["site_id"], "screening": study.screening["site_id"],
                "randomization": study.randomization["site_id"],
                **{t: getattr(study, t)["subject_id"].map(rnd_site) for t in OUTCOME_TABLES}}
        self._parts = {}
        for t, key in keys.items():
            df = getattr(study, t)
            codes, uniques = pd.factorize(key.astype(object), use_na_sentinel=True)
            order = np.argsort(codes, kind="stable")
            sorted_codes = codes[order]
            starts = {u: np.searchsorted(sorted_codes, i, "left") for i, u in enumerate(uniques)}
            stops = {u: np.searchsorted(sorted_codes, i, "right") for i, u in enumerate(uniques)}
            full = hash_pandas_object(df, index=False).to_numpy() if len(df) else np.array([], np.uint64)
            self._parts[t] = (df.iloc[order], order, starts, stops, full[order], full)
        self._extra = self._screening_extras(study, rnd_site)

    @staticmethod
    def _screening_extras(study: Study, rnd_site: pd.Series) -> dict:
        """Screening rows a site's subset holds although another site screened them (site -> positions).

        A site's subset holds every screening row of the patients screened or randomized there, so a
        patient screened at two sites, or randomized at another, brings rows across (as
        :func:`site_subset` does).
        """
        scr = study.screening
        pairs = pd.concat([scr[["subject_id", "site_id"]],
                           rnd_site.rename("site_id").rename_axis("subject_id").reset_index()]).drop_duplicates()
        multi = pairs[pairs["subject_id"].duplicated(keep=False)]
        if not len(multi):
            return {}
        rows = scr.reset_index(drop=True).reset_index()[["index", "subject_id", "site_id"]]
        cross = rows.merge(multi, on="subject_id", suffixes=("", "_of"))
        cross = cross[cross["site_id"] != cross["site_id_of"]]
        return {site: np.sort(g["index"].to_numpy()) for site, g in cross.groupby("site_id_of")}

    def _rows(self, table: str, site_id) -> tuple[pd.DataFrame, np.ndarray]:
        """The table's rows of one site (original order) and their row hashes."""
        frame, order, starts, stops, hashes, full = self._parts[table]
        a, b = starts.get(site_id, 0), stops.get(site_id, 0)
        part, h = frame.iloc[a:b], hashes[a:b]
        extra = self._extra.get(site_id) if table == "screening" else None
        if extra is not None and len(extra):
            by_pos = np.argsort(np.concatenate([order[a:b], extra]), kind="stable")
            part = pd.concat([part, getattr(self.study, table).iloc[extra]]).iloc[by_pos]
            h = np.concatenate([h, full[extra]])[by_pos]
        part.index = pd.RangeIndex(len(part))  # a fresh frame of the slice: no copy of its columns
        return part, h

    def _positions(self, table: str, site_id) -> np.ndarray:
        """Original row positions of one site's rows of ``table`` (with the screening extras)."""
        _, order, starts, stops, _, _ = self._parts[table]
        pos = order[starts.get(site_id, 0):stops.get(site_id, 0)]
        extra = self._extra.get(site_id) if table == "screening" else None
        return np.concatenate([pos, extra]) if extra is not None and len(extra) else pos

    def counts(self, site_id, eligible: pd.Series | None = None) -> dict:
        """Key counts of one site for the index, as :func:`trialkit.reports.plan.site_counts` of its subset.

        ``screened, eligible_rules, undetermined`` (by the protocol's rules, when ``eligible`` — the
        study's ``EligibilityResult.eligible`` — is given), ``eligible`` (the site's verdict),
        ``randomized`` and ``arms``.
        """
        if getattr(self, "_counted_with", False) is not eligible:  # computed once per eligibility result
            self._counted_with = eligible
            scr, rnd = self.study.screening, self.study.randomization
            arrays = {"verdict": (scr["screening_outcome"] == "eligible").fillna(False).to_numpy(bool),
                      "arm": rnd["arm"].astype(object).to_numpy()}
            if eligible is not None:
                e = eligible.reindex(pd.Index(scr["subject_id"]))
                arrays.update(rules=e.eq(True).fillna(False).to_numpy(bool), unknown=e.isna().to_numpy(bool))
            self._count_arrays = arrays
        a = self._count_arrays
        scr_pos, rnd_pos = self._positions("screening", site_id), self._positions("randomization", site_id)
        out = {"screened": int(len(scr_pos))}
        if "rules" in a:
            out.update(eligible_rules=int(a["rules"][scr_pos].sum()), undetermined=int(a["unknown"][scr_pos].sum()))
        arms = a["arm"][rnd_pos]
        out.update(eligible=int(a["verdict"][scr_pos].sum()), randomized=int(len(rnd_pos)),
                   arms={arm: int((arms == arm).sum()) for arm in self.study.protocol.arm_codes})
        return out

    def subset(self, site_id) -> Study:
        """The study restricted to one site's patients, as :func:`site_subset`."""
        return self.study.replace(**{t: self._rows(t, site_id)[0] for t in TABLES},
                                  source=f"{self.study.source} [site {site_id}]")

    def subset_and_checksum(self, site_id) -> tuple[Study, str]:
        """:meth:`subset` and its :meth:`~trialkit.Study.checksum`, from the row hashes computed once."""
        import hashlib

        h = hashlib.sha256(self.study.protocol.id.encode())
        tables = {}
        for t in TABLES:  # in Study.checksum's order, which leaves out an empty adverse_events table
            df, rows = self._rows(t, site_id)
            tables[t] = df
            if t == "adverse_events" and not len(df):
                continue
            h.update(t.encode())
            h.update(",".join(map(str, df.columns)).encode())
            h.update(rows.tobytes())
        return self.study.replace(**tables, source=f"{self.study.source} [site {site_id}]"), h.hexdigest()


def site_subsets(study: Study, site_ids):
    """``(site_id, subset)`` for each site, as :func:`site_subset` gives it, the study cut once (:class:`SiteSplit`)."""
    split = SiteSplit(study)
    for sid in site_ids:
        yield sid, split.subset(sid)


def _month_series(dates: pd.Series, months: pd.PeriodIndex) -> pd.Series:
    per = dates.dropna().dt.to_period("M").value_counts()
    return per.reindex(months, fill_value=0).cumsum()


def study_aggregates(study: Study, *, min_cell: int = MIN_CELL, eligibility=None,
                     checksum: str | None = None, reporting: Reporting = CLOSED) -> dict:
    """Whole-study comparison figures for site reports, counts only, small cells suppressed.

    Outcomes are pooled over arms (``pooled``): no study-wide outcome split by arm reaches a site,
    unless ``reporting`` is open (then ``by_arm`` holds them too).

    Parameters
    ----------
    study : Study
    min_cell : int, default 5
        Smallest count published; must be at least 5.
    eligibility : EligibilityResult, optional
        :func:`trialkit.evaluate_eligibility` of the whole study (evaluated here when not given).
    checksum : str, optional
        ``study.checksum()`` when the caller has it already.
    reporting : Reporting, optional
        The study's reporting setting (:func:`trialkit.reports.audience.reporting_setting`).

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
    # allocation tests of the whole study (statistics, not cells; the counts are suppressed). The
    # scheme-based p-value uses ALLOCATION_SIMULATIONS re-randomizations, as the study report does, so
    # both show the same value (its memory and time grow with simulations x patients)
    allocation = {"n": suppress(len(rnd), min_cell=min_cell), "p_binomial": None, "p_scheme": None}
    if len(rnd) >= min_cell:
        from ..randomization import allocation_summary

        row = allocation_summary(s, levels=("overall",), n_sim=ALLOCATION_SIMULATIONS,
                                 seed=DEFAULT_SEED).summary.iloc[0]
        allocation.update(n_sim=ALLOCATION_SIMULATIONS, seed=DEFAULT_SEED, p_binomial=None if pd.isna(row["p_binomial"]) else float(row["p_binomial"]),
                          p_scheme=None if pd.isna(row["p_scheme"]) else float(row["p_scheme"]))

    arms_shown = suppress_group(arm_counts, min_cell=min_cell)

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
        "pooled": pooled_outcomes(s, min_cell=min_cell),
        "reporting": {"comparative_outcomes": reporting.comparative_outcomes, "note": reporting.note()},
        **({"by_arm": outcomes_by_arm(s, min_cell=min_cell, arms_shown=arms_shown)} if reporting.open else {}),
    }


# ------------------------------------------------------------------------------------------------
# outcomes: pooled for everyone, by arm only where allowed
# ------------------------------------------------------------------------------------------------
def _response_counts(resp: pd.DataFrame, *, min_cell: int) -> dict:
    assessed = int(resp["response"].notna().sum())
    crcri = int(resp["response"].isin(["CR", "CRi"]).sum())
    mrd_known = int(resp["mrd_negative"].notna().sum())
    mrdneg = int(resp["mrd_negative"].fillna(False).astype(bool).sum())
    return {"assessed": suppress(assessed, min_cell=min_cell),
            "cr_cri": suppress_split(crcri, assessed, min_cell=min_cell),
            "mrd_assessed": suppress(mrd_known, min_cell=min_cell),
            "mrd_negative": suppress_split(mrdneg, mrd_known, min_cell=min_cell)}


def _event_counts(g: pd.DataFrame, *, min_cell: int) -> dict:
    return {"n": suppress(len(g), min_cell=min_cell),
            "events": suppress_split(int(g["event"].sum()), len(g), min_cell=min_cell)}


def pooled_outcomes(study: Study, *, min_cell: int = MIN_CELL) -> dict:
    """Study-wide outcome counts pooled over arms: ``{"response": {...}, "events": {endpoint: {n, events}}}``.

    ``response``: ``assessed, cr_cri, mrd_assessed, mrd_negative`` over every randomized patient's
    end-of-induction assessment; ``events``: patients and events per time-to-event endpoint. Cells
    under ``min_cell`` are ``None`` (``min_cell=1`` suppresses nothing).
    """
    s = study
    rnd_ids = set(s.randomization["subject_id"])
    resp = s.response[s.response["subject_id"].isin(rnd_ids)]
    out = s.outcomes[s.outcomes["subject_id"].isin(rnd_ids)]
    return {"response": _response_counts(resp, min_cell=min_cell),
            "events": {str(ep): _event_counts(g, min_cell=min_cell) for ep, g in out.groupby("endpoint", sort=True)}}


def outcomes_by_arm(study: Study, *, min_cell: int = MIN_CELL, arms_shown: dict | None = None) -> dict:
    """Study-wide outcome counts by arm (only for the dsmb, or an open reporting setting).

    ``{"response": {arm: {...}}, "events": {endpoint: {arm: {n, events}}}}``; when an arm's
    randomized count is suppressed in ``arms_shown``, every per-arm figure is suppressed too (an
    arm's assessed or at-risk count would give the hidden arm size back by subtraction).
    """
    s = study
    arms = list(s.protocol.arm_codes)
    arm_of = s.randomization.set_index("subject_id")["arm"] if len(s.randomization) else pd.Series(dtype="string")
    resp = s.response.assign(arm=s.response["subject_id"].map(arm_of))
    o = s.outcomes.assign(arm=s.outcomes["subject_id"].map(arm_of))
    response = {a: _response_counts(resp[resp["arm"] == a], min_cell=min_cell) for a in arms}
    events = {str(ep): {a: _event_counts(g[g["arm"] == a], min_cell=min_cell) for a in arms}
              for ep, g in o.groupby("endpoint", sort=True)}
    if arms_shown is not None and any(v is None for v in arms_shown.values()):
        response = {a: dict.fromkeys(v, None) for a, v in response.items()}
        events = {ep: {a: dict.fromkeys(v, None) for a, v in by_arm.items()} for ep, by_arm in events.items()}
    return {"response": response, "events": events}


# ------------------------------------------------------------------------------------------------
# the study team (blinded) and the dsmb (closed)
# ------------------------------------------------------------------------------------------------
def site_of_subject(study: Study) -> pd.Series:
    """Each subject's site: where randomized, else where screened (index ``subject_id``)."""
    scr = study.screening.drop_duplicates("subject_id", keep="last").set_index("subject_id")["site_id"]
    rnd = study.randomization.drop_duplicates("subject_id", keep="last").set_index("subject_id")["site_id"]
    return pd.concat([scr[~scr.index.isin(rnd.index)], rnd])


def findings_by_site(study: Study, findings: pd.DataFrame) -> dict:
    """Data-quality findings counted per site and kind: ``{site_id: {finding: n}}`` (no subject ids)."""
    if not len(findings):
        return {}
    site = findings["subject_id"].map(site_of_subject(study)).fillna("(no site)")
    counts = findings.assign(site_id=site).groupby(["site_id", "finding"], sort=True).size()
    out: dict = {}
    for (sid, kind), n in counts.items():
        out.setdefault(str(sid), {})[str(kind)] = int(n)
    return out


def _empty_outcome_tables() -> dict[str, pd.DataFrame]:
    from ..model import empty_table

    return {t: empty_table(t) for t in OUTCOME_TABLES}


def study_team_data(study: Study, *, findings: pd.DataFrame, checksum: str,
                    reporting: Reporting = CLOSED) -> tuple[dict[str, pd.DataFrame], dict]:
    """The tables and aggregates the blinded study team's kernel receives.

    Tables: ``sites``, ``screening`` and ``randomization`` as they are; ``disposition``,
    ``response`` and ``outcomes`` empty. Aggregates: outcome and event counts pooled over arms
    (``pooled``; the study team is internal, so nothing is suppressed), data-quality findings per
    site and kind (``findings_by_site``, counts only: a listing of e.g. death dates with the
    patients' arms would unblind), and ``by_arm`` only when ``reporting`` is open.
    """
    tables = {"sites": study.sites, "screening": study.screening, "randomization": study.randomization,
              **_empty_outcome_tables()}
    aggregates = {
        "audience": "study", "protocol": study.protocol.id, "title": study.protocol.title,
        "study_checksum": checksum, "validated": True,
        "data_cut_date": study.data_cut_date.date().isoformat() if study.data_cut_date is not None else None,
        "pooled": pooled_outcomes(study, min_cell=1),
        "pooled_safety": pooled_safety(study),
        "event_forecast": pooled_event_forecast(study),
        "findings_by_site": findings_by_site(study, findings),
        "findings_total": {str(k): int(v) for k, v in findings["finding"].value_counts().sort_index().items()},
        "reporting": {"comparative_outcomes": reporting.comparative_outcomes, "note": reporting.note()},
    }
    if reporting.open:
        aggregates["by_arm"] = outcomes_by_arm(study, min_cell=1)
    return tables, aggregates


def pooled_safety(study: Study) -> list | None:
    """Participants with adverse events, pooled over arms, for the blinded study team (issue 11: "the
    study report gets pooled counts only"): ``[[label, n, N, note], ...]`` from :func:`trialkit.ae_summary`
    with ``by=None`` over the safety population, or ``None`` when the study has no adverse events. The
    fourth element is ae_summary's note on a count whose column the events do not (always) record, or None."""
    ae = getattr(study, "adverse_events", None)
    if ae is None or not len(ae) or not len(study.randomization):
        return None
    from ..errors import TrialkitError
    from ..safety import ae_summary

    try:
        res = ae_summary(study, by=None)
    except TrialkitError:
        return None

    def note(label: str) -> str | None:  # a count whose column is not (always) recorded says so
        said = [n for n in res.notes if f"'{label}'" in n]
        return "; ".join(said) or None

    return [[str(rec.label), int(rec.n), int(rec.N), note(str(rec.label))]
            for rec in res.summary.itertuples(index=False)]


#: months after the data cut at which the study report gives the predicted pooled event count
EVENT_FORECAST_MONTHS = (6, 12, 24)


def _fan_at(fan: pd.DataFrame, when: pd.Timestamp) -> list:
    row = fan[fan["date"] >= when].head(1)
    if not len(row):
        return [when.date().isoformat(), None, None, None, None, None]
    r = row.iloc[0]
    return [when.date().isoformat(), *(int(r[c]) for c in ("median", "lower_50", "upper_50", "lower_90", "upper_90"))]


#: simulated paths of the study report's event forecast (per model; at 12,500 patients each model takes
#: about 7 s at this number, 17 s at 5,000)
EVENT_FORECAST_SIMULATIONS = 2000


def pooled_event_forecast(study: Study, *, n_sims: int = EVENT_FORECAST_SIMULATIONS,
                          seed: int = DEFAULT_SEED) -> dict | None:
    """The event forecast pooled over arms, for the blinded study team (issue 15), computed by the
    runner because the study kernel holds no outcome rows.

    For the first time-to-event endpoint (EFS when present): :func:`trialkit.forecast_events` with the
    Weibull and the piecewise-exponential event models; per model, the predicted cumulative events
    (median, 50 % and 90 % prediction intervals) :data:`EVENT_FORECAST_MONTHS` after the data cut and
    its AIC, and the fan of the better-fitting model (lower AIC) with the observed cumulative events
    for the figure. Nothing is
    split by arm. ``None`` without outcome rows; ``{"endpoint", "note"}`` when the forecast cannot be made.
    """
    if not len(study.outcomes) or not len(study.randomization):
        return None
    from ..errors import TrialkitError
    from ..forecast import forecast_events

    endpoints = [str(e) for e in pd.unique(study.outcomes["endpoint"])]
    ep = "EFS" if "EFS" in endpoints else endpoints[0]
    out: dict = {"endpoint": ep, "n_sims": int(n_sims), "seed": int(seed), "models": {}}
    try:
        fcs = {model: forecast_events(study, endpoint=ep, model=model, n_sims=n_sims, seed=seed,
                                      horizon=int(31 * max(EVENT_FORECAST_MONTHS)) + 1)
               for model in ("weibull", "piecewise")}
        aic = fcs["weibull"].models.groupby("model")["aic"].first().reindex(list(fcs))
        best = str(aic.idxmin()) if aic.notna().all() else "weibull"
        for model, fc in fcs.items():
            at = [_fan_at(fc.fan, fc.as_of + pd.DateOffset(months=m)) for m in EVENT_FORECAST_MONTHS]
            out["models"][model] = {"at": at, "aic": None if model not in aic else round(float(aic[model]), 1)}
        fc = fcs[best]
        out.update(best=best, as_of=fc.as_of.date().isoformat(),
                   events=int(fc.observed["cumulative"].max()) if len(fc.observed) else 0,
                   notes=[str(n) for n in (fc.notes or ()) if "fits the observed event times better" not in str(n)],
                   fan={c: ([d.date().isoformat() for d in fc.fan[c]] if c == "date" else fc.fan[c].tolist())
                        for c in ("date", "median", "lower_50", "upper_50", "lower_90", "upper_90")},
                   observed={"date": [d.date().isoformat() for d in fc.observed["date"]],
                             "cumulative": [int(x) for x in fc.observed["cumulative"]]})
    except TrialkitError as exc:
        return {"endpoint": ep, "note": str(exc)}
    return out


def safety_data(study: Study) -> dict:
    """What the dsmb report's safety section will find: whether the study has adverse-event rows.

    The runner's hook for safety data (issue 10): adverse events go to the dsmb kernel only (the whole
    ``adverse_events`` table, through :func:`dsmb_data`); a site gets its own patients' events, the study
    team none (:data:`OUTCOME_TABLES`). Returns ``{"available", "rows", "note"}``; with no rows the dsmb
    page says that no safety summary can be produced, never silently leaving the section out.
    """
    ae = getattr(study, "adverse_events", None)
    rows = 0 if ae is None else int(len(ae))
    if not rows:
        return {"available": False, "rows": 0,
                "note": "The study has no adverse-event data (no adverse_events table or an empty one): no safety "
                        "summary is produced; the deaths above come from the disposition table."}
    return {"available": True, "rows": rows,
            "note": f"{rows} adverse-event rows: summary, SOC/PT table and events of special interest by arm "
                    "(trialkit.ae_summary, ae_table, aesi)."}


def dsmb_data(study: Study, *, checksum: str) -> tuple[dict[str, pd.DataFrame], dict]:
    """The tables and aggregates the dsmb kernel receives: every table, and the safety hook."""
    aggregates = {
        "audience": "dsmb", "protocol": study.protocol.id, "title": study.protocol.title,
        "study_checksum": checksum, "validated": True,
        "data_cut_date": study.data_cut_date.date().isoformat() if study.data_cut_date is not None else None,
        "safety": safety_data(study),
    }
    return study.tables(), aggregates
