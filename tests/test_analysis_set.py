"""Tests of the one analysis-input layer (trialkit.analysis_set) and the eligibility state fix."""

from __future__ import annotations

import threading

import numpy as np
import pandas as pd
import pytest

import trialkit as tk
from trialkit.analysis_set import (
    age_band,
    age_band_labels,
    analysis_set,
    group_order,
    resolve_reference,
    select_subgroup,
    stratum_codes,
    with_site_columns,
)
from trialkit.errors import EmptySelectionError, TrialkitError


def test_age_bands_follow_the_protocol_age_range():
    # B1931036 enrols 1 to <18 years and declares the cut at 10; AALL1732 1 to <25 with cuts at 10 and 18
    assert age_band_labels(tk.get_protocol("b1931036")) == ("1 to <10 years", "10 to <18 years")
    assert age_band_labels(tk.get_protocol("aall1732")) == ("1 to <10 years", "10 to <18 years", "18 to <25 years")
    bands = age_band(pd.Series([1.0, 9.99, 10.0, 17.9, 24.5, np.nan]), tk.get_protocol("aall1732"))
    assert bands.astype(str).tolist() == ["1 to <10 years", "1 to <10 years", "10 to <18 years",
                                          "10 to <18 years", "18 to <25 years", "nan"]
    assert bands.cat.ordered


def test_group_order_never_alphabetical_when_something_says_better():
    p = tk.get_protocol("b1931036")
    assert group_order(pd.Series(["InO", "ALLR3", "InO"]), protocol=p) == ("ALLR3", "InO")  # dose order
    high_low = pd.Series(["Xanomeline High Dose", "Xanomeline Low Dose", "Placebo"])
    assert group_order(high_low, companion=pd.Series([81, 54, 0])) == ("Placebo", "Xanomeline Low Dose",
                                                                        "Xanomeline High Dose")
    cat = pd.Series(pd.Categorical(["b", "a"], categories=["b", "a"]))
    assert group_order(cat) == ("b", "a")
    assert group_order(pd.Series(["Site 10", "Site 2"])) == ("Site 2", "Site 10")  # natural, not text, order
    strata = pd.Series(["10 to <18 years", "1 to <10 years"])
    assert group_order(strata, protocol=p, column="age_group") == ("1 to <10 years", "10 to <18 years")


def test_reference_is_never_silently_the_first_in_the_alphabet():
    # "Drug" sorts before "Placebo": the control is found by its name, and said so
    ref, note = resolve_reference(("Drug", "Placebo"))
    assert ref == "Placebo" and "chosen by its name" in note
    with pytest.raises(TrialkitError, match="which group is the reference"):
        resolve_reference(("A", "B"), required=True)
    assert resolve_reference(("A", "B"), reference="B") == ("B", None)
    with pytest.raises(TrialkitError, match="reference='C' is not one of the groups"):
        resolve_reference(("A", "B"), reference="C")
    assert resolve_reference(("P", "L"), declared_order=True) == ("P", None)


def test_cox_hazard_ratio_on_a_frame_is_drug_vs_placebo():
    df = pd.DataFrame({"arm": ["Drug"] * 4 + ["Placebo"] * 4, "time_days": [5, 8, 12, 20, 2, 3, 6, 9.0],
                       "event": [1, 0, 1, 0, 1, 1, 1, 0]})
    res = tk.cox(df)
    assert res.summary["comparison"].tolist() == ["Drug vs Placebo"]


def test_subgroups_are_typed_against_the_column():
    df = pd.DataFrame({"flag": pd.array([True, False, True], dtype="boolean"), "sex": ["F", "M", "F"],
                       "age": [3.0, 5.0, 7.0]})
    with pytest.raises(TrialkitError, match="subgroup `flag` is true/false but was given 'Y'.*use True or False"):
        select_subgroup(df, {"flag": "Y"})
    with pytest.raises(TrialkitError, match="subgroup `age` is number but was given '3'"):
        select_subgroup(df, {"age": "3"})
    out, notes = select_subgroup(df, {"flag": True, "sex": ["F", "M"]})
    assert len(out) == 2 and notes[0] == "subgroup flag = True: 1 subject(s) outside it left out"
    with pytest.raises(EmptySelectionError, match=r"no subjects left after subgroup sex = 'X' \(values present: F, M\)"):
        select_subgroup(df, {"sex": "X"})


def test_empty_selections_are_trialkit_errors_naming_the_filter(demo_b1931036):
    for fn in (tk.km, tk.logrank, tk.cox):
        with pytest.raises(EmptySelectionError, match="no subjects left after subgroup country = 'Atlantis'"):
            fn(demo_b1931036, endpoint="EFS", subgroup={"country": "Atlantis"})


def test_populations_on_a_study(demo_b1931036):
    s = demo_b1931036
    treated = int(s.disposition["treated"].sum())
    assert len(analysis_set(s, population="treated").frame) == treated
    safety = analysis_set(s, population="safety")  # not recorded: falls back to treated, and says so
    assert len(safety.frame) == treated and "treated: disposition.safety not recorded" in safety.population
    with pytest.raises(TrialkitError, match="population 'efficacy' is not recorded in this study"):
        analysis_set(s, population="efficacy")
    with pytest.raises(TrialkitError, match="unknown population 'evaluable'"):
        analysis_set(s, population="evaluable")
    flagged = s.replace(disposition=s.disposition.assign(efficacy=s.disposition["treated"]))
    assert len(analysis_set(flagged, population="efficacy").frame) == treated


def test_populations_on_an_adam_frame():
    adsl = pd.DataFrame({"USUBJID": list("abcd"), "TRT01P": ["P", "P", "D", "D"], "TRT01PN": [0, 0, 1, 1],
                         "SAFFL": ["Y", "Y", "N", "Y"], "EFFFL": ["Y", "", "Y", "Y"]})
    aset = analysis_set(adsl, by="TRT01P", population="safety")
    assert aset.frame["USUBJID"].tolist() == ["a", "b", "d"] and aset.groups == ("P", "D")
    assert analysis_set(adsl, by="TRT01P", population="efficacy").n == {"P": 1, "D": 2}
    with pytest.raises(TrialkitError, match="population flag `TRT01P` must be Y/N"):
        analysis_set(adsl, by=None, population="TRT01P")


def test_columns_come_from_every_table_and_unknown_ones_are_named(demo_b1931036):
    aset = analysis_set(demo_b1931036, columns=["sex", "country", "response", "treated", "age_band"])
    assert {"sex", "country", "response", "treated", "age_band"} <= set(aset.frame.columns)
    assert aset.frame["country"].notna().all()
    with pytest.raises(TrialkitError, match="'weight' are in none of the study's tables.*did you mean 'weight_kg'"):
        analysis_set(demo_b1931036, columns=["weight"])


def test_adsl_variables_are_reachable_on_a_study(demo_b1931036):
    s = demo_b1931036
    n = len(s.randomization)
    agegr = np.where(np.arange(n) % 3 == 0, ">80", np.where(np.arange(n) % 3 == 1, "<65", "65-80"))
    adsl = pd.DataFrame({"USUBJID": s.randomization["subject_id"], "MMSETOT": np.arange(n),
                         "AGEGR1": agegr, "AGEGR1N": pd.Series(agegr).map({"<65": 1, "65-80": 2, ">80": 3})})
    with_adsl = s.replace(adam={"adsl": adsl})
    aset = analysis_set(with_adsl, columns=["MMSETOT", "AGEGR1"])
    assert aset.frame["MMSETOT"].tolist() == list(range(n))
    # AGEGR1 ordered by AGEGR1N, not as text ("65-80" < "<65" < ">80")
    assert analysis_set(with_adsl, by="AGEGR1").groups == ("<65", "65-80", ">80")
    bt = tk.balance_table(with_adsl, covariates=["MMSETOT"])
    assert bt.n["Overall"] == len(s.randomization)


def test_one_site_join_fills_only_what_is_empty(demo_b1931036):
    frame = pd.DataFrame({"site_id": ["AT01", "DE02", "XX99"], "country": ["Recorded", None, None]})
    out = with_site_columns(frame, demo_b1931036)
    assert out["country"].tolist()[:2] == ["Recorded", "Germany"] and pd.isna(out["country"].iloc[2])
    assert frame["country"].tolist()[1] is None  # the input is not changed


@pytest.mark.parametrize("ids", ["string", "object"])
def test_a_missing_site_id_joins_no_site(demo_b1931036, ids):
    """A row without a site takes no site's country, even from a site whose id is missing too (pandas'
    map over an index would match the two missing values)."""
    sites = pd.DataFrame({"site_id": pd.array(["AT01", None], dtype=ids), "country": ["Austria", "France"]})
    study = demo_b1931036.replace(sites=sites)
    frame = pd.DataFrame({"site_id": pd.array([None, "AT01"], dtype=ids)})
    out = with_site_columns(frame, study)
    assert pd.isna(out["country"].iloc[0]) and out["country"].iloc[1] == "Austria"


def test_sites_without_site_id_is_a_trialkit_error(demo_b1931036):
    study = demo_b1931036.replace(sites=pd.DataFrame({"country": ["Austria"]}))
    with pytest.raises(TrialkitError, match="no site_id column"):
        with_site_columns(pd.DataFrame({"site_id": ["AT01"]}), study)


def test_stratum_codes_one_definition():
    codes, labels = stratum_codes(pd.DataFrame({"a": ["x", "y", "x", None], "b": ["1", "1", "2", "1"]}), ["a", "b"])
    assert codes.tolist() == [0, 1, 2, 3] and labels == ["x / 1", "y / 1", "x / 2", "(missing) / 1"]
    assert stratum_codes(pd.DataFrame({"a": [1, 2]}), None)[1] == ["all"]


# ---- the eligibility evaluation keeps no state between evaluations -----------------------------------
ABSENT = tk.Criterion(id="ABSENT", category="inclusion", rule="cd22_pct >= 70")  # cd22_pct not in the frame
BLASTS = tk.Criterion(id="BLASTS", category="inclusion", rule="marrow_blasts_pct >= t", params={"t": 5})


def test_prepared_screening_absent_inputs_do_not_depend_on_history():
    """Regression: a prepared frame remembered absent inputs from earlier evaluations (and lost them
    once the column's conversion was cached)."""
    df = pd.DataFrame({"subject_id": list("abc"), "marrow_blasts_pct": [1.0, 6.0, 9.0]})
    prep = tk.eligibility.prepare_screening(df)
    first = tk.evaluate_eligibility(prep, criteria=[ABSENT]).absent_inputs
    other = tk.evaluate_eligibility(prep, criteria=[BLASTS]).absent_inputs
    again = tk.evaluate_eligibility(prep, criteria=[ABSENT]).absent_inputs
    assert first == again == ("cd22_pct",) and other == ()
    fresh = tk.evaluate_eligibility(df, criteria=[BLASTS]).absent_inputs
    assert fresh == other


def test_prepared_screening_is_thread_safe():
    rng = np.random.default_rng(1)
    df = pd.DataFrame({"subject_id": np.arange(2000).astype(str), "marrow_blasts_pct": rng.uniform(0, 30, 2000)})
    prep = tk.eligibility.prepare_screening(df)
    expected = {t: int((df["marrow_blasts_pct"] >= t).sum()) for t in range(0, 30, 3)}
    got, errors = {}, []

    def work(ts):
        try:
            for _ in range(20):
                for t in ts:
                    got.setdefault(t, set()).add(int(tk.evaluate_eligibility(
                        prep, criteria=[BLASTS], thresholds={"t": t}).eligible.sum()))
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(list(expected)[i::2],)) for i in range(2)]
    threads += [threading.Thread(target=work, args=(list(expected),))]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors
    assert {t: v.pop() if len(v) == 1 else v for t, v in got.items()} == expected


def test_funnel_without_executable_criteria_shows_the_recorded_reasons(demo_b1931036):
    s = demo_b1931036
    from dataclasses import replace

    textual = replace(s.protocol, criteria=tuple({"id": c["id"], "category": c["category"], "text": c.get("text", "")}
                                                 for c in s.protocol.criteria))
    f = tk.funnel(s.replace(protocol=textual))
    assert f.source == "site" and "site-recorded reasons" in f.title()
    scr = s.screening
    failed = scr["screening_outcome"].eq("screen failure") & ~scr["subject_id"].isin(s.randomization["subject_id"])
    assert f.totals["screened"] == len(scr) and int(f.summary["excluded"].sum()) >= int(failed.sum())
    top = scr.loc[failed, "screen_failure_reason"].fillna("reason not recorded").value_counts()
    assert f.summary.set_index("criterion_id").loc[top.index[0], "excluded"] == top.iloc[0]


@pytest.mark.parametrize("how", ["left", "inner"])
def test_join_by_subject_gives_exactly_what_the_merge_gives(how):
    from trialkit.analysis_set import join_by_subject

    ids = pd.array(["S3", "S1", "S9", "S2"], dtype="string[pyarrow]")  # S9 has no row on the right
    left = pd.DataFrame({"subject_id": ids, "x": [3, 1, 9, 2]})
    right = pd.DataFrame({
        "subject_id": pd.array(["S1", "S2", "S3", "S4"], dtype="string[pyarrow]"),
        "i": np.array([1, 2, 3, 4]), "b": [True, False, True, False],
        "d": pd.to_datetime(["2020-01-01", None, "2021-06-30", "2022-01-01"]),
        "s": pd.array(["u", None, "w", "z"], dtype="string[pyarrow]"), "I": pd.array([1, None, 3, 4], dtype="Int64"),
        "c": pd.Categorical(["p", "q", "p", "q"]), "o": np.array(["x", 1, None, 2.5], dtype=object)})
    expected = left.merge(right, on="subject_id", how=how, validate="one_to_one")
    pd.testing.assert_frame_equal(join_by_subject(left, right, how=how), expected, check_exact=True)
    # every left subject matched: the integer and boolean columns keep their dtypes, as in the merge
    full = left[left["subject_id"] != "S9"]
    pd.testing.assert_frame_equal(join_by_subject(full, right, how=how),
                                  full.merge(right, on="subject_id", how=how), check_exact=True)
    # where the merge would suffix or refuse, it is the merge that runs
    with pytest.raises(pd.errors.MergeError):
        join_by_subject(left, pd.concat([right, right.iloc[[0]]]), how=how)
    both = join_by_subject(left.assign(i=0), right, how=how)
    assert {"i_x", "i_y"} <= set(both.columns)
