"""The content of a site report: one function per section, called by the template notebook.

Everything the template shows is computed here, so the notebook stays a list of calls and every
number can be tested without a kernel. Each function takes the :class:`SiteReport` returned by
:func:`load_site` — the site's own rows plus suppressed study aggregates — and returns a frame, a
plotly figure or an HTML fragment. Nothing here can reach another site's rows: they are not in the
folder the notebook was given (see :mod:`trialkit.reports.data`).
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from ..defaults import DEFAULT_N_SIM, DEFAULT_SEED, simulation_note
from ..eligibility.consort import POOLED_ARMS
from ..errors import ReportError
from ..study import Study

__all__ = ["SiteReport", "load_site", "header", "screening_summary", "screen_failures", "unknowns",
           "consort", "consort_counts", "consort_figure", "allocation", "pace", "pace_figure", "data_quality",
           "outcome_summary", "outcome_caption", "results_by_arm", "study_outcomes", "reporting_note", "table", "figure", "title", "allocation_note",
           "count_findings", "read_report_folder", "header_table", "report_context"]

#: the mark of a suppressed cell. Not "<5": inside a percentage column that reads "less than 5 %".
SUPPRESSED = "§"
#: the footnote under every table that has a suppressed cell
SUPPRESSED_NOTE = ("§ not shown: fewer than 5 patients, or a count from which such a cell could be worked out "
                   "(small cells are suppressed so that no patient can be identified).")
#: findings a data manager must act on first (listed first and highlighted in the site report)
MAJOR = "major"
AGGREGATES_FILE = "study_aggregates.json"
SITE_FILE = "trialkit_site.json"  # marks a per-site folder written by the runner


@dataclass(frozen=True)
class SiteReport:
    """One site's data for its report.

    Attributes
    ----------
    study : Study
        Only this site's rows (and the protocol).
    site_id : str
    aggregates : dict
        Whole-study figures, small cells already suppressed (``None``).
    data_cut_date : pandas.Timestamp or None
    generated : str
        UTC time the report was generated (ISO 8601).
    eligibility : EligibilityResult or None
        :func:`trialkit.evaluate_eligibility` of this site's screening log (None when empty).
    """

    study: Study
    site_id: str
    aggregates: dict = field(default_factory=dict)
    data_cut_date: pd.Timestamp | None = None
    generated: str = ""
    eligibility: object = None  # trialkit.eligibility.EligibilityResult of this site's screening

    @property
    def site(self) -> dict:
        rows = self.study.sites
        return rows.iloc[0].to_dict() if len(rows) else {"site_id": self.site_id}


def read_report_folder(study_path, *, audience: str, protocol: str | None = None) -> tuple[Study, dict]:
    """Read a folder written by the report runner for ``audience``: the study and the aggregates.

    A folder made by hand (no runner marker) is read with the flat-file loader, unvalidated.

    Raises
    ------
    ReportError
        When the runner wrote the folder for another audience.
    """
    folder = Path(study_path)
    marker = folder / SITE_FILE
    if marker.exists():  # written by the runner from a validated study: read the typed Parquet as is
        from ..model import TABLES
        from ..protocols import get_protocol

        meta = json.loads(marker.read_text(encoding="utf-8"))
        written_for = meta.get("audience", "site")
        if written_for != audience:
            raise ReportError(f"{folder} was prepared for the {written_for} report, not the {audience} report; "
                              f"render it with trialkit.render_reports(..., audience={audience!r}).")
        tables = {t: pd.read_parquet(folder / f"{t}.parquet") for t in TABLES}
        cut0 = meta.get("data_cut_date")
        study = Study(protocol=get_protocol(protocol or meta["protocol"]), **tables, source=str(folder),
                      data_cut_date=pd.Timestamp(cut0) if cut0 else None)
    else:  # a folder of files made by hand: the flat-file loader (not validated here, see data_quality)
        from ..io.flatfile import load_study

        study = load_study(folder, protocol=protocol, validate=False)
    agg_file = folder / AGGREGATES_FILE
    aggregates = json.loads(agg_file.read_text(encoding="utf-8")) if agg_file.exists() else {}
    return study, aggregates


def load_site(study_path, *, site_id: str, data_cut_date=None, protocol: str | None = None) -> SiteReport:
    """Load a per-site study folder written by the report runner and check it holds one site only.

    Raises
    ------
    ReportError
        When the folder holds rows of another site (the runner never writes such a folder; a hand-made
        one is refused rather than risk showing another site's patients), or was prepared for another
        audience.
    """
    folder = Path(study_path)
    study, aggregates = read_report_folder(folder, audience="site", protocol=protocol)
    others = set(study.sites["site_id"]) | set(study.randomization["site_id"])
    others.discard(site_id)
    if others:
        raise ReportError(f"{folder} holds rows of site(s) {sorted(others)} besides {site_id!r}; a site report "
                          "must be given only its own site's data (render it with trialkit.render_site_reports).")
    return SiteReport(study=study, site_id=site_id, aggregates=aggregates, **report_context(study, data_cut_date))


# ------------------------------------------------------------------------------------------------
# presentation helpers
# ------------------------------------------------------------------------------------------------
class _HTML:
    """An HTML fragment that renders itself in Jupyter and in nbconvert's HTML export."""

    def __init__(self, text: str):
        self.text = text

    def _repr_html_(self) -> str:
        return self.text

    def __str__(self) -> str:  # pragma: no cover
        return self.text


def _frame(rows, columns) -> pd.DataFrame:
    """A result frame that keeps ``None`` (a suppressed study cell) as ``None`` and integers as
    integers; pandas would turn a column of ints and ``None`` into floats and NaN ("missing")."""
    return pd.DataFrame(rows, columns=columns, dtype=object)


def _cell(v) -> str:
    if v is None:
        return SUPPRESSED
    if isinstance(v, float) and pd.isna(v):
        return "—"
    if v is pd.NA or v is pd.NaT:
        return "—"
    if isinstance(v, float):
        return f"{v:.1f}" if abs(v) < 1000 else f"{v:,.0f}"
    if isinstance(v, pd.Timestamp):
        return v.date().isoformat()
    return str(v)


def _row(row) -> str:
    major = any(isinstance(v, str) and v == MAJOR for v in row)
    cls = ' class="tk-major"' if major else ""
    return f"<tr{cls}>" + "".join(f"<td>{html.escape(_cell(v))}</td>" for v in row) + "</tr>"


def table(df: pd.DataFrame, *, caption: str | None = None, empty: str = "None.") -> _HTML:
    """A frame as an HTML table: ``None`` printed as "§" (suppressed, explained in a footnote under the
    table), missing as "—"; a row with a ``"major"`` cell (a finding to act on first) is highlighted.

    Examples
    --------
    >>> t = table(pd.DataFrame({"measure": ["screened"], "study": [None]}))
    >>> "<td>§</td>" in t.text and "fewer than 5 patients" in t.text
    True
    """
    if not len(df):
        return _HTML(f'<p class="tk-empty">{html.escape(empty)}</p>')
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in df.columns)
    rows = list(df.astype(object).itertuples(index=False))
    body = "".join(_row(row) for row in rows)
    cap = f"<caption>{html.escape(caption)}</caption>" if caption else ""
    note = (f'<p class="tk-footnote">{html.escape(SUPPRESSED_NOTE)}</p>'
            if any(v is None for row in rows for v in row) else "")
    return _HTML(f'<table class="tk-table">{cap}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>{note}')


class _Figure:
    """A plotly figure as an HTML div that needs plotly.js loaded once by the page (no CDN, no copy)."""

    def __init__(self, fig, div_id: str):
        self.fig = fig
        self.div_id = div_id

    def _repr_mimebundle_(self, include=None, exclude=None):
        h = self.fig.layout.height or 420
        div = self.fig.to_html(include_plotlyjs=False, full_html=False, div_id=self.div_id,
                               default_height=f"{h}px", config={"displaylogo": False, "responsive": True})
        return {"text/html": div, "text/plain": f"<figure {self.div_id}>"}


def figure(fig, *, name: str) -> _Figure:
    """Wrap a plotly figure for display in a report (a stable div id ``tk-<name>``)."""
    return _Figure(fig, f"tk-{name}")


# ------------------------------------------------------------------------------------------------
# header
# ------------------------------------------------------------------------------------------------
def title(rep: SiteReport) -> _HTML:
    """The page title: ``Site report — <site> (<study>)``, escaped."""
    return _HTML(f'<h1 class="tk-title">Site report — {html.escape(rep.site_id)} '
                 f'<small>{html.escape(rep.study.protocol.id.upper())}</small></h1>')



def header_table(rows, *, generated: str) -> _HTML:
    """A report's provenance table: ``rows`` then the trialkit version and the generation time."""
    import trialkit

    rows = [*rows, ("trialkit version", trialkit.__version__), ("Generated", generated)]
    body = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(str(v))}</td></tr>" for k, v in rows)
    return _HTML(f'<table class="tk-header">{body}</table>')


def report_context(study: Study, data_cut_date, *, eligibility: bool = True) -> dict:
    """What every audience's loader adds to its rows: the data cut (``data_cut_date`` or the study's),
    the generation time and, with ``eligibility`` and a screening log, the protocol's verdicts."""
    from ..eligibility import evaluate_eligibility

    return {"data_cut_date": pd.Timestamp(data_cut_date) if data_cut_date else study.data_cut_date,
            "generated": datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC"),
            "eligibility": evaluate_eligibility(study) if eligibility and len(study.screening) else None}

def header(rep: SiteReport) -> _HTML:
    """Study, site, data cut, checksums, trialkit version and generation time as an HTML block."""
    site = rep.site
    agg = rep.aggregates
    proto = rep.study.protocol
    where = ", ".join(str(site.get(k)) for k in ("city", "country") if isinstance(site.get(k), str))
    rows = [
        ("Study", f"{proto.id.upper()} — {proto.title}"),
        ("Site", f"{rep.site_id} — {site.get('site_name') or ''}" + (f" ({where})" if where else "")),
        ("Data cut", rep.data_cut_date.date().isoformat() if rep.data_cut_date is not None else "not stated"),
        ("Study data checksum", agg.get("study_checksum", "—")),
        ("Site data checksum", rep.study.checksum()),
    ]
    return header_table(rows, generated=rep.generated)


# ------------------------------------------------------------------------------------------------
# screening
# ------------------------------------------------------------------------------------------------
def _verdicts(scr: pd.DataFrame) -> dict:
    vc = scr["screening_outcome"].value_counts()
    out = {k: int(vc.get(k, 0)) for k in ("eligible", "screen failure", "declined", "other")}
    out["not recorded"] = int(len(scr) - sum(out.values()))
    return out


def screening_summary(rep: SiteReport) -> pd.DataFrame:
    """Screened, eligible by the protocol's rules, the site's own verdicts, randomized: site vs study.

    Columns ``measure, site, study``; study cells under 5 are ``None`` (suppressed). "Eligible by
    the rules" comes from :func:`trialkit.evaluate_eligibility` (met / not met / unknown per
    criterion); "undetermined" patients have a missing input and no criterion excluding them.
    """
    s = rep.study
    scr = s.screening
    v = _verdicts(scr)
    agg = rep.aggregates
    sv = agg.get("site_verdicts") or {}
    rules = agg.get("rules") or {}
    counts = agg.get("counts") or {}
    if rep.eligibility is not None:
        from ..eligibility import funnel

        tot = funnel(rep.eligibility).totals
    else:
        tot = {"eligible": 0, "not_eligible": 0, "undetermined": 0}
    rows = [("screened", len(scr), counts.get("screened")),
            ("eligible by the protocol's rules", tot["eligible"], rules.get("eligible")),
            ("not eligible by the rules", tot["not_eligible"], rules.get("not_eligible")),
            ("undetermined (criterion inputs missing)", tot["undetermined"], rules.get("undetermined")),
            ("site's verdict: eligible", v["eligible"], sv.get("eligible")),
            ("site's verdict: screen failure", v["screen failure"], sv.get("screen failure")),
            ("site's verdict: declined", v["declined"], sv.get("declined")),
            ("site's verdict: other / not recorded", v["other"] + v["not recorded"],
             None if sv.get("other") is None or sv.get("not recorded") is None
             else sv["other"] + sv["not recorded"]),
            ("randomized", len(s.randomization), counts.get("randomized"))]
    return _frame(rows, ["measure", "site", "study"])


def screen_failures(rep: SiteReport) -> pd.DataFrame:
    """Screen failures by criterion at this site, by the protocol's rules, against the study.

    One row per criterion that excludes or cannot be decided for at least one of the site's
    patients. Columns: ``criterion, label, category, excluding, first excluding (protocol order),
    unknown, % of screened, study excluding, study % of screened`` — "excluding" counts patients
    for whom an inclusion criterion is not met or an exclusion criterion is met (a patient may
    fail several); "first excluding" is the sequential funnel's count.
    """
    if rep.eligibility is None:
        return pd.DataFrame(columns=["criterion", "label", "category", "excluding", "first excluding",
                                     "unknown", "% of screened", "study excluding", "study % of screened"])
    from ..eligibility import funnel

    f = funnel(rep.eligibility)
    ind = f.independent.set_index("criterion_id")
    seq = f.summary.set_index("criterion_id")["excluded"]
    n = len(rep.study.screening)
    agg = rep.aggregates.get("criteria_excluding") or {}
    study_n = (rep.aggregates.get("counts") or {}).get("screened")
    rows = []
    for cid, r in ind.iterrows():
        if r["excludes"] == 0 and r["unknown"] == 0:
            continue
        st = agg.get(cid)
        rows.append((cid, r["label"], r["category"], int(r["excludes"]), int(seq.get(cid, 0)), int(r["unknown"]),
                     round(100 * r["excludes"] / n, 1), st,
                     None if st is None or not study_n else round(100 * st / study_n, 1)))
    return _frame(rows, ["criterion", "label", "category", "excluding", "first excluding", "unknown",
                         "% of screened", "study excluding", "study % of screened"])


def unknowns(rep: SiteReport) -> pd.DataFrame:
    """Criteria that cannot be decided for a patient because an input is missing.

    Columns ``subject_id, criterion, label, missing inputs`` (the canonical screening columns that
    are empty, derived inputs expanded to the columns they read).
    """
    from .quality import unknown_inputs

    return unknown_inputs(rep.study, rep.eligibility)


# ------------------------------------------------------------------------------------------------
# CONSORT flow
# ------------------------------------------------------------------------------------------------
def consort(rep: SiteReport):
    """The site's CONSORT flow (:func:`trialkit.consort`; counts reconcile at every box), pooled over
    arms after randomization unless the study's reporting is open (:func:`results_by_arm`).

    ``None`` when no patient was randomized at the site: the flow then ends at screening and the
    report shows the screening funnel instead (see :func:`consort_figure`).
    """
    if not len(rep.study.randomization) or rep.eligibility is None:
        return None
    from ..eligibility import consort as _consort

    flow = _consort(rep.study, eligibility=rep.eligibility)
    return flow if results_by_arm(rep) else flow.pooled()


def results_by_arm(rep) -> bool:
    """Whether this page may show results by arm: only when the study declares its comparison open.

    A running trial's comparison by arm is for the Data Monitoring Committee only, so by default a
    site's own outcome summary and the follow-up boxes of its CONSORT flow are pooled over arms
    (its allocation by arm is not an outcome and stays). ``reporting: comparative_outcomes: open``
    in the protocol file (e.g. once the trial is published) reaches the page through the runner's
    aggregates.
    """
    return (rep.aggregates.get("reporting") or {}).get("comparative_outcomes") == "open"


def consort_counts(rep: SiteReport) -> pd.DataFrame:
    """The site's CONSORT boxes as a frame (``box, arm, group, reason, n``).

    For a site without randomized patients: assessed, excluded by first excluding criterion (the
    sequential funnel in protocol order), undetermined and randomized = 0.
    """
    flow = consort(rep)
    if flow is not None:
        return flow.to_frame()
    cols = ["box", "arm", "group", "reason", "n"]
    n = len(rep.study.screening)
    rows = [("assessed", None, None, None, n), ("randomized", None, None, None, 0)]
    if rep.eligibility is not None:
        from ..eligibility import funnel

        f = funnel(rep.eligibility)
        rows[1:1] = [("excluded", None, "first excluding criterion (protocol order)", f"{c}: {lab}", int(k))
                     for c, lab, k in zip(f.summary["criterion_id"], f.summary["label"],
                                          f.summary["excluded"]) if k]
        rows.insert(-1, ("not randomized, eligibility undetermined", None, None, None, int(f.totals["undetermined"])))
        rows.insert(-1, ("not randomized, eligible by the rules", None, None, None, int(f.totals["eligible"])))
    return pd.DataFrame(rows, columns=cols)


def consort_figure(rep: SiteReport):
    """The site's CONSORT flow diagram (plotly), laid out as a CONSORT 2010 flow diagram.

    A site without randomized patients gets its screening funnel (:func:`trialkit.funnel`), titled
    as such: its flow ends at screening.
    """
    flow = consort(rep)
    if flow is not None:
        fig = flow.figure()
        fig.update_layout(title=dict(text=f"CONSORT flow, site {rep.site_id}"))
        return fig
    if rep.eligibility is None:
        import plotly.graph_objects as go

        return go.Figure(layout=dict(
            height=160, xaxis=dict(visible=False), yaxis=dict(visible=False), plot_bgcolor="white",
            margin=dict(l=10, r=10, t=10, b=10),
            annotations=[dict(text=f"Site {rep.site_id}: no patient screened by the data cut.", showarrow=False,
                              x=0.5, y=0.5, xref="paper", yref="paper", font=dict(size=15))]))
    from ..eligibility import funnel

    fig = funnel(rep.eligibility).figure()
    fig.update_layout(title=dict(text=f"Site {rep.site_id}: no patient randomized — screening funnel "
                                      "(the CONSORT flow ends at screening)"))
    return fig


# ------------------------------------------------------------------------------------------------
# allocation
# ------------------------------------------------------------------------------------------------
def allocation(rep: SiteReport) -> pd.DataFrame:
    """Randomized patients by arm against the protocol ratio, at this site and (suppressed) study-wide.

    Columns ``arm, planned share, site observed, site expected, study observed, study expected``;
    expected = n × planned share (the ratio is read from the protocol, e.g. 2:1 InO : ALLR3).
    """
    s = rep.study
    ratio = s.protocol.ratio
    total = sum(ratio.values())
    n = len(s.randomization)
    agg_arms = (rep.aggregates.get("arms") or {})
    study_n = (rep.aggregates.get("counts") or {}).get("randomized")
    rows = []
    for arm in s.protocol.arm_codes:
        obs = int((s.randomization["arm"] == arm).sum())
        rows.append((arm, f"{ratio[arm]}/{total}", obs, round(n * ratio[arm] / total, 1),
                     (agg_arms.get(arm) or {}).get("randomized"),
                     None if study_n is None else round(study_n * ratio[arm] / total, 1)))
    return _frame(rows, ["arm", "planned share", "site observed", "site expected", "study observed",
                         "study expected"])


def allocation_note(rep: SiteReport) -> _HTML:
    """What the site's split can say about the ratio (:func:`trialkit.allocation_summary`'s verdict)
    and the study-wide tests (binomial against the planned share, and against the protocol's scheme)."""
    s = rep.study
    n = len(s.randomization)
    plan = " : ".join(f"{arm} {r}" for arm, r in s.protocol.ratio.items())
    parts = [f"Planned ratio {plan} (protocol {s.protocol.id})."]
    if n == 0:
        parts.append("No patient has been randomized at this site.")
    else:
        from ..randomization import allocation_summary

        row = allocation_summary(s, levels=("overall",), n_sim=DEFAULT_N_SIM, seed=DEFAULT_SEED).summary.iloc[0]
        verdict = (str(row["note"]) if isinstance(row["note"], str) and row["note"]
                   else f"exact binomial test against the planned share p = {row['p_binomial']:.3f}")
        parts.append(f"This site: n = {n}; {verdict}.")
    st = rep.aggregates.get("allocation") or {}
    if st.get("n") is not None:
        pb, ps = st.get("p_binomial"), st.get("p_scheme")
        parts.append(f"Whole study: n = {st['n']}"
                     + (f"; exact binomial test against the planned share p = {pb:.3f}" if pb is not None else "")
                     + (f"; against the protocol's randomization scheme (simulated) p = {ps:.3f} ("
                        + simulation_note(st.get("n_sim", DEFAULT_N_SIM), st.get("seed", DEFAULT_SEED)).rstrip(".")
                        + ")" if ps is not None else "") + ".")
    return _HTML(f'<p class="tk-note">{html.escape(" ".join(parts))}</p>')


# ------------------------------------------------------------------------------------------------
# enrollment pace
# ------------------------------------------------------------------------------------------------
def pace(rep: SiteReport) -> pd.DataFrame:
    """Cumulative screened and randomized at this site by month end (``month_end, screened, randomized``)."""
    s = rep.study
    dates = pd.concat([s.screening["screening_date"], s.randomization["randomization_date"]]).dropna()
    if not len(dates):
        return pd.DataFrame(columns=["month_end", "screened", "randomized"])
    last = rep.data_cut_date if rep.data_cut_date is not None else dates.max()
    months = pd.period_range(dates.min().to_period("M"), max(dates.max(), last).to_period("M"), freq="M")

    def cum(d):
        return d.dropna().dt.to_period("M").value_counts().reindex(months, fill_value=0).cumsum().to_numpy()

    return pd.DataFrame({"month_end": [m.to_timestamp(how="end").normalize() for m in months],
                         "screened": cum(s.screening["screening_date"]),
                         "randomized": cum(s.randomization["randomization_date"])})


def pace_figure(rep: SiteReport):
    """This site's cumulative enrollment against the study's average pace per active site."""
    import plotly.graph_objects as go

    p = pace(rep)
    fig = go.Figure()
    fig.add_scatter(x=p["month_end"], y=p["screened"], mode="lines+markers", line_shape="hv",
                    name="site: screened")
    fig.add_scatter(x=p["month_end"], y=p["randomized"], mode="lines+markers", line_shape="hv",
                    name="site: randomized")
    agg = rep.aggregates.get("pace") or {}
    if agg.get("month_ends"):
        active = dict(zip(agg["month_ends"], agg["active_sites"]))
        for key, dash in (("screened", "dot"), ("randomized", "dash")):
            pts = agg.get(key) or {}
            xs, ys = [], []
            for d, c in zip(pts.get("date", []), pts.get("cumulative", [])):
                if active.get(d):
                    xs.append(pd.Timestamp(d))
                    ys.append(c / active[d])
            if xs:
                fig.add_scatter(x=xs, y=ys, mode="lines+markers", line=dict(dash=dash),
                                name=f"study average per active site: {key}")
    from ..plots.eligibility import integer_axis

    ymax = max([0.0] + [float(max(t.y)) for t in fig.data if t.y is not None and len(t.y)])
    fig.update_layout(height=380, margin=dict(l=40, r=10, t=40, b=40), yaxis_title="patients (cumulative)",
                      title="Enrollment over time", legend=dict(orientation="h", y=-0.2),
                      yaxis=integer_axis(ymax))  # whole patients: no tick at 0.5 of a patient
    return fig


# ------------------------------------------------------------------------------------------------
# data quality
# ------------------------------------------------------------------------------------------------
def data_quality(rep: SiteReport) -> pd.DataFrame:
    """Findings a data manager should resolve at this site (``subject_id, severity, finding, detail``;
    a randomized patient whom the rules exclude first, as a major finding).

    See :func:`trialkit.reports.quality.findings`: missing criterion inputs, site verdict vs the
    protocol's rules, dates after the data cut, screening before the study start or the site's
    activation, treatment before randomization, end of induction outside the protocol's window
    (``windows: end_of_induction`` of the protocol file: Day 28 ± 2 for B1931036), and schema
    problems unless the runner validated the whole study before splitting it.
    """
    from .quality import findings

    return findings(rep.study, eligibility=rep.eligibility, data_cut_date=rep.data_cut_date,
                    validated=bool(rep.aggregates.get("validated")))


def count_findings(findings: pd.DataFrame) -> pd.DataFrame:
    """Data-quality findings counted by kind, without subject ids (``severity, finding, n``; major first)."""
    if not len(findings):
        return pd.DataFrame(columns=["severity", "finding", "n"])
    n = findings.groupby(["severity", "finding"], sort=False).size().rename("n").reset_index()
    n = n.assign(_major=n["severity"].ne(MAJOR)).sort_values(["_major", "n"], ascending=[True, False], kind="stable")
    return n.drop(columns="_major").astype({"n": int}).reset_index(drop=True)


# ------------------------------------------------------------------------------------------------
# outcomes
# ------------------------------------------------------------------------------------------------
def _frac(k, n):
    return None if k is None or n is None else f"{k} / {n}"


#: the response endpoints of the reports: (label, aggregate key of responders, aggregate key of assessed)
RESPONSE_LABELS = {"EOI_CR": ("CR/CRi at end of induction", "cr_cri", "assessed"),
                   "EOI_MRDNEG": ("MRD negative at end of induction", "mrd_negative", "mrd_assessed")}


def _site_response_rows(s: Study, by_arm: dict | None, pooled: bool) -> list[tuple]:
    from ..outcomes import response_rates

    agg_r = (by_arm or {}).get("response") or {}
    rows = []
    # an endpoint nobody has been assessed for yet has no rate (response_rates refuses it, rightly)
    assessed = [ep for ep, col in (("EOI_CR", "response"), ("EOI_MRDNEG", "mrd_negative"))
                if col in s.response and s.response[col].notna().any()]
    for ep in ("EOI_CR", "EOI_MRDNEG"):
        if ep not in assessed:
            label, k, n = RESPONSE_LABELS[ep]
            rows += [(label, arm, 0, "not assessed yet", "",
                      _frac((agg_r.get(arm) or {}).get(k), (agg_r.get(arm) or {}).get(n)))
                     for arm in ((POOLED_ARMS,) if pooled else s.protocol.arm_codes)]
    if assessed:
        rates = response_rates(s, by=None if pooled else "arm", endpoints=tuple(assessed)).summary
        for rec in rates.itertuples(index=False):
            label, k, n = RESPONSE_LABELS.get(rec.endpoint, (rec.endpoint, None, None))
            a = agg_r.get(rec.group) or {}
            rows.append((label, POOLED_ARMS if pooled else rec.group, int(rec.n),
                         f"{int(rec.responders)} ({100 * rec.rate:.0f} %)",
                         f"{100 * rec.lower:.0f}–{100 * rec.upper:.0f} %", _frac(a.get(k), a.get(n))))
    return rows


def outcome_summary(rep: SiteReport) -> pd.DataFrame:
    """End-of-induction response and time-to-event summary of this site's own patients.

    Rates come from :func:`trialkit.response_rates` (exact Clopper–Pearson 95 % CI), events and
    medians from :func:`trialkit.km`. Pooled over arms (columns ``measure, site n, site result,
    site 95% CI``): a running trial's comparison by arm is for the Data Monitoring Committee only,
    even within one site. Only when the study's reporting is open (:func:`results_by_arm`) is the
    summary split by arm (an ``arm`` column after ``measure``), followed by a ``study`` column
    ("k / n" of the same arm study-wide, ``None`` when suppressed).
    """
    s = rep.study
    pooled = not results_by_arm(rep)
    by_arm = None if pooled else rep.aggregates.get("by_arm")
    cols = ["measure", "arm", "site n", "site result", "site 95% CI", "study"]
    keep = [c for c in cols if not (pooled and c == "arm") and not (c == "study" and not by_arm)]
    if not len(s.randomization):
        return pd.DataFrame(columns=keep)
    from ..outcomes import km

    rows = _site_response_rows(s, by_arm, pooled)
    agg_e = (by_arm or {}).get("events") or {}
    for ep in sorted(set(s.outcomes["endpoint"].dropna())):
        curves = km(s, endpoint=ep, by=None if pooled else "arm", time_unit="months").summary
        for rec in curves.itertuples(index=False):
            a = (agg_e.get(ep) or {}).get(rec.group) or {}
            med = "median not reached" if pd.isna(rec.median) else f"median {rec.median:.1f} months"
            rows.append((f"{ep} events", POOLED_ARMS if pooled else rec.group, int(rec.n),
                         f"{int(rec.events)} event{'' if int(rec.events) == 1 else 's'}; {med}", "",
                         _frac(a.get("events"), a.get("n"))))
    return _frame(rows, cols)[keep]


def outcome_caption(rep: SiteReport) -> str:
    """The caption of :func:`outcome_summary`: says whether the site's figures are pooled or by arm."""
    if results_by_arm(rep):
        return "Response and events of this site's patients, by arm (the study's reporting is open)"
    return ("Response and events of this site's patients, all arms pooled "
            "(results by arm are for the Data Monitoring Committee only)")


def study_outcomes(rep) -> pd.DataFrame:
    """Study-wide outcome and event counts pooled over arms (``measure, study``: "k / n", None = suppressed).

    No study-wide outcome is split by arm for a site or the study team: in a running trial the
    comparison by arm is for the Data Monitoring Committee only.
    """
    pooled = rep.aggregates.get("pooled") or {}
    r = pooled.get("response") or {}
    rows = [(label, _frac(r.get(k), r.get(n))) for label, k, n in RESPONSE_LABELS.values()]
    for ep, e in sorted((pooled.get("events") or {}).items()):
        rows.append((f"{ep} events", _frac(e.get("events"), e.get("n"))))
    return _frame(rows, ["measure", "study (all arms pooled)"])


def reporting_note(rep) -> _HTML:
    """What this page may show about outcomes, and why (the study's reporting setting)."""
    rp = rep.aggregates.get("reporting") or {}
    if rp.get("comparative_outcomes") == "open":
        return _HTML(f'<p class="tk-audience">{html.escape(rp.get("note") or "")}</p>')
    return _HTML('<p class="tk-note">Outcomes on this page, this site\'s and the whole study\'s, are pooled over '
                 "arms: in a running randomized trial the comparison by arm is for the Data Monitoring Committee "
                 "only.</p>")
