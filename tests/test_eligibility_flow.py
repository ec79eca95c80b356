"""Funnel, exclusion lists, site disagreements and the CONSORT flow, on small inline studies whose
counts are worked out by hand, plus the CDISC pilot (306 in DM, 52 screen failures, 254 randomized:
CDISC SDTM/ADaM Pilot 01 submission package, DM/ADSL)."""

from __future__ import annotations

import dataclasses

import pandas as pd
import pytest
from test_eligibility_criteria import A_BASE, B_BASE, screening_frame

import trialkit as tk
from trialkit.errors import ProtocolError, ReconciliationError
from trialkit.model import empty_table

NA = pd.NA


def crit(cid, rule, category="inclusion", **kw):
    return tk.Criterion(id=cid, category=category, rule=rule, **kw)


SIMPLE = [crit("BLASTS", "marrow_blasts_pct >= 5"), crit("PH", "ph_positive", "exclusion")]


def simple_frame():
    return pd.DataFrame({
        "subject_id": list("abcdef"),
        "site_id": ["S1", "S1", "S2", "S2", "S2", "S3"],
        "marrow_blasts_pct": pd.array([40.0, 2.0, None, 9.0, 3.0, 12.0], dtype="Float64"),
        "ph_positive": pd.array([False, False, False, True, True, NA], dtype="boolean"),
    })


# --- funnel ---------------------------------------------------------------------------------------
def test_sequential_funnel_counts_by_hand():
    f = tk.funnel(simple_frame(), criteria=SIMPLE)
    # BLASTS: b, e fail (2); c unknown. PH among a, c, d, f: d fails; f unknown.
    expected = pd.DataFrame({
        "step": [1, 2], "criterion_id": ["BLASTS", "PH"], "label": ["BLASTS", "PH"],
        "category": ["inclusion", "exclusion"], "stage": ["screening", "screening"],
        "entering": [6, 4], "excluded": [2, 1], "unknown": [1, 1], "remaining": [4, 3],
        "remaining_all_known": [3, 1]})
    pd.testing.assert_frame_equal(f.summary, expected)
    assert f.totals == {"screened": 6, "eligible": 1, "not_eligible": 3, "undetermined": 2}
    ind = f.independent.set_index("criterion_id")
    # e fails both: it is a sole reason for neither
    assert ind.loc["BLASTS", ["met", "not_met", "unknown", "excludes", "sole_reason"]].tolist() == [3, 2, 1, 2, 1]
    assert ind.loc["PH", ["met", "not_met", "unknown", "excludes", "sole_reason"]].tolist() == [2, 3, 1, 2, 1]


def test_funnel_user_order_changes_attribution_not_totals():
    f = tk.funnel(simple_frame(), criteria=SIMPLE, order=["PH"])
    assert f.summary["criterion_id"].tolist() == ["PH", "BLASTS"]
    assert f.summary["excluded"].tolist() == [2, 1]  # d, e by PH; b by BLASTS
    assert f.totals["eligible"] == 1 and f.totals["not_eligible"] == 3
    with pytest.raises(ProtocolError, match="not evaluated"):
        tk.funnel(simple_frame(), criteria=SIMPLE, order=["NOPE"])


def test_funnel_check_raises_on_broken_counts():
    f = tk.funnel(simple_frame(), criteria=SIMPLE)
    seq = f.summary.copy()
    seq.loc[0, "excluded"] = 3
    broken = dataclasses.replace(f, summary=seq)
    with pytest.raises(ReconciliationError, match="do not reconcile"):
        broken.check()
    broken = dataclasses.replace(f, totals={**f.totals, "eligible": 5})
    with pytest.raises(ReconciliationError):
        broken.check()


def test_funnel_post_enrollment_stage_comes_last():
    rows = [{**A_BASE, "subject_id": "m1", "diagnosis": "MPAL", "mpal_confirmation_date": "2024-01-11"},
            {**A_BASE, "subject_id": "m2", "diagnosis": "MPAL", "mpal_confirmation_date": "2024-01-09"},
            {**A_BASE, "subject_id": "b1"}, {**A_BASE, "subject_id": "d1", "down_syndrome": True}]
    f = tk.funnel(screening_frame(rows), protocol="aall1732")
    last = f.summary.iloc[-1]
    assert last["criterion_id"] == "A_IN01_MPAL_CONFIRMATION" and last["stage"] == "post_enrollment"
    assert (last["entering"], last["excluded"]) == (3, 1)
    assert f.totals["eligible"] == 3 and f.totals["off_protocol_after_enrollment"] == 1


def test_funnel_rejects_options_with_an_evaluated_result():
    r = tk.evaluate_eligibility(simple_frame(), criteria=SIMPLE)
    with pytest.raises(ProtocolError, match="already evaluated"):
        tk.funnel(r, thresholds={"x": 1})


# --- exclusion lists ------------------------------------------------------------------------------
def test_exclusion_list_all_first_and_unknown(tmp_path):
    df = simple_frame()
    el = tk.exclusion_list(df, criteria=SIMPLE)
    assert el[["subject_id", "criterion_id", "status", "first_excluding"]].values.tolist() == [
        ["b", "BLASTS", "not met", True], ["e", "BLASTS", "not met", True],
        ["d", "PH", "met", True], ["e", "PH", "met", False]]
    assert el["site_id"].tolist() == ["S1", "S2", "S2", "S2"]
    first = tk.exclusion_list(df, criteria=SIMPLE, first_only=True)
    assert first["subject_id"].tolist() == ["b", "e", "d"]
    unk = tk.exclusion_list(df, criteria=SIMPLE, include_unknown=True, criterion="PH")
    assert unk[["subject_id", "status"]].values.tolist() == [["d", "met"], ["e", "met"], ["f", "unknown"]]
    # exportable
    el.to_csv(tmp_path / "x.csv", index=False)
    assert pd.read_csv(tmp_path / "x.csv")["subject_id"].tolist() == ["b", "e", "d", "e"]
    el.to_excel(tmp_path / "x.xlsx", index=False)
    assert pd.read_excel(tmp_path / "x.xlsx")["criterion_id"].tolist() == ["BLASTS", "BLASTS", "PH", "PH"]
    with pytest.raises(ProtocolError, match="unknown criterion"):
        tk.exclusion_list(df, criteria=SIMPLE, criterion="NOPE")
    none = tk.exclusion_list(df.iloc[:1], criteria=SIMPLE)
    assert none.empty and "criterion_id" in none.columns


# --- site disagreements ---------------------------------------------------------------------------
def test_screening_disagreements():
    df = simple_frame()
    df["screening_outcome"] = pd.array(["screen failure", "eligible", "eligible", "screen failure", "declined",
                                        "eligible"], dtype="string")
    d = tk.screening_disagreements(df, eligibility=tk.evaluate_eligibility(df, criteria=SIMPLE))
    assert d[["subject_id", "disagreement", "failed_criteria", "unknown_criteria"]].values.tolist() == [
        ["a", "site screen failure, rules eligible", "", ""],
        ["b", "site eligible, rules exclude", "BLASTS", ""],
        ["c", "site eligible, rules undetermined", "", "BLASTS"],
        ["f", "site eligible, rules undetermined", "", "PH"]]
    with pytest.raises(ProtocolError, match="screening_outcome"):
        tk.screening_disagreements(simple_frame(), eligibility=tk.evaluate_eligibility(simple_frame(), criteria=SIMPLE))
    with pytest.raises(ReconciliationError, match="evaluate the same data"):
        tk.screening_disagreements(df, eligibility=tk.evaluate_eligibility(df.iloc[:2], criteria=SIMPLE))


# --- CONSORT --------------------------------------------------------------------------------------
def _typed(table: str, rows: list[dict]) -> pd.DataFrame:
    base = empty_table(table)
    df = pd.DataFrame(rows)
    return pd.concat([base, df], ignore_index=True).astype(base.dtypes.to_dict())


def small_b_study():
    """8 screened: 4 randomized (3 InO, 1 ALLR3), blasts 2 % (inclusion), Ph+ (exclusion), declined,
    and one still missing an input with no site outcome (undetermined)."""
    rows = [{**B_BASE, "subject_id": f"R{i}", "screening_outcome": "eligible"} for i in range(1, 5)]
    rows += [{**B_BASE, "subject_id": "X1", "marrow_blasts_pct": 2.0, "screening_outcome": "screen failure"},
             {**B_BASE, "subject_id": "X2", "ph_positive": True, "screening_outcome": "screen failure"},
             {**B_BASE, "subject_id": "X3", "screening_outcome": "declined"},
             {**B_BASE, "subject_id": "X4", "cd22_positive": NA}]
    scr = screening_frame(rows)
    rnd = _typed("randomization", [
        {"subject_id": "R1", "site_id": "AT01", "randomization_date": "2024-06-10", "arm": "InO"},
        {"subject_id": "R2", "site_id": "AT01", "randomization_date": "2024-06-11", "arm": "InO"},
        {"subject_id": "R3", "site_id": "AT01", "randomization_date": "2024-06-12", "arm": "ALLR3"},
        {"subject_id": "R4", "site_id": "AT01", "randomization_date": "2024-06-13", "arm": "InO",
         "actual_arm": "ALLR3"}])
    dsp = _typed("disposition", [
        {"subject_id": "R1", "treated": True, "discontinued": False, "lost_to_follow_up": False, "analysed": True},
        {"subject_id": "R2", "treated": True, "discontinued": True, "discontinuation_reason": "adverse event",
         "lost_to_follow_up": False, "analysed": True},
        {"subject_id": "R3", "treated": False, "discontinued": True, "discontinuation_reason": "lost to follow-up",
         "lost_to_follow_up": True, "analysed": False},
        {"subject_id": "R4", "treated": True, "discontinued": False, "lost_to_follow_up": False, "analysed": True}])
    return tk.Study(protocol=tk.get_protocol("b1931036"), screening=scr, randomization=rnd, disposition=dsp)


def test_consort_counts_by_hand():
    flow = tk.consort(small_b_study())
    n = flow.n
    assert (n("assessed"), n("excluded"), n("randomized")) == (8, 4, 4)
    assert n("excluded", group="Not meeting inclusion criteria") == 1
    assert n("excluded", group="Not meeting inclusion criteria",
             reason="B_IN02_BLASTS: Marrow blasts >= 5 % (>= M2)") == 1
    assert n("excluded", group="Meeting exclusion criteria", reason="B_EX04_PH_POSITIVE: Philadelphia-positive") == 1
    assert n("excluded", group="Declined to participate") == 1
    assert n("excluded", group="Other reasons", reason="eligibility undetermined (criterion inputs missing)") == 1
    # allocation in the protocol's dose order (control first) and the 2:1 ratio carried along
    assert flow.arms == ("ALLR3", "InO") and flow.ratio == {"ALLR3": 1, "InO": 2}
    assert (n("allocated", arm="InO"), n("allocated", arm="ALLR3")) == (3, 1)
    assert n("received", arm="InO") == 2
    assert n("not_received", arm="InO", reason="received ALLR3 instead") == 1
    assert n("not_received", arm="ALLR3", reason="not treated (reason not recorded)") == 1
    assert n("discontinued", arm="InO", reason="adverse event") == 1
    assert n("lost_to_follow_up", arm="ALLR3") == 1 and n("discontinued", arm="ALLR3") == 0
    assert (n("analysed", arm="InO"), n("analysed", arm="ALLR3")) == (3, 0)
    assert n("excluded_from_analysis", arm="ALLR3") == 1
    subj = flow.subjects.set_index("subject_id")
    assert subj.loc["X2", "excluded_group"] == "Meeting exclusion criteria"
    assert "CONSORT" in flow._repr_html_()


def test_consort_site_reasons_only_and_not_recorded():
    st = small_b_study()
    scr = st.screening.copy()
    scr["screen_failure_reason"] = pd.array([NA] * 4 + ["B_IN02_BLASTS", NA, NA, NA], dtype="string")
    flow = tk.consort(st.replace(screening=scr), reasons="site")
    assert flow.n("excluded", group="Not meeting inclusion criteria",
                  reason="B_IN02_BLASTS: Marrow blasts >= 5 % (>= M2)") == 1  # a recorded id maps to its label
    assert flow.n("excluded", group="Screen failure, criterion not identified", reason="reason not recorded") == 1
    assert flow.n("excluded", group="Other reasons", reason="screening outcome not recorded") == 1
    assert any("no recorded reason" in note for note in flow.notes)


def test_consort_check_and_errors():
    st = small_b_study()
    flow = tk.consort(st)
    boxes = flow.summary.copy()
    boxes.loc[(boxes["box"] == "allocated") & (boxes["arm"] == "InO"), "n"] = 4
    with pytest.raises(ReconciliationError, match="randomized \\(4\\) != sum allocated"):
        dataclasses.replace(flow, summary=boxes).check()
    boxes = flow.summary.copy()
    boxes.loc[boxes["box"] == "assessed", "n"] = 9
    with pytest.raises(ReconciliationError, match="assessed \\(9\\)"):
        dataclasses.replace(flow, summary=boxes).check()
    orphan = st.randomization.copy()
    orphan.loc[0, "subject_id"] = "GHOST"
    with pytest.raises(ReconciliationError, match="not in the screening table"):
        tk.consort(st.replace(randomization=orphan))
    twice = pd.concat([st.randomization, st.randomization.iloc[:1]], ignore_index=True)
    with pytest.raises(ReconciliationError, match="randomized twice"):
        tk.consort(st.replace(randomization=twice))
    bad_arm = st.randomization.copy()
    bad_arm.loc[0, "arm"] = "PLACEBO"
    with pytest.raises(ReconciliationError, match="PLACEBO"):
        tk.consort(st.replace(randomization=bad_arm))
    with pytest.raises(ProtocolError, match="needs a Study"):
        tk.consort(st.screening)
    with pytest.raises(ProtocolError, match="reasons="):
        tk.consort(st, reasons="guess")


def test_consort_post_enrollment_box_aall1732():
    rows = [{**A_BASE, "subject_id": "m1", "diagnosis": "MPAL", "mpal_confirmation_date": "2024-01-11",
             "screening_outcome": "eligible"},
            {**A_BASE, "subject_id": "b1", "screening_outcome": "eligible"}]
    rnd = _typed("randomization", [
        {"subject_id": "m1", "site_id": "COG001", "randomization_date": "2024-02-01", "arm": "CHEMO+InO"},
        {"subject_id": "b1", "site_id": "COG001", "randomization_date": "2024-02-01", "arm": "CHEMO"}])
    st = tk.Study(protocol=tk.get_protocol("aall1732"), screening=screening_frame(rows), randomization=rnd)
    flow = tk.consort(st)
    mpal = "A_IN01_MPAL_CONFIRMATION: MPAL centrally confirmed within 7 business days"
    assert flow.n("off_protocol_post_enrollment", arm="CHEMO+InO", reason=mpal) == 1
    assert flow.n("off_protocol_post_enrollment", arm="CHEMO") == 0
    # no disposition says so: the rules take the subject off protocol, and the notes name the conflict
    assert any("records no discontinuation" in note for note in flow.notes)
    assert flow.n("not_received", arm="CHEMO", reason="treatment status not recorded") == 1
    assert any("no disposition record" in note for note in flow.notes)


@pytest.mark.cdisc
def test_consort_reconciles_on_the_cdisc_pilot(cdisc_study):
    study = cdisc_study
    flow = tk.consort(study)  # .check() ran inside
    # CDISC Pilot 01: DM has 306 subjects, 52 with ARMCD = SCRNFAIL, 254 randomized (86 / 84 / 84)
    assert (flow.n("assessed"), flow.n("excluded"), flow.n("randomized")) == (306, 52, 254)
    # no IE domain and no SUPPDS reason for screen failures: shown as not recorded, nothing invented
    assert flow.n("excluded", group="Screen failure, criterion not identified", reason="reason not recorded") == 52
    assert flow.n("excluded", group="Not meeting inclusion criteria") == 0
    assert [flow.n("allocated", arm=a) for a in flow.arms] == [86, 84, 84]
    assert sum(flow.n("analysed", arm=a) for a in flow.arms) == 254


@pytest.mark.parametrize("fixture", ["demo_b1931036", "demo_aall1732"])
def test_funnel_and_consort_reconcile_on_the_demo_studies(fixture, request):
    study = request.getfixturevalue(fixture)
    fun = tk.funnel(study)
    fun.check()
    res = tk.evaluate_eligibility(study)
    assert fun.totals["eligible"] == int(res.eligible.eq(True).sum())
    assert fun.totals["screened"] == len(study.screening)
    flow = tk.consort(study)  # .check() ran inside
    assert flow.n("assessed") == len(study.screening)
    assert flow.n("randomized") == len(study.randomization)
    counts = study.randomization["arm"].value_counts()
    assert [flow.n("allocated", arm=a) for a in flow.arms] == [int(counts.get(a, 0)) for a in flow.arms]
    # every subject sits in exactly one leaf
    assert flow.subjects["subject_id"].is_unique and len(flow.subjects) == len(study.screening)
    d = tk.screening_disagreements(study, eligibility=res)
    assert set(d["disagreement"]) <= {"site eligible, rules exclude", "site eligible, rules undetermined",
                                      "site screen failure, rules eligible"}
    # pooled over arms (site and study-team pages): each box after randomization is the arms' sum,
    # with the same breakdown by reason; the boxes before it are unchanged; it still reconciles
    pooled = flow.pooled().check()
    assert pooled.arms == ("all arms",) and pooled.title().endswith(f"(all arms: {len(study.randomization)})")
    b = flow.summary
    after = b["arm"].notna()
    by_arm = b[after].fillna({"group": "", "reason": ""}).groupby(["box", "group", "reason"])["n"].sum()
    p = pooled.summary
    got = p[p["arm"].notna()].fillna({"group": "", "reason": ""}).groupby(["box", "group", "reason"])["n"].sum()
    pd.testing.assert_series_equal(got.sort_index(), by_arm.sort_index())
    pd.testing.assert_frame_equal(p[p["arm"].isna()].reset_index(drop=True), b[~after].reset_index(drop=True))
    assert pooled.subjects["arm"].value_counts().to_dict() == {"all arms": len(study.randomization)}


def test_site_reasons_naming_several_criteria_or_free_text():
    st = small_b_study()
    scr = st.screening.copy()
    scr["screen_failure_reason"] = pd.array(
        [NA] * 4 + ["B_EX04_PH_POSITIVE; B_IN02_BLASTS", "investigator judgement", NA, NA], dtype="string")
    flow = tk.consort(st.replace(screening=scr), reasons="site")
    # filed under the first named criterion's group, every named criterion listed
    assert flow.n("excluded", group="Meeting exclusion criteria",
                  reason="B_EX04_PH_POSITIVE: Philadelphia-positive; B_IN02_BLASTS: Marrow blasts >= 5 % (>= M2)") == 1
    assert flow.n("excluded", group="Screen failure, criterion not identified",
                  reason="as recorded: investigator judgement") == 1


# --- reconciliation: every subject in exactly one box, every funnel row adds up --------------------
def _follow_up_events(study, res) -> pd.DataFrame:
    """Per randomized subject, from the tables and the rules directly (not from the flow): lost to
    follow-up, discontinued, or failing a post-enrollment criterion."""
    rnd = study.randomization[["subject_id", "arm"]].astype({"subject_id": str})
    d = study.disposition.assign(subject_id=study.disposition["subject_id"].astype(str)).set_index("subject_id")
    post = [j for j, c in enumerate(res.criteria) if c.stage != "screening"]
    fails = pd.Series((res.pass_codes[:, post] == 0).any(axis=1) if post else False,
                      index=pd.Index(res.subject_ids).astype(str))
    ev = rnd.assign(lost=rnd["subject_id"].map(d["lost_to_follow_up"]).fillna(False).astype(bool),
                    disc=rnd["subject_id"].map(d["discontinued"]).fillna(False).astype(bool),
                    post=rnd["subject_id"].map(fails).fillna(False).astype(bool))
    return ev


def _assert_every_subject_in_one_box(study, flow, res):
    subj = flow.subjects
    assert subj["subject_id"].is_unique and len(subj) == flow.n("assessed")
    out = subj[~subj["randomized"].astype(bool)]
    got = out.groupby(["excluded_group", "excluded_reason"]).size()
    for (g, r), k in got.items():
        assert flow.n("excluded", group=g, reason=r) == k, (g, r)
    assert got.sum() == flow.n("excluded")
    ev = _follow_up_events(study, res)
    for a in flow.arms:
        ea = ev[ev["arm"] == a]
        boxes = ("lost_to_follow_up", "discontinued", "off_protocol_post_enrollment")
        # the follow-up boxes hold each subject with an event once: their sum is the number of subjects
        assert sum(flow.n(b, arm=a) for b in boxes) == int((ea["lost"] | ea["disc"] | ea["post"]).sum()), a
        sa = subj[subj["arm"] == a]
        for b in boxes:
            assert flow.n(b, arm=a) == int((sa["follow_up"] == b).sum()), (a, b)
        assert flow.n("received", arm=a) + flow.n("not_received", arm=a) == flow.n("allocated", arm=a)
        assert flow.n("analysed", arm=a) + flow.n("excluded_from_analysis", arm=a) == flow.n("allocated", arm=a)


def _assert_funnel_rows_add_up(fun):
    s = fun.summary
    assert s["entering"].iloc[0] == fun.totals["screened"]
    assert (s["remaining"] == s["entering"] - s["excluded"]).all()
    # every step, post-enrollment ones included, enters exactly what the step before left
    assert s["entering"].iloc[1:].tolist() == s["remaining"].iloc[:-1].tolist()
    scr = s[s["stage"] == "screening"]
    assert scr["remaining_all_known"].iloc[-1] == fun.totals["eligible"]
    assert scr["remaining"].iloc[-1] == fun.totals["eligible"] + fun.totals["undetermined"]
    post = s[s["stage"] != "screening"]
    assert post["excluded"].sum() == fun.totals.get("off_protocol_after_enrollment", 0)


@pytest.mark.parametrize("fixture", ["demo_b1931036", "demo_aall1732"])
@pytest.mark.parametrize("what_if", [{}, {"disabled": ("B_IN02_HR_TIMING",)}, {"thresholds": {"age_max_years": 30}}])
def test_every_subject_in_one_box_and_every_funnel_row_adds_up(fixture, what_if, request):
    study = request.getfixturevalue(fixture)
    if "disabled" in what_if and fixture == "demo_aall1732":
        what_if = {"disabled": ("A_EX01_DOWN_SYNDROME",)}
    res = tk.evaluate_eligibility(study, **what_if)
    _assert_funnel_rows_add_up(tk.funnel(res))
    _assert_every_subject_in_one_box(study, tk.consort(study, eligibility=res), res)


def test_aall1732_mpal_off_protocol_once_and_funnel_continues(demo_aall1732):
    """The two MPAL patients whom the site took off protocol (discontinued, 'off protocol: MPAL …') and the
    rules fail after enrollment are counted once, under 'Off protocol after enrollment'; the funnel's MPAL
    step enters the 268 the last screening step left (247 eligible + 21 undetermined), not 247."""
    flow = tk.consort(demo_aall1732)
    off = flow.subjects.query("follow_up == 'off_protocol_post_enrollment'")
    assert sorted(off["subject_id"]) == ["COG024-0004", "COG031-0007"]
    assert off["discontinued_reason"].str.startswith("off protocol: MPAL").all()  # the site's record is kept
    assert not flow.summary["reason"].fillna("").str.startswith("off protocol: MPAL").any()
    fun = tk.funnel(demo_aall1732)
    mpal = fun.summary.set_index("criterion_id").loc["A_IN01_MPAL_CONFIRMATION"]
    assert (mpal["entering"], mpal["excluded"], mpal["remaining"]) == (268, 2, 266)
    assert fun.totals == {"screened": 400, "eligible": 247, "not_eligible": 132, "undetermined": 21,
                          "off_protocol_after_enrollment": 2}


def test_consort_of_a_what_if_never_lists_a_switched_off_criterion(demo_b1931036):
    res = tk.evaluate_eligibility(demo_b1931036, disabled=["B_IN02_BLASTS"], thresholds={"bilirubin_max_x_uln": 3})
    flow = tk.consort(demo_b1931036, eligibility=res)
    reasons = flow.summary["reason"].dropna()
    assert not reasons.str.startswith("B_IN02_BLASTS").any()
    site = reasons[reasons.str.contains("B_IN02_BLASTS")]
    # the site's own record naming it is kept, said to be switched off, under "Other reasons"
    assert len(site) and site.str.endswith("switched off in this what-if").all()
    assert (flow.summary.loc[site.index, "group"] == "Other reasons").all()
    assert flow.disabled == ("B_IN02_BLASTS",) and flow.changed == {"bilirubin_max_x_uln": 1.5}
    assert flow.params["bilirubin_max_x_uln"] == 3 and flow.what_if
    assert not tk.consort(demo_b1931036).what_if


def test_funnel_problems_name_the_broken_row():
    from trialkit.eligibility.funnel import funnel_problems

    rows = [{**A_BASE, "subject_id": "m1", "diagnosis": "MPAL", "mpal_confirmation_date": "2024-01-11"},
            {**A_BASE, "subject_id": "b1"}]
    f = tk.funnel(screening_frame(rows), protocol="aall1732")
    assert funnel_problems(f.summary, f.totals) == []
    s = f.summary.copy()
    s.loc[s.index[-1], "entering"] = 1  # the post-enrollment step entering fewer than the step before left
    s.loc[s.index[-1], "remaining"] = 0
    problems = funnel_problems(s, f.totals)
    assert any(p.startswith(f"step {len(s)} enters 1 but the step before left 2") for p in problems)
    with pytest.raises(ReconciliationError, match="enters 1 but the step before left 2"):
        dataclasses.replace(f, summary=s).check()
    t = {**f.totals, "off_protocol_after_enrollment": 0}
    assert any("post-enrollment steps exclude 1" in p for p in funnel_problems(f.summary, t))


def test_consort_check_catches_a_subject_in_two_follow_up_boxes(demo_aall1732):
    flow = tk.consort(demo_aall1732)
    b = flow.summary.copy()
    tot = (b["box"] == "discontinued") & (b["arm"] == "CHEMO") & b["reason"].isna()
    b.loc[tot, "n"] = flow.n("allocated", arm="CHEMO")  # every subject discontinued, and some off protocol too
    extra = pd.DataFrame({"box": ["discontinued"], "arm": ["CHEMO"], "group": [NA], "reason": ["added"],
                          "n": [int(b.loc[tot, "n"].iloc[0]) - 3]}).astype(b.dtypes.to_dict())
    b = pd.concat([b, extra], ignore_index=True)
    with pytest.raises(ReconciliationError, match="counted in more than one follow-up box"):
        dataclasses.replace(flow, summary=b).check()
