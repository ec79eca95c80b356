"""Tests of trialkit.io.adtte.read_adtte: the one ADaM ADTTE reader (inline frames, then the CDISC pilot)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from trialkit.errors import DataValidationError
from trialkit.io.adtte import AdtteResult, read_adtte
from trialkit.results import ARD_COLUMNS, part_from_frame

IBM_ZERO = 5.397605346934028e-79  # how pandas reads some SAS transport zeros (pandas-dev/pandas#50670)


def _adtte(**changes) -> pd.DataFrame:
    d = pd.DataFrame({
        "USUBJID": ["S-1", "S-2", "S-3", "S-4"], "PARAMCD": ["OS"] * 4, "PARAM": ["Overall survival"] * 4,
        "STARTDT": [21924.0, 21946.0, 21948.0, 21965.0],  # SAS dates 2020-01-10, 02-01, 02-03, 02-20
        "ADT": [22067.0, 22097.0, 22006.0, 21975.0],      # 2020-06-01, 07-01, 04-01, 03-01
        "AVAL": [144.0, 152.0, 59.0, 11.0], "CNSR": [1.0, 1.0, 0.0, 1.0],
        "EVNTDESC": ["LAST CONTACT", "LAST CONTACT", "DEATH", "LAST CONTACT"],
        "TRTP": ["High", "Placebo", "Low", "Placebo"], "TRTPN": [20.0, 0.0, 10.0, 0.0],
        "SAFFL": ["Y", "Y", "N", ""],
    })
    return d.assign(**changes)


def _problems(res) -> list[tuple]:
    p = res.problems
    return list(zip(p["file"], [None if pd.isna(r) else int(r) for r in p["row"]], p["column"]))


def test_canonical_columns_arm_order_and_flags():
    res = read_adtte(_adtte(), file="adtte.xpt")
    assert isinstance(res, AdtteResult) and len(res.problems) == 0
    expected = pd.DataFrame({
        "subject_id": pd.array(["S-1", "S-2", "S-3", "S-4"], dtype="string"),
        "endpoint": pd.array(["OS"] * 4, dtype="string"),
        "start_date": pd.to_datetime(["2020-01-10", "2020-02-01", "2020-02-03", "2020-02-20"]).astype("datetime64[ns]"),
        "end_date": pd.to_datetime(["2020-06-01", "2020-07-01", "2020-04-01", "2020-03-01"]).astype("datetime64[ns]"),
        "event": pd.array([0, 0, 1, 0], dtype="Int64"),
        "time_days": pd.array([144.0, 152.0, 59.0, 11.0], dtype="Float64"),
        "event_description": pd.array(["LAST CONTACT", "LAST CONTACT", "DEATH", "LAST CONTACT"], dtype="string"),
        "endpoint_label": pd.array(["Overall survival"] * 4, dtype="string"),
        "cnsr": pd.array([1, 1, 0, 1], dtype="Int64"),
        # by TRTPN (0, 10, 20), not alphabetically (High, Low, Placebo)
        "arm": pd.Categorical(["High", "Placebo", "Low", "Placebo"], categories=["Placebo", "Low", "High"]),
        "saffl": pd.array([True, True, False, pd.NA], dtype="boolean"),
    })
    pd.testing.assert_frame_equal(res.outcomes, expected)
    assert res.notes == ("adtte.xpt: arm from TRTP, ordered by TRTPN: Placebo, Low, High",
                         "adtte.xpt OS: 4 record(s), 1 event(s), 3 censored")


def test_cnsr_above_one_is_censored_and_noted():
    res = read_adtte(_adtte(CNSR=[2.0, 1.0, 0.0, 3.0]))
    assert res.outcomes["event"].tolist() == [0, 0, 1, 0] and res.outcomes["cnsr"].tolist() == [2, 1, 0, 3]
    assert "adtte: CNSR values above 1 (2, 3) read as censored (2 record(s); ADaM allows reason-coded censoring)" \
        in res.notes
    assert len(res.problems) == 0


def test_bad_cnsr_is_a_problem_naming_each_record():
    res = read_adtte(_adtte(CNSR=[-1.0, 0.5, np.nan, "x"]), file="tte.xpt")
    assert _problems(res) == [("tte.xpt", 1, "CNSR"), ("tte.xpt", 2, "CNSR"), ("tte.xpt", 3, "CNSR"),
                              ("tte.xpt", 4, "CNSR")]
    assert res.problems["value"].tolist() == ["-1.0", "0.5", "", "x"]  # a missing value is shown empty
    assert set(res.problems["problem"]) == {"CNSR must be 0 (event) or a positive integer (censored)"}
    assert res.outcomes["event"].isna().all()  # never guessed
    assert res.summary["unreadable"].tolist() == [4]
    with pytest.raises(DataValidationError) as exc:
        res.raise_for_problems()
    assert "tte.xpt, row 1, column `CNSR` (value '-1.0')" in str(exc.value)


def test_ibm_zero_bytes_and_lower_case_names_are_read_and_input_not_mutated():
    raw = pd.DataFrame({"usubjid": [b"S-1", b"S-2"], "paramcd": [b"OS", b"OS"], "aval": [3.0, 4.0],
                        "cnsr": [IBM_ZERO, 1.0]})
    before = raw.copy()
    res = read_adtte(raw)
    assert res.outcomes["event"].tolist() == [1, 0] and res.outcomes["subject_id"].tolist() == ["S-1", "S-2"]
    assert "arm" not in res.outcomes.columns and res.outcomes["start_date"].isna().all()
    pd.testing.assert_frame_equal(raw, before)


def test_aval_in_months_is_recomputed_from_the_dates():
    res = read_adtte(_adtte(AVAL=[4.7, 5.0, 1.9, 11.0], AVALU=["MONTHS", "MONTHS", "MONTHS", "DAYS"]))
    assert res.outcomes["time_days"].tolist() == [144.0, 152.0, 59.0, 11.0]
    assert "adtte: 3 record(s) with AVALU MONTHS (not days); time_days computed as ADT - STARTDT + 1" in res.notes
    no_dates = read_adtte(_adtte(AVALU=["MONTHS", "DAYS", "DAYS", "DAYS"], ADT=[np.nan, 22097.0, 22006.0, 21975.0]))
    assert _problems(no_dates) == [("adtte", 1, "AVAL")]
    assert no_dates.problems["problem"].iloc[0].startswith("no time")


def test_aval_problems_disagreeing_missing_negative_unreadable():
    res = read_adtte(_adtte(AVAL=[143.0, np.nan, -1.0, "eleven"]), file="adtte.xpt")
    got = sorted(zip(res.problems["row"].astype(int), res.problems["problem"], res.problems["value"]))
    assert got == [
        (1, "AVAL disagrees with ADT - STARTDT + 1", "AVAL=143 but ADT - STARTDT + 1 = 144"),
        (2, "no time: AVAL is empty (or, with AVALU other than days, STARTDT or ADT is)", ""),
        (3, "AVAL disagrees with ADT - STARTDT + 1", "AVAL=-1 but ADT - STARTDT + 1 = 59"),
        (3, "AVAL is negative", "-1.0"),
        (4, "AVAL is not a number", "eleven")]
    # without dates, AVAL is taken as it is (nothing to check it against)
    assert len(read_adtte(_adtte().drop(columns=["STARTDT", "ADT"])).problems) == 0


def test_keys_required_and_repeated():
    res = read_adtte(_adtte(USUBJID=["S-1", "S-1", None, "S-4"]))
    assert _problems(res) == [("adtte", 3, "USUBJID"), ("adtte", 1, "USUBJID, PARAMCD"),
                              ("adtte", 2, "USUBJID, PARAMCD")]
    with pytest.raises(DataValidationError) as exc:
        read_adtte(_adtte().drop(columns=["CNSR", "PARAMCD"]), file="my_adtte.xpt")
    fc = exc.value.failure_cases
    assert fc[["file", "column"]].values.tolist() == [["my_adtte.xpt", "PARAMCD"], ["my_adtte.xpt", "CNSR"]]


def test_arm_planned_first_and_actual_companion_when_equal():
    # TRTP differs from TRTA: the planned arm (intention to treat), ordered by TRTPN
    d = _adtte(TRTA=["Low", "Placebo", "Low", "Placebo"], TRTAN=[10.0, 0.0, 10.0, 0.0])
    assert read_adtte(d).outcomes["arm"].tolist() == ["High", "Placebo", "Low", "Placebo"]
    # no TRTPN but TRTP == TRTA on every record: TRTAN orders it (the CDISC pilot's ADTTE)
    d = _adtte(TRTA=["High", "Placebo", "Low", "Placebo"], TRTAN=[20.0, IBM_ZERO, 10.0, IBM_ZERO]).drop(
        columns="TRTPN")
    res = read_adtte(d)
    assert res.outcomes["arm"].cat.categories.tolist() == ["Placebo", "Low", "High"]
    assert res.notes[0] == "adtte: arm from TRTP, ordered by TRTAN: Placebo, Low, High"
    # TRT01P when there is no TRTP
    d = _adtte().rename(columns={"TRTP": "TRT01P", "TRTPN": "TRT01PN"})
    assert read_adtte(d).outcomes["arm"].cat.categories.tolist() == ["Placebo", "Low", "High"]


def test_arm_without_companion_is_left_unordered_and_said():
    res = read_adtte(_adtte().drop(columns="TRTPN"))
    assert res.outcomes["arm"].dtype == "string"  # no order is invented, alphabetical or otherwise
    assert res.notes[0] == ("adtte: arm from TRTP; no numeric companion (TRTPN) orders it, so the order is left to "
                            "the protocol or reference=")


def test_arm_with_two_companion_values_is_a_problem():
    res = read_adtte(_adtte(TRTPN=[20.0, 0.0, 10.0, 1.0]))
    assert _problems(res) == [("adtte", 2, "TRTPN"), ("adtte", 4, "TRTPN")]
    assert set(res.problems["problem"]) == {"TRTP has more than one TRTPN value"}


def test_flag_with_another_value_is_a_problem():
    res = read_adtte(_adtte(SAFFL=["Y", "y", "N", "X"], ANL01FL=["Y", "", "", "Y"]))
    assert _problems(res) == [("adtte", 4, "SAFFL")]
    assert res.outcomes["saffl"].tolist()[:3] == [True, True, False]
    assert res.outcomes["anl01fl"].tolist() == [True, pd.NA, pd.NA, True]


def test_result_protocol_summary_and_lossless_long_frame():
    res = read_adtte(pd.concat([_adtte(), _adtte(PARAMCD="PFS", PARAM="Progression-free survival",
                                                  CNSR=[0.0, 0.0, 0.0, 1.0])], ignore_index=True))
    expected = pd.DataFrame({"endpoint": pd.array(["OS", "PFS"], dtype="string"),
                             "endpoint_label": pd.array(["Overall survival", "Progression-free survival"],
                                                        dtype="string"),
                             "records": [4, 4], "events": [1, 3], "censored": [3, 1], "unreadable": [0, 0]})
    pd.testing.assert_frame_equal(res.summary, expected)
    ard = res.to_frame()
    assert tuple(ard.columns) == ARD_COLUMNS and set(ard["part"]) == {"summary", "settings", "notes"}
    back = part_from_frame(ard, "summary")
    assert back["events"].tolist() == [1, 3] and back["endpoint"].tolist() == ["OS", "PFS"]
    assert "ADTTE read from adtte" in res._repr_html_()


# ---- the CDISC Pilot 01 ADTTE ----------------------------------------------------------------
@pytest.mark.cdisc
def test_pilot_adtte(cdisc_dir):
    """254 TTDE records, 152 events; by arm 29 / 62 / 61 (bare pandas crosstab of TRTP x CNSR on adtte.xpt,
    the same counts as test_outcomes_cdisc); arms ordered by TRTAN 0 / 54 / 81."""
    raw = pd.read_sas(cdisc_dir / "adam" / "adtte.xpt", format="xport")
    res = read_adtte(raw, file="adtte.xpt")
    assert len(res.problems) == 0
    o = res.outcomes
    assert len(o) == 254 and int(o["event"].sum()) == 152
    arms = ["Placebo", "Xanomeline Low Dose", "Xanomeline High Dose"]
    assert o["arm"].cat.categories.tolist() == arms
    assert o.groupby("arm", observed=True)["event"].sum().tolist() == [29, 62, 61]
    assert o["event"].tolist() == (1 - raw["CNSR"].round().astype(int)).tolist()
    assert o["time_days"].tolist() == raw["AVAL"].tolist()
    assert o["saffl"].all()


@pytest.mark.cdisc
def test_pilot_load_cdisc_outcomes_are_read_adtte_outcomes(cdisc_dir, cdisc_study):
    """The loader and a direct read agree record for record (arms aside: a Study's arms come from DM)."""
    study = cdisc_study
    direct = read_adtte(pd.read_sas(cdisc_dir / "adam" / "adtte.xpt", format="xport"), file="adtte.xpt")
    pd.testing.assert_frame_equal(study.outcomes, direct.outcomes.drop(columns="arm"))
    assert set(direct.notes) <= set(study.notes)


def test_sas_days_to_dates_never_rounds_uninitialised_memory():
    """Whole SAS days (NaN for missing) to dates: right values, and no warning whatever memory is reused.

    pandas 2.3's float ``to_timedelta`` (``cast_from_unit_vectorized``) leaves the fractions of missing
    values unset in a fresh ``np.empty`` buffer and then rounds the whole buffer: with memory last holding
    large numbers it warns "overflow encountered in multiply" (seen now and then in the test suite under
    xdist, from the pilot's ADAE end dates). The six freed 1e300 arrays below make that memory reuse
    certain: the pandas float path warns on every call here; ours must not.
    """
    import warnings

    from trialkit.io.sas import sas_days_to_dates

    days = pd.Series([0.0, np.nan, 19_359.0, -1.0, np.nan] + [np.nan] * 59)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for _ in range(20):
            junk = [np.full(len(days), 1e300) for _ in range(6)]
            del junk
            got = sas_days_to_dates(days)
    # 1960-01-01 is day 0 (SAS); 2013-01-01 is day 19,359 (the 53 years 1960-2012, 14 of them leap: 53*365 + 14)
    assert got.iloc[0] == pd.Timestamp("1960-01-01")
    assert got.iloc[2] == pd.Timestamp("2013-01-01") and got.iloc[3] == pd.Timestamp("1959-12-31")
    assert got.isna().sum() == 61 and str(got.dtype) == "datetime64[ns]"
