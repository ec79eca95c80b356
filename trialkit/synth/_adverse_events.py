"""Adverse events of the treated patients: each arm's toxicity profile, VOD/SOS, deaths and withdrawals.

Every treated subject may have each listed event (one Bernoulli draw per subject and MedDRA preferred
term, with the arm's incidence), a few recur (a second record of the same term), and each event gets
a start day inside the subject's adverse-event window (first dose to 30 days after the end of
induction or the discontinuation, never after the last contact, death or data cut), a CTCAE grade
from the term's grade profile, seriousness by grade, relatedness and an outcome. On top of that:

* **Hepatic VOD/SOS** (the InO boxed warning): during or shortly after treatment (days 5–56 after the
  first dose) with the arm's rate, and after a later haematopoietic stem-cell transplant (HSCT) with
  a higher rate: part of the patients in CR/CRi proceed to HSCT 20–60 days after the end of
  induction (the HSCT itself is not a canonical table; it only times these events), and VOD follows
  it after a median of 15 days (range 3–57 days, as the InO label reports).
* **Deaths**: a patient who died during induction gets one fatal event (grade 5, outcome fatal) on
  the day of death; a VOD/SOS followed by the patient's death within 100 days is fatal.
* **Discontinuation for an adverse event** (disposition reason "adverse event"): the patient's worst
  event started by that day gets action "drug withdrawn" (one is created when there is none).
* **Pre-treatment events**: a few patients have an event between randomization and the first dose;
  it is not treatment-emergent.

``treatment_emergent`` is filled (start on or after the first dose); ``aesi_category`` is left empty
so the analyses take it from the protocol's ``aesi:`` lists, as for a real export without it. The
rates, their sources and what is assumed are in ``docs/synthetic-data.md``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = ["AESpec", "AEModel", "AE_MODELS", "simulate_adverse_events"]

#: CTCAE grade profiles (probabilities of grades 1-4; grade 5 only comes from a patient's death)
GRADES = {
    "heme": (0.05, 0.10, 0.35, 0.50),
    "fn": (0.0, 0.0, 0.85, 0.15),
    "infection": (0.05, 0.40, 0.45, 0.10),
    "lab": (0.45, 0.30, 0.20, 0.05),
    "gi": (0.55, 0.30, 0.13, 0.02),
    "mild": (0.70, 0.25, 0.05, 0.0),
    "vod": (0.0, 0.15, 0.45, 0.40),
    "reaction": (0.40, 0.45, 0.13, 0.02),
}
#: P(serious | grade 1..4); febrile neutropenia, infections and VOD/SOS of grade >= 3 are serious;
#: cytopenias and laboratory abnormalities (expected with chemotherapy) rarely are (P_SERIOUS_EXPECTED)
P_SERIOUS = (0.02, 0.05, 0.40, 0.80)
P_SERIOUS_EXPECTED = 0.03
_EXPECTED = ("Thrombocytopenia", "Neutropenia", "Anaemia", "Leukopenia", "Transaminases increased",
             "Gamma-glutamyltransferase increased", "Hyperglycaemia")
P_RECUR = 0.15  # a second record of the same term, later in the window
P_PRE_TREATMENT = 0.06  # patients with an event between randomization and the first dose
WINDOW_AFTER_TREATMENT = 30  # days after the end of induction / discontinuation that events are collected


@dataclass(frozen=True)
class AESpec:
    """One preferred term: its SOC, incidence per arm ``(reference, experimental)``, grade profile and
    probability of being judged related to study treatment."""

    term: str
    soc: str
    incidence: tuple[float, float]
    grades: str
    p_related: float = 0.6


@dataclass(frozen=True)
class AEModel:
    """A protocol's adverse-event model (rates per arm as ``(reference, experimental)``)."""

    specs: tuple[AESpec, ...]
    vod_on_treatment: tuple[float, float]
    p_hsct_after_cr: float
    vod_after_hsct: tuple[float, float]
    #: fatal event of a death in induction: (term, SOC) and probability per arm
    fatal_terms: tuple[tuple[str, str, tuple[float, float]], ...]


_BLOOD = "Blood and lymphatic system disorders"
_INF = "Infections and infestations"
_HEP = "Hepatobiliary disorders"
_INV = "Investigations"
_GI = "Gastrointestinal disorders"
_GEN = "General disorders and administration site conditions"
_NERV = "Nervous system disorders"
_INJ = "Injury, poisoning and procedural complications"
_MET = "Metabolism and nutrition disorders"
_RESP = "Respiratory, thoracic and mediastinal disorders"
_IMM = "Immune system disorders"
_VOD = ("Venoocclusive liver disease", _HEP)

# B1931036: ALLR3 (reference) vs InO. InO incidences follow the adult INO-VATE label table (any grade,
# rounded); ALLR3 incidences are assumptions for a four-drug intensive induction (see docs/synthetic-data.md).
_B1931036 = AEModel(
    specs=(
        AESpec("Thrombocytopenia", _BLOOD, (0.70, 0.51), "heme", 0.9),
        AESpec("Neutropenia", _BLOOD, (0.70, 0.49), "heme", 0.9),
        AESpec("Anaemia", _BLOOD, (0.60, 0.36), "heme", 0.8),
        AESpec("Leukopenia", _BLOOD, (0.35, 0.35), "heme", 0.9),
        AESpec("Febrile neutropenia", _BLOOD, (0.55, 0.26), "fn", 0.8),
        AESpec("Sepsis", _INF, (0.15, 0.08), "infection", 0.5),
        AESpec("Pneumonia", _INF, (0.12, 0.08), "infection", 0.5),
        AESpec("Device related infection", _INF, (0.15, 0.10), "infection", 0.4),
        AESpec("Upper respiratory tract infection", _INF, (0.15, 0.12), "infection", 0.3),
        AESpec("Fungal infection", _INF, (0.08, 0.03), "infection", 0.5),
        AESpec("Stomatitis", _GI, (0.35, 0.13), "gi", 0.9),
        AESpec("Nausea", _GI, (0.35, 0.31), "gi", 0.7),
        AESpec("Vomiting", _GI, (0.35, 0.15), "gi", 0.7),
        AESpec("Abdominal pain", _GI, (0.20, 0.23), "gi", 0.5),
        AESpec("Constipation", _GI, (0.30, 0.17), "mild", 0.6),
        AESpec("Diarrhoea", _GI, (0.20, 0.17), "gi", 0.5),
        AESpec("Transaminases increased", _INV, (0.40, 0.26), "lab", 0.8),
        AESpec("Gamma-glutamyltransferase increased", _INV, (0.20, 0.21), "lab", 0.8),
        AESpec("Hyperbilirubinaemia", _HEP, (0.10, 0.21), "lab", 0.8),
        AESpec("Pyrexia", _GEN, (0.35, 0.32), "mild", 0.4),
        AESpec("Fatigue", _GEN, (0.25, 0.20), "mild", 0.6),
        AESpec("Headache", _NERV, (0.20, 0.28), "mild", 0.5),
        AESpec("Peripheral sensory neuropathy", _NERV, (0.20, 0.02), "mild", 0.9),
        AESpec("Epistaxis", _RESP, (0.15, 0.20), "mild", 0.5),
        AESpec("Infusion related reaction", _INJ, (0.02, 0.10), "reaction", 0.95),
        AESpec("Hypersensitivity", _IMM, (0.10, 0.02), "reaction", 0.9),
        AESpec("Hyperglycaemia", _MET, (0.20, 0.05), "lab", 0.7),
        AESpec("Decreased appetite", _MET, (0.15, 0.12), "mild", 0.5),
    ),
    vod_on_treatment=(0.01, 0.03),
    p_hsct_after_cr=0.5,
    vod_after_hsct=(0.08, 0.19),
    fatal_terms=(("Sepsis", _INF, (0.6, 0.55)), ("Intracranial haemorrhage", _NERV, (0.15, 0.15)),
                 ("Multiple organ dysfunction syndrome", _GEN, (0.25, 0.15)), (*_VOD, (0.0, 0.15))),
)

# AALL1732: risk-adapted chemotherapy (reference) vs chemotherapy + InO. Both arms carry the same chemotherapy
# profile (assumptions); InO adds to the hepatic and haematological events and VOD/SOS.
_AALL1732 = AEModel(
    specs=(
        AESpec("Thrombocytopenia", _BLOOD, (0.55, 0.65), "heme", 0.9),
        AESpec("Neutropenia", _BLOOD, (0.60, 0.70), "heme", 0.9),
        AESpec("Anaemia", _BLOOD, (0.55, 0.60), "heme", 0.8),
        AESpec("Febrile neutropenia", _BLOOD, (0.35, 0.42), "fn", 0.8),
        AESpec("Sepsis", _INF, (0.08, 0.10), "infection", 0.5),
        AESpec("Device related infection", _INF, (0.12, 0.14), "infection", 0.4),
        AESpec("Upper respiratory tract infection", _INF, (0.15, 0.15), "infection", 0.3),
        AESpec("Stomatitis", _GI, (0.30, 0.32), "gi", 0.9),
        AESpec("Nausea", _GI, (0.30, 0.32), "gi", 0.7),
        AESpec("Vomiting", _GI, (0.25, 0.27), "gi", 0.7),
        AESpec("Constipation", _GI, (0.30, 0.30), "mild", 0.6),
        AESpec("Pancreatitis", _GI, (0.04, 0.04), "gi", 0.9),
        AESpec("Transaminases increased", _INV, (0.45, 0.55), "lab", 0.8),
        AESpec("Hyperbilirubinaemia", _HEP, (0.08, 0.14), "lab", 0.8),
        AESpec("Pyrexia", _GEN, (0.25, 0.28), "mild", 0.4),
        AESpec("Peripheral sensory neuropathy", _NERV, (0.20, 0.20), "mild", 0.9),
        AESpec("Infusion related reaction", _INJ, (0.01, 0.08), "reaction", 0.95),
        AESpec("Hypersensitivity", _IMM, (0.08, 0.08), "reaction", 0.9),
        AESpec("Hyperglycaemia", _MET, (0.20, 0.20), "lab", 0.7),
    ),
    vod_on_treatment=(0.005, 0.02),
    p_hsct_after_cr=0.03,
    vod_after_hsct=(0.08, 0.19),
    fatal_terms=(("Sepsis", _INF, (0.6, 0.55)), ("Intracranial haemorrhage", _NERV, (0.2, 0.15)),
                 ("Multiple organ dysfunction syndrome", _GEN, (0.2, 0.2)), (*_VOD, (0.0, 0.1))),
)

#: Adverse-event models of the shipped protocols
AE_MODELS = {"b1931036": _B1931036, "aall1732": _AALL1732}

_OUTCOME_BY_GRADE = ("recovered/resolved", "recovered/resolved", "recovering/resolving", "recovering/resolving")


def _draw_grades(profile: str, n: int, rng: np.random.Generator) -> np.ndarray:
    p = np.asarray(GRADES[profile], dtype=float)
    return rng.choice(np.arange(1, 5), size=n, p=p / p.sum())


def _windows(c: dict) -> tuple[np.ndarray, np.ndarray]:
    """(first, last) day of each subject's adverse-event window, NaN for the untreated."""
    # a subject whose last contact precedes the first dose (the course model allows it for an MPAL patient taken
    # off protocol before treatment began) has no window
    first = np.where(c["start"] <= c["last"], c["start"], np.nan)
    stop = np.where(np.isnan(c["eoi"]), c["disc_day"], c["eoi"]) + WINDOW_AFTER_TREATMENT
    stop = np.fmin(stop, c["last"])
    return first, np.where(np.isnan(first), np.nan, np.fmax(stop, first))


def _repeat(text: str, n: int) -> np.ndarray:
    """``np.full(n, text, dtype=object)``, at an eighth of its cost."""
    return np.repeat(np.array([text], dtype=object), n)


def _records(subject: np.ndarray, day: np.ndarray, term: str, soc: str, grade: np.ndarray, related: np.ndarray,
             **extra) -> dict:
    n = len(subject)
    return {"i": subject, "day": day, "term": _repeat(term, n), "soc": _repeat(soc, n),
            "grade": grade, "related": related, **{k: np.broadcast_to(v, n) for k, v in extra.items()}}


def _spec_events(model: AEModel, arm: np.ndarray, first, last, rng) -> list[dict]:
    """One draw per subject and term (and a recurrence for some), every term drawn for every subject."""
    n = len(arm)
    treated = ~np.isnan(first)
    span = np.nan_to_num(last - first)
    out = []
    for spec in model.specs:
        u, t, t2, r, rec = (rng.random(n) for _ in range(5))
        has = treated & (u < np.asarray(spec.incidence)[arm])
        idx = np.flatnonzero(has)
        day = np.floor(first[idx] + t[idx] * span[idx])
        g = _draw_grades(spec.grades, len(idx), rng)
        out.append(_records(idx, day, spec.term, spec.soc, g, r[idx] < spec.p_related))
        again = idx[(rec[idx] < P_RECUR) & (day < last[idx])]
        day2 = np.floor(first[again] + np.maximum(t[again], t2[again]) * span[again]) + 1
        keep = day2 <= last[again]
        g2 = _draw_grades(spec.grades, int(keep.sum()), rng)
        out.append(_records(again[keep], day2[keep], spec.term, spec.soc, g2, r[again][keep] < spec.p_related))
    return out


def _vod_events(model: AEModel, arm, c: dict, first, rng) -> dict:
    """VOD/SOS during or after treatment, and after a later HSCT (one per subject at most)."""
    n = len(arm)
    treated = ~np.isnan(first)
    u1, d1, u_hsct, d_hsct, u2, d2 = (rng.random(n) for _ in range(6))
    early = treated & (u1 < np.asarray(model.vod_on_treatment)[arm])
    early_day = np.floor(first + 5 + d1 * 51)  # days 5-56 after the first dose
    cr = np.isin(c["response"], ["CR", "CRi"]) & ~np.isnan(c["eoi"])
    hsct_day = np.where(cr & (u_hsct < model.p_hsct_after_cr), np.floor(c["eoi"] + 20 + d_hsct * 40), np.nan)
    relapse_before = c["efs_event"] & (c["efs_day"] <= np.nan_to_num(hsct_day, nan=np.inf))
    hsct_day = np.where(relapse_before, np.nan, hsct_day)
    onset = np.clip(np.round(np.exp(np.log(15) + 0.6 * rng.standard_normal(n))), 3, 57)  # median 15 days, 3-57
    late = ~np.isnan(hsct_day) & (u2 < np.asarray(model.vod_after_hsct)[arm]) & ~early
    late_day = hsct_day + onset
    day = np.where(early, early_day, np.where(late, late_day, np.nan))
    ok = ~np.isnan(day) & (day <= c["last"])
    idx = np.flatnonzero(ok)
    grade = _draw_grades("vod", len(idx), rng)
    death = c["death_day"][idx]
    fatal = ~np.isnan(death) & (death >= day[idx]) & (death - day[idx] <= 100)
    grade = np.where(fatal, 5, grade)
    rec = _records(idx, day[idx], *_VOD, grade, d2[idx] < 0.9)
    rec["end"] = np.where(fatal, death, np.nan)
    return rec


def _fatal_events(model: AEModel, arm, c: dict, rng, has_fatal_vod: np.ndarray) -> dict:
    """A grade-5 event on the day of death of every patient who died during induction."""
    died = (c["reason"] == "death") & ~np.isnan(c["death_day"]) & ~has_fatal_vod
    idx = np.flatnonzero(died)
    probs = np.array([[p[a] for (_, _, p) in model.fatal_terms] for a in (0, 1)], dtype=float)
    cum = np.cumsum(probs / probs.sum(axis=1, keepdims=True), axis=1)
    u = rng.random(len(idx))
    pick = np.minimum((u[:, None] > cum[arm[idx]]).sum(axis=1), len(model.fatal_terms) - 1)
    day = c["death_day"][idx]
    onset = np.maximum(day - rng.integers(0, 6, len(idx)), np.nan_to_num(c["start"][idx]))
    terms = np.array([t for (t, _, _) in model.fatal_terms], dtype=object)[pick]
    socs = np.array([s for (_, s, _) in model.fatal_terms], dtype=object)[pick]
    return {"i": idx, "day": onset, "term": terms, "soc": socs, "grade": np.full(len(idx), 5),
            "related": rng.random(len(idx)) < 0.5, "end": day}


def _pre_treatment(c: dict, first, rng) -> dict:
    n = len(first)
    has = ~np.isnan(first) & (first >= 1) & (rng.random(n) < P_PRE_TREATMENT)
    idx = np.flatnonzero(has)
    day = np.floor(rng.random(len(idx)) * first[idx])  # from randomization (day 0) to the day before the first dose
    terms = np.where(rng.random(len(idx)) < 0.5, "Pyrexia", "Nausea").astype(object)
    socs = np.where(terms == "Pyrexia", _GEN, _GI).astype(object)
    return {"i": idx, "day": day, "term": terms, "soc": socs, "grade": np.ones(len(idx), dtype=int),
            "related": np.zeros(len(idx), dtype=bool)}


_COLUMNS = ("i", "day", "term", "soc", "grade", "related", "end")


def _assemble(parts: list[dict]) -> dict[str, np.ndarray]:
    """The events of every part, one array per column (``end`` NaN where a part gives none)."""
    ev = {k: np.concatenate([np.asarray(p[k]) for p in parts]) for k in _COLUMNS[:-1]}
    ev["end"] = np.concatenate([np.asarray(p.get("end", np.full(len(p["i"]), np.nan)), dtype=float)
                                for p in parts])
    return ev


def _withdrawals(ev: dict, c: dict, first_day: np.ndarray, rng) -> dict:
    """Action 'drug withdrawn' on the worst treatment-emergent event started by the day of each
    discontinuation for an adverse event."""
    g = ev["grade"]
    action = np.where((g >= 3) & (rng.random(len(g)) < 0.2), "drug interrupted", "dose not changed").astype(object)
    i = ev["i"]
    disc = (c["reason"] == "adverse event")
    day = ev["day"]
    cand = disc[i] & (day <= c["disc_day"][i]) & (day >= first_day[i]) & (g < 5)
    order = np.lexsort((day, -g, i))
    order = order[cand[order]]
    first = order[np.r_[True, i[order][1:] != i[order][:-1]]] if len(order) else order
    action[first] = "drug withdrawn"
    ev = {**ev, "action": action}
    missing = np.setdiff1d(np.flatnonzero(disc), i[first])
    if len(missing):
        k = len(missing)
        added = {"i": missing, "day": c["disc_day"][missing], "term": np.full(k, "Transaminases increased", dtype=object),
                 "soc": np.full(k, _INV, dtype=object), "grade": np.full(k, 3, dtype=np.int64),
                 "related": np.ones(k, dtype=bool), "end": np.full(k, np.nan),
                 "action": np.full(k, "drug withdrawn", dtype=object)}
        ev = {name: np.concatenate([ev[name], added[name]]) for name in ev}
    return ev


_ALWAYS_SERIOUS = frozenset(["Febrile neutropenia", "Sepsis", "Pneumonia", _VOD[0]])
_EXPECTED_SET = frozenset(_EXPECTED)


def _sorted_codes(values: np.ndarray) -> tuple[np.ndarray, list]:
    """Each value's number in the sorted list of the distinct values (equal values, equal numbers), and that list."""
    codes, distinct = pd.factorize(values, sort=True)
    return codes.astype(np.int64, copy=False), list(distinct)


def _serious_and_outcome(ev: dict, c: dict, rng, term_code: np.ndarray, terms: list) -> dict:
    """Seriousness, end and outcome of every event (``term_code`` numbers the event's term in ``terms``)."""
    g = ev["grade"]
    p = np.where(g >= 5, 1.0, np.asarray(P_SERIOUS)[np.clip(g, 1, 4) - 1])
    expected = np.array([t in _EXPECTED_SET for t in terms], dtype=bool)[term_code]
    p = np.where(expected & (g < 5), P_SERIOUS_EXPECTED, p)
    always = np.array([t in _ALWAYS_SERIOUS for t in terms], dtype=bool)[term_code] & (g >= 3)
    serious = always | (rng.random(len(g)) < p)
    fatal = g == 5
    last = c["last"][ev["i"]]
    duration = np.ceil(rng.exponential(np.where(g >= 3, 12.0, 6.0)))
    end = np.where(fatal, ev["end"], ev["day"] + duration)
    ongoing = ~fatal & (end > last)
    outcome = np.where(fatal, "fatal", np.asarray(_OUTCOME_BY_GRADE, dtype=object)[np.clip(g, 1, 4) - 1])
    outcome = np.where(ongoing, "not recovered/not resolved", np.where(~fatal & ~ongoing, "recovered/resolved",
                                                                        outcome))
    return {**ev, "serious": serious, "end": np.where(ongoing, np.nan, end), "outcome": outcome,
            "action": np.where(fatal, "not applicable", ev["action"])}


def simulate_adverse_events(sid: np.ndarray, rand_day: np.ndarray, c: dict, *, experimental: np.ndarray,
                            model: AEModel, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Adverse events of the randomized subjects (see the module docstring).

    Parameters
    ----------
    sid, rand_day : arrays
        Subject ids and randomization days (days since 1970-01-01), one per randomized subject.
    c : dict
        The course of :func:`trialkit.synth._course.simulate_course` (days from randomization).
    experimental : array of bool
    model : AEModel
    rng : numpy.random.Generator

    Returns
    -------
    dict of numpy arrays
        The columns of the ``adverse_events`` table (dates as days since 1970-01-01), sorted by subject
        and start; ``ae_seq`` numbers each subject's events from 1.
    """
    arm = experimental.astype(int)
    first, last = _windows(c)
    parts = _spec_events(model, arm, first, last, rng)
    vod = _vod_events(model, arm, c, first, rng)
    fatal_vod = np.zeros(len(sid), dtype=bool)
    fatal_vod[vod["i"][vod["grade"] == 5]] = True
    parts += [vod, _fatal_events(model, arm, c, rng, fatal_vod), _pre_treatment(c, first, rng)]
    ev = _withdrawals(_assemble(parts), c, first, rng)
    term_code, terms = _sorted_codes(ev["term"])
    ev = _serious_and_outcome(ev, c, rng, term_code, terms)
    # by subject, start and term (each numbered in its sorted order); ties keep their order (a stable sort, as
    # sort_values(kind="stable") did)
    sid_code = _sorted_codes(sid)[0]
    order = np.lexsort((term_code, ev["day"], sid_code[ev["i"]]))
    ev = {k: v[order] for k, v in ev.items()}
    i = ev["i"]
    subject = sid[i]
    base = rand_day[i]
    new_subject = np.r_[True, sid_code[i][1:] != sid_code[i][:-1]] if len(i) else np.zeros(0, dtype=bool)
    run_start = np.maximum.accumulate(np.where(new_subject, np.arange(len(i)), 0))
    return {  # (np.asarray: these arrays are fresh, so no copy)
        "subject_id": np.asarray(subject, dtype=object),
        "ae_seq": np.arange(len(i)) - run_start + 1,
        "term": np.array([t.upper() for t in terms], dtype=object)[term_code[order]],
        "preferred_term": np.asarray(ev["term"], dtype=object),
        "soc": np.asarray(ev["soc"], dtype=object),
        "start_date": base + ev["day"].astype(float),
        "end_date": base + ev["end"].astype(float),
        "grade": ev["grade"].astype(float),
        "serious": ev["serious"].astype(bool),
        "related": ev["related"].astype(bool),
        "causality": np.where(ev["related"], "RELATED", "NOT RELATED").astype(object),
        "action_taken": np.asarray(ev["action"], dtype=object),
        "outcome": np.asarray(ev["outcome"], dtype=object),
        "treatment_emergent": ev["day"].astype(float) >= c["start"][i],
    }
