"""Safety analyses on small inline studies: explicit expected frames, hand computations, cited references,
and a deliberately broken input for every error path."""

from __future__ import annotations

import dataclasses
import warnings

import numpy as np
import pandas as pd
import pytest

import trialkit as tk
from trialkit.errors import EmptySelectionError, TrialkitError
from trialkit.model import empty_table
from trialkit.results import ARD_COLUMNS, part_from_frame
from trialkit.safety import safety_data
from trialkit.safety._stats import aalen_johansen, risk_differences

D = pd.Timestamp


def _frame(table: str, rows: list[dict]) -> pd.DataFrame:
    """A canonical table from rows (columns not given stay empty), with the canonical dtypes."""
    base = empty_table(table)
    data = {c: pd.Series([r.get(c) for r in rows], dtype=object) for c in base.columns}
    out = pd.DataFrame(data)
    for c in base.columns:
        dt = base[c].dtype
        out[c] = pd.to_datetime(out[c]) if str(dt).startswith("datetime") else out[c].astype(dt)
    return out


def ae(subject, seq, pt, soc, start, **kw) -> dict:
    return {"subject_id": subject, "ae_seq": seq, "term": pt.upper(), "preferred_term": pt, "soc": soc,
            "start_date": start, **kw}


HEP, BLOOD, GI, INF = ("Hepatobiliary disorders", "Blood and lymphatic system disorders", "Gastrointestinal disorders",
                       "Infections and infestations")
VOD = "Venoocclusive liver disease"


def tiny_study(events: list[dict] | None = None) -> tk.Study:
    """Four ALLR3 and three InO subjects; B3 never treated. First dose 2024-01-01 for everyone treated."""
    subjects = [("A1", "ALLR3"), ("A2", "ALLR3"), ("A3", "ALLR3"), ("A4", "ALLR3"), ("B1", "InO"), ("B2", "InO"),
                ("B3", "InO")]
    rnd = _frame("randomization", [{"subject_id": s, "site_id": "DE06" if s < "B" else "FR01",
                                    "randomization_date": "2023-12-28", "arm": a} for s, a in subjects])
    disp = _frame("disposition", [
        {"subject_id": "A1", "treated": True, "treatment_start_date": "2024-01-01", "last_contact_date": "2024-03-01"},
        {"subject_id": "A2", "treated": True, "treatment_start_date": "2024-01-01", "death_date": "2024-01-20",
         "last_contact_date": "2024-01-20"},
        {"subject_id": "A3", "treated": True, "treatment_start_date": "2024-01-01", "last_contact_date": "2024-01-30"},
        {"subject_id": "A4", "treated": True, "treatment_start_date": "2024-01-01", "last_contact_date": "2024-03-01"},
        {"subject_id": "B1", "treated": True, "treatment_start_date": "2024-01-01", "last_contact_date": "2024-01-30"},
        {"subject_id": "B2", "treated": True, "treatment_start_date": "2024-01-01", "last_contact_date": "2024-03-01"},
        {"subject_id": "B3", "treated": False},
    ])
    if events is None:
        events = [
            ae("A1", 1, VOD, HEP, "2024-01-10", grade=3, serious=True, related=True, outcome="recovered/resolved"),
            ae("A1", 2, "Nausea", GI, "2023-12-30", grade=1, serious=False, related=False),  # before the first dose
            ae("A1", 3, "Nausea", GI, "2024-01-03", grade=2, serious=False, related=True),
            ae("A1", 4, "Nausea", GI, "2024-01-05", grade=1, serious=False, related=True),   # same term again
            ae("A2", 1, "Sepsis", INF, "2024-01-18", grade=5, serious=True, related=False, outcome="fatal"),
            ae("A4", 1, VOD, HEP, "2024-01-20", grade=4, serious=True, related=True,
               action_taken="drug withdrawn"),
            ae("B1", 1, "Febrile neutropenia", BLOOD, "2024-01-08", grade=3, serious=True, related=True),
            ae("B2", 1, VOD, HEP, "2024-01-05", grade=2, serious=False, related=True),
            ae("B2", 2, "Nausea", GI, None, grade=None, serious=False, related=None),         # no start, no grade
            ae("B3", 1, "Nausea", GI, "2024-01-02", grade=1),                                   # not treated
        ]
    return tk.Study(protocol=tk.get_protocol("b1931036"), randomization=rnd, disposition=disp,
                    adverse_events=_frame("adverse_events", events), data_cut_date=D("2024-03-31"))


# ---------------------------------------------------------------------------------------------------------
# the input layer
# ---------------------------------------------------------------------------------------------------------
def test_safety_data_population_emergence_and_categories():
    sd = safety_data(tiny_study(), treatment_emergent=False)
    assert sd.n == {"ALLR3": 4, "InO": 2}  # the safety population: treated (disposition.safety not recorded)
    ev = sd.events.set_index(["subject_id", "ae_seq"])
    assert ("B3", 1) not in ev.index  # the untreated subject's event is left out, and counted:
    assert any("1 adverse event(s) of 1 subject(s) outside the analysis population" in n for n in sd.notes)
    assert ev["treatment_emergent"].to_dict() == {
        ("A1", 1): True, ("A1", 2): False, ("A1", 3): True, ("A1", 4): True, ("A2", 1): True, ("A4", 1): True,
        ("B1", 1): True, ("B2", 1): True, ("B2", 2): True}  # B2/2 has no start date: counted (conservative)
    assert any("1 event(s) without a start date" in n for n in sd.notes)
    cats = ev["aesi_category"].astype(object).where(ev["aesi_category"].notna(), None).to_dict()
    assert cats == {("A1", 1): "hepatic_vod_sos", ("A1", 2): None, ("A1", 3): None, ("A1", 4): None,
                    ("A2", 1): "infection", ("A4", 1): "hepatic_vod_sos", ("B1", 1): "febrile_neutropenia",
                    ("B2", 1): "hepatic_vod_sos", ("B2", 2): None}
    assert ev["fatal"].to_dict()[("A2", 1)] and int(ev["fatal"].sum()) == 1


def test_a_recorded_flag_or_category_is_never_overwritten():
    events = [ae("A1", 1, VOD, HEP, "2023-12-30", treatment_emergent=True, aesi_category="my_category")]
    sd = safety_data(tiny_study(events), treatment_emergent=False)
    row = sd.events.iloc[0]
    assert bool(row["treatment_emergent"]) and row["aesi_category"] == "my_category"
    assert not any("derived" in n for n in sd.notes)


def test_uncoded_terms_are_kept_under_their_reported_term():
    events = [{"subject_id": "A1", "ae_seq": 1, "term": "LIVER PAIN", "start_date": "2024-01-02", "grade": 1}]
    t = tk.ae_table(tiny_study(events))
    pt = t.summary[t.summary["kind"] == "pt"]
    assert set(pt["soc"]) == {"(not yet coded)"} and set(pt["term"]) == {"LIVER PAIN"}
    assert any("not yet MedDRA-coded" in n for n in t.notes)


# ---------------------------------------------------------------------------------------------------------
# ae_summary
# ---------------------------------------------------------------------------------------------------------
def test_ae_summary_counts_participants_once_per_category():
    res = tk.ae_summary(tiny_study())
    got = res.summary.pivot_table(index="category", columns="group", values="n", observed=True)
    expected = pd.DataFrame({
        # ALLR3: A1 (VOD g3 serious related; nausea g2/g1), A2 (sepsis g5 fatal), A4 (VOD g4 serious, withdrawn)
        # InO: B1 (FN g3 serious related), B2 (VOD g2 related; undated nausea)
        "ALLR3": [3, 2, 3, 3, 2, 1, 1], "InO": [2, 2, 1, 1, 1, 0, 0]},
        index=["any", "related", "grade_3_plus", "serious", "serious_related", "discontinuation", "fatal"])
    expected.index.name, expected.columns.name = "category", "group"
    got.columns = got.columns.astype(str)
    pd.testing.assert_frame_equal(got.loc[expected.index].astype("int64"), expected, check_names=False)
    assert res.summary.query("category == 'any'")["N"].tolist() == [4, 2]
    assert res.summary.query("category == 'any'")["pct"].tolist() == [75.0, 100.0]
    assert any("not treatment-emergent left out" in n for n in res.notes)



def test_ae_summary_says_when_a_category_is_not_recorded():
    """The 8 treatment-emergent events of the safety population: A1/1, A1/3, A1/4, A2/1, A4/1, B1/1, B2/1, B2/2;
    B2/2 has no grade and no relatedness, and only A4/1 records an action taken."""
    notes = tk.ae_summary(tiny_study()).notes
    assert "related not recorded for 1 of 8 event(s): 'with a related adverse event' counts only events recorded " \
           "as related" in notes
    assert any(n.startswith("grade not recorded for 1 of 8 event(s)") for n in notes)
    assert any(n.startswith("action_taken not recorded for 7 of 8 event(s)") and "not none" not in n for n in notes)
    assert not any(n.startswith("serious") for n in notes)  # recorded for every event
    events = [ae("A1", 1, VOD, HEP, "2024-01-10", grade=3, serious=True, related=True)]
    only = tk.ae_summary(tiny_study(events)).notes
    assert any(n.startswith("action_taken not recorded for 1 of 1 event(s)") and "its 0 means not recorded, not none"
               in n for n in only)

def test_ae_summary_differences_are_newcombe_and_fisher():
    res = tk.ae_summary(tiny_study())
    d = res.differences.set_index("category").loc["any"]
    ref = risk_differences([2], [2], [3], [4]).iloc[0]
    assert d["comparison"] == "InO - ALLR3" and d["rd"] == pytest.approx(0.25)
    assert (d["lower"], d["upper"], d["p_value"]) == pytest.approx((ref["lower"], ref["upper"], ref["p_value"]))
    assert d["p_value"] == pytest.approx(1.0)  # Fisher: 2/2 vs 3/4 is as likely as any table with these margins


def test_newcombe_interval_reproduces_newcombe_table_ii():
    # Newcombe RG (1998) Stat Med 17:873-890, Table II, method 10 (hybrid score, no continuity correction);
    # the same limits are SAS PROC FREQ RISKDIFF(CL=WILSON) output: (a) 56/70 - 48/80: 0.0524 to 0.3339;
    # (b) 9/10 - 3/10: 0.1705 to 0.8090; (d) 5/56 - 0/29: -0.0381 to 0.1926; (e) 0/10 - 0/20: -0.1611 to 0.2775
    d = risk_differences([56, 9, 5, 0], [70, 10, 56, 10], [48, 3, 0, 0], [80, 10, 29, 20])
    got = [(round(lo, 4), round(hi, 4)) for lo, hi in zip(d["lower"], d["upper"])]
    assert got == [(0.0524, 0.3339), (0.1705, 0.8090), (-0.0381, 0.1926), (-0.1611, 0.2775)]
    assert d["rd"].round(4).tolist() == [0.2, 0.6, 0.0893, 0.0]


# ---------------------------------------------------------------------------------------------------------
# ae_table
# ---------------------------------------------------------------------------------------------------------
def test_ae_table_each_participant_once_per_row_at_the_worst_grade():
    t = tk.ae_table(tiny_study())
    s = t.summary
    expected = pd.DataFrame({
        "order": [0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8],
        "kind": ["any"] * 2 + ["soc", "soc", "pt", "pt"] + ["soc", "soc", "pt", "pt"] * 3,
        "soc": [""] * 2 + [HEP] * 4 + [GI] * 4 + [BLOOD] * 4 + [INF] * 4,
        "term": ["Any adverse event"] * 2 + ["", "", VOD, VOD, "", "", "Nausea", "Nausea", "", "",
                                              "Febrile neutropenia", "Febrile neutropenia", "", "", "Sepsis", "Sepsis"],
        "group": ["ALLR3", "InO"] * 9,
        "N": [4, 2] * 9,
        "n": [3, 2, 2, 1, 2, 1, 1, 1, 1, 1, 0, 1, 0, 1, 1, 0, 1, 0],
        "events": [5, 3, 2, 1, 2, 1, 2, 1, 2, 1, 0, 1, 0, 1, 1, 0, 1, 0],
    })
    pd.testing.assert_frame_equal(s[expected.columns].astype({"group": str}).reset_index(drop=True), expected,
                                  check_dtype=False)
    # the frequency sort: Hepatobiliary (3 participants) before Gastrointestinal (2) ... then ties by name
    g = t.grades.query("term == 'Nausea' and group == 'ALLR3'").set_index("grade")["n"]
    assert g["grade 2"] == 1 and g["grade 1"] == 0  # A1 once, at its worst nausea grade (2 over 1)
    assert t.grades.query("term == 'Nausea' and group == 'InO'").set_index("grade")["n"]["grade missing"] == 1


def test_ae_table_filters_and_rows():
    s = tiny_study()
    g3 = tk.ae_table(s, grade=3)
    assert g3.summary.query("kind == 'any'")["n"].tolist() == [3, 1]
    assert any("1 event(s) without a grade left out" in n for n in g3.notes)
    soc_only = tk.ae_table(s, rows="soc")
    assert set(soc_only.summary["kind"]) == {"any", "soc"}
    ser = tk.ae_table(s, serious=True, soc=[HEP.upper()])  # SOC names match without regard to case
    assert ser.summary.query("kind == 'pt'")["n"].tolist() == [2, 0]
    high = tk.ae_table(s, min_pct=40)  # only terms with >= 40% in some group: sepsis (25%, 0%) and its SOC drop
    assert "Sepsis" not in set(high.summary["term"]) and INF not in set(high.summary["soc"])
    assert {VOD, "Nausea", "Febrile neutropenia"} <= set(high.summary["term"])
    assert any("2 row(s) below 40% in every group not shown" in n for n in high.notes)
    alpha = tk.ae_table(s, sort="alphabetical")
    socs = alpha.summary.query("kind == 'soc'").drop_duplicates("order")["soc"].tolist()
    assert socs == sorted(socs, key=str.casefold)
    everything = tk.ae_table(s, treatment_emergent=False)
    assert everything.summary.query("term == 'Nausea' and group == 'ALLR3'")["events"].item() == 3


def test_ae_table_display_frame_reads_like_a_submission_table():
    disp = tk.ae_table(tiny_study()).display_frame()
    assert disp.columns.tolist() == ["System organ class / preferred term", "ALLR3 (N=4) n (%) [events]",
                                     "InO (N=2) n (%) [events]", "InO - ALLR3, % (95% CI)"]
    assert disp.iloc[0, 1] == "3 (75.0%) [5]" and disp.iloc[2, 0] == "  " + VOD


# ---------------------------------------------------------------------------------------------------------
# Aalen-Johansen and aesi
# ---------------------------------------------------------------------------------------------------------
def test_aalen_johansen_equals_a_hand_computation_with_ties():
    """n = 10; at t=3 an event, a competing event and a censoring tie. By hand, CIF(t) = sum over event times
    of S(t-) d1/n: t=2: 1 * 1/10 = 0.1; t=3: 0.9 * 1/9 -> 0.2 (S = 0.9 * 7/9 = 0.7); t=6: 0.7 * 1/5 -> 0.34
    (S = 0.56); t=8 competing: S = 0.56 * 2/3; t=10: 0.37333 * 1/1 -> 0.71333."""
    t = np.array([2, 3, 3, 3, 5, 6, 6, 8, 9, 10.0])
    s = np.array([1, 1, 2, 0, 0, 1, 0, 2, 0, 1])
    state = np.random.get_state()[1].copy()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # lifelines would warn and jitter on the tie at t=3
        a = aalen_johansen(t, s)
        b = aalen_johansen(t, s)
    pd.testing.assert_frame_equal(a, b)  # deterministic
    np.testing.assert_array_equal(np.random.get_state()[1], state)  # numpy's global random state untouched
    assert a["time"].tolist() == [0, 2, 3, 5, 6, 8, 9, 10]
    np.testing.assert_allclose(a["cif"], [0, 0.1, 0.2, 0.2, 0.34, 0.34, 0.34, 0.34 + 0.56 * 2 / 3], atol=1e-12)
    assert a["at_risk"].tolist() == [10, 10, 9, 6, 5, 3, 2, 1]
    assert (a["events"].tolist(), a["competing"].tolist(), a["censored"].tolist()) == (
        [0, 1, 1, 0, 1, 0, 0, 1], [0, 0, 1, 0, 0, 1, 0, 0], [0, 0, 1, 1, 1, 0, 1, 0])
    inside = a["cif"].between(0.01, 0.99) & a["lower"].notna()
    assert inside.sum() == 6 and np.isnan(a["lower"].iloc[-1])  # lifelines gives no interval at the last point
    assert (a.loc[inside, "lower"] < a.loc[inside, "cif"]).all() and (a.loc[inside, "upper"] > a.loc[inside, "cif"]).all()


def test_aalen_johansen_reproduces_satagopan_2004_table_2():
    """Satagopan JM et al., "A note on competing risks in survival data analysis", Br J Cancer 2004;91:1229-1235,
    Table 2: 305 breast-cancer patients, of whom the table lists the nine followed shortest (months; E = death
    from breast cancer, CR = death from other causes, C = alive): 7 C, 10 E, 14 C, 16 E, 18 CR, 23 E, 24 C,
    26 CR, 27 E; the other 296 are followed longer (here: censored at 60). Published: at risk n_j 304, 302, 301,
    300, 298, 297 at 10, 16, 18, 23, 26, 27; incidence h1(t_j) S(t_j-1) 0.3 % at each breast-cancer death, with
    S(t_j-1) = 100, 99.7, 99.0, 98.3 %; cumulative incidence 0.3, 0.6, 0.9, 1.2 % (the table adds the rounded
    increments). Unrounded, by hand: 1/304 = 0.32895 %; (303/304)/302 = 0.33003 %; S(22) = 303*300/(304*302)
    = 0.990110, /300 = 0.33004 %; S(26) = 0.990110 * 299/300 * 297/298 = 0.983498, /297 = 0.33114 %; sum 1.32016 %."""
    t = np.array([7, 10, 14, 16, 18, 23, 24, 26, 27] + [60] * 296, dtype=float)
    s = np.array([0, 1, 0, 1, 2, 1, 0, 2, 1] + [0] * 296)
    a = aalen_johansen(t, s).set_index("time")
    assert a.loc[[10, 16, 18, 23, 26, 27], "at_risk"].tolist() == [304, 302, 301, 300, 298, 297]
    inc = a["cif"].diff().loc[[10, 16, 23, 27]]
    assert (100 * inc).round(1).tolist() == [0.3, 0.3, 0.3, 0.3]
    s_before = inc / (1 / a.loc[[10, 16, 23, 27], "at_risk"])  # S(t_j-1) = increment / (d_j / n_j), d_j = 1
    assert (100 * s_before).round(1).tolist() == [100.0, 99.7, 99.0, 98.3]
    assert (100 * a.loc[[10, 16, 23, 27], "cif"]).round(4).tolist() == [0.3289, 0.659, 0.989, 1.3202]

def test_cumulative_incidence_interval_equals_an_independent_computation():
    """The 95 % interval of the cumulative incidence F(t): Var F(t) = sum_i (F(t) - F(t_i))^2 d_i / (n_i (n_i - d_i))
    + sum_i S(t_i-)^2 d1_i (n_i - d1_i) / n_i^3 - 2 sum_i (F(t) - F(t_i)) S(t_i-) d1_i / n_i^2 over event times
    t_i <= t (d_i all events, d1_i events of interest; the Greenwood-type delta-method variance in Collett, Modelling
    Survival Data in Medical Research, 3rd ed., which lifelines cites), then exp(-exp(log(-log F) -/+ z SE(F) /
    (F |log F|))), the log(-log) transform. Computed by a separate short
    script (tie-aware, not lifelines) on Satagopan et al.'s Table 2 data above and on the hand example with ties."""
    t = np.array([7, 10, 14, 16, 18, 23, 24, 26, 27] + [60] * 296, dtype=float)
    s = np.array([0, 1, 0, 1, 2, 1, 0, 2, 1] + [0] * 296)
    a = aalen_johansen(t, s).set_index("time").loc[[10, 16, 23, 27], ["lower", "upper"]]
    # SE(F) 0.003284, 0.004644, 0.005682, 0.006557 at 10, 16, 23, 27
    np.testing.assert_allclose(a.to_numpy(), [[0.000319, 0.017249], [0.001344, 0.022047], [0.002763, 0.026862],
                                              [0.004431, 0.031567]], atol=5e-7)
    t = np.array([2, 3, 3, 3, 5, 6, 6, 8, 9, 10.0])
    s = np.array([1, 1, 2, 0, 0, 1, 0, 2, 0, 1])
    b = aalen_johansen(t, s).set_index("time").loc[[2, 3, 6, 8], ["lower", "upper"]]
    np.testing.assert_allclose(b.to_numpy(), [[0.005723, 0.358127], [0.030909, 0.474715], [0.074841, 0.638304],
                                              [0.074841, 0.638304]], atol=5e-7)

def test_aesi_cumulative_incidence_with_death_as_competing_risk():
    res = tk.aesi(tiny_study(), category="hepatic_vod_sos")
    assert res.summary[["group", "N", "n", "events", "serious", "grade_3_plus", "fatal"]].astype(
        {"group": str}).to_dict("records") == [
        {"group": "ALLR3", "N": 4, "n": 2, "events": 2, "serious": 2, "grade_3_plus": 2, "fatal": 0},
        {"group": "InO", "N": 2, "n": 1, "events": 1, "serious": 0, "grade_3_plus": 0, "fatal": 0}]
    # ALLR3 by hand (day 1 = first dose): A1 VOD day 10; A2 dies day 20 without VOD; A4 VOD day 20; A3 censored
    # day 30. t=10: 1 * 1/4 = 0.25 (S = 0.75); t=20: + 0.75 * 1/3 = 0.5 (the death at 20 does not lower it).
    # 1 - Kaplan-Meier with the death censored would give 1 - 0.75 * (1 - 1/3) = 0.5 at 20 as well, but 1.0
    # had A3 had the event at 30; here A3 is censored.
    inc = res.incidence[res.incidence["group"] == "ALLR3"].set_index("time")
    assert inc.loc[[0, 10, 20, 30], "cif"].tolist() == pytest.approx([0, 0.25, 0.5, 0.5])
    assert inc.loc[20, ["at_risk", "events", "competing"]].tolist() == [3, 1, 1]
    ino = res.incidence[res.incidence["group"] == "InO"].set_index("time")
    assert ino.loc[5, "cif"] == pytest.approx(0.5)  # B2 day 5 of 2
    lm = res.landmarks.set_index(["group", "time"])["cif"]
    assert lm[("ALLR3", 30.0)] == pytest.approx(0.5) and np.isnan(lm[("ALLR3", 365.0)])
    lst = res.listing
    assert lst["subject_id"].tolist() == ["A1", "A4", "B2"] and lst["study_day"].tolist() == [10, 20, 5]
    assert lst["site_id"].tolist() == ["DE06", "DE06", "FR01"]


def test_aesi_time_units_and_an_ad_hoc_category_from_the_data():
    weeks = tk.aesi(tiny_study(), category="hepatic_vod_sos", time_unit="weeks", times=[2])
    assert weeks.landmarks.query("group == 'ALLR3'")["cif"].item() == pytest.approx(0.25)  # day 14: A1 only
    events = [ae("A1", 1, "Rash", "Skin and subcutaneous tissue disorders", "2024-01-04", aesi_category="SKIN")]
    res = tk.aesi(tiny_study(events), category="skin")
    assert res.category == "SKIN" and res.summary["n"].tolist() == [1, 0]


# ---------------------------------------------------------------------------------------------------------
# the result protocol and figures
# ---------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def results():
    s = tiny_study()
    return {"ae_summary": tk.ae_summary(s), "ae_table": tk.ae_table(s), "aesi": tk.aesi(s)}


def test_results_follow_the_protocol(results):
    for name, res in results.items():
        assert isinstance(res, tk.Result) and type(res).__dataclass_params__.frozen and res.analysis == name
        assert next(iter(res.parts())) == "summary" and len(res.summary)
        long = res.to_frame()
        assert tuple(long.columns) == ARD_COLUMNS
        assert set(long["part"]) >= {k for k, v in res.parts().items() if len(v)} | {"settings"}
        html = res._repr_html_()
        assert "class='tk-result'" in html and "tk-table" in html
        with pytest.raises(dataclasses.FrozenInstanceError):
            res.summary = None


def test_to_frame_is_lossless(results):
    t = results["ae_table"]
    long = t.to_frame()
    for part in ("summary", "differences", "grades"):
        original = t.parts()[part]
        back = part_from_frame(long, part)
        assert len(back) == len(original), part
        for col in ("n", "events", "pct", "rd", "lower", "upper", "p_value"):
            if col in original.columns:
                np.testing.assert_array_equal(pd.to_numeric(back[col]).to_numpy(float),
                                              original[col].to_numpy(float), err_msg=f"{part}.{col}")
    settings = long[long["part"] == "settings"].set_index("statistic")["value"]
    assert settings["difference_method"].startswith("Newcombe hybrid score") and settings["rows"] == "pt"
    a = results["aesi"].to_frame()
    back = part_from_frame(a, "incidence")
    assert len(back) == len(results["aesi"].incidence)


def test_ae_dot_plot_and_cumulative_incidence_figures(results):
    fig = results["ae_table"].figure()
    inc = [tr for tr in fig.data if tr.meta == "incidence"]
    diff = [tr for tr in fig.data if tr.meta == "difference"]
    assert [tr.name for tr in inc] == ["ALLR3 (N=4)", "InO (N=2)"] and [tr.name for tr in diff] == ["InO - ALLR3"]
    assert list(inc[0].y) == list(diff[0].y) and set(inc[0].y) == {VOD, "Nausea", "Febrile neutropenia", "Sepsis"}
    # rows bottom to top by risk difference: the largest excess of InO (febrile neutropenia, +50 points) on top
    assert diff[0].y[-1] == "Febrile neutropenia" and diff[0].x[-1] == pytest.approx(50.0)
    assert list(inc[1].x) == pytest.approx([0.0, 50.0, 50.0, 50.0])  # InO: sepsis, VOD, nausea, FN
    # the population on a line of its own under the title (one long line was cut at the right of the page)
    head, population = results["ae_table"].title().rsplit(" — ", 1)
    assert fig.layout.title.text == f"{head}<br><sup>{population}</sup>"
    cif = results["aesi"].figure()
    curves = [tr for tr in cif.data if tr.meta == "curve"]
    assert [tr.legendgroup for tr in curves] == ["ALLR3", "InO"]
    assert max(curves[0].y) == pytest.approx(50.0) and curves[0].line.shape == "hv"
    assert len([tr for tr in cif.data if tr.meta == "band"]) == 4
    assert cif.to_dict()["layout"]["xaxis"]["title"]["text"] == "Days from first dose"


# ---------------------------------------------------------------------------------------------------------
# errors: every one a TrialkitError that says what to do
# ---------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("call, message", [
    (lambda s: tk.ae_table(s.adverse_events), "safety analyses take a Study"),
    (lambda s: tk.ae_summary(s.replace(adverse_events=empty_table("adverse_events"))), "has no adverse events"),
    (lambda s: tk.aesi(s, category="cardiac"), "unknown adverse-event-of-special-interest category 'cardiac'"),
    (lambda s: tk.ae_table(s, rows="level"), "rows must be 'soc'"),
    (lambda s: tk.ae_table(s, sort="by arm"), "sort must be one of"),
    (lambda s: tk.ae_table(s, min_pct=150), "min_pct is a percentage"),
    (lambda s: tk.ae_table(s, grade=6), "grade is the lowest CTCAE grade"),
    (lambda s: tk.ae_table(s, conf_level=95), "conf_level must lie strictly between 0 and 1"),
    (lambda s: tk.aesi(s, time_unit="fortnights"), "time_unit must be one of"),
    (lambda s: tk.ae_table(s, soc="Cardiac disorder"), "has no adverse event in this analysis"),
    (lambda s: tk.ae_summary(s, population="per_protocol"), "population 'per_protocol' is not recorded"),
    (lambda s: tk.ae_summary(s, reference="placebo"), "reference='placebo' is not one of the groups"),
])
def test_errors_say_what_to_do(call, message):
    with pytest.raises(TrialkitError, match=message.replace("(", r"\(").replace(")", r"\)")):
        call(tiny_study())


def test_a_filter_that_leaves_no_event_is_an_empty_selection():
    with pytest.raises(EmptySelectionError, match="no adverse event is left"):
        tk.ae_table(tiny_study(), grade=5, serious=False)


def test_a_malformed_aesi_section_is_reported():
    proto = tk.get_protocol("b1931036")
    bad = dataclasses.replace(proto, raw={**proto.raw, "aesi": {"vod": {"label": "VOD"}}})
    with pytest.raises(TrialkitError, match="aesi category 'vod' in protocol 'b1931036' lists no `terms:`"):
        tk.aesi(tiny_study().replace(protocol=bad))


def test_vectorised_fisher_test_equals_scipy():
    """fisher_two_sided is checked against scipy.stats.fisher_exact (its definition of the two-sided p) on random
    tables, small and trial-sized; the published p-values of Table 14-5.01 are in test_safety_cdisc.py."""
    from scipy.stats import fisher_exact

    from trialkit.safety._stats import fisher_two_sided

    rng = np.random.default_rng(7)
    n1, n0 = rng.integers(1, 300, 400), rng.integers(1, 300, 400)
    k1, k0 = rng.binomial(n1, 0.2), rng.binomial(n0, rng.uniform(0.05, 0.4, 400))
    n1, n0 = np.r_[n1, 20_000, 5, 10], np.r_[n0, 9_000, 5, 20]
    k1, k0 = np.r_[k1, 4_100, 0, 10], np.r_[k0, 1_700, 0, 0]
    ours = fisher_two_sided(k1, n1, k0, n0)
    ref = [fisher_exact([[a, b - a], [c, d - c]]).pvalue for a, b, c, d in zip(k1, n1, k0, n0)]
    np.testing.assert_allclose(ours, ref, rtol=1e-12, atol=1e-300)


@pytest.mark.parametrize("call, message", [
    (lambda s: tk.ae_table(s, serious="yes"), "serious must be True, False or None, not 'yes'"),
    (lambda s: tk.ae_summary(s, treatment_emergent="no"), "treatment_emergent must be True or False"),
    (lambda s: tk.aesi(s, times="a month"), "times are landmark times"),
    (lambda s: tk.aesi(s, times=[-1]), "times are landmark times"),
    (lambda s: tk.ae_table(s, by="sex"), "sex"),
])
def test_bad_argument_types_are_trialkit_errors(call, message):
    with pytest.raises(TrialkitError, match=message):
        call(tiny_study())


def test_listing_sort_order_is_the_one_sort_values_gives_with_missing_values():
    """The AESI listing is ordered by a lexsort on the keys pandas ranks (categorical codes, sorted distinct
    values, missing last, ties in place): on keys with ties and every kind of missing value it is the order
    DataFrame.sort_values(..., kind="stable") gives."""
    from trialkit.safety.aesi import _sort_order

    rng = np.random.default_rng(3)
    n = 200
    frame = pd.DataFrame({
        "group": pd.Categorical(rng.choice(["B", "A", None], n), categories=["B", "A"], ordered=True),
        "subject_id": pd.array(rng.choice(["s2", "s10", "S1", None], n), dtype="string"),
        "start_date": pd.to_datetime(rng.choice(["2024-01-02", "2023-12-31", None], n)),
        "ae_seq": pd.array(rng.choice([3, 1, 2, None], n), dtype="Int64")})
    keys = ["group", "subject_id", "start_date", "ae_seq"]
    expected = frame.sort_values(keys, kind="stable").index.to_numpy()
    np.testing.assert_array_equal(_sort_order([frame[k] for k in keys]), expected)
