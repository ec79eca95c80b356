"""The content of the DSMB's closed report: everything by arm, for the Data Monitoring Committee only.

Called by ``templates/dsmb_report.ipynb``; the runner gives its kernel the whole study
(:func:`trialkit.reports.data.dsmb_data`) and nobody else gets outcome rows with their arms. Every
page of this audience carries :data:`~trialkit.reports.audience.CLOSED_BANNER`, put there by the
runner's page shell (:func:`trialkit.reports.page.page`), so no template can leave it out.

Sections: CONSORT flow, Table 1, end-of-induction response with exact (Clopper–Pearson) intervals
and the difference from the reference arm (Newcombe), Kaplan–Meier, log-rank and Cox for each
time-to-event endpoint, deaths, and the safety summary by arm when the study has adverse events
(:mod:`trialkit.safety`; :func:`trialkit.reports.data.safety_data` is the runner's hook).
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field

import pandas as pd

from ..study import Study
from .sections import (
    _HTML,
    RESPONSE_LABELS,
    _frame,
    figure,
    header_table,
    read_report_folder,
    report_context,
    table,
)

__all__ = ["DsmbReport", "load_dsmb", "title", "header", "consort_figure", "baseline", "response",
           "survival", "survival_figure", "survival_table", "deaths", "safety", "endpoints", "table", "figure"]


@dataclass(frozen=True)
class DsmbReport:
    """The whole study, for the closed report."""

    study: Study
    aggregates: dict = field(default_factory=dict)
    data_cut_date: pd.Timestamp | None = None
    generated: str = ""
    eligibility: object = None


def load_dsmb(study_path, *, data_cut_date=None, protocol: str | None = None) -> DsmbReport:
    """Load the folder the runner wrote for the dsmb report (refused when written for another audience)."""
    study, aggregates = read_report_folder(study_path, audience="dsmb", protocol=protocol)
    return DsmbReport(study=study, aggregates=aggregates,
                      **report_context(study, data_cut_date, eligibility=bool(study.protocol.criteria)))


def title(rep: DsmbReport) -> _HTML:
    return _HTML(f'<h1 class="tk-title">DSMB closed report <small>{html.escape(rep.study.protocol.id.upper())}'
                 "</small></h1>")


def header(rep: DsmbReport) -> _HTML:
    """Study, audience, data cut, checksum, trialkit version and generation time."""
    proto = rep.study.protocol
    ratio = " : ".join(f"{a} {r}" for a, r in proto.ratio.items())
    rows = [("Study", f"{proto.id.upper()} — {proto.title}"),
            ("Audience", "Data Monitoring Committee and its independent statistician (closed report)"),
            ("Arms (ratio)", f"{ratio}; reference arm {proto.reference_arm}"),
            ("Data cut", rep.data_cut_date.date().isoformat() if rep.data_cut_date is not None else "not stated"),
            ("Study data checksum", rep.aggregates.get("study_checksum", "—"))]
    return header_table(rows, generated=rep.generated)


# ------------------------------------------------------------------------------------------------
# CONSORT, Table 1
# ------------------------------------------------------------------------------------------------
def consort_figure(rep: DsmbReport):
    """The study's CONSORT flow by arm (:func:`trialkit.consort`)."""
    from ..eligibility import consort

    return consort(rep.study, eligibility=rep.eligibility).figure()


def baseline(rep: DsmbReport):
    """Table 1 by arm with standardized differences (:func:`trialkit.balance_table`)."""
    from ..randomization import balance_table

    return balance_table(rep.study, by="arm")


# ------------------------------------------------------------------------------------------------
# response
# ------------------------------------------------------------------------------------------------
def _pct(x) -> str:
    return "—" if pd.isna(x) else f"{100 * x:.1f} %"


def response(rep: DsmbReport) -> pd.DataFrame:
    """Response at end of induction by arm, with the difference from the reference arm.

    Columns ``measure, arm, responders / n, rate, 95% CI, difference vs <reference> (95% CI)``.
    Rates and exact Clopper–Pearson intervals, and Newcombe's hybrid score interval of the
    difference, come from :func:`trialkit.response_rates` (statsmodels); patients not assessed
    count as non-responders (intention to treat; the ``missing`` count says how many).
    """
    s = rep.study
    ref = s.protocol.reference_arm
    cols = ["measure", "arm", "responders / n", "not assessed", "rate", "95% CI", f"difference vs {ref} (95% CI)"]
    if not len(s.randomization) or not len(s.response):
        return pd.DataFrame(columns=cols)
    from ..outcomes import response_rates

    res = response_rates(s)
    diff = {(d.endpoint, d.comparison): d for d in res.differences.itertuples(index=False)}
    rows = []
    for r in res.summary.itertuples(index=False):
        d = diff.get((r.endpoint, f"{r.group} - {ref}"))
        dtext = "reference" if r.group == ref else (
            "—" if d is None else f"{100 * d.difference:+.1f} % ({100 * d.lower:+.1f} to {100 * d.upper:+.1f})")
        rows.append((RESPONSE_LABELS.get(r.endpoint, (r.endpoint,))[0], r.group, f"{int(r.responders)} / {int(r.n)}",
                     int(r.missing), _pct(r.rate), f"{_pct(r.lower)} – {_pct(r.upper)}", dtext))
    return _frame(rows, cols)


# ------------------------------------------------------------------------------------------------
# time to event
# ------------------------------------------------------------------------------------------------
def endpoints(rep: DsmbReport) -> list[str]:
    """The study's time-to-event endpoints, in the protocol's order."""
    have = set(rep.study.outcomes["endpoint"].dropna())
    order = [e["code"] for e in rep.study.protocol.endpoints if e.get("kind") == "time_to_event"]
    return [e for e in order if e in have] + sorted(have - set(order))


def survival(rep: DsmbReport, endpoint: str):
    """Kaplan–Meier by arm in months (:func:`trialkit.km`)."""
    from ..outcomes import km

    return km(rep.study, endpoint=endpoint, time_unit="months")


def survival_figure(rep: DsmbReport, endpoint: str):
    """The Kaplan–Meier plot by arm with numbers at risk (:func:`trialkit.plot_km`)."""
    from ..plots.outcomes import plot_km

    return plot_km(survival(rep, endpoint), title=f"{endpoint} by arm")


def _median(r) -> str:
    if pd.isna(r.median):
        return "not reached"
    lo = "—" if pd.isna(r.median_lower) else f"{r.median_lower:.1f}"
    hi = "not reached" if pd.isna(r.median_upper) else f"{r.median_upper:.1f}"
    return f"{r.median:.1f} ({lo} to {hi})"


def _tests(rep: DsmbReport, endpoint: str) -> tuple[str, str]:
    """Log-rank and Cox of one endpoint, as text (an estimate that cannot be made says why)."""
    from ..errors import TrialkitError
    from ..outcomes import cox, logrank

    try:
        lr = logrank(rep.study, endpoint=endpoint)
        lr_text = f"χ² = {lr.statistic:.2f} ({lr.df} df), p = {lr.p_value:.3f}"
    except TrialkitError as exc:
        lr_text = f"not computed: {exc}"
    try:
        t = cox(rep.study, endpoint=endpoint).summary.iloc[0]
        cox_text = f"{t['comparison']}: HR {t['hr']:.2f} (95% CI {t['lower']:.2f} to {t['upper']:.2f}), p = {t['p_value']:.3f}"
    except TrialkitError as exc:
        cox_text = f"not computed: {exc}"
    return lr_text, cox_text


def survival_table(rep: DsmbReport) -> pd.DataFrame:
    """Events, medians (months, 95% CI), log-rank and Cox hazard ratio per endpoint and arm.

    Columns ``endpoint, arm, events / n, median months (95% CI), log-rank, Cox (Efron)``; the tests
    appear on the endpoint's first row. KM from :func:`trialkit.km` (log-log band), the log-rank
    test from :func:`trialkit.logrank`, hazard ratios from :func:`trialkit.cox` (lifelines).
    """
    cols = ["endpoint", "arm", "events / n", "median months (95% CI)", "log-rank", "Cox (Efron)"]
    rows = []
    for ep in endpoints(rep):
        lr_text, cox_text = _tests(rep, ep)
        for i, r in enumerate(survival(rep, ep).summary.itertuples(index=False)):
            rows.append((ep, r.group, f"{int(r.events)} / {int(r.n)}", _median(r), lr_text if i == 0 else "",
                         cox_text if i == 0 else ""))
    return _frame(rows, cols)


# ------------------------------------------------------------------------------------------------
# deaths and safety
# ------------------------------------------------------------------------------------------------
def deaths(rep: DsmbReport) -> pd.DataFrame:
    """Deaths by arm (``arm, randomized, deaths, %, during induction``) from the disposition table.

    "During induction" counts deaths on or before the end-of-induction date, or, when that date is
    missing, on or before the protocol's end-of-induction day plus its tolerance after the first
    dose (Day 30 for B1931036), else not at all.
    """
    s = rep.study
    rnd = s.randomization[["subject_id", "arm"]]
    d = rnd.merge(s.disposition, on="subject_id", how="left")
    died = d["death_date"].notna()
    end = d["end_of_induction_date"]
    w = s.protocol.windows.get("end_of_induction")
    if w is not None:
        end = end.fillna(d["treatment_start_date"] + pd.Timedelta(days=w.day + w.tolerance_days - 1))
    early = died & (d["death_date"] <= end).fillna(False)
    rows = []
    for arm in s.protocol.arm_codes:
        a = d["arm"] == arm
        n, k = int(a.sum()), int((a & died).sum())
        rows.append((arm, n, k, round(100 * k / n, 1) if n else None, int((a & early).sum())))
    return _frame(rows, ["arm", "randomized", "deaths", "% of randomized", "during induction"])


def safety(rep: DsmbReport) -> list:
    """The safety section, by arm: what to display, in order.

    With adverse-event rows: :func:`trialkit.ae_summary` (participants with any, related, grade ≥ 3,
    serious … events, with risk differences), :func:`trialkit.ae_table` (system organ class and
    preferred term) followed by its AE dot plot, and :func:`trialkit.aesi` for each event of special
    interest the protocol lists (``aesi:`` in the protocol file), each followed by its cumulative
    incidence plot. Without them, a note saying no safety summary can be produced (the runner's
    :func:`trialkit.reports.data.safety_data`).
    """
    info = rep.aggregates.get("safety") or {}
    if not len(rep.study.adverse_events):
        note = info.get("note") or "The study has no adverse-event data: no safety summary is produced."
        return [_HTML(f'<p class="tk-audience"><b>Safety summary not produced.</b> {html.escape(note)}</p>')]
    from ..safety import ae_summary, ae_table, aesi, aesi_categories

    table_ = ae_table(rep.study)
    out = [ae_summary(rep.study), table_, figure(table_.figure(), name="ae-dotplot")]
    for c in aesi_categories(rep.study.protocol):
        res = aesi(rep.study, category=c)
        out += [res, figure(res.figure(), name=f"aesi-{c}")]
    return out
