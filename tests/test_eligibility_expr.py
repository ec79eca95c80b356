"""The rule language: whitelist refusals, three-valued (Kleene) logic, and the derived-input functions."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import trialkit as tk
from trialkit.eligibility import derive
from trialkit.errors import ProtocolError, UnsafeExpressionError

NA = pd.NA


def crit(rule, **kw):
    return tk.Criterion(id=kw.pop("id", "C1"), category=kw.pop("category", "inclusion"), rule=rule, **kw)


# --- refusals -------------------------------------------------------------------------------------
@pytest.mark.parametrize("rule, construct", [
    ("__import__('os').system('true')", "__import__"),
    ("marrow_blasts_pct.__class__", "attribute access"),
    ("open('/etc/passwd')", "`open`"),
    ("marrow_blasts_pct[0] > 1", "subscript"),
    ("(lambda: 1)() > 0", "lambda"),
    ("[x for x in [1]] == [1]", "list comprehension"),
    ("marrow_blasts_pct ** 2 > 1", "Pow"),
    ("ratio_to_uln(x=ast_u_l, uln=ast_uln_u_l) < 5", "keyword arguments"),
    ("diagnosis in [diagnosis]", "non-literal"),
    ("eval('1') == 1", "`eval`"),
    ("{'a': 1} == 1", "dict literal"),
    ("1 if ph_positive else 0", "conditional expression"),
    ("f'{ph_positive}' == 'x'", "f-string"),
    ("(y := 1) == 1", "assignment expression"),
    ("print(ph_positive)", "`print`"),
])
def test_unsafe_constructs_are_refused_naming_criterion_and_construct(rule, construct):
    with pytest.raises(UnsafeExpressionError) as info:
        crit(rule, id="BAD_RULE")
    msg = str(info.value)
    assert "BAD_RULE" in msg and construct in msg


def test_unsafe_rule_in_a_protocol_file_is_refused(tmp_path):
    (tmp_path / "evil.yaml").write_text(
        "id: evil\ntitle: t\nage: {min_years: 1, max_years: 18}\n"
        "arms: [{code: A, label: a, ratio: 1}, {code: B, label: b, ratio: 1}]\n", encoding="utf-8")
    (tmp_path / "evil.criteria.yaml").write_text(
        "criteria:\n  - {id: E1, category: inclusion, rule: \"__import__('os').getcwd() == ''\"}\n",
        encoding="utf-8")
    p = tk.load_protocol(tmp_path / "evil.yaml")
    with pytest.raises(UnsafeExpressionError, match="E1"):
        tk.evaluate_eligibility(pd.DataFrame({"subject_id": ["a"]}), protocol=p)


@pytest.mark.parametrize("rule, problem", [
    ("unknown_column > 1", "neither a screening column"),
    ("marrow_blasts_pct >", "not a valid expression"),
    ("", "non-empty"),
    ("ratio_to_uln(ast_u_l) < 5", "takes 2 argument"),
])
def test_malformed_rules_raise_protocol_error(rule, problem):
    with pytest.raises(ProtocolError, match=problem):
        crit(rule)


def test_declared_inputs_must_match_the_rule():
    with pytest.raises(ProtocolError, match="Make the two agree"):
        crit("marrow_blasts_pct >= 5", inputs=("cd22_pct",))


def test_bad_category_stage_and_params():
    with pytest.raises(ProtocolError, match="category"):
        crit("ph_positive", category="maybe")
    with pytest.raises(ProtocolError, match="stage"):
        crit("ph_positive", stage="later")
    with pytest.raises(ProtocolError, match="must be a number"):
        crit("marrow_blasts_pct >= t", params={"t": "five"})


def test_type_errors_at_evaluation_say_what_to_fix():
    df = pd.DataFrame({"subject_id": ["a"], "diagnosis": pd.array(["B-ALL"], dtype="string")})
    with pytest.raises(ProtocolError, match="cannot compare a str value with a num value"):
        tk.evaluate_eligibility(df, criteria=[crit("diagnosis > 3")])
    df = pd.DataFrame({"subject_id": ["a"], "marrow_blasts_pct": [3.0]})
    with pytest.raises(ProtocolError, match="true/false operands"):
        tk.evaluate_eligibility(df, criteria=[crit("marrow_blasts_pct and marrow_blasts_pct > 1")])


# --- Kleene logic ---------------------------------------------------------------------------------
def test_kleene_and_or_not_truth_tables():
    # a, b over {True, False, unknown}: the 9 combinations
    a = pd.array([True, True, True, False, False, False, NA, NA, NA], dtype="boolean")
    b = pd.array([True, False, NA, True, False, NA, True, False, NA], dtype="boolean")
    df = pd.DataFrame({"subject_id": [f"s{i}" for i in range(9)], "ph_positive": a, "down_syndrome": b})
    r = tk.evaluate_eligibility(df, criteria=[
        crit("ph_positive and down_syndrome", id="AND"), crit("ph_positive or down_syndrome", id="OR"),
        crit("not ph_positive", id="NOT")])
    # Kleene's strong three-valued logic (S. C. Kleene, Introduction to Metamathematics, 1952, §64)
    assert r.status["AND"].tolist() == [1, 0, -1, 0, 0, 0, -1, 0, -1]
    assert r.status["OR"].tolist() == [1, 1, 1, 1, 0, -1, 1, -1, -1]
    assert r.status["NOT"].tolist() == [0, 0, 0, 1, 1, 1, -1, -1, -1]


def test_comparisons_arithmetic_in_and_functions():
    df = pd.DataFrame({
        "subject_id": ["a", "b", "c", "d"],
        "marrow_blasts_pct": pd.array([10.0, 4.0, None, 7.0], dtype="Float64"),
        "relapse_site": pd.array(["bone marrow", "isolated extramedullary", None, "bone marrow + CNS"],
                                 dtype="string"),
        "ast_u_l": pd.array([100.0, 50.0, 10.0, 1.0], dtype="Float64"),
        "ast_uln_u_l": pd.array([40.0, 0.0, None, 1.0], dtype="Float64"),
    })
    r = tk.evaluate_eligibility(df, criteria=[
        crit("5 <= marrow_blasts_pct < 8", id="CHAIN"),
        crit("marrow_blasts_pct * 2 - 1 > 10", id="ARITH"),
        crit("relapse_site not in ['isolated extramedullary']", id="NOTIN"),
        crit("ratio_to_uln(ast_u_l, ast_uln_u_l) <= 2.5", id="ULN"),
        crit("ast_u_l / ast_uln_u_l <= 2.5", id="DIV"),
        crit("known(marrow_blasts_pct)", id="KNOWN"),
        crit("coalesce(marrow_blasts_pct, ast_u_l) > 5", id="COAL"),
        crit("-marrow_blasts_pct < -5", id="NEG"),
    ])
    assert r.status["CHAIN"].tolist() == [0, 0, -1, 1]
    assert r.status["ARITH"].tolist() == [1, 0, -1, 1]
    assert r.status["NOTIN"].tolist() == [1, 0, -1, 1]
    # 100/40 = 2.5; ULN 0 is not a valid ULN -> unknown; missing ULN -> unknown
    assert r.status["ULN"].tolist() == [1, -1, -1, 1]
    assert r.status["DIV"].tolist() == [1, -1, -1, 1]
    assert r.status["KNOWN"].tolist() == [1, 1, 0, 1]
    assert r.status["COAL"].tolist() == [1, 0, 1, 1]
    assert r.status["NEG"].tolist() == [1, 0, -1, 1]


def test_absent_column_is_unknown_and_reported():
    df = pd.DataFrame({"subject_id": ["a", "b"]})
    r = tk.evaluate_eligibility(df, criteria=[crit("marrow_blasts_pct >= 5")])
    assert r.codes[:, 0].tolist() == [-1, -1]
    assert r.absent_inputs == ("marrow_blasts_pct",)
    assert r.eligible.isna().all()


# --- Python criteria, thresholds, switching off, derivations --------------------------------------
def test_python_callable_criterion_and_what_if_thresholds():
    df = pd.DataFrame({"subject_id": ["a", "b", "c"], "marrow_blasts_pct": [40.0, 7.0, None],
                       "hb": [9.0, None, 7.0]})
    hb = tk.Criterion(id="HB", category="inclusion", rule=lambda f: f["hb"].astype("Float64") >= 8,
                      inputs=("hb",))
    blasts = crit("marrow_blasts_pct >= blasts_min", id="BL", params={"blasts_min": 5})
    r = tk.evaluate_eligibility(df, criteria=[blasts], extra_criteria=[hb])
    assert r.status["HB"].tolist() == [1, -1, 0]
    assert r.eligible.tolist() == [True, NA, False]
    r10 = tk.evaluate_eligibility(df, criteria=[blasts, hb], thresholds={"blasts_min": 10})
    assert r10.status["BL"].tolist() == [1, 0, -1]
    assert r10.params == {"BL": {"blasts_min": 10.0}}
    r_q = tk.evaluate_eligibility(df, criteria=[blasts, hb], thresholds={"BL.blasts_min": 50})
    assert r_q.status["BL"].tolist() == [0, 0, -1]
    off = tk.evaluate_eligibility(df, criteria=[blasts, hb], disabled=["HB"])
    assert off.criterion_ids == ["BL"] and off.eligible.tolist() == [True, True, NA]
    with pytest.raises(ProtocolError, match="unknown threshold"):
        tk.evaluate_eligibility(df, criteria=[blasts], thresholds={"nope": 1})
    with pytest.raises(ProtocolError, match="cannot switch off"):
        tk.evaluate_eligibility(df, criteria=[blasts], disabled=["NOPE"])
    with pytest.raises(ProtocolError, match="appear more than once"):
        tk.evaluate_eligibility(df, criteria=[blasts, blasts])
    with pytest.raises(ProtocolError, match="must return booleans"):
        tk.evaluate_eligibility(df, criteria=[tk.Criterion(id="X", category="inclusion", rule=lambda f: f["hb"])])


def test_protocol_thresholds_move_the_eligible_count():
    from test_eligibility_criteria import B_BASE, screening_frame

    rows = [{**B_BASE, "subject_id": f"s{i}", "marrow_blasts_pct": float(v)} for i, v in enumerate([3, 6, 12, 40])]
    df = screening_frame(rows)
    assert tk.evaluate_eligibility(df, protocol="b1931036").eligible.sum() == 3
    assert tk.evaluate_eligibility(df, protocol="b1931036", thresholds={"blasts_min_pct": 25}).eligible.sum() == 1
    assert tk.evaluate_eligibility(df, protocol="b1931036", disabled=["B_IN02_BLASTS"]).eligible.sum() == 4


def test_replaceable_renal_derivation():
    from test_eligibility_criteria import B_BASE, screening_frame

    df = screening_frame([B_BASE])
    r = tk.evaluate_eligibility(df, protocol="b1931036",
                                derivations={"renal_function_ml_min": lambda f: np.full(len(f), 10.0)})
    assert r.status["B_IN03_RENAL"].tolist() == [0]
    with pytest.raises(ProtocolError, match="one value per screened row"):
        tk.evaluate_eligibility(df, protocol="b1931036",
                                derivations={"renal_function_ml_min": lambda f: np.ones(3)})


def test_order_and_errors_on_bad_data():
    df = pd.DataFrame({"subject_id": ["a"], "ph_positive": [True]})
    r = tk.evaluate_eligibility(df, criteria=[crit("ph_positive", id="A"), crit("not ph_positive", id="B")],
                                order=["B"])
    assert r.criterion_ids == ["B", "A"]
    with pytest.raises(ProtocolError, match="unknown criterion"):
        tk.evaluate_eligibility(df, criteria=[crit("ph_positive", id="A")], order=["Z"])
    with pytest.raises(ProtocolError, match="Study or a screening DataFrame"):
        tk.evaluate_eligibility([1, 2], criteria=[crit("ph_positive")])
    with pytest.raises(ProtocolError, match="no criteria to evaluate"):
        tk.evaluate_eligibility(df)


# --- derived inputs with explicit values ----------------------------------------------------------
def test_schwartz_bedside_egfr():
    # Schwartz GJ et al., J Am Soc Nephrol 2009;20:629-637: eGFR = 0.413 x height(cm) / SCr(mg/dL)
    # 0.413 * 120 / 0.5 = 99.12 ; 0.413 * 80 / 0.3 = 110.1333... ; creatinine 0 or missing -> NaN
    out = derive.schwartz_bedside_egfr(np.array([120.0, 80.0, 100.0, np.nan]), np.array([0.5, 0.3, 0.0, 0.4]))
    np.testing.assert_allclose(out[:2], [99.12, 110.13333333], rtol=1e-9)
    assert np.isnan(out[2:]).all()


def test_age_in_years_exact():
    b = np.array(["2008-03-01", "2008-02-29", "2010-06-15", "NaT"], "M8[D]")
    a = np.array(["2026-03-01", "2026-02-28", "2011-06-14", "2020-01-01"], "M8[D]")
    out = derive.age_in_years(b, a)
    # 18th birthday -> 18.0; a 29-Feb birthday is reached on 28-Feb; one day before the 1st birthday:
    # 0 completed years + 364/365 of the year 2010-06-15..2011-06-15
    np.testing.assert_allclose(out[:3], [18.0, 18.0, 364 / 365])
    assert np.isnan(out[3])


def test_months_and_days_between():
    s = np.array(["2022-01-10", "2024-01-01", "NaT"], "M8[D]")
    e = np.array(["2024-05-20", "2023-12-01", "2024-01-01"], "M8[D]")
    np.testing.assert_allclose(derive.days_between(s, e)[:2], [861, -31])
    # 861 / 30.4375 = 28.2875...
    np.testing.assert_allclose(derive.months_between(s, e)[:2], [861 / 30.4375, -31 / 30.4375])
    assert np.isnan(derive.months_between(s, e)[2])


def test_business_days_between():
    # Mon 2024-01-01 -> Wed 2024-01-10: Jan 2,3,4,5,8,9,10 = 7; -> Thu 11 = 8; same day = 0;
    # Fri 2024-01-05 -> Mon 2024-01-08 = 1 (weekend skipped); with Jan 8 a holiday -> 0
    s = np.array(["2024-01-01", "2024-01-01", "2024-01-01", "2024-01-05", "NaT"], "M8[D]")
    e = np.array(["2024-01-10", "2024-01-11", "2024-01-01", "2024-01-08", "2024-01-02"], "M8[D]")
    out = derive.business_days_between(s, e)
    assert out[:4].tolist() == [7, 8, 0, 1]
    assert np.isnan(out[4])
    assert derive.business_days_between(s[3:4], e[3:4], holidays=["2024-01-08"]).tolist() == [0]


def test_ratio_to_uln():
    out = derive.ratio_to_uln(np.array([200.0, 10.0, 5.0]), np.array([40.0, 0.0, np.nan]))
    assert out[0] == 5.0 and np.isnan(out[1:]).all()


def test_renal_function_prefers_reported_value():
    f = pd.DataFrame({"egfr_ml_min": pd.array([25.0, None, None], dtype="Float64"),
                      "height_cm": [120.0, 120.0, None], "creatinine_mg_dl": [0.5, 0.5, 0.5]})
    out = derive.derive_renal_function_ml_min(f)
    np.testing.assert_allclose(out[:2], [25.0, 99.12])
    assert np.isnan(out[2])


def test_prepared_screening_matches_direct_evaluation_for_every_threshold():
    from test_eligibility_criteria import B_BASE, screening_frame

    from trialkit.eligibility import prepare_screening

    rows = [{**B_BASE, "subject_id": f"s{i}", "marrow_blasts_pct": float(v), "bilirubin_mg_dl": b}
            for i, (v, b) in enumerate([(3, 0.5), (6, 2.0), (12, NA), (40, 1.0)])]
    df = screening_frame(rows)
    prep = prepare_screening(df)
    for thr in ({}, {"blasts_min_pct": 10.0}, {"bilirubin_max_x_uln": 2.0}, {"blasts_min_pct": 10.0}):
        a = tk.evaluate_eligibility(prep, protocol="b1931036", thresholds=thr)
        b = tk.evaluate_eligibility(df, protocol="b1931036", thresholds=thr)
        np.testing.assert_array_equal(a.codes, b.codes)
    with pytest.raises(ProtocolError, match="derivations are fixed"):
        tk.evaluate_eligibility(prep, protocol="b1931036", derivations={"renal_function_ml_min": lambda f: f})


def test_column_cache_gives_the_same_derived_values():
    f = pd.DataFrame({"age_years": pd.array([5.0, None, None], dtype="Float64"),
                      "birth_date": pd.to_datetime(["2010-01-01", "2008-03-01", None]),
                      "screening_date": pd.to_datetime(["2020-01-01", "2026-03-01", "2026-03-01"])})
    plain = derive.derive_age_at_screening(f)
    cached = derive.derive_age_at_screening(derive.ColumnCache(f))
    np.testing.assert_array_equal(plain[:2], [5.0, 18.0])
    np.testing.assert_array_equal(plain[:2], cached[:2])
    assert np.isnan(plain[2]) and np.isnan(cached[2])


@pytest.mark.parametrize("dtype", ["string", "string[pyarrow]", "object", "category"])
def test_text_columns_of_any_storage(dtype):
    df = pd.DataFrame({"subject_id": list("abcd"),
                       "relapse_site": pd.Series(["bone marrow", "isolated extramedullary", None, "bone marrow"],
                                                 dtype=dtype)})
    r = tk.evaluate_eligibility(df, criteria=[crit("relapse_site == 'isolated extramedullary'", category="exclusion"),
                                              crit("relapse_site in ['bone marrow']", id="C2")])
    assert r.codes[:, 0].tolist() == [0, 1, -1, 0]
    assert r.codes[:, 1].tolist() == [1, 0, -1, 1]


def test_text_only_protocol_criteria_are_refused_with_a_way_out(tmp_path):
    (tmp_path / "txt.yaml").write_text(
        "id: txt\ntitle: t\nage: {min_years: 1, max_years: 18}\n"
        "arms: [{code: A, label: a, ratio: 1}, {code: B, label: b, ratio: 1}]\n"
        "criteria: [{id: INCL01, kind: inclusion, text: 'Adults', source: TI}]\n", encoding="utf-8")
    p = tk.load_protocol(tmp_path / "txt.yaml")
    with pytest.raises(ProtocolError, match="text only"):
        tk.evaluate_eligibility(pd.DataFrame({"subject_id": ["a"]}), protocol=p)


def test_text_where_numbers_are_expected_is_a_data_error_not_a_silent_coercion():
    from trialkit.errors import DataValidationError

    df = pd.DataFrame({"subject_id": ["a", "b"], "marrow_blasts_pct": ["40", "five"]})
    with pytest.raises(DataValidationError) as info:
        tk.evaluate_eligibility(df, criteria=[crit("marrow_blasts_pct >= 5")])
    fc = info.value.failure_cases
    assert fc["column"].tolist() == ["marrow_blasts_pct", "marrow_blasts_pct"]
    assert fc["value"].tolist() == ["40", "five"] and "pd.to_numeric" in fc["fix"].iloc[0]


def test_text_dates_for_a_derived_input_are_a_data_error():
    from trialkit.errors import DataValidationError

    df = pd.DataFrame({"subject_id": ["a"], "diagnosis_date": ["2022-01-10"],
                       "relapse_date": pd.to_datetime(["2024-05-20"])})
    with pytest.raises(DataValidationError, match="diagnosis_date"):
        tk.evaluate_eligibility(df, criteria=[crit("months_diagnosis_to_relapse >= 18")])
