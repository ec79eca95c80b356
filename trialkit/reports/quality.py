"""Data-quality findings of a study or of one site's rows: what a data manager should resolve.

One function, :func:`findings`, for both uses: the site report lists its own patients' findings
(:func:`trialkit.reports.sections.data_quality`), and the runner counts them per site for the study
team's league table. Every check reads the protocol, never a constant in code: the end-of-induction
window is the protocol file's ``windows: end_of_induction`` (Day 28 ± 2 for B1931036).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..study import Study

__all__ = ["findings", "unknown_inputs", "FINDING_COLUMNS"]

FINDING_COLUMNS = ["subject_id", "severity", "finding", "detail"]
#: a randomized patient whom the protocol's rules exclude: the finding to act on first
MAJOR_FINDING = "randomized, but the rules exclude"

#: dated columns checked against the data cut, by table
DATE_COLUMNS = {"screening": ("screening_date",), "randomization": ("randomization_date",),
                "disposition": ("treatment_start_date", "end_of_induction_date", "discontinuation_date",
                                "death_date", "last_contact_date"),
                "response": ("assessment_date",)}


def _input_columns(inputs, columns) -> list[str]:
    """The screening columns a criterion reads (derived inputs expanded), in order, each once."""
    from ..eligibility.derive import DERIVED_INPUTS

    out: list[str] = []
    for name in inputs:
        cols = DERIVED_INPUTS[name].reads if name in DERIVED_INPUTS else (name,)
        out += [c for c in cols if c in columns and c not in out]
    return out


def _missing_inputs(scr: pd.DataFrame, subjects: pd.Series, inputs) -> list[str]:
    """Per subject (``scr`` indexed by subject_id), the criterion's input columns that are empty."""
    cols = _input_columns(inputs, scr.columns)
    if not cols:
        return [""] * len(subjects)
    empty = scr.loc[subjects.to_numpy(), cols].isna().to_numpy()
    return [", ".join(c for c, e in zip(cols, row) if e) for row in empty]


def unknown_inputs(study: Study, eligibility) -> pd.DataFrame:
    """Criteria that cannot be decided for a patient because an input is missing.

    Columns ``subject_id, criterion, label, missing inputs`` (the canonical screening columns that
    are empty, derived inputs expanded to the columns they read).
    """
    cols = ["subject_id", "criterion", "label", "missing inputs"]
    if eligibility is None:
        return pd.DataFrame(columns=cols)
    from ..eligibility import exclusion_list

    ex = exclusion_list(eligibility, include_unknown=True)
    ex = ex[ex["status"] == "unknown"]
    if not len(ex):
        return pd.DataFrame(columns=cols)
    inputs = {c.id: c.inputs for c in eligibility.criteria}
    scr = study.screening.set_index("subject_id")
    missing = pd.Series("", index=ex.index, dtype=object)
    for cid, rows in ex.groupby("criterion_id", sort=False):  # one lookup per criterion, not per patient
        missing[rows.index] = _missing_inputs(scr, rows["subject_id"], inputs.get(cid, ()))
    out = pd.DataFrame({"subject_id": ex["subject_id"].to_numpy(), "criterion": ex["criterion_id"].to_numpy(),
                        "label": ex["label"].to_numpy(), "missing inputs": missing.to_numpy()}, columns=cols)
    out["missing inputs"] = out["missing inputs"].where(out["missing inputs"] != "", "(derived input)")
    return out


def _disagreements(study: Study, eligibility) -> list[tuple]:
    from ..eligibility import screening_disagreements

    rows = []
    for rec in screening_disagreements(study, eligibility=eligibility).itertuples(index=False):
        why = rec.failed_criteria if isinstance(rec.failed_criteria, str) else ""
        unk = rec.unknown_criteria if isinstance(rec.unknown_criteria, str) else ""
        site_reason = rec.screen_failure_reason if isinstance(rec.screen_failure_reason, str) else ""
        detail = "; ".join(x for x in (why and f"rules: {why}", unk and f"undetermined: {unk}",
                                       site_reason and f"site reason: {site_reason}") if x)
        if bool(rec.randomized) and rec.disagreement == "site eligible, rules exclude":
            rows.append((rec.subject_id, MAJOR_FINDING, detail))
        else:
            rows.append((rec.subject_id, f"site verdict vs rules: {rec.disagreement}", detail))
    return rows


def _after_cut(study: Study, cut: pd.Timestamp) -> list[tuple]:
    rows = []
    for t, cols in DATE_COLUMNS.items():
        df = getattr(study, t)
        for c in cols:
            if c in df:
                bad = df[df[c] > cut]
                rows += [(sid, "date after data cut", f"{t}.{c} = {d.date()} > {cut.date()}")
                         for sid, d in zip(bad["subject_id"], bad[c])]
    return rows


def _before_start(study: Study) -> list[tuple]:
    """Screening before the study start, then before the patient's own site's activation."""
    scr = study.screening
    rows = []
    if study.protocol.start_date is not None:
        d0 = pd.Timestamp(study.protocol.start_date)
        bad = scr[scr["screening_date"] < d0]
        rows += [(sid, "screened before study start", f"screening_date = {d.date()} < {d0.date()}")
                 for sid, d in zip(bad["subject_id"], bad["screening_date"])]
    if "activation_date" in study.sites and study.sites["activation_date"].notna().any():
        act = study.sites.dropna(subset=["activation_date"]).drop_duplicates("site_id")
        start = scr["site_id"].map(act.set_index("site_id")["activation_date"])
        bad = scr[scr["screening_date"] < start]
        rows += [(sid, "screened before site activation", f"screening_date = {d.date()} < {a.date()}")
                 for sid, d, a in zip(bad["subject_id"], bad["screening_date"], start[bad.index])]
    return rows


def _treatment(study: Study) -> list[tuple]:
    """Treatment before randomization; end of induction outside the protocol's window."""
    if not (len(study.disposition) and len(study.randomization)):
        return []
    d = study.disposition.merge(study.randomization[["subject_id", "randomization_date"]], on="subject_id",
                                how="left")
    bad = d[d["treatment_start_date"] < d["randomization_date"]]
    rows = [(sid, "treatment before randomization", f"treatment_start_date = {a.date()} < {b.date()}")
            for sid, a, b in zip(bad["subject_id"], bad["treatment_start_date"], bad["randomization_date"])]
    window = study.protocol.windows.get("end_of_induction")
    if window is not None:
        day = (d["end_of_induction_date"] - d["treatment_start_date"]).dt.days + 1
        out = d[(day - window.day).abs() > window.tolerance_days]
        rows += [(sid, "end of induction out of window",
                  f"Day {int(x)} (protocol: Day {window.day} ± {window.tolerance_days})")
                 for sid, x in zip(out["subject_id"], day[out.index])]
    return rows


def findings(study: Study, *, eligibility=None, data_cut_date=None, validated: bool = False) -> pd.DataFrame:
    """Findings a data manager should resolve (``subject_id, severity, finding, detail``).

    A randomized patient whom the protocol's rules exclude is a *major* finding (``severity ==
    "major"``, finding "randomized, but the rules exclude"): listed first, highlighted in the site
    report, never in the same list as a missing input. Every other finding is "to resolve".

    * missing criterion inputs (the eligibility verdict cannot be reached without them);
    * disagreements between the site's screening verdict and the protocol's rules
      (:func:`trialkit.screening_disagreements`);
    * out-of-window dates: dates after the data cut, screening before the study start or the
      patient's site's activation, treatment start before randomization, end of induction outside
      the protocol's window (``windows: end_of_induction`` in the protocol file; a protocol without
      it gets no such check);
    * schema and cross-table problems (:func:`trialkit.schemas.study_problems`), unless
      ``validated`` (the study was validated as a whole before: there are none).

    Parameters
    ----------
    study : Study
        A whole study or one site's rows.
    eligibility : EligibilityResult, optional
        :func:`trialkit.evaluate_eligibility` of ``study`` (no eligibility findings without it).
    data_cut_date : Timestamp, optional
    validated : bool
    """
    rows: list[tuple] = [(sid, "missing criterion input", f"{cid}: {miss}")
                         for sid, cid, _label, miss in unknown_inputs(study, eligibility).itertuples(index=False)]
    if eligibility is not None:
        rows += _disagreements(study, eligibility)
    if data_cut_date is not None:
        rows += _after_cut(study, pd.Timestamp(data_cut_date))
    rows += _before_start(study)
    rows += _treatment(study)
    if not validated:
        from ..schemas import study_problems

        rows += [("", f"{rec.table}: {rec.problem}", f"column {rec.column}, value {rec.value}")
                 for rec in study_problems(study).itertuples(index=False)]
    out = pd.DataFrame(rows, columns=["subject_id", "finding", "detail"])
    major = out["finding"].eq(MAJOR_FINDING)
    out.insert(1, "severity", major.map({True: "major", False: "to resolve"}))
    # the major findings first, then the others in the order of the checks above
    return out.iloc[np.argsort(~major.to_numpy(), kind="stable")].reset_index(drop=True)
