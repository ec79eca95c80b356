"""trialkit.io.adae: ADaM ADAE / SDTM AE records onto the canonical adverse_events table (inline frames)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from trialkit.io.adae import map_adverse_events
from trialkit.model import column_names


def test_adae_maps_onto_the_canonical_columns():
    adae = pd.DataFrame({
        "usubjid": [b"S-1", b"S-1", b"S-2"], "AESEQ": [1.0, 2.0, 1.0],
        "AETERM": [b"HEAD ACHE", b"VOD", b"RASH"], "AEDECOD": [b"HEADACHE", b"VENOOCCLUSIVE LIVER DISEASE", b"RASH"],
        "AEBODSYS": [b"NERVOUS SYSTEM DISORDERS", b"HEPATOBILIARY DISORDERS", b"SKIN AND SUBCUTANEOUS TISSUE DISORDERS"],
        "ASTDT": [23741.0, 23760.0, np.nan], "AENDT": [23743.0, np.nan, np.nan],  # SAS dates: 2025-01-01 = 23742
        "AESEV": [b"MILD", b"SEVERE", b"MODERATE"], "ATOXGR": [b"", b"4", b""], "AESER": [b"N", b"Y", b"N"],
        "AEREL": [b"REMOTE", b"PROBABLE", b""], "AEACN": [b"DOSE NOT CHANGED", b"DRUG WITHDRAWN", b""],
        "AEOUT": [b"RECOVERED/RESOLVED", b"", b"NOT RECOVERED/NOT RESOLVED"], "AESDTH": [b"N", b"Y", b"N"],
        "TRTEMFL": [b"Y", b"Y", b""], "CQ01NAM": [b"", b"HEPATIC", b""]})
    m = map_adverse_events(adae, file="adae.xpt")
    assert len(m.problems) == 0
    expected = pd.DataFrame({
        "subject_id": ["S-1", "S-1", "S-2"], "ae_seq": [1, 2, 1], "term": ["HEAD ACHE", "VOD", "RASH"],
        "preferred_term": ["HEADACHE", "VENOOCCLUSIVE LIVER DISEASE", "RASH"],
        "soc": ["NERVOUS SYSTEM DISORDERS", "HEPATOBILIARY DISORDERS", "SKIN AND SUBCUTANEOUS TISSUE DISORDERS"],
        "start_date": pd.to_datetime(["2024-12-31", "2025-01-19", None]),
        "end_date": pd.to_datetime(["2025-01-02", None, None]),
        "grade": [1, 4, 2],  # ATOXGR where recorded, else AESEV (mild 1, moderate 2)
        "severity": ["mild", "severe", "moderate"], "serious": [False, True, False], "related": [False, True, None],
        "causality": ["REMOTE", "PROBABLE", None], "action_taken": ["dose not changed", "drug withdrawn", None],
        "outcome": ["recovered/resolved", "fatal", "not recovered/not resolved"],  # AESDTH = Y, AEOUT empty
        "treatment_emergent": [True, True, False],  # ADaM: blank TRTEMFL is not emergent
        "aesi_category": [None, "HEPATIC", None]})
    expected = expected.astype({"ae_seq": "Int64", "grade": "Int64", "serious": "boolean", "related": "boolean",
                                "treatment_emergent": "boolean"})
    for c in expected.columns:
        if expected[c].dtype == object:
            expected[c] = expected[c].astype("string")
    pd.testing.assert_frame_equal(m.frame, expected[column_names("adverse_events")], check_dtype=False)
    assert m.frame.dtypes["start_date"] == "datetime64[ns]"
    assert any("2 event(s) graded from AESEV (ATOXGR empty)" in n for n in m.notes)
    assert any("AESDTH = Y and no AEOUT set to 'fatal'" in n for n in m.notes)
    assert any("from CQ01NAM" in n for n in m.notes)


def test_sdtm_ae_iso_dates_partial_and_no_trtemfl():
    ae = pd.DataFrame({"USUBJID": ["S-1", "S-1"], "AETERM": ["NAUSEA", "FEVER"], "AEDECOD": ["Nausea", "Pyrexia"],
                       "AESOC": ["Gastrointestinal disorders", "General disorders and administration site conditions"],
                       "AESTDTC": ["2024-03-05", "2024-03"], "AETOXGR": [2, 1], "AEREL": ["NOT RELATED", "Y"]})
    m = map_adverse_events(ae, file="ae.xpt")
    assert len(m.problems) == 0
    assert m.frame["ae_seq"].tolist() == [1, 2]  # no AESEQ: numbered per subject in record order
    assert m.frame["soc"].tolist() == ["Gastrointestinal disorders", "General disorders and administration site conditions"]
    assert m.frame["start_date"].tolist() == [pd.Timestamp("2024-03-05"), pd.Timestamp("2024-03-01")]
    assert m.frame["treatment_emergent"].isna().all() and m.frame["grade"].tolist() == [2, 1]
    assert m.frame["related"].tolist() == [False, True]
    notes = " | ".join(m.notes)
    assert "AESEQ absent" in notes and "1 partial date(s) imputed" in notes and "has no TRTEMFL" in notes
    assert m.notes[0] == "ae.xpt: 2 adverse event record(s) of 1 subject(s) mapped from AE"


def test_every_bad_value_is_a_problem_naming_record_and_variable():
    ae = pd.DataFrame({"USUBJID": ["S-1", None, "S-3", "S-4"], "AESEQ": [1, 2, 1.5, 1],
                       "AEDECOD": ["Nausea"] * 4, "AESTDTC": ["2024-13-40", "2024-01-02", "2024-01-03", "2024-01-04"],
                       "AETOXGR": ["7", "2", "3", "GRADE 3"], "AESEV": ["MILD", "BAD", "MILD", "MILD"],
                       "AESER": ["Y", "N", "MAYBE", "N"], "AEREL": ["POSSIBLE", "UNSURE", "NONE", "NONE"],
                       "AEACN": ["DOSE NOT CHANGED", "STOPPED", "DOSE NOT CHANGED", "DOSE NOT CHANGED"],
                       "AEOUT": ["RECOVERED/RESOLVED", "RECOVERED/RESOLVED", "GONE", "RECOVERED/RESOLVED"],
                       "AESDTH": ["N", "N", "N", "Y"]})
    m = map_adverse_events(ae, file="ae.xpt")
    p = m.problems
    got = sorted(zip(p["row"].astype(int), p["column"], p["value"]))
    assert got == sorted([
        (2, "USUBJID (subject_id)", ""), (3, "AESEQ (ae_seq)", "1.5"), (1, "AESTDTC (start_date)", "2024-13-40"),
        (1, "AETOXGR (grade)", "7"), (2, "AESEV (severity)", "BAD"), (3, "AESER (serious)", "MAYBE"),
        (2, "AEREL (related)", "UNSURE"), (2, "AEACN (action_taken)", "STOPPED"), (3, "AEOUT (outcome)", "GONE"),
        (4, "AESDTH (outcome)", "RECOVERED/RESOLVED")])
    assert set(p["file"]) == {"ae.xpt"} and set(p["table"]) == {"adverse_events"} and p["fix"].str.len().min() > 10
    assert m.frame.loc[3, "grade"] == 3  # "GRADE 3" reads as 3
    assert pd.isna(m.frame.loc[0, "grade"]) and pd.isna(m.frame.loc[1, "related"])  # a bad value is never guessed


def test_missing_usubjid_is_one_table_level_problem():
    m = map_adverse_events(pd.DataFrame({"AEDECOD": ["Nausea"]}), file="adae.xpt")
    assert len(m.frame) == 0 and m.problems["column"].tolist() == ["USUBJID"]
    assert np.isnan(m.problems["row"].iloc[0]) and "add USUBJID to adae.xpt" in m.problems["fix"].iloc[0]


@pytest.mark.cdisc
def test_the_pilot_adae_maps_without_problems(cdisc_dir):
    m = map_adverse_events(pd.read_sas(cdisc_dir / "adam" / "adae.xpt", format="xport"), file="adae.xpt")
    # the pilot's README and ADAE: 1191 records of 225 subjects; TRTEMFL 1126 Y / 65 N; AESEV 770 mild, 378
    # moderate, 43 severe (no toxicity grade); AEOUT FATAL 3 = AESDTH Y 3; CQ01NAM on 493 records
    assert len(m.problems) == 0 and len(m.frame) == 1191 and m.frame["subject_id"].nunique() == 225
    f = m.frame
    assert int(f["treatment_emergent"].sum()) == 1126 and f["grade"].value_counts().to_dict() == {1: 770, 2: 378, 3: 43}
    assert int(f["outcome"].eq("fatal").sum()) == 3 and int(f["aesi_category"].notna().sum()) == 493
    assert f["related"].value_counts(dropna=False).to_dict() == {True: 704, False: 483, pd.NA: 4}
