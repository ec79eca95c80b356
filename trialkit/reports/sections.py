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

from ..errors import ReportError
from ..study import Study

__all__ = ["SiteReport", "load_site", "header", "screening_summary", "screen_failures", "unknowns",
           "consort_counts", "consort_figure", "allocation", "pace", "pace_figure", "data_quality",
           "outcome_summary", "table", "figure", "title", "allocation_note", "count_findings"]

SUPPRESSED = "<5"
AGGREGATES_FILE = "study_aggregates.json"


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
    """

    study: Study
    site_id: str
    aggregates: dict = field(default_factory=dict)
    data_cut_date: pd.Timestamp | None = None
    generated: str = ""

    @property
    def site(self) -> dict:
        rows = self.study.sites
        return rows.iloc[0].to_dict() if len(rows) else {"site_id": self.site_id}


def load_site(study_path, *, site_id: str, data_cut_date=None, protocol: str | None = None) -> SiteReport:
    """Load a per-site study folder written by the report runner and check it holds one site only.

    Raises
    ------
    ReportError
        When the folder holds rows of another site (the runner never writes such a folder; a hand-made
        one is refused rather than risk showing another site's patients).
    """
    from ..io.flatfile import load_study

    folder = Path(study_path)
    study = load_study(folder, protocol=protocol, validate=False)
    others = set(study.sites["site_id"]) | set(study.randomization["site_id"])
    others.discard(site_id)
    if others:
        raise ReportError(f"{folder} holds rows of site(s) {sorted(others)} besides {site_id!r}; a site report "
                          "must be given only its own site's data (render it with trialkit.render_site_reports).")
    agg_file = folder / AGGREGATES_FILE
    aggregates = json.loads(agg_file.read_text(encoding="utf-8")) if agg_file.exists() else {}
    cut = pd.Timestamp(data_cut_date) if data_cut_date else study.data_cut_date
    return SiteReport(study=study, site_id=site_id, aggregates=aggregates, data_cut_date=cut,
                      generated=datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC"))


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


def table(df: pd.DataFrame, *, caption: str | None = None, empty: str = "None.") -> _HTML:
    """A frame as an HTML table: ``None`` printed as "<5" (suppressed), missing as "—"."""
    if not len(df):
        return _HTML(f'<p class="tk-empty">{html.escape(empty)}</p>')
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in df.columns)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(_cell(v))}</td>" for v in row) + "</tr>"
                   for row in df.astype(object).itertuples(index=False))
    cap = f"<caption>{html.escape(caption)}</caption>" if caption else ""
    return _HTML(f'<table class="tk-table">{cap}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>')


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


def header(rep: SiteReport) -> _HTML:
    """Study, site, data cut, checksums, trialkit version and generation time as an HTML block."""
    import trialkit

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
        ("trialkit version", trialkit.__version__),
        ("Generated", rep.generated),
    ]
    body = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(str(v))}</td></tr>" for k, v in rows)
    return _HTML(f'<table class="tk-header">{body}</table>')


# ------------------------------------------------------------------------------------------------
# screening
# ------------------------------------------------------------------------------------------------
def _verdicts(scr: pd.DataFrame) -> dict:
    vc = scr["screening_outcome"].value_counts()
    out = {k: int(vc.get(k, 0)) for k in ("eligible", "screen failure", "declined", "other")}
    out["not recorded"] = int(len(scr) - sum(out.values()))
    return out


def screening_summary(rep: SiteReport) -> pd.DataFrame:
    """Screened, eligible, screen failures, randomized: this site against the whole study.

    Columns ``measure, site, study``; study cells under 5 are ``None`` (suppressed).
    """
    s = rep.study
    scr = s.screening
    v = _verdicts(scr)
    agg = rep.aggregates
    sv = agg.get("site_verdicts") or {}
    counts = agg.get("counts") or {}
    rows = [("screened", len(scr), counts.get("screened")),
            ("eligible (site's verdict)", v["eligible"], sv.get("eligible")),
            ("screen failures (site's verdict)", v["screen failure"], sv.get("screen failure")),
            ("declined", v["declined"], sv.get("declined")),
            ("other / not recorded", v["other"] + v["not recorded"],
             None if sv.get("other") is None or sv.get("not recorded") is None
             else sv["other"] + sv["not recorded"]),
            ("randomized", len(s.randomization), counts.get("randomized"))]
    return pd.DataFrame(rows, columns=["measure", "site", "study"])


def screen_failures(rep: SiteReport) -> pd.DataFrame:
    """Screen failures by recorded reason at this site (columns ``reason, site n, % of screened``)."""
    scr = rep.study.screening
    fails = scr[scr["screening_outcome"] == "screen failure"]
    reason = fails["screen_failure_reason"].fillna("(no reason recorded)")
    vc = reason.value_counts()
    out = pd.DataFrame({"reason": vc.index.astype(str), "site n": vc.values.astype(int)})
    out["% of screened"] = (100 * out["site n"] / max(len(scr), 1)).round(1)
    return out.reset_index(drop=True)


def unknowns(rep: SiteReport) -> pd.DataFrame:
    """Screened patients with missing criterion inputs to resolve (``subject_id, missing inputs``)."""
    scr = rep.study.screening
    inputs = _criterion_inputs(rep.study)
    cols = [c for c in inputs if c in scr.columns]
    if not cols or not len(scr):
        return pd.DataFrame(columns=["subject_id", "missing inputs"])
    miss = scr[cols].isna()
    rows = [(sid, ", ".join(c for c in cols if m[c])) for sid, (_, m) in zip(scr["subject_id"], miss.iterrows())
            if m.any()]
    return pd.DataFrame(rows, columns=["subject_id", "missing inputs"])


def _criterion_inputs(study: Study) -> list[str]:
    """Canonical screening columns the protocol's criteria read (from the criteria file's ``inputs``)."""
    from ..model import column_names

    canon = set(column_names("screening"))
    seen: list[str] = []
    for c in study.protocol.criteria:
        for name in c.get("inputs", ()) or ():
            if name in canon and name not in seen:
                seen.append(name)
    return seen


# ------------------------------------------------------------------------------------------------
# CONSORT flow
# ------------------------------------------------------------------------------------------------
def consort_counts(rep: SiteReport) -> pd.DataFrame:
    """The site's CONSORT boxes (columns ``box, arm, n``)."""
    s = rep.study
    scr, rnd, disp = s.screening, s.randomization, s.disposition
    v = _verdicts(scr)
    rows = [("assessed for eligibility", "", len(scr)),
            ("excluded: not eligible", "", v["screen failure"]),
            ("excluded: declined", "", v["declined"]),
            ("excluded: other / not recorded", "", len(scr) - len(rnd) - v["screen failure"] - v["declined"]),
            ("randomized", "", len(rnd))]
    d = disp.set_index("subject_id") if len(disp) else None
    for arm in s.protocol.arm_codes:
        ids = rnd.loc[rnd["arm"] == arm, "subject_id"]
        sub = d.reindex(ids) if d is not None else pd.DataFrame(index=ids)
        treated = int(sub["treated"].fillna(False).astype(bool).sum()) if "treated" in sub else 0
        disc = int(sub["discontinued"].fillna(False).astype(bool).sum()) if "discontinued" in sub else 0
        lost = int(sub["lost_to_follow_up"].fillna(False).astype(bool).sum()) if "lost_to_follow_up" in sub else 0
        analysed = int(sub["analysed"].fillna(False).astype(bool).sum()) if "analysed" in sub else 0
        rows += [("allocated", arm, len(ids)), ("received allocated intervention", arm, treated),
                 ("discontinued", arm, disc), ("lost to follow-up", arm, lost), ("analysed", arm, analysed)]
    return pd.DataFrame(rows, columns=["box", "arm", "n"])


def consort_figure(rep: SiteReport):
    """A CONSORT-style flow diagram of this site's patients (plotly)."""
    import plotly.graph_objects as go

    c = consort_counts(rep)
    get = {(b, a): n for b, a, n in c.itertuples(index=False)}
    arms = list(rep.study.protocol.arm_codes)
    boxes = []

    def add(x, y, text, w=0.26, h=0.1):  # noqa: ANN001 - local drawing helper
        boxes.append((x, y, w, h, text))

    add(0.5, 0.92, f"Assessed for eligibility<br>(n = {get[('assessed for eligibility', '')]})", w=0.34)
    excl = (f"Excluded (n = {get[('assessed for eligibility', '')] - get[('randomized', '')]})<br>"
            f"• not eligible: {get[('excluded: not eligible', '')]}<br>"
            f"• declined: {get[('excluded: declined', '')]}<br>"
            f"• other / not recorded: {get[('excluded: other / not recorded', '')]}")
    add(0.84, 0.76, excl, w=0.3, h=0.17)
    add(0.5, 0.62, f"Randomized (n = {get[('randomized', '')]})", w=0.3)
    xs = [0.25, 0.75] if len(arms) == 2 else [(i + 0.5) / len(arms) for i in range(len(arms))]
    ratio = rep.study.protocol.ratio
    for x, arm in zip(xs, arms):
        add(x, 0.42, f"Allocated to {arm} (ratio {ratio[arm]})<br>n = {get[('allocated', arm)]}<br>"
                     f"received allocated intervention: {get[('received allocated intervention', arm)]}",
            w=0.4, h=0.12)
        add(x, 0.22, f"Discontinued: {get[('discontinued', arm)]}<br>Lost to follow-up: "
                     f"{get[('lost to follow-up', arm)]}", w=0.4, h=0.1)
        add(x, 0.06, f"Analysed (n = {get[('analysed', arm)]})", w=0.4, h=0.07)
    shapes = [dict(type="rect", x0=x - w / 2, x1=x + w / 2, y0=y - h / 2, y1=y + h / 2,
                   line=dict(color="#34495e"), fillcolor="#f7f9fb") for x, y, w, h, _ in boxes]
    notes = [dict(x=x, y=y, text=text, showarrow=False, font=dict(size=12)) for x, y, _, _, text in boxes]
    arrows = [(0.5, 0.87, 0.5, 0.67), (0.5, 0.76, 0.69, 0.76)]
    for x in xs:
        arrows += [(0.5, 0.57, x, 0.48), (x, 0.36, x, 0.27), (x, 0.17, x, 0.095)]
    notes += [dict(x=x1, y=y1, ax=x0, ay=y0, xref="x", yref="y", axref="x", ayref="y", showarrow=True,
                   arrowhead=2, arrowwidth=1.2, text="") for x0, y0, x1, y1 in arrows]
    # one layout dict (validated once) is several times faster than add_shape/add_annotation calls
    fig = go.Figure(layout=dict(
        shapes=shapes, annotations=notes, height=560, margin=dict(l=10, r=10, t=30, b=10),
        plot_bgcolor="white", title=dict(text=f"CONSORT flow, site {rep.site_id}"),
        xaxis=dict(visible=False, range=[0, 1]), yaxis=dict(visible=False, range=[0, 1])))
    return fig


# ------------------------------------------------------------------------------------------------
# allocation
# ------------------------------------------------------------------------------------------------
def allocation(rep: SiteReport) -> pd.DataFrame:
    """Randomized patients by arm against the protocol ratio, at this site and (suppressed) study-wide.

    Columns ``arm, planned ratio, site observed, site expected, study observed, study expected``.
    ``site expected`` is ``n × planned share``: with a handful of patients per site no test can
    tell a faithful 2:1 scheme from a broken one, so none is computed here.
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
    return pd.DataFrame(rows, columns=["arm", "planned share", "site observed", "site expected",
                                       "study observed", "study expected"])


def allocation_note(rep: SiteReport) -> _HTML:
    """One sentence on what the site's split can and cannot say about the planned ratio."""
    n = len(rep.study.randomization)
    ratio = rep.study.protocol.ratio
    total = sum(ratio.values())
    exp = " : ".join(f"{arm} {n * r / total:.1f}" for arm, r in ratio.items())
    plan = " : ".join(f"{arm} {r}" for arm, r in ratio.items())
    text = (f"Planned ratio {plan} (protocol {rep.study.protocol.id}); with n = {n} randomized here the "
            f"expected split is {exp}. ")
    if n < 12:
        text += ("Counts this small cannot test the ratio: randomization is monitored study-wide and by "
                 "stratum, not per site.")
    return _HTML(f'<p class="tk-note">{html.escape(text)}</p>')


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
    fig.update_layout(height=380, margin=dict(l=40, r=10, t=40, b=40), yaxis_title="patients (cumulative)",
                      title="Enrollment over time", legend=dict(orientation="h", y=-0.2))
    return fig


# ------------------------------------------------------------------------------------------------
# data quality
# ------------------------------------------------------------------------------------------------
#: End of Treatment (induction) is Day 28 ± 2 (B1931036 registry record); Day 1 = first dose.
EOI_DAY, EOI_TOLERANCE = 28, 2


def data_quality(rep: SiteReport) -> pd.DataFrame:
    """Findings a data manager should resolve at this site (``subject_id, finding, detail``).

    * missing criterion inputs (the eligibility verdict cannot be reached without them);
    * out-of-window dates: dates after the data cut, screening before the site's activation or the
      study start, treatment start before randomization, end of induction outside Day 28 ± 2;
    * schema and cross-table problems of the site's rows (:func:`trialkit.schemas.study_problems`).
    """
    s = rep.study
    rows: list[tuple[str, str, str]] = []
    for sid, miss in unknowns(rep).itertuples(index=False):
        rows.append((sid, "missing criterion input", miss))
    cut = rep.data_cut_date
    date_cols = {"screening": ["screening_date"], "randomization": ["randomization_date"],
                 "disposition": ["treatment_start_date", "end_of_induction_date", "discontinuation_date",
                                 "death_date", "last_contact_date"],
                 "response": ["assessment_date"]}
    if cut is not None:
        for t, cols in date_cols.items():
            df = getattr(s, t)
            for c in cols:
                if c in df:
                    bad = df[df[c] > cut]
                    rows += [(sid, "date after data cut", f"{t}.{c} = {d.date()} > {cut.date()}")
                             for sid, d in zip(bad["subject_id"], bad[c])]
    scr = s.screening
    starts = []
    if s.protocol.start_date is not None:
        starts.append(("study start", pd.Timestamp(s.protocol.start_date)))
    act = s.sites["activation_date"].dropna() if "activation_date" in s.sites else pd.Series([], dtype=object)
    if len(act):
        starts.append(("site activation", pd.Timestamp(act.iloc[0])))
    for label, d0 in starts:
        bad = scr[scr["screening_date"] < d0]
        rows += [(sid, f"screened before {label}", f"screening_date = {d.date()} < {d0.date()}")
                 for sid, d in zip(bad["subject_id"], bad["screening_date"])]
    if len(s.disposition) and len(s.randomization):
        d = s.disposition.merge(s.randomization[["subject_id", "randomization_date"]], on="subject_id", how="left")
        bad = d[d["treatment_start_date"] < d["randomization_date"]]
        rows += [(sid, "treatment before randomization", f"treatment_start_date = {a.date()} < {b.date()}")
                 for sid, a, b in zip(bad["subject_id"], bad["treatment_start_date"], bad["randomization_date"])]
        day = (d["end_of_induction_date"] - d["treatment_start_date"]).dt.days + 1
        out = d[(day - EOI_DAY).abs() > EOI_TOLERANCE]
        rows += [(sid, "end of induction out of window",
                  f"Day {int(x)} (protocol: Day {EOI_DAY} ± {EOI_TOLERANCE})")
                 for sid, x in zip(out["subject_id"], day[out.index])]
    from ..schemas import study_problems

    probs = study_problems(s)
    for rec in probs.itertuples(index=False):
        rows.append(("", f"{rec.table}: {rec.problem}", f"column {rec.column}, value {rec.value}"))
    return pd.DataFrame(rows, columns=["subject_id", "finding", "detail"])


def count_findings(findings: pd.DataFrame) -> pd.DataFrame:
    """Data-quality findings counted by kind, without subject ids (``finding, n``)."""
    vc = findings["finding"].value_counts()
    return pd.DataFrame({"finding": vc.index.astype(str), "n": vc.values.astype(int)})


# ------------------------------------------------------------------------------------------------
# outcomes
# ------------------------------------------------------------------------------------------------
def outcome_summary(rep: SiteReport) -> pd.DataFrame:
    """End-of-induction response and event counts by arm: site and (suppressed) study.

    Columns ``measure, arm, site, study``; ``site`` is "k / n", ``study`` likewise or ``None``.
    """
    s = rep.study
    arm_of = s.randomization.set_index("subject_id")["arm"]
    resp = s.response.assign(arm=s.response["subject_id"].map(arm_of))
    o = s.outcomes.assign(arm=s.outcomes["subject_id"].map(arm_of))
    agg_r = rep.aggregates.get("response") or {}
    agg_e = rep.aggregates.get("events") or {}
    rows = []

    def frac(k, n):
        return None if k is None or n is None else f"{k} / {n}"

    for arm in s.protocol.arm_codes:
        r = resp[resp["arm"] == arm]
        a = agg_r.get(arm) or {}
        n = int(r["response"].notna().sum())
        rows.append(("CR/CRi at end of induction", arm, f"{int(r['response'].isin(['CR', 'CRi']).sum())} / {n}",
                     frac(a.get("cr_cri"), a.get("assessed"))))
        m = int(r["mrd_negative"].notna().sum())
        rows.append(("MRD negative", arm, f"{int(r['mrd_negative'].fillna(False).astype(bool).sum())} / {m}",
                     frac(a.get("mrd_negative"), a.get("mrd_assessed"))))
    for ep in sorted(set(o["endpoint"].dropna()) | set(agg_e)):
        for arm in s.protocol.arm_codes:
            g = o[(o["endpoint"] == ep) & (o["arm"] == arm)]
            a = (agg_e.get(ep) or {}).get(arm) or {}
            rows.append((f"{ep} events", arm, f"{int(g['event'].sum())} / {len(g)}", frac(a.get("events"), a.get("n"))))
    return pd.DataFrame(rows, columns=["measure", "arm", "site", "study"])
