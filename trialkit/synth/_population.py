"""Patient characteristics of the screened population, one generator per protocol.

Every function returns the *true* values of every screening input the protocol's criteria read,
complete (no missing value), as a dict of numpy arrays (dates as ``datetime64[D]``). Missing
values are injected later (:mod:`trialkit.synth._missing`), after the site's verdict, as in a real
export. Frequencies are plausible, rounded figures for the screened population (which includes
patients a site screens but who turn out ineligible); they are listed in docs/synthetic-data.md.
"""

from __future__ import annotations

import numpy as np

DAY = np.timedelta64(1, "D")
YEAR_DAYS = 365.25
MONTH_DAYS = YEAR_DAYS / 12


def _days(x) -> np.ndarray:
    return np.round(np.asarray(x, dtype=float)).astype(np.int64) * DAY


def _bern(rng: np.random.Generator, p, n: int) -> np.ndarray:
    return rng.random(n) < p


_AGE_PTS = np.array([0.5, 1, 2, 4, 6, 8, 10, 12, 14, 16, 18, 30])
_HEIGHT_F = np.array([67, 75, 86, 102, 115, 127, 138, 151, 160, 163, 163, 163.0])
_HEIGHT_M = np.array([68, 76, 87, 103, 116, 128, 138, 149, 164, 173, 176, 177.0])


def _height_weight(age: np.ndarray, male: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Height (cm) and weight (kg) by age and sex around approximate WHO/CDC growth medians."""
    h = np.where(male, np.interp(age, _AGE_PTS, _HEIGHT_M), np.interp(age, _AGE_PTS, _HEIGHT_F))
    h = h * rng.normal(1.0, 0.045, size=len(age))
    bmi = np.interp(age, [0.5, 2, 6, 12, 18, 30], [17, 16.5, 15.5, 18, 21, 23.5])
    w = bmi * rng.lognormal(0.0, 0.13, size=len(age)) * (h / 100) ** 2
    return np.round(np.clip(h, 45, 215), 1), np.round(np.clip(w, 5, 200), 1)


def _birth_and_age(screen: np.ndarray, age: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    birth = screen - _days(age * YEAR_DAYS)
    exact = (screen - birth) / DAY / YEAR_DAYS
    return birth, np.floor(exact * 100) / 100


def _renal(height: np.ndarray, rng: np.random.Generator, p_impaired: float) -> np.ndarray:
    """Serum creatinine (mg/dL) from a target bedside-Schwartz eGFR (0.413 × height / creatinine)."""
    n = len(height)
    gfr = rng.lognormal(np.log(125), 0.2, size=n)
    bad = _bern(rng, p_impaired, n)
    gfr[bad] = rng.uniform(12, 45, size=int(bad.sum()))
    return np.round(np.clip(0.413 * height / gfr, 0.1, 12), 2)


def _liver(n: int, ast_uln, alt_uln, bili_uln, rng: np.random.Generator, *, p_high_transaminase: float,
           p_high_bili: float, p_gilbert: float) -> dict[str, np.ndarray]:
    ast_x = rng.lognormal(np.log(0.8), 0.45, size=n)
    alt_x = rng.lognormal(np.log(0.9), 0.55, size=n)
    high = _bern(rng, p_high_transaminase, n)
    ast_x[high] *= rng.uniform(4, 12, size=int(high.sum()))
    alt_x[high] *= rng.uniform(5, 14, size=int(high.sum()))
    bili_x = rng.lognormal(np.log(0.45), 0.4, size=n)
    gilbert = _bern(rng, p_gilbert, n)
    hb = _bern(rng, p_high_bili, n) | (gilbert & _bern(rng, 0.6, n))
    bili_x[hb] = rng.uniform(1.2, 4.0, size=int(hb.sum()))
    return {"ast_u_l": np.round(ast_x * ast_uln), "ast_uln_u_l": ast_uln,
            "alt_u_l": np.round(alt_x * alt_uln), "alt_uln_u_l": alt_uln,
            "bilirubin_mg_dl": np.round(bili_x * bili_uln, 2), "bilirubin_uln_mg_dl": bili_uln,
            "gilbert_syndrome": gilbert}


# ------------------------------------------------------------------------------------------------
# B1931036: children 1 to <18 with first bone-marrow relapse of BCP-ALL
# ------------------------------------------------------------------------------------------------
#: Frequencies in the B1931036 screened population (see docs/synthetic-data.md).
B1931036_RATES = {
    "age_below_1": 0.005, "age_18_plus": 0.01, "male": 0.56,
    "second_relapse": 0.03, "morphology_unconfirmed": 0.02,
    "early_relapse_share": 0.74,  # relapse within 30 months of diagnosis (on therapy or just after)
    "isolated_em": 0.06, "bm_cns": 0.12, "bm_testis_of_males": 0.06, "bm_other_em": 0.03,
    "m1_marrow_of_bm": 0.03, "cd22_negative": 0.04,
    "kmt2a_aff1": 0.015, "tcf3_hlf": 0.005, "tcf3_pbx1": 0.04, "hypodiploid": 0.015,
    "masked_low_hypodiploidy": 0.008, "tp53": 0.07, "ph_positive": 0.03, "high_hyperdiploid": 0.2,
    "down_syndrome": 0.02, "renal_impaired": 0.012, "high_transaminase": 0.03, "high_bili": 0.02,
    "gilbert": 0.03, "low_sf": 0.03, "prior_thrombosis": 0.06, "anticoag_if_thrombosis": 0.75,
    "sos_history": 0.015, "liver_failure": 0.004, "prior_allo_hsct": 0.03, "prior_car_t": 0.015,
    "prior_calicheamicin": 0.008, "active_infection": 0.03, "peg_hypersensitivity": 0.1,
    "erwinia_hypersensitivity_if_peg": 0.12, "erwinia_hypersensitivity_other": 0.01,
    "orchiectomy_done": 0.3, "orchiectomy_planned": 0.5,
}


def b1931036(screen: np.ndarray, uln: dict[str, np.ndarray], rng: np.random.Generator) -> dict[str, np.ndarray]:
    """True screening inputs for B1931036 (dates relative to each patient's screening date)."""
    r = B1931036_RATES
    n = len(screen)
    u = rng.random(n)
    age = 1 + 17 * rng.beta(1.5, 1.9, size=n)
    young = u < r["age_below_1"]
    old = (u >= r["age_below_1"]) & (u < r["age_below_1"] + r["age_18_plus"])
    age[young] = rng.uniform(0.5, 0.99, size=int(young.sum()))
    age[old] = rng.uniform(18.0, 19.0, size=int(old.sum()))
    male = _bern(rng, r["male"], n)
    birth, age_years = _birth_and_age(screen, age)

    # relapse timing: months from diagnosis to relapse. Frontline therapy lasts ~24 months (AIEOP-BFM);
    # a relapse during therapy stops it, so its end date is the relapse date (minus a few days).
    early = _bern(rng, r["early_relapse_share"], n)
    months = np.where(early, rng.uniform(7, 30, size=n), 30 + rng.gamma(2.0, 12.0, size=n))
    months = np.minimum(months, np.maximum((age - 0.25) * 12, 3))  # diagnosed after birth (infants)
    relapse = screen - _days(rng.integers(0, 22, size=n))
    diagnosis = relapse - _days(months * MONTH_DAYS)
    duration = rng.normal(24, 1.0, size=n) * MONTH_DAYS
    on_therapy = months * MONTH_DAYS < duration
    end = np.where(on_therapy, relapse - _days(rng.integers(0, 15, size=n)), diagnosis + _days(duration))
    relapse_number = np.where(_bern(rng, r["second_relapse"], n), 2, 1)

    # relapse site and marrow
    v = rng.random(n)
    site = np.full(n, "bone marrow", dtype=object)
    c = np.cumsum([r["isolated_em"], r["bm_cns"], r["bm_other_em"]])
    site[v < c[0]] = "isolated extramedullary"
    site[(v >= c[0]) & (v < c[1])] = "bone marrow + CNS"
    site[(v >= c[1]) & (v < c[2])] = "bone marrow + other EM"
    testis = male & (site == "bone marrow") & _bern(rng, r["bm_testis_of_males"], n)
    site[testis] = "bone marrow + testis"
    blasts = np.round(100 * rng.beta(3.0, 1.3, size=n), 1)
    m1 = (site == "isolated extramedullary") | _bern(rng, r["m1_marrow_of_bm"], n)
    blasts[m1] = np.round(rng.uniform(0, 4.9, size=int(m1.sum())), 1)
    blasts = np.maximum(blasts, np.where(m1, 0, 5.0))
    orch = np.full(n, None, dtype=object)
    w = rng.random(n)
    orch[testis] = np.where(w[testis] < r["orchiectomy_done"], "done",
                            np.where(w[testis] < r["orchiectomy_done"] + r["orchiectomy_planned"], "planned",
                                     "not planned"))
    cd22_pos = ~_bern(rng, r["cd22_negative"], n)
    cd22_pct = np.where(cd22_pos, np.round(np.clip(100 * rng.beta(8, 1.6, size=n), 20, 100), 1),
                        np.round(rng.uniform(0, 15, size=n), 1))

    # genetics
    modal = np.full(n, 46, dtype=np.int64)
    hh = _bern(rng, r["high_hyperdiploid"], n)
    modal[hh] = rng.integers(51, 66, size=int(hh.sum()))
    hypo = _bern(rng, r["hypodiploid"], n)
    modal[hypo] = rng.integers(30, 40, size=int(hypo.sum()))
    masked = _bern(rng, r["masked_low_hypodiploidy"], n) & ~hypo
    modal[masked] = rng.integers(60, 79, size=int(masked.sum()))

    height, weight = _height_weight(age, male, rng)
    liver = _liver(n, uln["ast_uln_u_l"], uln["alt_uln_u_l"], uln["bilirubin_uln_mg_dl"], rng,
                   p_high_transaminase=r["high_transaminase"], p_high_bili=r["high_bili"], p_gilbert=r["gilbert"])
    thromb = _bern(rng, r["prior_thrombosis"], n)
    peg = _bern(rng, r["peg_hypersensitivity"], n)
    erw = np.where(peg, _bern(rng, r["erwinia_hypersensitivity_if_peg"], n),
                   _bern(rng, r["erwinia_hypersensitivity_other"], n))
    sf = np.round(rng.normal(36.5, 3.5, size=n), 1)
    low_sf = _bern(rng, r["low_sf"], n)
    sf[low_sf] = np.round(rng.uniform(20, 29.9, size=int(low_sf.sum())), 1)
    ef = np.round(np.clip(rng.normal(63, 5, size=n) - np.where(low_sf, 12, 0), 25, 80), 1)
    return {
        "birth_date": birth, "age_years": age_years, "sex": np.where(male, "M", "F"),
        "diagnosis": np.full(n, "B-ALL", dtype=object),
        "diagnosis_date": diagnosis, "relapse_date": relapse, "relapse_number": relapse_number,
        "relapse_morphology_confirmed": ~_bern(rng, r["morphology_unconfirmed"], n),
        "relapse_site": site, "primary_therapy_end_date": end,
        "marrow_blasts_pct": blasts, "cd22_positive": cd22_pos, "cd22_pct": cd22_pct,
        "kmt2a_aff1": _bern(rng, r["kmt2a_aff1"], n), "tcf3_hlf": _bern(rng, r["tcf3_hlf"], n),
        "tcf3_pbx1": _bern(rng, r["tcf3_pbx1"], n), "modal_chromosomes": modal,
        "masked_low_hypodiploidy": masked, "tp53_alteration": _bern(rng, r["tp53"], n),
        "ph_positive": _bern(rng, r["ph_positive"], n), "down_syndrome": _bern(rng, r["down_syndrome"], n),
        "height_cm": height, "weight_kg": weight,
        "creatinine_mg_dl": _renal(height, rng, r["renal_impaired"]),
        **liver,
        "shortening_fraction_pct": sf, "ejection_fraction_pct": ef,
        "prior_thrombosis": thromb,
        "anticoagulant_prophylaxis": thromb & _bern(rng, r["anticoag_if_thrombosis"], n),
        "testicular_involvement": testis, "orchiectomy": orch,
        "hepatic_sos_history": _bern(rng, r["sos_history"], n),
        "liver_failure_history": _bern(rng, r["liver_failure"], n),
        "prior_allo_hsct": _bern(rng, r["prior_allo_hsct"], n), "prior_car_t": _bern(rng, r["prior_car_t"], n),
        "prior_calicheamicin": _bern(rng, r["prior_calicheamicin"], n),
        "active_uncontrolled_infection": _bern(rng, r["active_infection"], n),
        "peg_asp_hypersensitivity": peg, "erwinia_asp_hypersensitivity": erw,
    }


# ------------------------------------------------------------------------------------------------
# AALL1732: newly diagnosed high-risk B-ALL, MPAL, disseminated B-LLy, ages 1-24
# ------------------------------------------------------------------------------------------------
AALL1732_RATES = {
    "age_below_1": 0.005, "age_25_plus": 0.005, "age_under_10": 0.55, "male": 0.56,
    "mpal": 0.025, "b_lly": 0.055, "down_syndrome": 0.025, "prior_cytotoxic": 0.01,
    "apec14b1_b_all_mpal": 0.97, "apec14b1_b_lly": 0.6, "marrow_insufficient": 0.03,
    "peripheral_over_1000_if_insufficient": 0.6, "cns2": 0.14, "cns3": 0.06, "testicular_of_males": 0.02,
    "steroid_pretreatment": 0.05, "intrathecal_cytarabine": 0.6, "wbc_out_of_window": 0.03,
    "mpal_confirmation_late": 0.1,
}


def aall1732(screen: np.ndarray, uln: dict[str, np.ndarray], rng: np.random.Generator) -> dict[str, np.ndarray]:
    """True screening inputs for AALL1732 (newly diagnosed patients screened for the trial)."""
    r = AALL1732_RATES
    n = len(screen)
    under10 = _bern(rng, r["age_under_10"], n)
    age = np.where(under10, 1 + 9 * rng.beta(1.4, 1.6, size=n), 10 + 15 * rng.beta(1.1, 3.2, size=n))
    u = rng.random(n)
    young = u < r["age_below_1"]
    old = (u >= r["age_below_1"]) & (u < r["age_below_1"] + r["age_25_plus"])
    age[young] = rng.uniform(0.3, 0.99, size=int(young.sum()))
    age[old] = rng.uniform(25.0, 30.0, size=int(old.sum()))
    male = _bern(rng, r["male"], n)
    birth, age_years = _birth_and_age(screen, age)
    v = rng.random(n)
    diag = np.full(n, "B-ALL", dtype=object)
    diag[v < r["mpal"]] = "MPAL"
    diag[(v >= r["mpal"]) & (v < r["mpal"] + r["b_lly"])] = "B-LLy"
    lly = diag == "B-LLy"
    diagnosis = screen - _days(rng.integers(0, 6, size=n))
    therapy = screen + _days(rng.integers(0, 4, size=n))
    wbc_date = therapy - _days(rng.integers(0, 7, size=n))
    late = _bern(rng, r["wbc_out_of_window"], n)
    wbc_date[late] = therapy[late] - _days(rng.integers(8, 15, size=int(late.sum())))
    # WBC at diagnosis (/uL): log-normal; higher in the screened younger children (NCI high risk by WBC).
    wbc = np.where(age < 10, rng.lognormal(np.log(38000), 1.3, size=n), rng.lognormal(np.log(14000), 1.3, size=n))
    wbc = np.where(lly, rng.lognormal(np.log(7000), 0.5, size=n), wbc)
    wbc = np.round(np.clip(wbc, 300, 900000), -2)
    w = rng.random(n)
    cns = np.where(w < r["cns3"], "CNS3", np.where(w < r["cns3"] + r["cns2"], "CNS2", "CNS1")).astype(object)
    testis = male & _bern(rng, r["testicular_of_males"], n)
    insufficient = _bern(rng, r["marrow_insufficient"], n) & ~lly
    pb = np.where(insufficient & _bern(rng, r["peripheral_over_1000_if_insufficient"], n),
                  rng.uniform(1100, 50000, size=n), rng.uniform(0, 900, size=n))
    pb = np.where(insufficient, pb, np.minimum(wbc * rng.uniform(0.0, 0.8, size=n), 500000))
    apec = np.where(lly, _bern(rng, r["apec14b1_b_lly"], n), _bern(rng, r["apec14b1_b_all_mpal"], n))
    # central MPAL confirmation (after enrollment): business days from enrollment (= screening date)
    bdays = np.where(_bern(rng, r["mpal_confirmation_late"], n), rng.integers(8, 13, size=n),
                     rng.integers(1, 8, size=n))
    mpal_conf = np.busday_offset(screen.astype("datetime64[D]"), bdays, roll="forward")
    mpal_conf = np.where(diag == "MPAL", mpal_conf, np.datetime64("NaT"))
    height, weight = _height_weight(age, male, rng)
    return {
        "birth_date": birth, "age_years": age_years, "sex": np.where(male, "M", "F"), "diagnosis": diag,
        "diagnosis_date": diagnosis, "down_syndrome": _bern(rng, r["down_syndrome"], n),
        "height_cm": height, "weight_kg": weight,
        "wbc_per_ul": wbc, "wbc_date": wbc_date, "peripheral_blasts_per_ul": np.round(pb, -1),
        "diagnostic_marrow_sufficient": ~insufficient, "testicular_involvement": testis, "cns_status": cns,
        "steroid_pretreatment": _bern(rng, r["steroid_pretreatment"], n),
        "intrathecal_cytarabine": _bern(rng, r["intrathecal_cytarabine"], n),
        "prior_cytotoxic_chemo": _bern(rng, r["prior_cytotoxic"], n),
        "apec14b1_enrolled": apec, "therapy_start_date": therapy,
        "mpal_confirmation_date": mpal_conf.astype("datetime64[D]"),
    }


POPULATIONS = {"b1931036": b1931036, "aall1732": aall1732}
