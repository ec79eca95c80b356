"""Tests of trialkit.io.cdisc: the CDISC SDTM/ADaM loader.

Two kinds of tests:

* on the real CDISC SDTM/ADaM Pilot 01 files (CDISC, public pilot submission package), read from
  ../shared via the ``cdisc_dir`` fixture (skipped when absent; never copied into the repository).
  Every expected count below was first verified independently from the raw files with bare
  ``pandas.read_sas`` (value_counts / crosstab of DM ARMCD x ACTARMCD, DS DSDECOD, ADTTE CNSR x
  TRTP) and agrees with the counts in the data folder's README and the pilot's define
  (306 DM subjects, 52 SCRNFAIL, 254 in ADSL/ADTTE, 152 TTDE events = 152 ADAE AOCC01FL records);
* on small inline frames for the mapping rules and every error path.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import trialkit as tk
from trialkit.errors import DataValidationError, StudyFolderError, TrialkitError
from trialkit.io.cdisc import clean_frame, load_cdisc, map_cdisc, protocol_from_sdtm


# ============================================================================================
# the real CDISC Pilot 01 data
# ============================================================================================
@pytest.fixture(scope="module")
def pilot(cdisc_study):
    """The pilot as ``load_cdisc`` reads it (the session's copy: ``trialkit.load_cdisc`` is this module's
    ``load_cdisc``, checked below)."""
    return cdisc_study



@pytest.mark.cdisc
def test_pilot_public_entry_point_and_summary(pilot, cdisc_dir):
    assert tk.load_cdisc is load_cdisc
    study = load_cdisc(sdtm=cdisc_dir / "sdtm", adam=cdisc_dir / "adam")  # a second read gives the same study
    assert study.checksum() == pilot.checksum()
    assert study.source == "cdisc:CDISCPILOT01"
    expected = pd.DataFrame({
        "measure": ["sites", "screened", "randomized", "randomized: Pbo", "randomized: Xan_Lo",
                    "randomized: Xan_Hi", "TTDE events"],
        "value": [17, 306, 254, 86, 84, 84, 152]})
    pd.testing.assert_frame_equal(study.summary(), expected)


@pytest.mark.cdisc
def test_pilot_sites_have_no_invented_names(pilot):
    sites = pilot.sites
    assert len(sites) == 17
    assert sites["site_id"].tolist() == ["701", "702", "703", "704", "705", "706", "707", "708", "709", "710",
                                         "711", "713", "714", "715", "716", "717", "718"]
    assert sites["site_name"].isna().all() and sites["city"].isna().all()
    assert set(sites["country"]) == {"USA"}
    assert any("no site names" in n for n in pilot.notes)


@pytest.mark.cdisc
def test_pilot_screening_includes_screen_failures(pilot):
    scr = pilot.screening
    assert len(scr) == 306 and scr["subject_id"].is_unique
    assert scr["screening_outcome"].value_counts().to_dict() == {"eligible": 254, "screen failure": 52}
    # no IE domain and no recorded reason in the pilot: empty, never invented
    assert scr.loc[scr["screening_outcome"] == "screen failure", "screen_failure_reason"].isna().all()
    assert scr["sex"].value_counts().to_dict() == {"F": 179, "M": 127}
    assert (scr["age_years"].min(), scr["age_years"].max()) == (50.0, 89.0)
    # site 701: 51 screened, 10 screen failures (DM crosstab SITEID x ARMCD == "Scrnfail")
    s701 = scr[scr["site_id"] == "701"]
    assert (len(s701), int((s701["screening_outcome"] == "screen failure").sum())) == (51, 10)
    first = scr.iloc[0]
    assert (first["subject_id"], first["screening_date"]) == ("01-701-1015", pd.Timestamp("2013-12-26"))
    assert (scr["screening_date"].min(), scr["screening_date"].max()) == (pd.Timestamp("2012-07-06"),
                                                                        pd.Timestamp("2014-08-29"))


@pytest.mark.cdisc
def test_pilot_suppds_entry_criteria_surface_for_randomized_subjects(pilot):
    scr = pilot.screening
    got = scr.loc[scr["entry_criterion_not_met"].notna(), ["subject_id", "entry_criterion_not_met",
                                                          "screening_outcome"]].reset_index(drop=True)
    expected = pd.DataFrame({"subject_id": ["01-703-1175", "01-705-1382", "01-708-1372"],
                             "entry_criterion_not_met": ["EXCL16", "EXCL25", "EXCL16"],
                             "screening_outcome": ["eligible"] * 3}, dtype="string")
    pd.testing.assert_frame_equal(got, expected)
    d = pilot.disposition.set_index("subject_id").loc[expected["subject_id"]]
    assert set(d["discontinuation_reason"]) == {"PROTOCOL VIOLATION"}
    assert set(d["discontinuation_term"]) == {"PROTOCOL ENTRY CRITERIA NOT MET"}


@pytest.mark.cdisc
def test_pilot_randomization_arms_planned_vs_actual(pilot):
    rnd = pilot.randomization
    assert len(rnd) == 254
    assert pilot.protocol.arm_codes == ("Pbo", "Xan_Lo", "Xan_Hi")  # by dose 0, 54, 81 — not alphabet
    assert pilot.protocol.ratio == {"Pbo": 1, "Xan_Lo": 1, "Xan_Hi": 1}
    assert pilot.protocol.reference_arm == "Pbo"
    assert rnd["arm"].value_counts().to_dict() == {"Pbo": 86, "Xan_Lo": 84, "Xan_Hi": 84}
    assert rnd["actual_arm"].value_counts().to_dict() == {"Xan_Lo": 96, "Pbo": 86, "Xan_Hi": 72}
    diff = rnd[rnd["arm"] != rnd["actual_arm"]]
    assert len(diff) == 12
    assert set(zip(diff["arm"], diff["actual_arm"])) == {("Xan_Hi", "Xan_Lo")}
    assert "01-701-1181" in set(diff["subject_id"])
    # ADSL TRT01A repeats the planned arm for all 254: kept apart, not used as actual_arm
    assert (rnd["actual_arm_adsl"] == rnd["arm"]).all()
    first = rnd.iloc[0]
    assert (first["subject_id"], first["randomization_date"]) == ("01-701-1015", pd.Timestamp("2014-01-02"))
    assert any("SV BASELINE visit (254)" in n for n in pilot.notes)


@pytest.mark.cdisc
def test_pilot_disposition_by_reason(pilot):
    d = pilot.disposition
    assert len(d) == 254
    assert d["end_of_study_status"].value_counts().to_dict() == {
        "COMPLETED": 110, "ADVERSE EVENT": 92, "WITHDRAWAL BY SUBJECT": 27, "STUDY TERMINATED BY SPONSOR": 7,
        "PROTOCOL VIOLATION": 6, "LACK OF EFFICACY": 4, "DEATH": 3, "PHYSICIAN DECISION": 3, "LOST TO FOLLOW-UP": 2}
    assert int(d["discontinued"].sum()) == 144
    assert d.loc[~d["discontinued"], "discontinuation_reason"].isna().all()
    assert int(d["lost_to_follow_up"].sum()) == 2
    deaths = d[d["death_date"].notna()].set_index("subject_id")["death_date"].sort_index()
    assert deaths.to_dict() == {"01-701-1211": pd.Timestamp("2013-01-14"), "01-704-1445": pd.Timestamp("2014-11-01"),
                                "01-710-1083": pd.Timestamp("2013-08-02")}
    assert int(d["death_flag"].sum()) == 3
    # last contact = death date for the dead (DM RFPENDTC of 01-710-1083 is a day after death)
    assert d.set_index("subject_id").loc["01-710-1083", "last_contact_date"] == pd.Timestamp("2013-08-02")
    assert d["treated"].all() and d["analysed"].all()
    # ADSL flags are the canonical population columns: EFFFL Y for 234 (bare pandas: ADSL EFFFL value_counts)
    assert int(d["efficacy"].sum()) == 234 and d["safety"].all() and d["per_protocol"].isna().all()


@pytest.mark.cdisc
def test_pilot_outcomes_ttde(pilot):
    o = pilot.outcomes
    assert len(o) == 254 and set(o["endpoint"]) == {"TTDE"}
    assert int(o["event"].sum()) == 152
    by_arm = o.merge(pilot.randomization[["subject_id", "arm"]], on="subject_id").groupby("arm")["event"].sum()
    assert by_arm.to_dict() == {"Pbo": 29, "Xan_Hi": 61, "Xan_Lo": 62}
    assert ((o["end_date"] - o["start_date"]).dt.days + 1 == o["time_days"]).all()  # AVAL = ADT - STARTDT + 1
    assert o["event_description"].value_counts().to_dict() == {"Dematologic Event Occured": 152,
                                                               "Study Completion Date": 102}
    assert o["saffl"].all() and set(o["cnsr"]) == {0, 1}
    first = o.iloc[0]
    assert (first["start_date"], first["end_date"], first["time_days"], first["event"]) == (
        pd.Timestamp("2014-01-02"), pd.Timestamp("2014-01-03"), 2.0, 1)


@pytest.mark.cdisc
def test_pilot_outcomes_match_bare_pandas_read(pilot, cdisc_dir):
    """Cross-check against ADTTE read without trialkit's helpers (event = 1 - CNSR)."""
    raw = pd.read_sas(cdisc_dir / "adam" / "adtte.xpt", format="xport")
    raw_event = 1 - raw["CNSR"].round().astype(int)
    assert raw_event.tolist() == pilot.outcomes["event"].tolist()
    assert raw["USUBJID"].str.decode("ascii").tolist() == pilot.outcomes["subject_id"].tolist()


@pytest.mark.cdisc
def test_pilot_adam_datasets_are_kept_with_every_variable(pilot, cdisc_dir):
    """Study.adam: ADSL and ADTTE as read, every variable, subject_id first (checked against a bare read)."""
    for name, rows in (("adsl", 254), ("adtte", 254)):
        raw = pd.read_sas(cdisc_dir / "adam" / f"{name}.xpt", encoding="latin-1")
        kept = pilot.adam[name]
        assert list(kept.columns) == ["subject_id", *raw.columns] and len(kept) == rows
        assert kept["subject_id"].tolist() == raw["USUBJID"].tolist()
    adsl, raw = pilot.adam["adsl"], pd.read_sas(cdisc_dir / "adam" / "adsl.xpt", encoding="latin-1")
    np.testing.assert_array_equal(adsl["MMSETOT"].to_numpy(dtype=float), raw["MMSETOT"].to_numpy(dtype=float))
    assert adsl["AGEGR1"].tolist() == raw["AGEGR1"].tolist()
    # the IBM-float zero of the placebo dose is repaired (bare pandas reads 5.397605e-79)
    assert raw["TRT01PN"].min() == pytest.approx(5.397605346934028e-79) and adsl["TRT01PN"].min() == 0.0
    assert adsl.attrs["labels"]["HEIGHTBL"] == "Baseline Height (cm)"


@pytest.mark.cdisc
def test_pilot_adsl_baseline_covariates_in_balance_table(pilot, cdisc_dir):
    """balance_table on the Study reaches ADSL WEIGHTBL/BMIBL as screening weight_kg / bmi.

    Expected: (1) a hand computation with bare pandas on adsl.xpt by TRT01P (exact), and (2) the
    published Table 14-2.01 reproduction of the R Consortium R Submission Pilot 1, file
    output/tlf-demographic.out of github.com/RConsortium/submissions-pilot1 (commit 4c7b3bb5),
    "Baseline Weight (kg)" and "Baseline BMI (kg/m^2)" Mean (sd), ITT population, to 2 decimals.
    """
    bt = tk.balance_table(pilot, covariates=["weight_kg", "bmi"])
    assert bt.groups == ["Pbo", "Xan_Lo", "Xan_Hi"] and bt.n == {"Pbo": 86, "Xan_Lo": 84, "Xan_Hi": 84,
                                                                 "Overall": 254}
    st = bt.summary.set_index(["variable", "level", "group", "statistic"])["value"]
    adsl = pd.read_sas(cdisc_dir / "adam" / "adsl.xpt", encoding="latin-1")
    arm_of = {"Placebo": "Pbo", "Xanomeline Low Dose": "Xan_Lo", "Xanomeline High Dose": "Xan_Hi"}
    for var, source in (("weight_kg", "WEIGHTBL"), ("bmi", "BMIBL")):
        for label, arm in arm_of.items():
            x = adsl.loc[adsl["TRT01P"] == label, source].dropna()
            assert st[(var, "", arm, "mean")] == pytest.approx(x.mean(), rel=1e-12)
            assert st[(var, "", arm, "sd")] == pytest.approx(x.std(ddof=1), rel=1e-12)
            assert st[(var, "", arm, "n")] == len(x)
    published = {  # R Submission Pilot 1, tlf-demographic.out: mean (sd) by arm
        "weight_kg": [(62.76, 12.77), (67.28, 14.12), (70.00, 14.65)],
        "bmi": [(23.64, 3.67), (25.06, 4.27), (25.35, 4.16)],
    }
    for var, values in published.items():
        got = [(round(st[(var, "", a, "mean")], 2), round(st[(var, "", a, "sd")], 2)) for a in arm_of.values()]
        assert got == values
    assert st[("weight_kg", "", "Xan_Lo", "missing")] == 1  # one subject without a baseline weight
    scr = pilot.screening
    sf = scr["screening_outcome"] == "screen failure"
    assert scr.loc[sf, ["height_cm", "weight_kg", "bmi"]].isna().all().all()  # not in ADSL: none, not invented
    assert int(scr["height_cm"].notna().sum()) == 254


@pytest.mark.cdisc
def test_pilot_population_flags_match_adsl(pilot, cdisc_dir):
    adsl = pd.read_sas(cdisc_dir / "adam" / "adsl.xpt", encoding="latin-1").set_index("USUBJID")
    d = pilot.disposition.set_index("subject_id")
    for column, flag in (("efficacy", "EFFFL"), ("safety", "SAFFL"), ("analysed", "ITTFL")):
        assert d[column].tolist() == (adsl.loc[d.index, flag] == "Y").tolist()
    assert d["efficacy"].value_counts().to_dict() == {True: 234, False: 20}
    assert "ittfl" not in d.columns and "efffl" not in d.columns  # the flags are the canonical columns now


@pytest.mark.cdisc
def test_pilot_protocol_is_built_from_trial_design(pilot):
    p = pilot.protocol
    assert p.id == "cdiscpilot01"
    assert [a.dose_order for a in p.arms] == [0, 1, 2]
    assert [a.dosing for a in p.arms] == ["dose 0 (ADSL TRT01PN)", "dose 54 (ADSL TRT01PN)", "dose 81 (ADSL TRT01PN)"]
    ti = p.raw["ti_criteria"]  # wording only: no rule can be evaluated from the mapped domains
    assert p.criteria == ()
    assert len(ti) == 31 and sum(c["category"] == "inclusion" for c in ti) == 8
    assert ti[0]["id"] == "INCL01" and ti[-1]["id"] == "EXCL31"
    assert len(p.sites) == 17 and p.endpoints[0]["code"] == "TTDE"


@pytest.mark.cdisc
def test_pilot_sdtm_only_with_upper_case_file_name(cdisc_dir, tmp_path):
    (tmp_path / "DM.XPT").symlink_to(cdisc_dir / "sdtm" / "dm.xpt")
    study = load_cdisc(sdtm=tmp_path)
    assert len(study.screening) == 306 and len(study.randomization) == 254
    assert study.protocol.arm_codes == ("Pbo", "Xan_Lo", "Xan_Hi")  # no ADSL: labels, placebo first, then DM order
    assert len(study.outcomes) == 0
    # without SV and DS: screening date from DM DMDTC, randomization date from RFSTDTC
    assert study.screening["screening_date"].iloc[0] == pd.Timestamp("2013-12-26")
    assert study.randomization["randomization_date"].iloc[0] == pd.Timestamp("2014-01-02")


# ============================================================================================
# small inline studies
# ============================================================================================
def _domains(**changes):
    """A 5-subject study: S-2 screen failure; S-1 planned HI got LO; S-5 randomized, never treated."""
    subj = ["S-1", "S-2", "S-3", "S-4", "S-5"]
    d = {
        "dm": pd.DataFrame({
            "STUDYID": ["T1"] * 5, "USUBJID": subj, "SITEID": ["11", "11", "12", "12", "11"],
            "AGE": [60.0, 71.0, 55.0, 80.0, 66.0], "AGEU": ["YEARS"] * 5, "SEX": ["F", "M", "F", "M", "F"],
            "COUNTRY": ["DEU"] * 5,
            "ARMCD": ["HI", "SCRNFAIL", "PBO", "LO", "PBO"],
            "ARM": ["Drug 20 mg", "Screen Failure", "Placebo", "Drug 10 mg", "Placebo"],
            "ACTARMCD": ["LO", "SCRNFAIL", "PBO", "LO", "NOTTRT"],
            "ACTARM": ["Drug 10 mg", "Screen Failure", "Placebo", "Drug 10 mg", "Not Treated"],
            "RFSTDTC": ["2020-01-10", "", "2020-02-01", "2020-02-03", ""],
            "RFPENDTC": ["2020-06-01", "2020-01-05", "2020-07-01", "2020-04-01", "2020-03-01"],
            "DTHDTC": ["", "", "", "2020-04-01", ""], "DTHFL": ["", "", "", "Y", ""],
        }),
        "ta": pd.DataFrame({"ARMCD": ["LO", "HI", "PBO"], "ARM": ["Drug 10 mg", "Drug 20 mg", "Placebo"]}),
        "sv": pd.DataFrame({
            "USUBJID": ["S-1", "S-1", "S-2", "S-3", "S-3", "S-4", "S-4", "S-5", "S-5"],
            "VISITNUM": [1.0, 2.0, 1.0, 1.0, 2.0, 1.0, 2.0, 1.0, 2.0],
            "VISIT": ["SCREENING", "BASELINE", "SCREENING"] + ["SCREENING", "BASELINE"] * 3,
            "SVSTDTC": ["2020-01-02", "2020-01-10", "2020-01-05", "2020-01-20", "2020-02-01", "2020-01-25",
                        "2020-02-03", "2020-02-10", "2020-02-20"],
        }),
        "ds": pd.DataFrame({
            "USUBJID": ["S-1", "S-2", "S-3", "S-4", "S-5"], "DSCAT": ["DISPOSITION EVENT"] * 5,
            "DSDECOD": ["COMPLETED", "SCREEN FAILURE", "WITHDRAWAL BY SUBJECT", "DEATH", "LOST TO FOLLOW-UP"],
            "DSTERM": ["PROTOCOL COMPLETED", "SCREEN FAILURE", "MOVED AWAY", "DEATH", "UNABLE TO CONTACT"],
            "DSSTDTC": ["2020-06-01", "2020-01-05", "2020-03-15", "2020-04-01", "2020-03-01"],
        }),
        "adtte": pd.DataFrame({
            "USUBJID": ["S-1", "S-3", "S-4", "S-5"], "PARAMCD": ["OS"] * 4, "PARAM": ["Overall survival"] * 4,
            "STARTDT": [21924.0, 21946.0, 21948.0, 21965.0],  # SAS dates: 2020-01-10, 02-01, 02-03, 02-20
            "ADT": [22067.0, 22097.0, 22006.0, 21975.0],      # 2020-06-01, 07-01, 04-01, 03-01
            "AVAL": [144.0, 152.0, 59.0, 11.0], "CNSR": [1.0, 1.0, 0.0, 1.0],
            "EVNTDESC": ["LAST CONTACT", "LAST CONTACT", "DEATH", "LAST CONTACT"],
        }),
    }
    for k, v in changes.items():
        if v is None:
            d.pop(k, None)
        else:
            d[k] = v
    return d


def _fc(exc) -> list[tuple]:
    fc = exc.value.failure_cases
    return list(zip(fc["file"], [None if pd.isna(r) else int(r) for r in fc["row"]], fc["column"]))


def test_inline_screening_and_randomization_frames():
    study = map_cdisc(_domains())
    scr = study.screening[["subject_id", "site_id", "screening_date", "age_years", "sex", "country",
                           "screening_outcome", "screen_failure_reason"]]
    expected = pd.DataFrame({
        "subject_id": ["S-1", "S-2", "S-3", "S-4", "S-5"], "site_id": ["11", "11", "12", "12", "11"],
        "screening_date": pd.to_datetime(["2020-01-02", "2020-01-05", "2020-01-20", "2020-01-25", "2020-02-10"]),
        "age_years": pd.array([60.0, 71.0, 55.0, 80.0, 66.0], dtype="Float64"),
        "sex": ["F", "M", "F", "M", "F"], "country": ["DEU"] * 5,
        "screening_outcome": ["eligible", "screen failure", "eligible", "eligible", "eligible"],
        "screen_failure_reason": [pd.NA] * 5,
    }).astype({c: "string" for c in ("subject_id", "site_id", "sex", "country", "screening_outcome",
                                      "screen_failure_reason")})
    pd.testing.assert_frame_equal(scr, expected)
    rnd = study.randomization[["subject_id", "randomization_date", "arm", "actual_arm"]]
    expected = pd.DataFrame({
        "subject_id": ["S-1", "S-3", "S-4", "S-5"],
        "randomization_date": pd.to_datetime(["2020-01-10", "2020-02-01", "2020-02-03", "2020-02-20"]),
        "arm": ["HI", "PBO", "LO", "PBO"], "actual_arm": ["LO", "PBO", "LO", pd.NA],  # NOTTRT is not an arm
    }).astype({"subject_id": "string", "arm": "string", "actual_arm": "string"})
    pd.testing.assert_frame_equal(rnd, expected)
    # TA order is LO, HI, PBO and the alphabet HI, LO, PBO: the dose in the label decides
    assert study.protocol.arm_codes == ("PBO", "LO", "HI")
    assert study.protocol.reference_arm == "PBO"
    assert study.sites["site_id"].tolist() == ["11", "12"] and study.sites["site_name"].isna().all()


def test_inline_disposition_and_outcomes():
    study = map_cdisc(_domains())
    d = study.disposition.set_index("subject_id")
    assert d["discontinued"].tolist() == [False, True, True, True]
    assert d["discontinuation_reason"].tolist() == [pd.NA, "WITHDRAWAL BY SUBJECT", "DEATH", "LOST TO FOLLOW-UP"]
    assert d.loc["S-3", "discontinuation_date"] == pd.Timestamp("2020-03-15")
    assert d["lost_to_follow_up"].tolist() == [False, False, False, True]
    assert d.loc["S-4", "death_date"] == pd.Timestamp("2020-04-01") and d["death_flag"].tolist() == [
        False, False, True, False]
    assert d["treated"].tolist() == [True, True, True, False]  # S-5 has no RFSTDTC (not treated)
    assert d["analysed"].isna().all()  # no ADSL ITTFL: unknown, not guessed
    o = study.outcomes
    assert o["event"].tolist() == [0, 0, 1, 0]
    assert o["start_date"].tolist() == list(pd.to_datetime(["2020-01-10", "2020-02-01", "2020-02-03", "2020-02-20"]))
    assert o["time_days"].tolist() == [144.0, 152.0, 59.0, 11.0]


def test_dose_order_from_adsl_trt01pn_beats_label_and_ta_order():
    dm = _domains()["dm"].assign(ARM=["Drug high", "Screen Failure", "Placebo", "Drug low", "Placebo"])
    ta = pd.DataFrame({"ARMCD": ["HI", "LO", "PBO"], "ARM": ["Drug high", "Drug low", "Placebo"]})
    adsl = pd.DataFrame({"USUBJID": ["S-1", "S-3", "S-4", "S-5"], "TRT01P": ["Drug high", "Placebo", "Drug low",
                                                                               "Placebo"],
                         "TRT01PN": [5.397605346934028e-79 + 30, 5.397605346934028e-79, 15.0, 5.397605346934028e-79],
                         "TRT01A": ["Drug high", "Placebo", "Drug low", "Placebo"],
                         "RANDDT": [21923.0, 21946.0, 21948.0, 21964.0]})
    study = map_cdisc(_domains(dm=dm, ta=ta, adsl=adsl))
    assert study.protocol.arm_codes == ("PBO", "LO", "HI")
    assert [a.dosing for a in sorted(study.protocol.arms, key=lambda a: a.dose_order)] == [
        "dose 0 (ADSL TRT01PN)", "dose 15 (ADSL TRT01PN)", "dose 30 (ADSL TRT01PN)"]
    # ADSL RANDDT is preferred to the SV baseline visit (S-1: 2020-01-09, baseline 2020-01-10)
    assert study.randomization["randomization_date"].iloc[0] == pd.Timestamp("2020-01-09")
    assert study.randomization["actual_arm_adsl"].tolist() == ["HI", "PBO", "LO", "PBO"]


def test_ds_randomized_record_is_preferred_to_baseline_visit():
    ds = _domains()["ds"]
    ds = pd.concat([ds, pd.DataFrame({"USUBJID": ["S-3"], "DSCAT": ["PROTOCOL MILESTONE"],
                                      "DSDECOD": ["RANDOMIZED"], "DSTERM": ["RANDOMIZED"],
                                      "DSSTDTC": ["2020-01-30"]})], ignore_index=True)
    study = map_cdisc(_domains(ds=ds))
    assert study.randomization["randomization_date"].tolist()[1] == pd.Timestamp("2020-01-30")
    assert any("not in DSCAT DISPOSITION EVENT are not mapped (RANDOMIZED 1)" in n for n in study.notes)


def test_ie_gives_screen_failure_reason_and_entry_violations():
    ti = pd.DataFrame({"IETESTCD": ["INCL01", "INCL02", "EXCL03"], "IECAT": ["INCLUSION", "INCLUSION", "EXCLUSION"],
                       "IETEST": ["Adult", "Consent", "Pregnant"]})
    ie = pd.DataFrame({
        "USUBJID": ["S-2", "S-2", "S-3", "S-4"], "IETESTCD": ["INCL02", "EXCL03", "INCL01", "INCL02"],
        "IECAT": ["INCLUSION", "EXCLUSION", "INCLUSION", "INCLUSION"],
        "IEORRES": ["N", "Y", "N", "Y"],  # S-4's INCL02 is met: not a failure
    })
    study = map_cdisc(_domains(ie=ie, ti=ti))
    scr = study.screening.set_index("subject_id")
    assert scr.loc["S-2", "screen_failure_reason"] == "INCL02; EXCL03"
    assert scr["entry_criterion_not_met"].tolist() == [pd.NA, pd.NA, "INCL01", pd.NA, pd.NA]
    ti_criteria = study.protocol.raw["ti_criteria"]
    assert [c["id"] for c in ti_criteria] == ["INCL01", "INCL02", "EXCL03"]
    assert [c["category"] for c in ti_criteria] == ["inclusion", "inclusion", "exclusion"]
    assert any("1 record(s) say the criterion was met" in n for n in study.notes)


def test_suppds_entcrit_is_resolved_against_ti_numbers():
    ti = pd.DataFrame({"IETESTCD": ["INCL01", "INCL02", "EXCL03"], "IECAT": ["INCLUSION", "INCLUSION", "EXCLUSION"]})
    suppds = pd.DataFrame({"USUBJID": ["S-3", "S-2", "S-4"], "QNAM": ["ENTCRIT"] * 3, "QVAL": ["3", "1", "7"]})
    study = map_cdisc(_domains(suppds=suppds, ti=ti))
    scr = study.screening.set_index("subject_id")
    assert scr.loc["S-3", "entry_criterion_not_met"] == "EXCL03"
    assert scr.loc["S-4", "entry_criterion_not_met"] == "7"  # no TI criterion 7: kept as recorded
    assert scr.loc["S-2", "screen_failure_reason"] == "INCL01"  # a screen failure's recorded criterion
    assert scr.loc["S-2", "screening_outcome"] == "screen failure"


def test_protocol_override_and_unknown_arms():
    study = map_cdisc(_domains(), protocol=protocol_from_sdtm(_domains()))
    assert study.protocol.arm_codes == ("PBO", "LO", "HI")
    with pytest.raises(DataValidationError) as exc:
        map_cdisc(_domains(), protocol="b1931036")
    fc = exc.value.failure_cases
    arm_rows = fc[fc["column"] == "ARMCD (arm)"]
    assert arm_rows["file"].tolist() == ["dm.xpt"] * 4 and arm_rows["row"].tolist() == [1, 3, 4, 5]


def test_clean_frame_decodes_bytes_and_repairs_ibm_zero():
    raw = pd.DataFrame({"usubjid": [b"S-1  ", b"", "Caf\u00e9".encode("cp1252")], "CNSR": [5.397605346934028e-79, 1.0,
                                                                                        np.nan]})
    got = clean_frame(raw)
    expected = pd.DataFrame({"USUBJID": pd.array(["S-1", pd.NA, "Caf\u00e9"], dtype="string"),
                             "CNSR": [0.0, 1.0, np.nan]})
    pd.testing.assert_frame_equal(got, expected)
    assert list(raw.columns) == ["usubjid", "CNSR"]  # the input is not mutated


def test_clean_frame_keeps_text_beside_bytes_and_reads_undefined_cp1252_bytes():
    """A hand-built domain frame may mix text and bytes in a column: the text stays as it is (it was read as
    missing before), the bytes are decoded. Bytes that are not UTF-8 make the column Windows-1252, whose five
    undefined bytes (0x81, 0x8D, 0x8F, 0x90, 0x9D) read as the same code points (latin-1) instead of failing."""
    raw = pd.DataFrame({"USUBJID": ["S-1", b"S-2 ", None], "TERM": [b"na\xefve", b"\x81x", b"ok"],
                        "AGE": [1, "2", None]})
    got = clean_frame(raw)
    assert got["USUBJID"].tolist() == ["S-1", "S-2", pd.NA]
    assert got["TERM"].tolist() == ["na\u00efve", "\x81x", "ok"]
    assert got["AGE"].tolist() == ["1", "2", pd.NA]  # no bytes: as before, text


def test_a_variable_given_twice_is_refused_not_overwritten():
    """'AGE' and 'age ' are one SAS variable: which one to keep is the user's choice, never a silent overwrite."""
    dm = _domains()["dm"]
    dm.insert(4, "age ", [1.0] * 5)
    with pytest.raises(StudyFolderError, match=r"dm.xpt: variable\(s\) AGE appear more than once"):
        map_cdisc(_domains(dm=dm))
    raw = pd.DataFrame([[b"S-1", 1.0, 2.0]], columns=["USUBJID", "CNSR", "CNSR"])
    with pytest.raises(StudyFolderError, match=r"the frame: variable\(s\) CNSR appear more than once"):
        clean_frame(raw)


def test_partial_dates_are_imputed_and_noted():
    sv = _domains()["sv"].assign(SVSTDTC=lambda x: x["SVSTDTC"].where(x.index != 0, "2020-01"))
    study = map_cdisc(_domains(sv=sv))
    assert study.screening["screening_date"].iloc[0] == pd.Timestamp("2020-01-01")
    assert any("1 partial date(s) in SVSTDTC imputed" in n for n in study.notes)


def test_cnsr_above_one_is_censoring():
    tte = _domains()["adtte"].assign(CNSR=[2.0, 1.0, 0.0, 3.0])
    study = map_cdisc(_domains(adtte=tte))
    assert study.outcomes["event"].tolist() == [0, 0, 1, 0]
    assert study.outcomes["cnsr"].tolist() == [2, 1, 0, 3]
    assert any("CNSR values above 1 (2, 3) read as censored" in n for n in study.notes)


# ---- error paths: each with a deliberately broken input ---------------------------------------
def test_dm_without_usubjid():
    with pytest.raises(DataValidationError) as exc:
        map_cdisc(_domains(dm=_domains()["dm"].drop(columns="USUBJID")))
    assert _fc(exc) == [("dm.xpt", None, "USUBJID")]
    assert "add USUBJID to dm.xpt" in str(exc.value)


def test_missing_required_variables_are_all_listed_with_given_file_names():
    d = _domains(adtte=_domains()["adtte"].drop(columns=["CNSR", "ADT"]), ds=_domains()["ds"].drop(columns="DSCAT"))
    with pytest.raises(DataValidationError) as exc:
        map_cdisc(d, files={"adtte": "ADTTE.XPT"})
    assert sorted(_fc(exc)) == [("ADTTE.XPT", None, "ADT"), ("ADTTE.XPT", None, "CNSR"), ("ds.xpt", None, "DSCAT")]


def test_cnsr_outside_event_or_censoring():
    tte = _domains()["adtte"].assign(CNSR=[-1.0, 0.5, np.nan, 1.0])
    with pytest.raises(DataValidationError) as exc:
        map_cdisc(_domains(adtte=tte))
    fc = exc.value.failure_cases
    cn = fc[fc["column"] == "CNSR"]
    assert cn["file"].tolist() == ["adtte.xpt"] * 3 and cn["row"].tolist() == [1, 2, 3]
    assert cn["value"].tolist() == ["-1.0", "0.5", ""]
    assert len(fc) == 3  # not reported a second time as an empty `event`
    assert "0 = event" in cn["fix"].iloc[0]


def test_unreadable_sdtm_date_names_file_record_and_variable():
    sv = _domains()["sv"].assign(SVSTDTC=lambda x: x["SVSTDTC"].where(x.index != 3, "2020-13-45"))
    with pytest.raises(DataValidationError) as exc:
        map_cdisc(_domains(sv=sv))
    fc = exc.value.failure_cases
    row = fc[fc["column"] == "SVSTDTC"].iloc[0]
    assert (row["file"], row["row"], row["value"]) == ("sv.xpt", 4, "2020-13-45")
    assert "sv.xpt, row 4, column `SVSTDTC`" in str(exc.value)


def test_unreadable_adam_date():
    tte = _domains()["adtte"].assign(ADT=[22067.0, 22097.5, 22006.0, 21975.0])
    with pytest.raises(DataValidationError) as exc:
        map_cdisc(_domains(adtte=tte))
    assert ("adtte.xpt", 2, "ADT") in _fc(exc)


def test_aval_disagreeing_with_dates():
    tte = _domains()["adtte"].assign(AVAL=[144.0, 151.0, 59.0, 11.0])
    with pytest.raises(DataValidationError) as exc:
        map_cdisc(_domains(adtte=tte))
    # reported once, by the ADTTE reader (the model's own time_days check names the same record)
    assert _fc(exc) == [("adtte.xpt", 2, "AVAL")]
    assert exc.value.failure_cases["value"].iloc[0] == "AVAL=151 but ADT - STARTDT + 1 = 152"


def test_duplicated_subject_in_dm():
    dm = _domains()["dm"]
    dm.loc[4, "USUBJID"] = "S-4"
    with pytest.raises(DataValidationError) as exc:
        map_cdisc(_domains(dm=dm, sv=None, ds=None, adtte=None))
    rows = [r for r in _fc(exc) if r[2] == "USUBJID (subject_id)"]
    assert ("dm.xpt", 4, "USUBJID (subject_id)") in rows and ("dm.xpt", 5, "USUBJID (subject_id)") in rows


def test_subject_not_in_dm_and_adsl_screen_failure():
    tte = pd.concat([_domains()["adtte"], _domains()["adtte"].iloc[[0]].assign(USUBJID="S-9")], ignore_index=True)
    adsl = pd.DataFrame({"USUBJID": ["S-1", "S-2"]})
    with pytest.raises(DataValidationError) as exc:
        map_cdisc(_domains(adtte=tte, adsl=adsl))
    fc = exc.value.failure_cases
    assert ("adtte.xpt", 5, "USUBJID") in _fc(exc)
    assert "subject is in ADSL but is not randomized in DM (ARMCD)" in set(fc["problem"])
    assert ("adsl.xpt", 2, "USUBJID") in _fc(exc)


def test_unknown_age_unit():
    dm = _domains()["dm"].assign(AGEU=["YEARS", "DECADES", "YEARS", "YEARS", "YEARS"])
    with pytest.raises(DataValidationError) as exc:
        map_cdisc(_domains(dm=dm))
    assert _fc(exc) == [("dm.xpt", 2, "AGEU")]


def test_validate_false_returns_study_and_notes_unmapped_values():
    tte = _domains()["adtte"].assign(CNSR=[-1.0, 1.0, 0.0, 1.0])
    study = map_cdisc(_domains(adtte=tte), validate=False)
    assert study.outcomes["event"].isna().tolist() == [True, False, False, False]
    assert any("1 value(s) could not be mapped" in n and "adtte.xpt record 1 CNSR" in n for n in study.notes)


def test_unknown_domain_name():
    with pytest.raises(TrialkitError, match="unknown domain"):
        map_cdisc({**_domains(), "lb": pd.DataFrame()})


def test_load_cdisc_folder_errors(tmp_path):
    with pytest.raises(StudyFolderError, match="not a folder"):
        load_cdisc(sdtm=tmp_path / "nowhere")
    with pytest.raises(StudyFolderError, match="no dm.xpt"):
        load_cdisc(sdtm=tmp_path)
    (tmp_path / "dm.xpt").write_text("USUBJID,SITEID\nS-1,11\n")
    with pytest.raises(StudyFolderError, match="dm.xpt: cannot be read as a SAS transport"):
        load_cdisc(sdtm=tmp_path)


def test_sites_in_natural_order_and_age_from_birth_date():
    dm = _domains()["dm"].assign(SITEID=["9", "10", "10", "9", "9"],
                                 AGE=[60.0, np.nan, 55.0, 80.0, 66.0],
                                 BRTHDTC=["", "1950-01-06", "", "", "1954-02-10"])
    study = map_cdisc(_domains(dm=dm))
    assert study.sites["site_id"].tolist() == ["9", "10"]
    # S-2 screened 2020-01-05, born 1950-01-06: 69 whole years (one day short of 70)
    assert study.screening["age_years"].tolist() == [60.0, 69.0, 55.0, 80.0, 66.0]  # S-5 has AGE: kept
    assert study.screening["birth_date"].iloc[1] == pd.Timestamp("1950-01-06")
    assert any("age at screening derived from BRTHDTC for 1 subject(s)" in n for n in study.notes)


def test_adsl_repeated_subject_keeps_file_record_numbers():
    adsl = pd.DataFrame({"USUBJID": ["S-1", "S-1", "S-3"], "TRTSDT": [21924.0, 21924.0, 21946.5]})
    with pytest.raises(DataValidationError) as exc:
        map_cdisc(_domains(adsl=adsl))
    # the repeat is record 2; the unreadable TRTSDT is record 3 (not 2 after dropping the repeat)
    assert sorted(_fc(exc)) == [("adsl.xpt", 2, "USUBJID"), ("adsl.xpt", 3, "TRTSDT")]


def test_blank_armcd_with_armnrs_sdtmig_3_3():
    """SDTMIG 3.3+: ARMCD is blank and ARMNRS says why (screen failure, not assigned)."""
    dm = _domains()["dm"].assign(ARMCD=["HI", "", "PBO", "LO", ""], ARMNRS=["", "SCREEN FAILURE", "", "",
                                                                            "NOT ASSIGNED"],
                                 ACTARMCD=["LO", "", "PBO", "LO", ""])
    study = map_cdisc(_domains(dm=dm, adtte=None))
    scr = study.screening
    assert scr["screening_outcome"].tolist() == ["eligible", "screen failure", "eligible", "eligible", "other"]
    assert scr["screen_failure_reason"].tolist() == [pd.NA, pd.NA, pd.NA, pd.NA, "NOT ASSIGNED"]
    assert study.randomization["subject_id"].tolist() == ["S-1", "S-3", "S-4"]


def test_screen_failure_disposition_for_a_randomized_subject():
    ds = _domains()["ds"].assign(DSDECOD=["SCREEN FAILURE", "SCREEN FAILURE", "WITHDRAWAL BY SUBJECT", "DEATH",
                                          "LOST TO FOLLOW-UP"])
    with pytest.raises(DataValidationError) as exc:
        map_cdisc(_domains(ds=ds))
    assert ("ds.xpt", 1, "DSDECOD") in _fc(exc)


@pytest.mark.cdisc
def test_pilot_unmapped_ds_records_are_accounted_for(pilot):
    notes = "\n".join(pilot.notes)
    assert "52 disposition event(s) of subjects without an arm are not in the disposition table" in notes
    assert "290 record(s) not in DSCAT DISPOSITION EVENT are not mapped (FINAL LAB VISIT 254, FINAL RETRIEVAL " \
           "VISIT 36)" in notes
