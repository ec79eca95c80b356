"""One test per CDISC domain mapper: a small inline domain in, an explicit expected frame out.

The whole-study behaviour (and the CDISC Pilot 01 counts) is in test_cdisc.py; here each mapper
is exercised on its own, with its problems and notes, as map_cdisc's orchestration calls it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from trialkit.errors import DataValidationError
from trialkit.io.cdisc import (
    criteria_not_met,
    map_adsl,
    map_cdisc,
    map_disposition,
    map_ds,
    map_ie,
    map_randomization,
    map_screening,
    map_sites,
    map_suppds,
    map_sv,
    subject_status,
)
from trialkit.io.cdisc.adsl import adam_frame
from trialkit.io.sas import clean_frame

DT = "datetime64[ns]"


def _problems(m) -> list[tuple]:
    p = m.problems
    return list(zip(p["file"], [None if pd.isna(r) else int(r) for r in p["row"]], p["column"], p["problem"]))


def _dates(*values) -> pd.Series:
    return pd.Series(pd.to_datetime(list(values)), dtype=DT)


# ---- SV -------------------------------------------------------------------------------------
def test_map_sv_screening_first_and_baseline_visits():
    sv = pd.DataFrame({
        "USUBJID": ["S-1", "S-1", "S-1", "S-2", "S-2", "S-3"],
        "VISITNUM": [2.0, 1.0, 3.0, 1.0, 2.0, 1.0],
        "VISIT": ["SCREENING 2", "SCREENING 1", "BASELINE", "UNSCHEDULED", "SCREENING 1", "SCREENING 1"],
        "SVSTDTC": ["2020-01-05", "2020-01-03", "2020-01-10", "2019-12-30", "2020-01", "2020-02-30"],
    })
    m = map_sv(sv)
    expected = pd.DataFrame({
        "USUBJID": pd.array(["S-1", "S-2"], dtype="string"),
        # S-1: SCREENING 1 (VISITNUM 1) although SCREENING 2 comes first in the file
        "screening_visit": _dates("2020-01-03", "2020-01-01"),   # S-2: partial "2020-01" -> first day
        "first_visit": _dates("2020-01-03", "2019-12-30"),       # earliest date, whatever the visit
        "baseline_visit": _dates("2020-01-10", None),
    })
    pd.testing.assert_frame_equal(m.frame, expected)
    # S-3's only date (30 February) is unreadable: a problem at record 6, and no row
    assert _problems(m) == [("sv.xpt", 6, "SVSTDTC", "SVSTDTC is not an ISO 8601 date")]
    assert m.problems["table"].tolist() == ["screening"] and m.problems["value"].tolist() == ["2020-02-30"]
    assert m.notes == ("sv.xpt: 1 partial date(s) in SVSTDTC imputed to the first day of the period",)


# ---- DS -------------------------------------------------------------------------------------
def test_map_ds_latest_event_randomized_and_death_dates():
    ds = pd.DataFrame({
        "USUBJID": ["S-1", "S-1", "S-2", "S-2", "S-3", "S-3"],
        "DSCAT": ["PROTOCOL MILESTONE", "DISPOSITION EVENT", "DISPOSITION EVENT", "DISPOSITION EVENT",
                  "OTHER EVENT", "DISPOSITION EVENT"],
        "DSDECOD": ["RANDOMIZED", "COMPLETED", "DEATH", "ADVERSE EVENT", "FINAL LAB VISIT", "SCREEN FAILURE"],
        "DSTERM": ["RANDOMIZED", "COMPLETED", "DIED", "RASH", "FINAL LAB", "SCREEN FAILURE"],
        "DSSTDTC": ["2020-01-09", "2020-06-01", "2020-04-01", "2020-03-15", "2020-01-20", "2020-01-05"],
    })
    m = map_ds(ds)
    expected = pd.DataFrame({
        "USUBJID": pd.array(["S-1", "S-2", "S-3"], dtype="string"),
        "status": pd.array(["COMPLETED", "DEATH", "SCREEN FAILURE"], dtype="string"),  # S-2: the latest event
        "term": pd.array(["COMPLETED", "DIED", "SCREEN FAILURE"], dtype="string"),
        "date": _dates("2020-06-01", "2020-04-01", "2020-01-05"),
        "record": pd.array([1, 2, 5], dtype="Int64"),
        "randomized_date": _dates("2020-01-09", None, None),
        "death_date": _dates(None, "2020-04-01", None),
    })
    pd.testing.assert_frame_equal(m.frame, expected)
    assert m.notes == ("ds.xpt: 1 subject(s) have several DISPOSITION EVENT records; the latest (by DSSTDTC) is used",
                       "ds.xpt: 2 record(s) not in DSCAT DISPOSITION EVENT are not mapped (RANDOMIZED 1, "
                       "FINAL LAB VISIT 1)")
    assert len(m.problems) == 0


def test_map_ds_unreadable_date_is_a_disposition_problem():
    ds = pd.DataFrame({"USUBJID": ["S-1"], "DSCAT": ["DISPOSITION EVENT"], "DSDECOD": ["COMPLETED"],
                       "DSSTDTC": ["01/06/2020"]})
    m = map_ds(ds, file="DS.XPT")
    assert _problems(m) == [("DS.XPT", 1, "DSSTDTC", "DSSTDTC is not an ISO 8601 date")]
    assert m.problems["table"].tolist() == ["disposition"] and m.frame["date"].isna().all()


# ---- IE and SUPPDS -----------------------------------------------------------------------------
def test_map_ie_and_map_suppds_and_their_union():
    ie = pd.DataFrame({"USUBJID": ["S-2", "S-2", "S-3", "S-4"], "IETESTCD": ["INCL02", "EXCL03", "INCL01", "INCL02"],
                       "IECAT": ["INCLUSION", "EXCLUSION", "INCLUSION", "INCLUSION"],
                       "IEORRES": ["N", "Y", "N", "Y"]})  # S-4 met INCL02: not a failure
    mi = map_ie(ie)
    pd.testing.assert_frame_equal(mi.frame, pd.DataFrame({"USUBJID": ["S-2", "S-3"],
                                                          "criteria_not_met": ["INCL02; EXCL03", "INCL01"]},
                                                         dtype="string"))
    assert mi.notes == ("ie.xpt: 1 record(s) say the criterion was met (IEORRES) and are not counted as failures",)
    # TI numbers INCL01 and EXCL01 both carry 1: "1" is ambiguous and kept as recorded; "3" -> EXCL03
    ti = pd.DataFrame({"IETESTCD": ["INCL01", "EXCL01", "EXCL03"]})
    suppds = pd.DataFrame({"USUBJID": ["S-2", "S-5", "S-5"], "QNAM": ["ENTCRIT", "ENTCRIT", "OTHER"],
                           "QVAL": ["3", "1", "x"]})
    ms = map_suppds(suppds, ti=ti)
    pd.testing.assert_frame_equal(ms.frame, pd.DataFrame({"USUBJID": ["S-2", "S-5"], "criteria_not_met": ["EXCL03", "1"]},
                                                         dtype="string"))
    assert ms.notes == ("suppds.xpt: 1 record(s) with QNAM other than ENTCRIT not mapped",
                        "suppds.xpt: ENTCRIT (entry criterion not met) for 2 subject(s); 1 criterion number(s) "
                        "matched to their TI IETESTCD by number")
    both = criteria_not_met(mi.frame, ms.frame)  # S-2's EXCL03 once
    expected = pd.Series(["INCL02; EXCL03", "INCL01", "1"], index=pd.Index(["S-2", "S-3", "S-5"], dtype="string",
                                                                          name="USUBJID"), dtype="string")
    pd.testing.assert_series_equal(both, expected, check_names=False)
    assert len(criteria_not_met(None, None)) == 0


# ---- ADSL -----------------------------------------------------------------------------------
def test_map_adsl_dates_flags_and_covariates():
    adsl = pd.DataFrame({
        "USUBJID": ["S-1", "S-3", "S-4"], "RANDDT": [21923.0, 21946.0, np.nan],
        "TRTSDT": [21924.0, 21946.0, 21948.0], "ITTFL": ["Y", "Y", "Y"], "SAFFL": ["Y", "N", ""],
        "EFFFL": ["Y", "N", "Y"], "DTHFL": ["", "", "Y"], "TRT01P": ["Drug", "Placebo", "Drug"],
        "HEIGHTBL": [170.2, 158.0, np.nan], "WEIGHTBL": [70.5, 5.397605346934028e-79 + 61, 80.0],
        "BMIBL": [24.3, 24.4, np.nan], "MMSETOT": [23.0, 19.0, 12.0],
    })
    m = map_adsl(clean_frame(adsl))
    expected = pd.DataFrame({
        "USUBJID": pd.array(["S-1", "S-3", "S-4"], dtype="string"), "record": np.array([0, 1, 2]),
        "randomization_date": _dates("2020-01-09", "2020-02-01", None),
        "treatment_start_date": _dates("2020-01-10", "2020-02-01", "2020-02-03"),
        "death_flag": pd.array([False, False, True], dtype="boolean"),   # DTHFL is Y or blank: blank = False
        "analysed": pd.array([True, True, True], dtype="boolean"),
        "safety": pd.array([True, False, pd.NA], dtype="boolean"),       # a blank population flag: unknown
        "efficacy": pd.array([True, False, True], dtype="boolean"),
        "planned_arm_label": pd.array(["Drug", "Placebo", "Drug"], dtype="string"),
        "height_cm": pd.array([170.2, 158.0, pd.NA], dtype="Float64"),
        "weight_kg": pd.array([70.5, 61.0, 80.0], dtype="Float64"),
        "bmi": pd.array([24.3, 24.4, pd.NA], dtype="Float64"),
    })
    pd.testing.assert_frame_equal(m.frame, expected)  # MMSETOT is not mapped: it stays in Study.adam["adsl"]
    assert len(m.problems) == 0 and m.records.tolist() == [0.0, 1.0, 2.0]
    assert "every ADSL variable is kept in Study.adam['adsl']" in m.notes[0]


def test_map_adsl_problems_name_record_and_variable():
    adsl = clean_frame(pd.DataFrame({"USUBJID": ["S-1", "S-1", "S-3"], "SAFFL": ["Y", "Y", "X"],
                                     "WEIGHTBL": ["70", "70", "heavy"], "TRTSDT": [21924.0, 21924.0, 21946.5]}))
    m = map_adsl(adsl)
    assert sorted(_problems(m)) == [
        ("adsl.xpt", 2, "USUBJID", "subject appears more than once"),
        ("adsl.xpt", 3, "SAFFL", "SAFFL must be Y, N or blank"),
        ("adsl.xpt", 3, "TRTSDT", "TRTSDT is not a SAS date"),
        ("adsl.xpt", 3, "WEIGHTBL", "WEIGHTBL is not a number")]
    assert m.frame["USUBJID"].tolist() == ["S-1", "S-3"] and m.frame["record"].tolist() == [0, 2]


def test_map_adsl_covariate_labelled_in_another_unit():
    adsl = clean_frame(pd.DataFrame({"USUBJID": ["S-1"], "HEIGHTBL": [67.0], "WEIGHTBL": [70.0]}))
    adsl.attrs["labels"] = {"HEIGHTBL": "Baseline Height (in)", "WEIGHTBL": "Baseline Weight (kg)"}
    m = map_adsl(adsl)
    assert _problems(m) == [("adsl.xpt", None, "HEIGHTBL", "HEIGHTBL is labelled in in, not cm")]
    assert m.frame["height_cm"].isna().all() and m.frame["weight_kg"].tolist() == [70.0]  # never mixed units


def test_adam_frame_keeps_every_variable_with_subject_id_first():
    adsl = clean_frame(pd.DataFrame({"usubjid": [b"S-1", b"S-2"], "AGEGR1": [b"<65", b">80"], "AGEGR1N": [1.0, 3.0]}))
    got = adam_frame(adsl)
    expected = pd.DataFrame({"subject_id": pd.array(["S-1", "S-2"], dtype="string"),
                             "USUBJID": pd.array(["S-1", "S-2"], dtype="string"),
                             "AGEGR1": pd.array(["<65", ">80"], dtype="string"), "AGEGR1N": [1.0, 3.0]})
    pd.testing.assert_frame_equal(got, expected)


# ---- DM -------------------------------------------------------------------------------------
def _dm(**changes) -> pd.DataFrame:
    dm = pd.DataFrame({
        "USUBJID": ["S-1", "S-2", "S-3", "S-4"], "SITEID": ["10", "9", "10", "9"],
        "COUNTRY": ["DEU", "AUT", "DEU", "AUT"], "AGE": [60.0, 71.0, np.nan, 55.0], "AGEU": ["YEARS"] * 4,
        "SEX": ["F", "M", "F", "M"], "BRTHDTC": ["", "", "1950-01-06", ""],
        "ARMCD": ["HI", "SCRNFAIL", "PBO", ""], "ARM": ["Drug 20 mg", "Screen Failure", "Placebo", ""],
        "ARMNRS": ["", "", "", "NOT ASSIGNED"], "ACTARMCD": ["LO", "SCRNFAIL", "NOTTRT", ""],
        "ACTARM": ["Drug 10 mg", "Screen Failure", "Not Treated", ""],
        "RFICDTC": ["", "2020-01-04", "", ""], "DMDTC": ["2020-01-02", "2020-01-05", "2020-01-06", "2020-01-08"],
        "RFSTDTC": ["2020-01-10", "", "2020-02-01", ""],
    })
    return clean_frame(dm.assign(**changes))


def test_subject_status():
    expected = pd.DataFrame({"screen_failure": [False, True, False, False], "not_assigned": [False, False, False, True],
                             "randomized": [True, False, True, False]})
    pd.testing.assert_frame_equal(subject_status(_dm()), expected)


def test_map_sites_natural_order_and_country_problems():
    m = map_sites(_dm())
    expected = pd.DataFrame({"site_id": ["9", "10"], "site_name": pd.NA, "city": pd.NA, "region": pd.NA,
                             "country": ["AUT", "DEU"], "activation_date": pd.NaT, "status": pd.NA}).astype(
        {"site_id": "string", "site_name": "string", "city": "string", "region": "string", "country": "string",
         "activation_date": DT, "status": "string"})
    pd.testing.assert_frame_equal(m.frame, expected)
    assert m.records.tolist() == [1.0, 0.0] and len(m.problems) == 0
    two = map_sites(_dm(COUNTRY=["DEU", "AUT", "FRA", "AUT"]))
    assert _problems(two) == [("dm.xpt", 1, "COUNTRY", "site 10 has more than one COUNTRY"),
                              ("dm.xpt", 3, "COUNTRY", "site 10 has more than one COUNTRY")]
    none = map_sites(_dm().drop(columns="COUNTRY"))
    assert none.frame["country"].tolist() == ["not recorded"] * 2
    assert "dm.xpt: no COUNTRY variable; sites' country set to 'not recorded'" in none.notes


def test_map_screening_dates_age_outcome_and_adsl_covariates():
    visits = pd.DataFrame({"USUBJID": pd.array(["S-1", "S-3"], dtype="string"),
                           "screening_visit": _dates("2020-01-03", None), "first_visit": _dates("2020-01-03", "2019-12-31"),
                           "baseline_visit": _dates("2020-01-10", "2020-02-01")})
    adsl = pd.DataFrame({"USUBJID": pd.array(["S-1", "S-3"], dtype="string"), "record": [0, 1],
                         "height_cm": pd.array([170.0, 160.0], dtype="Float64"),
                         "weight_kg": pd.array([70.0, pd.NA], dtype="Float64"),
                         "bmi": pd.array([24.2, pd.NA], dtype="Float64")})
    criteria = pd.Series({"S-2": "INCL02", "S-3": "EXCL16"}, dtype="string")
    m = map_screening(_dm(), visits=visits, criteria=criteria, adsl=adsl)
    cols = ["subject_id", "screening_date", "age_years", "screening_outcome", "screen_failure_reason",
            "height_cm", "weight_kg", "bmi", "entry_criterion_not_met"]
    expected = pd.DataFrame({
        "subject_id": pd.array(["S-1", "S-2", "S-3", "S-4"], dtype="string"),
        # S-1 SV screening visit; S-2 DM RFICDTC; S-3 earliest SV visit; S-4 DM DMDTC
        "screening_date": _dates("2020-01-03", "2020-01-04", "2019-12-31", "2020-01-08"),
        # S-3 has no AGE: 69 whole years from 1950-01-06 to 2019-12-31
        "age_years": pd.array([60.0, 71.0, 69.0, 55.0], dtype="Float64"),
        "screening_outcome": pd.array(["eligible", "screen failure", "eligible", "other"], dtype="string"),
        "screen_failure_reason": pd.array([pd.NA, "INCL02", pd.NA, "NOT ASSIGNED"], dtype="string"),
        "height_cm": pd.array([170.0, pd.NA, 160.0, pd.NA], dtype="Float64"),
        "weight_kg": pd.array([70.0, pd.NA, pd.NA, pd.NA], dtype="Float64"),
        "bmi": pd.array([24.2, pd.NA, pd.NA, pd.NA], dtype="Float64"),
        "entry_criterion_not_met": pd.array([pd.NA, pd.NA, "EXCL16", pd.NA], dtype="string"),
    })
    pd.testing.assert_frame_equal(m.frame[cols], expected)
    assert m.notes[0] == ("screening_date from SV screening visit (1), DM RFICDTC (1), earliest SV visit (1), "
                          "DM DMDTC (1)")
    assert "dm.xpt: age at screening derived from BRTHDTC for 1 subject(s) without AGE" in m.notes
    assert ("screening height_cm, weight_kg, bmi from ADSL baseline values for 2 of 4 subject(s) (subjects without "
            "an ADSL record, e.g. screen failures, have none)") in m.notes
    assert len(m.problems) == 0 and m.records.tolist() == [0.0, 1.0, 2.0, 3.0]


def test_map_screening_without_adsl_has_no_bmi_and_names_bad_age():
    m = map_screening(_dm(AGE=["60", "old", "", "55"]))
    assert "bmi" not in m.frame.columns and m.frame["height_cm"].isna().all()
    assert _problems(m) == [("dm.xpt", 2, "AGE", "AGE is not a number")]


def test_map_randomization_date_sources_and_arms():
    dm = _dm(ARMCD=["HI", "LO", "PBO", "HI"], ARM=["Drug 20 mg", "Drug 10 mg", "Placebo", "Drug 20 mg"],
             ACTARMCD=["LO", "LO", "NOTTRT", "HI"], RFSTDTC=["2020-01-10", "2020-01-11", "2020-02-01", "2020-02-05"])
    adsl = pd.DataFrame({"USUBJID": pd.array(["S-1", "S-2", "S-3", "S-4"], dtype="string"), "record": [0, 1, 2, 3],
                         "randomization_date": _dates("2020-01-09", None, None, None),
                         "actual_arm_label": pd.array(["Drug 20 mg", "Drug 10 mg", "Placebo", "Drug 20 mg"],
                                                      dtype="string"),
                         "site_group": pd.array(["A", "B", "A", "B"], dtype="string")})
    ds = pd.DataFrame({"USUBJID": pd.array(["S-2"], dtype="string"), "randomized_date": _dates("2020-01-08")})
    visits = pd.DataFrame({"USUBJID": pd.array(["S-2", "S-3"], dtype="string"),
                           "baseline_visit": _dates("2020-01-11", "2020-01-31")})
    m = map_randomization(dm, visits=visits, ds=ds, adsl=adsl)
    expected = pd.DataFrame({
        "subject_id": pd.array(["S-1", "S-2", "S-3", "S-4"], dtype="string"),
        # ADSL RANDDT, else DS RANDOMIZED, else SV BASELINE visit, else DM RFSTDTC
        "randomization_date": _dates("2020-01-09", "2020-01-08", "2020-01-31", "2020-02-05"),
        "arm": pd.array(["HI", "LO", "PBO", "HI"], dtype="string"),
        "actual_arm": pd.array(["LO", "LO", pd.NA, "HI"], dtype="string"),   # NOTTRT is not an arm
        "actual_arm_adsl": pd.array(["HI", "LO", "PBO", "HI"], dtype="string"),
        "site_group": pd.array(["A", "B", "A", "B"], dtype="string"),
    })
    pd.testing.assert_frame_equal(m.frame[expected.columns.tolist()], expected)
    assert m.notes[0] == ("randomization_date from ADSL RANDDT (1), DS RANDOMIZED (1), SV BASELINE visit (1), "
                          "DM RFSTDTC (1) (SDTM has no randomization date variable)")
    assert ("actual arm (DM ACTARMCD) differs from the planned arm (ARMCD) for 1 subject(s); 1 ACTARMCD value(s) "
            "that are not arms (e.g. NOTTRT) left empty") in m.notes
    assert m.records.tolist() == [0.0, 1.0, 2.0, 3.0] and len(m.problems) == 0


def test_map_randomization_adsl_subject_without_an_arm_is_a_problem():
    adsl = pd.DataFrame({"USUBJID": pd.array(["S-1", "S-2"], dtype="string"), "record": [0, 1]})
    m = map_randomization(_dm(), adsl=adsl, files={"adsl": "ADSL.XPT"})
    assert _problems(m) == [("ADSL.XPT", 2, "USUBJID", "subject is in ADSL but is not randomized in DM (ARMCD)")]
    assert "ADSL.XPT: 1 randomized DM subject(s) have no ADSL record" in m.notes  # S-3


def test_map_disposition_events_flags_and_death():
    dm = _dm(ARMCD=["HI", "LO", "PBO", "HI"], ACTARMCD=["HI", "LO", "NOTTRT", "HI"],
             RFSTDTC=["2020-01-10", "2020-01-11", "", "2020-02-05"])
    dm = dm.assign(DTHFL=pd.array([pd.NA, pd.NA, pd.NA, "Y"], dtype="string"),
                   DTHDTC=pd.array([pd.NA, pd.NA, pd.NA, pd.NA], dtype="string"),
                   RFPENDTC=pd.array(["2020-06-01", "2020-03-01", "2020-02-10", "2020-04-01"], dtype="string"))
    ds = pd.DataFrame({"USUBJID": pd.array(["S-1", "S-2", "S-4"], dtype="string"),
                       "status": pd.array(["COMPLETED", "LOST TO FOLLOW-UP", "DEATH"], dtype="string"),
                       "term": pd.array(["COMPLETED", "MOVED", "DIED"], dtype="string"),
                       "date": _dates("2020-06-01", "2020-03-01", "2020-04-01"), "record": pd.array([0, 2, 5]),
                       "randomized_date": _dates(None, None, None), "death_date": _dates(None, None, "2020-04-01")})
    adsl = pd.DataFrame({"USUBJID": pd.array(["S-1", "S-2", "S-3", "S-4"], dtype="string"), "record": [0, 1, 2, 3],
                         "treatment_start_date": _dates("2020-01-10", "2020-01-11", None, "2020-02-05"),
                         "end_of_study_status": pd.array([pd.NA, pd.NA, "WITHDRAWAL BY SUBJECT", pd.NA],
                                                         dtype="string"),
                         "safety": pd.array([True, True, False, True], dtype="boolean"),
                         "efficacy": pd.array([True, False, False, pd.NA], dtype="boolean")})
    m = map_disposition(dm, ds=ds, adsl=adsl)
    expected = pd.DataFrame({
        "subject_id": pd.array(["S-1", "S-2", "S-3", "S-4"], dtype="string"),
        "treated": pd.array([True, True, False, True], dtype="boolean"),
        "discontinued": pd.array([False, True, True, True], dtype="boolean"),
        # S-3 has no DS event: ADSL DCDECOD (no date)
        "discontinuation_reason": pd.array([pd.NA, "LOST TO FOLLOW-UP", "WITHDRAWAL BY SUBJECT", "DEATH"],
                                           dtype="string"),
        "lost_to_follow_up": pd.array([False, True, False, False], dtype="boolean"),
        "death_date": _dates(None, None, None, "2020-04-01"),     # DM DTHDTC empty: the DS DEATH date
        "last_contact_date": _dates("2020-06-01", "2020-03-01", "2020-02-10", "2020-04-01"),
        "analysed": pd.array([pd.NA] * 4, dtype="boolean"),       # no ITTFL: empty, not guessed
        "safety": pd.array([True, True, False, True], dtype="boolean"),
        "efficacy": pd.array([True, False, False, pd.NA], dtype="boolean"),
        "per_protocol": pd.array([pd.NA] * 4, dtype="boolean"),
        "death_flag": pd.array([False, False, False, True], dtype="boolean"),
    })
    pd.testing.assert_frame_equal(m.frame[expected.columns.tolist()], expected)
    np.testing.assert_array_equal(m.records, [0.0, 2.0, np.nan, 5.0])  # the DS record of each event (S-3 has none)
    assert ("disposition populations: safety = ADSL SAFFL; efficacy = ADSL EFFFL; treated = a treatment start date "
            "exists") in m.notes
    assert len(m.problems) == 0


def test_map_disposition_screen_failure_event_for_a_randomized_subject():
    ds = pd.DataFrame({"USUBJID": pd.array(["S-1", "S-2"], dtype="string"),
                       "status": pd.array(["SCREEN FAILURE", "SCREEN FAILURE"], dtype="string"),
                       "term": pd.NA, "date": _dates("2020-01-02", "2020-01-05"), "record": pd.array([3, 4]),
                       "randomized_date": _dates(None, None), "death_date": _dates(None, None)})
    m = map_disposition(_dm(), ds=ds)
    assert _problems(m) == [("ds.xpt", 4, "DSDECOD", "SCREEN FAILURE disposition for a subject with an arm in DM")]
    assert ("ds.xpt: 1 disposition event(s) of subjects without an arm are not in the disposition table "
            "(randomized subjects only; their outcome is in screening): SCREEN FAILURE 1") in m.notes


# ---- the orchestration -------------------------------------------------------------------------
def test_map_cdisc_reports_a_dm_date_read_by_two_mappers_once():
    """RFSTDTC is read for the randomization date and for the treatment start: one problem, not two."""
    dm = _dm(RFSTDTC=["2020-01-10", "", "2020-02-31", ""])
    with pytest.raises(DataValidationError) as exc:
        map_cdisc({"dm": dm})
    fc = exc.value.failure_cases
    rf = fc[fc["column"] == "RFSTDTC"]
    assert rf[["file", "row", "table"]].values.tolist() == [["dm.xpt", 3, "randomization"]]


def test_map_cdisc_adsl_covariate_out_of_range_is_named_at_its_adsl_record():
    dm = _dm(ARMCD=["HI", "LO", "PBO", "HI"], ARM=["Drug 20 mg", "Drug 10 mg", "Placebo", "Drug 20 mg"],
             ACTARMCD=["HI", "LO", "PBO", "HI"], RFSTDTC=["2020-01-10", "2020-01-11", "2020-02-01", "2020-02-05"])
    adsl = pd.DataFrame({"USUBJID": ["S-4", "S-3", "S-2", "S-1"], "WEIGHTBL": [70.0, 65.0, 640.0, 80.0]})
    with pytest.raises(DataValidationError) as exc:
        map_cdisc({"dm": dm, "adsl": adsl})
    fc = exc.value.failure_cases
    assert fc[["file", "row", "column"]].values.tolist() == [["adsl.xpt", 3, "WEIGHTBL (weight_kg)"]]
    assert fc["problem"].iloc[0] == "must lie between 2 and 250"
