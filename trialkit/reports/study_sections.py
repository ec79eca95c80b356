"""The content of the study report: the whole trial for the blinded study team, pooled over arms.

Called by ``templates/study_report.ipynb``. The study team's kernel receives the sites, the
screening log and the randomization table (allocation counts are not outcomes) — no disposition,
response, outcome or adverse-event rows: :func:`load_study_report` refuses a folder holding any. Outcome and event
counts pooled over arms and the data-quality findings counted per site come precomputed from the
runner (:func:`trialkit.reports.data.study_team_data`). Nothing here can split an outcome by arm:
the data to do it are not in the kernel.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..defaults import DEFAULT_N_SIM, DEFAULT_SEED
from ..errors import ReportError
from ..study import Study
from .data import OUTCOME_TABLES
from .sections import (
    _HTML,
    _frame,
    figure,
    header_table,
    read_report_folder,
    report_context,
    reporting_note,
    study_outcomes,
    table,
)

__all__ = ["StudyReport", "load_study_report", "title", "header", "enrollment", "enrollment_figure", "by_country",
           "screening_summary", "screen_failures", "site_failure_reasons", "disagreements", "league_table",
           "allocation", "allocation_figure", "study_outcomes", "reporting_note", "findings_summary", "table",
           "figure", "accrual_forecast", "forecast_table", "slow_sites", "forecast_section", "safety_counts",
           "event_forecast_table", "event_forecast_figure", "event_forecast_section", "drawn_positions"]


@dataclass(frozen=True)
class StudyReport:
    """The study team's data: sites, screening and randomization rows, and the runner's aggregates."""

    study: Study
    aggregates: dict = field(default_factory=dict)
    data_cut_date: pd.Timestamp | None = None
    generated: str = ""
    eligibility: object = None


def load_study_report(study_path, *, data_cut_date=None, protocol: str | None = None) -> StudyReport:
    """Load the folder the runner wrote for the study report; refuse one that holds outcome rows.

    Raises
    ------
    ReportError
        When the folder holds disposition, response or outcome rows (they would let the page split
        outcomes by arm), or was prepared for another audience.
    """
    study, aggregates = read_report_folder(study_path, audience="study", protocol=protocol)
    held = [t for t in OUTCOME_TABLES if len(getattr(study, t))]
    if held:
        raise ReportError(f"{study_path} holds {', '.join(held)} rows; the study team's report is pooled over arms "
                          "and must not be given outcome rows (render it with trialkit.render_reports(..., "
                          "audience='study')).")
    return StudyReport(study=study, aggregates=aggregates,
                       **report_context(study, data_cut_date, eligibility=bool(study.protocol.criteria)))


# ------------------------------------------------------------------------------------------------
# header
# ------------------------------------------------------------------------------------------------
def title(rep: StudyReport) -> _HTML:
    return _HTML(f'<h1 class="tk-title">Study report <small>{html.escape(rep.study.protocol.id.upper())} · '
                 "blinded, pooled over arms</small></h1>")


def header(rep: StudyReport) -> _HTML:
    """Study, audience, data cut, checksum, trialkit version and generation time."""
    proto = rep.study.protocol
    rows = [("Study", f"{proto.id.upper()} — {proto.title}"),
            ("Audience", "Study team (blinded): the whole trial pooled over arms; no outcome or safety result by arm"),
            ("Data cut", rep.data_cut_date.date().isoformat() if rep.data_cut_date is not None else "not stated"),
            ("Study data checksum", rep.aggregates.get("study_checksum", "—"))]
    return header_table(rows, generated=rep.generated)


# ------------------------------------------------------------------------------------------------
# enrollment against plan
# ------------------------------------------------------------------------------------------------
def _monthly(dates: pd.Series, months: pd.PeriodIndex) -> pd.Series:
    return dates.dropna().dt.to_period("M").value_counts().reindex(months, fill_value=0)


def _months(rep: StudyReport) -> pd.PeriodIndex:
    s = rep.study
    dates = pd.concat([s.screening["screening_date"], s.randomization["randomization_date"]]).dropna()
    if not len(dates):
        return pd.PeriodIndex([], freq="M")
    last = max(dates.max(), rep.data_cut_date) if rep.data_cut_date is not None else dates.max()
    return pd.period_range(dates.min().to_period("M"), last.to_period("M"), freq="M")


def enrollment(rep: StudyReport, *, recent_months: int = 6) -> pd.DataFrame:
    """Randomized against the protocol's planned enrollment (``measure, value``).

    The pace is the mean number randomized per month over the last ``recent_months`` complete
    months of data; the months to target extrapolate that pace linearly (a planning figure, not a
    forecast).
    """
    s = rep.study
    plan = s.protocol.planned_enrollment
    n = len(s.randomization)
    months = _months(rep)
    per_month = _monthly(s.randomization["randomization_date"], months)
    recent = per_month.iloc[-recent_months:] if len(per_month) else per_month
    pace = float(recent.mean()) if len(recent) else float("nan")
    rows = [("planned enrollment (protocol)", plan if plan else "not stated in the protocol"),
            ("randomized", n),
            ("% of planned", round(100 * n / plan, 1) if plan else "—"),
            ("sites (sites table)", int(s.sites["site_id"].nunique())),
            ("sites that randomized", int(s.randomization["site_id"].nunique())),
            ("first randomization", s.randomization["randomization_date"].min() if n else "—"),
            (f"randomized per month, last {len(recent)} months", round(pace, 2) if len(recent) else "—")]
    if plan and n < plan and pace > 0:
        left = int(np.ceil((plan - n) / pace))
        rows.append(("months to planned enrollment at that pace", left))
    return _frame(rows, ["measure", "value"])


def enrollment_figure(rep: StudyReport):
    """Cumulative screened and randomized by month, with the planned enrollment as a line."""
    import plotly.graph_objects as go

    s = rep.study
    months = _months(rep)
    ends = [m.to_timestamp(how="end").normalize() for m in months]
    fig = go.Figure()
    fig.add_scatter(x=ends, y=_monthly(s.screening["screening_date"], months).cumsum().to_numpy(),
                    mode="lines", line_shape="hv", name="screened")
    fig.add_scatter(x=ends, y=_monthly(s.randomization["randomization_date"], months).cumsum().to_numpy(),
                    mode="lines", line_shape="hv", name="randomized")
    if s.protocol.planned_enrollment:
        fig.add_hline(y=s.protocol.planned_enrollment, line_dash="dash", line_color="#34495e",
                      annotation_text=f"planned: {s.protocol.planned_enrollment} randomized",
                      annotation_position="top left")
    from ..plots.eligibility import integer_axis

    ymax = max([float(s.protocol.planned_enrollment or 0)] + [float(max(t.y)) for t in fig.data if len(t.y)])
    fig.update_layout(height=400, margin=dict(l=50, r=10, t=40, b=40), title="Enrollment against plan",
                      yaxis_title="patients (cumulative)", legend=dict(orientation="h", y=-0.15),
                      yaxis=integer_axis(ymax))
    return fig


def accrual_forecast(rep: StudyReport, *, n_sims: int = 10_000, seed: int = DEFAULT_SEED):
    """When the trial will reach its planned enrollment: :func:`trialkit.forecast_accrual` on the
    sites and randomization rows the study kernel holds (pooled over arms; allocation dates are not
    outcomes), as of the data cut.

    Returns the :class:`~trialkit.forecast.AccrualForecast`, or an HTML note saying why there is no
    forecast (no patient randomized yet, no planned enrollment, target already reached, or data the
    model cannot use — the note names the problem).
    """
    from ..errors import TrialkitError
    from ..forecast import forecast_accrual

    s = rep.study
    plan = s.protocol.planned_enrollment
    n = len(s.randomization)
    why = ("No patient randomized yet: nothing to forecast from." if not n else
           "The protocol states no planned enrollment: no target to forecast." if not plan else
           f"Planned enrollment reached ({n} of {plan} randomized): nothing left to forecast." if n >= plan else None)
    if why:
        return _HTML(f'<p class="tk-note">{html.escape(why)}</p>')
    as_of = rep.data_cut_date
    try:
        return forecast_accrual(s, target=int(plan), as_of=as_of, n_sims=n_sims, seed=seed)
    except TrialkitError as exc:
        return _HTML(f'<p class="tk-note">No accrual forecast: {html.escape(str(exc))}</p>')


def _date(v) -> str:
    return "—" if v is None or pd.isna(v) else pd.Timestamp(v).date().isoformat()


def forecast_table(fc) -> pd.DataFrame:
    """The forecast's answer in one table (``measure, value``): the date the target is reached (median,
    50 % and 90 % prediction intervals), the chance of reaching it by the planned completion, the
    pace, the sites, and the screenings still needed."""
    r = fc.summary.iloc[0]
    rows = [("as of", _date(r["as_of"])),
            ("randomized / target", f"{int(r['randomized'])} / {int(r['target'])}"),
            ("predicted date to reach the target (median)", _date(r["median"])),
            ("50% prediction interval", f"{_date(r['lower_50'])} to {_date(r['upper_50'])}"),
            ("90% prediction interval", f"{_date(r['lower_90'])} to {_date(r['upper_90'])}"),
            ("probability of reaching it by the planned completion",
             "no planned completion date" if r["p_by_planned_completion"] is None or pd.isna(r["p_by_planned_completion"])
             else f"{float(r['p_by_planned_completion']):.0%}"),
            ("study rate (patients per month, now)", f"{float(r['rate_per_month']):.2f}"),
            ("sites open / to open / without a date", f"{int(r['sites_open'])} / {int(r['sites_to_open'])} / "
                                                       f"{int(r['sites_unscheduled'])}")]
    scr = fc.parts().get("screening")
    if scr is not None and len(scr):
        last = scr.iloc[-1]
        if str(last["quantity"]).startswith("screenings needed") and pd.notna(last["lower_90"]):
            rows.append((str(last["quantity"]), f"{last['estimate']:.0f} (90%: {last['lower_90']:.0f} to "
                                                f"{last['upper_90']:.0f})"))
    rows += [("note", str(note)) for note in (fc.notes or ())]
    rows.append(("model", f"Poisson-Gamma (Anisimov & Fedorov 2007), site rates updated from their own record, "
                          f"gamma parameters' uncertainty carried; {fc.n_sims:,} simulated paths, seed {fc.seed}"))
    return _frame(rows, ["measure", "value"])


def slow_sites(fc) -> pd.DataFrame:
    """Open sites far below their expected rate (the forecast's ``flag``): site, months open,
    randomized, expected, estimated rate per month with its interval."""
    st = fc.parts()["sites"]
    st = st[st["flag"].fillna(False).astype(bool)]
    cols = ["site_id", "months_open", "randomized", "expected", "rate_per_month", "rate_lower", "rate_upper"]
    out = st[cols].copy()
    for c in ("months_open", "expected"):
        out[c] = out[c].round(1)
    for c in ("rate_per_month", "rate_lower", "rate_upper"):
        out[c] = out[c].round(3)
    return out.rename(columns={"site_id": "site", "months_open": "months open", "rate_per_month": "rate / month",
                               "rate_lower": "lower", "rate_upper": "upper"}).reset_index(drop=True)


def forecast_section(rep: StudyReport, *, n_sims: int = 10_000, seed: int = DEFAULT_SEED) -> list:
    """What the study report shows of the accrual forecast: its table, the fan chart and the sites far
    below their expected rate — or the note saying why there is no forecast."""
    fc = accrual_forecast(rep, n_sims=n_sims, seed=seed)
    if isinstance(fc, _HTML):
        return [fc]
    return [table(forecast_table(fc), caption="Forecast of accrual to the planned enrollment (pooled over arms)"),
            figure(fc.figure(), name="forecast"),
            table(slow_sites(fc), caption="Open sites far below their expected rate (the forecast's flag)",
                  empty="No open site is far below its expected rate.")]


_MODEL_NAMES = {"weibull": "Weibull", "piecewise": "piecewise exponential"}


def event_forecast_table(rep: StudyReport) -> pd.DataFrame | _HTML:
    """Predicted cumulative events of the first time-to-event endpoint, all arms pooled (``date,
    model, median, 50% PI, 90% PI``) after 6, 12 and 24 months, with both event models and their AIC;
    computed by the runner (:func:`trialkit.reports.data.pooled_event_forecast`) since this kernel
    holds no outcome rows."""
    ef = rep.aggregates.get("event_forecast")
    if not ef:
        return _HTML('<p class="tk-empty">No time-to-event data yet: no event forecast.</p>')
    if ef.get("note"):
        return _HTML(f'<p class="tk-note">No {html.escape(ef["endpoint"])} event forecast: {html.escape(ef["note"])}</p>')
    rows = []
    for model, m in ef["models"].items():
        label = _MODEL_NAMES.get(model, model) + (f" (AIC {m['aic']})" if m.get("aic") is not None else "") + (
            ", better fit" if model == ef.get("best") else "")
        for date, med, l50, u50, l90, u90 in m["at"]:
            rows.append((date, label, med, None if med is None else f"{l50} to {u50}",
                         None if med is None else f"{l90} to {u90}"))
    return _frame(rows, ["date", "event model", f"{ef['endpoint']} events (median)", "50% PI", "90% PI"])


def event_forecast_figure(rep: StudyReport):
    """Observed and predicted cumulative events (better-fitting model), all arms pooled."""
    import plotly.graph_objects as go

    ef = rep.aggregates.get("event_forecast") or {}
    if not ef.get("fan"):
        return None
    fan, obs = ef["fan"], ef["observed"]
    fig = go.Figure()
    for lo, hi, name, color in (("lower_90", "upper_90", "90% prediction interval", "rgba(31,119,180,0.15)"),
                                ("lower_50", "upper_50", "50% prediction interval", "rgba(31,119,180,0.3)")):
        fig.add_scatter(x=fan["date"] + fan["date"][::-1], y=fan[hi] + fan[lo][::-1], fill="toself",
                        fillcolor=color, line=dict(width=0), name=name, hoverinfo="skip")
    fig.add_scatter(x=fan["date"], y=fan["median"], mode="lines", line=dict(dash="dash", color="#1f77b4"),
                    name="median forecast")
    fig.add_scatter(x=obs["date"], y=obs["cumulative"], mode="lines", line_shape="hv", line=dict(color="black"),
                    name=f"{ef['endpoint']} events (observed)")
    from ..plots.eligibility import integer_axis

    fig.update_layout(height=400, margin=dict(l=50, r=10, t=60, b=40), yaxis_title="events (cumulative)",
                      title=dict(text=f"{ef['endpoint']} events, all arms pooled: observed and forecast "
                                      f"({_MODEL_NAMES.get(ef['best'], ef['best'])} model, {ef['n_sims']:,} paths, "
                                      f"seed {ef['seed']})", font=dict(size=14)),
                      legend=dict(orientation="h", y=-0.15), yaxis=integer_axis(max(fan["upper_90"] or [0])))
    return fig


def event_forecast_section(rep: StudyReport) -> list:
    """The pooled event forecast as the study report shows it: the table by date and model, the fan
    chart, the forecast's notes — or the note saying why there is none."""
    t = event_forecast_table(rep)
    if isinstance(t, _HTML):
        return [t]
    ef = rep.aggregates["event_forecast"]
    out = [table(t, caption=f"Forecast of {ef['endpoint']} events, all arms pooled: {ef['events']} observed by "
                            f"{ef['as_of']}; computed by the runner (this kernel holds no outcome rows)"),
           figure(event_forecast_figure(rep), name="event-forecast")]
    notes = ef.get("notes") or []
    if notes:
        out.append(_HTML("".join(f'<p class="tk-note">{html.escape(n)}</p>' for n in notes)))
    return out


def by_country(rep: StudyReport) -> pd.DataFrame:
    """Sites, sites that screened, screened and randomized by country (``% of randomized``)."""
    s = rep.study
    sites = s.sites.groupby("country", dropna=False)["site_id"].nunique()
    site_country = s.sites.drop_duplicates("site_id").set_index("site_id")["country"]
    scr_country = s.screening["site_id"].map(site_country)
    screening_sites = s.screening.groupby(scr_country, dropna=False)["site_id"].nunique()
    screened = scr_country.value_counts(dropna=False)
    randomized = s.randomization["site_id"].map(site_country).value_counts(dropna=False)
    out = pd.DataFrame({"sites": sites, "sites that screened": screening_sites, "screened": screened,
                        "randomized": randomized}).fillna(0).astype(int)
    total = out["randomized"].sum()
    out["% of randomized"] = (100 * out["randomized"] / total).round(1) if total else 0.0
    out = out.sort_values(["randomized", "screened"], ascending=False).rename_axis("country").reset_index()
    out["country"] = out["country"].astype(object).where(out["country"].notna(), "(none)")
    return out


# ------------------------------------------------------------------------------------------------
# screening and eligibility
# ------------------------------------------------------------------------------------------------
def screening_summary(rep: StudyReport) -> pd.DataFrame:
    """Screened, eligible by the protocol's rules and by the sites' verdicts, randomized (``measure, n, %``)."""
    s = rep.study
    n = len(s.screening)
    rows = [("screened", n)]
    if rep.eligibility is not None:
        from ..eligibility import funnel

        tot = funnel(rep.eligibility).totals
        rows += [("eligible by the protocol's rules", int(tot["eligible"])),
                 ("not eligible by the rules", int(tot["not_eligible"])),
                 ("undetermined (criterion inputs missing)", int(tot["undetermined"]))]
    vc = s.screening["screening_outcome"].value_counts()
    rows += [(f"site's verdict: {k}", int(vc.get(k, 0))) for k in ("eligible", "screen failure", "declined", "other")]
    rows += [("site's verdict: not recorded", int(s.screening["screening_outcome"].isna().sum())),
             ("randomized", len(s.randomization))]
    return _frame([(m, v, round(100 * v / n, 1) if n else None) for m, v in rows], ["measure", "n", "% of screened"])


def screen_failures(rep: StudyReport) -> pd.DataFrame:
    """Screen failures by criterion, by the protocol's rules (independent and first-excluding counts)."""
    cols = ["criterion", "label", "category", "excluding", "first excluding", "unknown", "% of screened"]
    if rep.eligibility is None:
        return pd.DataFrame(columns=cols)
    from ..eligibility import funnel

    f = funnel(rep.eligibility)
    ind = f.independent.set_index("criterion_id")
    seq = f.summary.set_index("criterion_id")["excluded"]
    n = len(rep.study.screening)
    rows = [(cid, r["label"], r["category"], int(r["excludes"]), int(seq.get(cid, 0)), int(r["unknown"]),
             round(100 * r["excludes"] / n, 1)) for cid, r in ind.iterrows() if r["excludes"] or r["unknown"]]
    return _frame(rows, cols).sort_values("excluding", ascending=False, kind="stable").reset_index(drop=True)


def site_failure_reasons(rep: StudyReport) -> pd.DataFrame:
    """The sites' own screen-failure reasons as recorded (``reason, n``), most frequent first."""
    scr = rep.study.screening
    r = scr.loc[scr["screening_outcome"].isin(["screen failure", "declined", "other"]), "screen_failure_reason"]
    vc = r.fillna("(not recorded)").astype(str).value_counts()
    return pd.DataFrame({"reason": vc.index.astype(str), "n": vc.to_numpy().astype(int)})


def _disagreements_frame(rep: StudyReport) -> pd.DataFrame:
    if rep.eligibility is None:
        return pd.DataFrame(columns=["subject_id", "site_id", "disagreement"])
    from ..eligibility import screening_disagreements

    return screening_disagreements(rep.study, eligibility=rep.eligibility)


def disagreements(rep: StudyReport) -> pd.DataFrame:
    """Site verdicts that disagree with the protocol's rules, by kind (``disagreement, n, sites``)."""
    d = _disagreements_frame(rep)
    if not len(d):
        return pd.DataFrame(columns=["disagreement", "n", "sites"])
    g = d.groupby("disagreement")
    return (pd.DataFrame({"n": g.size(), "sites": g["site_id"].nunique()}).sort_values("n", ascending=False)
            .rename_axis("disagreement").reset_index())


# ------------------------------------------------------------------------------------------------
# the site league table
# ------------------------------------------------------------------------------------------------
def league_table(rep: StudyReport) -> pd.DataFrame:
    """One row per site: screened, randomized, days from activation to first patient, findings.

    Columns ``site, name, country, activated, screened, randomized, days to first screened, days to
    first randomized, disagreements, findings, findings per screened patient``; ``findings`` are
    the runner's data-quality findings of the site's patients (counted, never listed: a listing of
    e.g. death dates with the patients' arms would unblind). Sorted by randomized, then screened.
    """
    s = rep.study
    sites = s.sites.drop_duplicates("site_id").set_index("site_id")
    act = sites["activation_date"] if "activation_date" in sites else pd.Series(pd.NaT, index=sites.index)
    first_s = s.screening.groupby("site_id")["screening_date"].min()
    first_r = s.randomization.groupby("site_id")["randomization_date"].min()
    dis = _disagreements_frame(rep)
    found = rep.aggregates.get("findings_by_site") or {}
    out = pd.DataFrame({
        "name": sites.get("site_name"), "country": sites.get("country"), "activated": act,
        "screened": s.screening["site_id"].value_counts(), "randomized": s.randomization["site_id"].value_counts(),
        "days to first screened": (first_s - act).dt.days, "days to first randomized": (first_r - act).dt.days,
        "disagreements": dis["site_id"].value_counts() if len(dis) else 0,
        "findings": pd.Series({k: sum(v.values()) for k, v in found.items()}, dtype="Int64"),
    }).reindex(sites.index)
    for c in ("screened", "randomized", "disagreements", "findings"):
        out[c] = out[c].fillna(0).astype(int)
    for c in ("days to first screened", "days to first randomized"):
        out[c] = out[c].astype("Int64")
    out["findings per screened patient"] = (out["findings"] / out["screened"].where(out["screened"] > 0)).round(2)
    out = out.sort_values(["randomized", "screened"], ascending=False, kind="stable")
    return out.rename_axis("site").reset_index()


# ------------------------------------------------------------------------------------------------
# allocation (allocation counts are not outcomes)
# ------------------------------------------------------------------------------------------------
def allocation(rep: StudyReport, *, n_sim: int = DEFAULT_N_SIM, seed: int = DEFAULT_SEED):
    """Observed vs planned allocation overall, by stratum and by country (:func:`trialkit.allocation_summary`)."""
    from ..randomization import allocation_summary

    if not len(rep.study.randomization):
        return _HTML('<p class="tk-empty">No patient randomized yet.</p>')
    return allocation_summary(rep.study, levels=("overall", "stratum", "country"), n_sim=n_sim, seed=seed)


#: at most about this many enrollment positions are drawn in the study report's cumulative allocation
#: figure (a 12,516-patient study drew every one: 1.9 MB of the page's 2.1 MB)
FIGURE_POSITIONS = 600


def drawn_positions(res, *, max_points: int = FIGURE_POSITIONS):
    """The cumulative allocation as the study report draws it: at most about ``max_points`` positions.

    Kept: the first position of each of ``max_points // 3`` equal stretches of the enrollment order
    and the last one, in each stretch the positions where the observed deviation is lowest and
    highest, and every position where it lies outside the scheme's band. The bands and the observed
    curve keep their shape (the bands move by at most one patient per position); the result's
    numbers, computed on every patient, are unchanged. Returns the result with the kept rows only.
    """
    from dataclasses import replace

    t = res.summary
    n = len(t)
    if n <= max_points:
        return res
    stretch = np.minimum(np.arange(n) * (max_points // 3) // n, max_points // 3 - 1)
    dev = pd.Series(t["deviation"].to_numpy())
    g = dev.groupby(stretch)
    keep = np.zeros(n, dtype=bool)
    keep[np.flatnonzero(np.r_[True, stretch[1:] != stretch[:-1]])] = True
    keep[[n - 1, *g.idxmin().to_numpy(), *g.idxmax().to_numpy()]] = True
    keep |= ((t["deviation"] < t["scheme_lower"]) | (t["deviation"] > t["scheme_upper"])).to_numpy()
    return replace(res, summary=t[keep].reset_index(drop=True))


def allocation_figure(rep: StudyReport, *, n_sim: int = DEFAULT_N_SIM, seed: int = DEFAULT_SEED):
    """Cumulative allocation against the protocol's ratio, with the 95 % bands of ``n_sim``
    re-randomizations (:func:`trialkit.cumulative_allocation`, :func:`trialkit.plot_cumulative_allocation`);
    beyond :data:`FIGURE_POSITIONS` patients drawn at the positions :func:`drawn_positions` keeps
    (the title says so)."""
    from ..plots.randomization import plot_cumulative_allocation
    from ..randomization import cumulative_allocation

    if not len(rep.study.randomization):
        import plotly.graph_objects as go

        return go.Figure(layout=dict(
            height=120, xaxis=dict(visible=False), yaxis=dict(visible=False), plot_bgcolor="white",
            annotations=[dict(text="No patient randomized yet.", showarrow=False, x=0.5, y=0.5, xref="paper",
                              yref="paper")]))
    res = cumulative_allocation(rep.study, n_sim=n_sim, seed=seed)
    drawn = drawn_positions(res)
    title = None
    if len(drawn.summary) < len(res.summary):
        title = (f"Cumulative allocation to {res.experimental_arm} minus its planned share (ρ = {res.planned_prop:.3g})"
                 f"<br><sup>drawn at {len(drawn.summary):,} of {len(res.summary):,} positions: evenly spaced, each "
                 "stretch's lowest and highest deviation and every point outside the band</sup>")
    return plot_cumulative_allocation(drawn, title=title)


def safety_counts(rep: StudyReport) -> pd.DataFrame:
    """Participants with adverse events, all arms pooled (``measure, participants``: "n / N (pct %)"),
    from the runner's :func:`trialkit.reports.data.pooled_safety`; empty when the study has none. A
    ``note`` column says which counts rest on a column the events do not (always) record. The
    comparison by arm is the DMC's (the dsmb report)."""
    rows = rep.aggregates.get("pooled_safety") or []
    counts = [(label, f"{n} / {N} ({100 * n / N:.1f}%)" if N else f"{n} / 0", note or "")
              for label, n, N, note in rows]
    if not any(c[2] for c in counts):
        return _frame([c[:2] for c in counts], ["measure", "participants (all arms pooled)"])
    # a count whose column the events do not record says so beside it (a 0 that means "not recorded")
    return _frame(counts, ["measure", "participants (all arms pooled)", "note"])


# ------------------------------------------------------------------------------------------------
# data quality
# ------------------------------------------------------------------------------------------------
def findings_summary(rep: StudyReport) -> pd.DataFrame:
    """Data-quality findings of the whole study by kind (``finding, n, sites``), from the runner's counts."""
    from .quality import MAJOR_FINDING

    total = rep.aggregates.get("findings_total") or {}
    by_site = rep.aggregates.get("findings_by_site") or {}
    rows = [(k, n, sum(1 for v in by_site.values() if v.get(k))) for k, n in total.items()]
    # the major finding (a randomized patient the rules exclude) first, then by count
    return _frame(sorted(rows, key=lambda r: (r[0] != MAJOR_FINDING, -r[1])), ["finding", "n", "sites"])
