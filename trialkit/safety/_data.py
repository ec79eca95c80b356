"""The subjects and adverse events of one safety analysis.

Every safety entry point calls :func:`safety_data`. Subjects, population, groups and subgroups come
from :func:`trialkit.analysis_set.analysis_set` (the one input layer); this module adds the adverse
events of those subjects and fills the two columns a source may leave empty, each by a documented
rule and with a note counting what it did:

* **treatment-emergent** (where ``treatment_emergent`` is empty): the event started on or after the
  subject's first dose (``disposition.treatment_start_date``). An event without a start date, or a
  subject without a first-dose date, counts as treatment-emergent (the conservative convention: an
  event is not excluded because a date is missing).
* **AESI category** (where ``aesi_category`` is empty): the protocol's ``aesi:`` section, category →
  MedDRA preferred terms (``terms:``) and/or system organ classes (``socs:``), matched without regard
  to case; a term listed under two categories takes the first.

Events of subjects outside the analysis population (e.g. never treated) are left out and counted in
the notes; an event whose term is not yet MedDRA-coded is kept under its reported term in the system
organ class ``(not yet coded)``.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..analysis_set import analysis_set, is_study
from ..errors import TrialkitError

__all__ = ["SafetyData", "safety_data", "aesi_categories", "UNCODED_SOC"]

UNCODED_SOC = "(not yet coded)"
_SUBJECT_COLUMNS = ("treatment_start_date", "death_date", "last_contact_date")


@dataclass(frozen=True)
class SafetyData:
    """The subjects and events of one safety analysis.

    Attributes
    ----------
    subjects : DataFrame
        One row per subject of the population: ``subject_id``, ``group`` (ordered categorical),
        ``treatment_start_date``, ``death_date``, ``last_contact_date`` (when the study records them).
    events : DataFrame
        The adverse events of those subjects (the canonical columns, ``treatment_emergent`` and
        ``aesi_category`` filled, ``soc``/``preferred_term`` filled for uncoded terms) with ``group``,
        ``fatal`` (outcome fatal or grade 5) and ``subject_pos`` (the row of ``subjects``).
    groups : tuple of str
    reference : str or None
    population : str
    n : dict
        Subjects per group (the denominators).
    notes : tuple of str
    """

    subjects: pd.DataFrame
    events: pd.DataFrame
    by: str | None
    groups: tuple[str, ...]
    reference: str | None
    population: str
    n: dict[str, int]
    notes: tuple[str, ...] = field(default_factory=tuple)


def aesi_categories(protocol) -> dict[str, dict]:
    """The protocol's adverse events of special interest: ``{category: {"label", "terms", "socs"}}``.

    Read from the ``aesi:`` section of the protocol file; each category lists MedDRA preferred terms
    (``terms:``) and/or system organ classes (``socs:``).
    """
    raw = (getattr(protocol, "raw", None) or {}).get("aesi") or {}
    if not isinstance(raw, Mapping):
        raise TrialkitError("the protocol's `aesi:` must map each category to its `terms:` (MedDRA preferred terms) "
                            "and/or `socs:`")
    out = {}
    for name, spec in raw.items():
        spec = spec if isinstance(spec, Mapping) else {"terms": spec}
        terms, socs = tuple(spec.get("terms") or ()), tuple(spec.get("socs") or ())
        if not terms and not socs:
            raise TrialkitError(f"aesi category {name!r} in protocol {protocol.id!r} lists no `terms:` or `socs:`")
        out[str(name)] = {"label": str(spec.get("label", name)), "terms": terms, "socs": socs}
    return out


def _category_from_protocol(events: pd.DataFrame, protocol) -> tuple[pd.Series, int]:
    cats = aesi_categories(protocol) if protocol is not None else {}
    current = events["aesi_category"]
    todo = current.isna().to_numpy()
    if not cats or not todo.any():
        return current, 0
    # match on the distinct terms and classes only (a million records have a few hundred)
    pt_code, pt_names = pd.factorize(events["preferred_term"])
    soc_code, soc_names = pd.factorize(events["soc"])
    pt_fold = np.array([str(t).casefold() for t in pt_names], dtype=object)
    soc_fold = np.array([str(t).casefold() for t in soc_names], dtype=object)
    found = np.full(len(events), None, dtype=object)
    for name, spec in reversed(list(cats.items())):  # the first category listing a term wins
        pt_hit = np.isin(pt_fold, [t.casefold() for t in spec["terms"]])
        soc_hit = np.isin(soc_fold, [t.casefold() for t in spec["socs"]])
        hit = (pt_code >= 0) & pt_hit[np.maximum(pt_code, 0)] | (soc_code >= 0) & soc_hit[np.maximum(soc_code, 0)]
        found[hit] = name
    filled = todo & pd.notna(found)
    if not filled.any():
        return current, 0
    out = current.astype(object).to_numpy(copy=True)
    out[filled] = found[filled]
    return pd.Series(out, index=events.index, dtype=current.dtype), int(filled.sum())


def _treatment_emergent(events: pd.DataFrame, first_dose: pd.Series) -> tuple[pd.Series, list[str]]:
    te = events["treatment_emergent"].astype("boolean")
    todo = te.isna().to_numpy()
    if not todo.any():
        return te, []
    start = events["start_date"].to_numpy()
    dose = first_dose.to_numpy()
    derived = np.where(np.isnat(start) | np.isnat(dose), True, start >= dose)
    notes = [f"treatment_emergent derived for {int(todo.sum())} event(s): started on or after the first dose"]
    unknown = todo & (np.isnat(start) | np.isnat(dose))
    if unknown.any():
        notes.append(f"{int(unknown.sum())} event(s) without a start date or first-dose date counted as "
                     "treatment-emergent")
    return te.mask(todo, pd.array(derived, dtype="boolean")), notes


#: the event columns the derivations read (always kept by ``event_columns``)
_NEEDED = ("subject_id", "term", "preferred_term", "soc", "start_date", "grade", "outcome", "treatment_emergent",
           "aesi_category")


def safety_data(data, *, by: str | None = "arm", population: str | None = "safety", subgroup=None,
                reference: str | None = None, treatment_emergent: bool = True,
                require_reference: bool = False, event_columns=None) -> SafetyData:
    """The subjects of ``population`` and their adverse events (see the module docstring).

    Parameters
    ----------
    data : Study
        With an ``adverse_events`` table (a CDISC ADAE is mapped onto it with
        :func:`trialkit.io.adae.map_adverse_events`).
    by, population, subgroup, reference
        As for :func:`trialkit.analysis_set`; ``population="safety"`` is ``disposition.safety`` (ADaM
        SAFFL) where recorded, else the treated subjects.
    treatment_emergent : bool, default True
        Keep treatment-emergent events only (False: every event of the population's subjects).
    event_columns : sequence of str, optional
        Keep only these event columns (besides those the derivations read): a large table is then not
        copied whole when it is filtered. The AESI category is filled only when ``aesi_category`` is
        among them.
    """
    if not is_study(data):
        raise TrialkitError(f"safety analyses take a Study, not a {type(data).__name__}; map ADaM ADAE or SDTM AE "
                            "with trialkit.io.adae.map_adverse_events and add it with "
                            "study.replace(adverse_events=mapping.frame)")
    ae = getattr(data, "adverse_events", None)
    if ae is None or not len(ae):
        raise TrialkitError("this study has no adverse events (its adverse_events table is empty): load "
                            "adverse_events.csv with the study, or map ADaM ADAE / SDTM AE onto it")
    if event_columns is not None:
        ae = ae[[c for c in ae.columns if c in set(event_columns) | set(_NEEDED)]]
    columns = [c for c in _SUBJECT_COLUMNS if c in data.disposition.columns]
    aset = analysis_set(data, by=by, population=population, subgroup=subgroup, reference=reference,
                        columns=columns, require_reference=require_reference)
    subjects = aset.frame.reset_index(drop=True)
    notes = list(aset.notes)
    pos = pd.Index(subjects["subject_id"].astype(object)).get_indexer(ae["subject_id"].astype(object))
    outside = pos < 0
    if outside.any():
        notes.append(f"{int(outside.sum())} adverse event(s) of {ae.loc[outside, 'subject_id'].nunique()} subject(s) "
                     f"outside the analysis population ({aset.population}) left out")
        ev = ae[~outside].reset_index(drop=True)
        pos = pos[~outside]
    else:
        ev = ae.reset_index(drop=True)
    first_dose = (pd.Series(subjects["treatment_start_date"].to_numpy()[pos]) if "treatment_start_date" in subjects
                  else pd.Series(pd.NaT, index=ev.index, dtype="datetime64[ns]"))
    te, te_notes = _treatment_emergent(ev, first_dose)
    notes += te_notes
    wants_category = event_columns is None or "aesi_category" in event_columns
    category, n_cat = _category_from_protocol(ev, aset.protocol) if wants_category else (ev["aesi_category"], 0)
    if n_cat:
        notes.append(f"aesi_category from the protocol's `aesi:` for {n_cat} event(s)")
    changes = {}
    uncoded = ev["preferred_term"].isna()
    if uncoded.any():
        notes.append(f"{int(uncoded.sum())} event(s) not yet MedDRA-coded, shown under their reported term in "
                     f"'{UNCODED_SOC}'")
        changes["preferred_term"] = ev["preferred_term"].fillna(ev["term"]).fillna("(no term)")
        changes["soc"] = ev["soc"].mask(uncoded, UNCODED_SOC)
    if ev["soc"].isna().any():
        changes["soc"] = changes.get("soc", ev["soc"]).fillna(UNCODED_SOC)
    fatal = ev["outcome"].eq("fatal").fillna(False).to_numpy(dtype=bool) | ev["grade"].eq(5).fillna(False).to_numpy(
        dtype=bool)
    rows = np.arange(len(ev))
    if treatment_emergent:
        keep = te.fillna(True).to_numpy(dtype=bool)
        if (~keep).any():
            notes.append(f"{int((~keep).sum())} event(s) that are not treatment-emergent left out")
        rows = rows[keep]
    # the derived columns replace theirs in place, the new ones follow; the events kept are taken once per column
    # (the frame ev.assign(...)[keep].reset_index(drop=True) gave, without its two intermediate copies)
    columns = {c: ev[c].array for c in ev.columns}
    columns.update({"treatment_emergent": te.array, "aesi_category": category.array,
                    **{c: v.array for c, v in changes.items()}})
    columns = {c: v.take(rows) for c, v in columns.items()}
    pos = pos[rows]
    columns.update(fatal=fatal[rows], subject_pos=pos,
                   group=pd.Categorical.from_codes(subjects["group"].cat.codes.to_numpy()[pos],
                                                   dtype=subjects["group"].dtype))
    ev = pd.DataFrame(columns)
    ev.attrs = copy.deepcopy(ae.attrs)
    return SafetyData(subjects=subjects, events=ev, by=by, groups=aset.groups, reference=aset.reference,
                      population=aset.population, n=aset.n, notes=tuple(notes))
