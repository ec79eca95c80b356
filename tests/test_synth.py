"""Tests of the synthetic trial generator (trialkit.synth).

Expected values of rates come from the generator's own documented parameters
(docs/synthetic-data.md; trialkit/synth/_course.py, _missing.py, _verdict.py), with binomial
tolerances of at least 4 standard errors so a correct generator never fails by chance.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import trialkit as tk
from trialkit.errors import TrialkitError
from trialkit.model import column_names
from trialkit.synth import DEFAULT_DATA_CUT, DEFAULT_SEED, DEMO_SIZES, generate, make_demo
from trialkit.synth._course import COURSES
from trialkit.synth._missing import RATES, SITE_SHAPE

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "data" / "demo"


@pytest.fixture(scope="module")
def b_large():
    """B1931036 with 4,000 screened (about 1,600 randomized) and its truth."""
    return generate("b1931036", n_screened=4000, seed=11)


@pytest.fixture(scope="module")
def a_large():
    return generate("aall1732", n_screened=4000, seed=12)


def _tables_equal(a, b):
    for name in ("sites", "screening", "randomization", "disposition", "response", "outcomes"):
        pd.testing.assert_frame_equal(getattr(a, name), getattr(b, name), check_exact=True)


# ------------------------------------------------------------------------------------------------
# determinism and validity
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("pid", ["b1931036", "aall1732"])
def test_same_seed_gives_identical_tables(pid):
    a = tk.synthesize(pid, n_screened=150, seed=5)
    b = tk.synthesize(pid, n_screened=150, seed=5)
    _tables_equal(a, b)
    assert a.checksum() == b.checksum()


def test_different_seeds_differ():
    a = tk.synthesize("b1931036", n_screened=150, seed=5)
    b = tk.synthesize("b1931036", n_screened=150, seed=6)
    assert a.checksum() != b.checksum()
    assert not a.screening["screening_date"].equals(b.screening["screening_date"])


@pytest.mark.parametrize("pid", ["b1931036", "aall1732"])
def test_generated_study_is_valid_and_survives_a_csv_round_trip(pid, tmp_path):
    s = tk.synthesize(pid, n_screened=300, seed=3, validate=False)
    tk.validate_study(s)  # raises DataValidationError on any problem
    tk.write_study(s, tmp_path / pid)
    back = tk.load_study(tmp_path / pid)  # validates again, from files
    assert len(back.screening) == 300
    assert len(back.randomization) == len(s.randomization) > 0
    assert back.data_cut_date == DEFAULT_DATA_CUT


def test_every_table_has_its_canonical_columns():
    s = tk.synthesize("b1931036", n_screened=200, seed=2)
    for name, df in s.tables().items():
        assert list(df.columns[: len(column_names(name))]) == column_names(name), name
    # one column per stratification factor beside `stratum`
    assert {"age_group", "relapse_timing"} <= set(s.randomization.columns)
    lab = s.randomization["age_group"] + " / " + s.randomization["relapse_timing"]
    assert (lab == s.randomization["stratum"]).all()


# ------------------------------------------------------------------------------------------------
# sites and accrual
# ------------------------------------------------------------------------------------------------
def test_b1931036_uses_the_protocol_sites_and_never_greece(b_large):
    s, _ = b_large
    proto = tk.get_protocol("b1931036")
    assert list(s.sites["site_id"]) == list(proto.site_table()["site_id"])
    assert len(s.sites) == 72 and s.sites["country"].nunique() == 17
    assert "Greece" not in set(s.screening["country"])
    assert set(s.screening["site_id"]) <= set(s.sites["site_id"])


def test_aall1732_gets_a_synthetic_cog_site_table(a_large):
    s, _ = a_large
    assert len(s.sites) == 120
    assert s.sites["site_id"].str.fullmatch(r"COG\d{3}").all()
    assert (s.sites["site_name"] == "Synthetic COG site " + s.sites["site_id"].str[3:]).all()
    assert set(s.sites["country"]) <= {"United States", "Canada", "Australia", "New Zealand"}


def test_site_activation_is_staggered_and_precedes_screening(b_large):
    s, _ = b_large
    act = s.sites.set_index("site_id")["activation_date"]
    assert act.min() == pd.Timestamp("2023-05-17")  # the protocol's start date
    assert act.nunique() > 50
    scr_act = s.screening["site_id"].map(act)
    assert (s.screening["screening_date"] >= scr_act).all()


def test_sites_differ_in_rate_more_than_poisson(b_large):
    """Pearson dispersion of site counts against equal rates (expected ∝ open days) is ~1 under a
    Poisson model; Poisson–Gamma with shape 1.2 makes it about 1 + mean/1.2 (Anisimov & Fedorov 2007)."""
    s, _ = b_large
    end = s.screening["screening_date"].max()
    exposure = (end - s.sites.set_index("site_id")["activation_date"]).dt.days.clip(lower=1)
    counts = s.screening["site_id"].value_counts().reindex(exposure.index, fill_value=0)
    expected = len(s.screening) * exposure / exposure.sum()
    dispersion = float(((counts - expected) ** 2 / expected).sum() / (len(counts) - 1))
    assert dispersion > 5
    assert counts.var() > counts.mean()


# ------------------------------------------------------------------------------------------------
# the site's verdict comes from the protocol's criteria
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("fixture", ["b_large", "a_large"])
def test_screen_failures_follow_the_protocol_criteria(fixture, request):
    s, truth = request.getfixturevalue(fixture)
    complete, _ = generate(s.protocol, n_screened=4000, seed=11 if fixture == "b_large" else 12, missing=0,
                           tables=("sites", "screening"))
    pd.testing.assert_frame_equal(complete.screening, truth.screening)
    res = tk.evaluate_eligibility(complete.screening, protocol=s.protocol)
    rules = res.eligible.reset_index(drop=True)
    assert rules.notna().all(), "the generator must fill every input the criteria read"
    # first excluding criterion per subject, from the long form (an independent path)
    long = res.statuses()
    long = long[(long["stage"] == "screening") & long["passes"].eq(False)]
    first = long.groupby("subject_id", sort=False)["criterion_id"].first()
    scr = complete.screening
    ok = ~truth.site_error
    out, reason = scr["screening_outcome"].to_numpy(dtype=object), scr["screen_failure_reason"]
    elig = rules.to_numpy(dtype=bool)
    assert np.isin(out[ok & elig], ["eligible", "declined", "other"]).all()
    assert (out[ok & ~elig] == "screen failure").all()
    fail = ok & ~elig
    expect = scr["subject_id"][fail].map(first)
    assert (reason[fail].to_numpy(dtype=object) == expect.to_numpy(dtype=object)).all()
    # site errors: a small share, both directions (VerdictModel: 1.5 % and 1 %)
    share = truth.site_error.mean()
    assert 0.002 < share < 0.03
    assert (out[truth.site_error & ~elig] == "eligible").all()
    assert (out[truth.site_error & elig] == "screen failure").all()
    # declined: 6 % of the rule-eligible (binomial, 4 SE)
    n_el = int(elig[ok].sum())
    declined = (out[ok & elig] == "declined").mean()
    assert abs(declined - 0.06) < 4 * np.sqrt(0.06 * 0.94 / n_el)


def test_screen_failure_reasons_name_real_criteria(b_large):
    s, _ = b_large
    ids = {c["id"] for c in s.protocol.criteria}
    fail = s.screening.loc[s.screening["screening_outcome"] == "screen failure", "screen_failure_reason"]
    assert fail.notna().all() and set(fail) <= ids
    # the common reasons of a relapsed-ALL screening log are there
    assert {"B_IN02_HR_TIMING", "B_IN02_NO_VHR_GENETICS", "B_EX04_PH_POSITIVE"} <= set(fail)


def test_only_site_eligible_patients_are_randomized(b_large):
    s, _ = b_large
    el = set(s.screening.loc[s.screening["screening_outcome"] == "eligible", "subject_id"])
    assert set(s.randomization["subject_id"]) == el


def test_aall1732_mpal_confirmation_failures_go_off_protocol_after_enrollment(a_large):
    s, truth = a_large
    off = s.disposition["discontinuation_reason"].str.startswith("off protocol: MPAL").fillna(False)
    assert off.sum() > 0
    ids = s.disposition.loc[off, "subject_id"]
    dx = truth.screening.set_index("subject_id").loc[ids, "diagnosis"]
    assert (dx == "MPAL").all()
    # not a screen failure: these patients were randomized
    assert set(ids) <= set(s.randomization["subject_id"])


# ------------------------------------------------------------------------------------------------
# missing values
# ------------------------------------------------------------------------------------------------
def test_missing_values_are_injected_after_the_verdict(b_large):
    s, truth = b_large
    exported, true = s.screening, truth.screening
    # where the export has a value it is the true value
    for col in ("age_years", "marrow_blasts_pct", "creatinine_mg_dl", "relapse_date", "tp53_alteration"):
        keep = exported[col].notna()
        assert (exported.loc[keep, col] == true.loc[keep, col]).all(), col
    # the sporadic rate of a column (age_years: 3 %) times a per-site factor of mean 1: the overall
    # share has binomial variance plus the sites' part, p² Var(factor) Σ w_s² (w_s = site shares)
    p = RATES["age_years"]
    w = exported["site_id"].value_counts(normalize=True)
    var = p * (1 - p) / len(exported) + p**2 / SITE_SHAPE * float((w**2).sum())
    assert abs(exported["age_years"].isna().mean() - p) < 4 * np.sqrt(var)
    # missingness clusters by site: the per-site share of empty genetics varies more than binomial
    miss = exported["tp53_alteration"].isna().groupby(exported["site_id"]).agg(["mean", "size"])
    miss = miss[miss["size"] >= 30]
    q = exported["tp53_alteration"].isna().mean()
    chi2 = float((((miss["mean"] - q) ** 2) * miss["size"] / (q * (1 - q))).sum())
    assert chi2 / (len(miss) - 1) > 2
    # structural: echo or MUGA, never both reported
    both = exported["shortening_fraction_pct"].notna() & exported["ejection_fraction_pct"].notna()
    assert not both.any()
    for col in ("subject_id", "site_id", "screening_date", "screening_outcome"):
        assert exported[col].notna().all()
    # some criteria become unknown in the export, as in real data
    res = tk.evaluate_eligibility(exported, protocol=s.protocol)
    assert res.eligible.isna().sum() > 0


# ------------------------------------------------------------------------------------------------
# randomization
# ------------------------------------------------------------------------------------------------
def test_b1931036_allocation_is_two_to_one_within_each_stratum(b_large):
    """Permuted blocks of 3 and 6 keep every stratum within 4/3 of 2/3·n (the deviation inside a
    block of 6 is at most 4/3 and zero at each block end; Rosenberger & Lachin 2016, ch. 3)."""
    s, _ = b_large
    for _, g in s.randomization.groupby("stratum"):
        n_ino = int((g["arm"] == "InO").sum())
        assert abs(n_ino - 2 * len(g) / 3) <= 4 / 3 + 1e-9
    assert s.randomization["stratum"].nunique() == 4


def test_aall1732_allocation_is_one_to_one_within_each_stratum(a_large):
    s, _ = a_large
    for _, g in s.randomization.groupby("stratum"):
        diff = int((g["arm"] == "CHEMO+InO").sum()) - int((g["arm"] == "CHEMO").sum())
        assert abs(diff) <= 2  # blocks of 2 and 4


def test_demo_allocation_counts():
    s = tk.synthesize("b1931036", n_screened=DEMO_SIZES["b1931036"], seed=DEFAULT_SEED)
    # 96 randomized in 4 strata: 61 : 35 (2/3 · 96 = 64; each stratum within 4/3 of its 2/3 share)
    assert s.randomization["arm"].value_counts().to_dict() == {"InO": 61, "ALLR3": 35}


# ------------------------------------------------------------------------------------------------
# course after randomization
# ------------------------------------------------------------------------------------------------
def test_response_rates_match_the_model(b_large):
    """CR/CRi share per arm = p_treated × (1 − p_induction_death − p_discontinue) × p_cr
    (CourseModel for B1931036): InO 0.97 × 0.915 × 0.71 = 0.630, ALLR3 0.97 × 0.91 × 0.53 = 0.468."""
    s, _ = b_large
    m = COURSES["b1931036"]
    r = s.randomization[["subject_id", "arm"]].merge(s.response, on="subject_id")
    cr = r["response"].isin(["CR", "CRi"])
    for arm, i in (("ALLR3", 0), ("InO", 1)):
        p = m.p_treated * (1 - m.p_induction_death[i] - m.p_discontinue) * m.p_cr[i]
        got = cr[r["arm"] == arm]
        assert abs(got.mean() - p) < 4 * np.sqrt(p * (1 - p) / len(got)), arm
    assert r.loc[r["arm"] == "InO", "response"].isin(["CR", "CRi"]).mean() > \
        r.loc[r["arm"] == "ALLR3", "response"].isin(["CR", "CRi"]).mean()
    # MRD is known exactly for assessed patients
    assert (r["mrd_negative"].isna() == r["mrd_pct"].isna()).all()


def test_outcomes_are_adam_consistent_and_os_never_shorter_than_efs(b_large):
    s, _ = b_large
    o = s.outcomes
    assert set(o["endpoint"]) == {"EFS", "OS"}
    assert ((o["end_date"] - o["start_date"]).dt.days + 1 == o["time_days"]).all()
    assert set(o["event"].unique()) <= {0, 1}
    w = o.pivot(index="subject_id", columns="endpoint", values="time_days")
    assert (w["OS"] >= w["EFS"]).all()
    died = s.disposition.set_index("subject_id")["death_date"].notna()
    os_event = o[o["endpoint"] == "OS"].set_index("subject_id")["event"] == 1
    assert (died.reindex(os_event.index) == os_event).all()
    # experimental arm has fewer EFS events (relapse HR 0.7)
    e = o[o["endpoint"] == "EFS"].merge(s.randomization[["subject_id", "arm"]])
    rate = e.groupby("arm")["event"].mean()
    assert rate["InO"] < rate["ALLR3"]


@pytest.mark.parametrize("pid", ["b1931036", "aall1732"])
def test_no_date_after_the_data_cut_and_follow_up_is_limited(pid):
    cut = pd.Timestamp("2025-03-31")
    s = tk.synthesize(pid, n_screened=800, seed=4, data_cut_date=cut)
    assert s.data_cut_date == cut
    for name, df in s.tables().items():
        for col in df.columns:
            if pd.api.types.is_datetime64_any_dtype(df[col]):
                assert not (df[col] > cut).any(), f"{name}.{col}"
    limit = s.protocol.follow_up_years * 365.25 + 1
    assert (s.outcomes["time_days"] <= limit).all()
    censored = s.outcomes[s.outcomes["event"] == 0]
    assert len(censored) > 0


def test_follow_up_is_cut_at_the_protocol_limit():
    """With a data cut 8 years after B1931036's start, the first patients reach 5 years of follow-up."""
    s = tk.synthesize("b1931036", n_screened=300, seed=8, data_cut_date="2031-06-30")
    efs = s.outcomes[s.outcomes["endpoint"] == "OS"]
    assert efs["time_days"].max() <= 5 * 365.25 + 1
    assert efs["time_days"].max() > 5 * 365.25 - 60


# ------------------------------------------------------------------------------------------------
# options and errors
# ------------------------------------------------------------------------------------------------
def test_screening_only_gives_the_same_screening_and_empty_later_tables():
    full = tk.synthesize("aall1732", n_screened=200, seed=9)
    only = tk.synthesize("aall1732", n_screened=200, seed=9, screening_only=True)
    pd.testing.assert_frame_equal(only.screening, full.screening)
    pd.testing.assert_frame_equal(only.sites, full.sites)
    assert len(only.randomization) == len(only.outcomes) == 0
    some = tk.synthesize("aall1732", n_screened=200, seed=9, tables=["randomization"])
    pd.testing.assert_frame_equal(some.randomization, full.randomization)
    assert len(some.outcomes) == 0


def test_unknown_protocol_population_is_refused(tmp_path):
    raw = (Path(tk.get_protocol("b1931036").source).read_text(encoding="utf-8")
           .replace("id: b1931036", "id: xyz999"))
    f = tmp_path / "xyz999.yaml"
    f.write_text(raw, encoding="utf-8")
    with pytest.raises(TrialkitError, match="no synthetic population model for protocol 'xyz999'"):
        tk.synthesize(tk.load_protocol(f), n_screened=10, seed=1)


def _b1931036_variant(tmp_path, old: str, new: str):
    """A copy of the B1931036 protocol (and its criteria) with one text replacement."""
    proto = Path(tk.get_protocol("b1931036").source)
    text = proto.read_text(encoding="utf-8")
    assert old in text
    (tmp_path / proto.name).write_text(text.replace(old, new), encoding="utf-8")
    crit = proto.with_name("b1931036.criteria.yaml")
    (tmp_path / crit.name).write_text(crit.read_text(encoding="utf-8"), encoding="utf-8")
    return tk.load_protocol(tmp_path / proto.name)


def test_protocol_without_start_date_is_refused(tmp_path):
    proto = _b1931036_variant(tmp_path, "start_date: 2023-05-17\n", "")
    with pytest.raises(TrialkitError, match="has no start_date; add `start_date:`"):
        tk.synthesize(proto, n_screened=10, seed=1)


def test_unreadable_age_bands_are_refused(tmp_path):
    proto = _b1931036_variant(tmp_path, 'levels: ["1 to <10 years", "10 to <18 years"]',
                              'levels: ["children", "adolescents"]')
    with pytest.raises(TrialkitError, match="cannot read age bands .* write them as 'A to <B years'"):
        tk.synthesize(proto, n_screened=300, seed=1)


def test_a_factor_the_data_cannot_give_is_drawn_and_said_so(tmp_path):
    proto = _b1931036_variant(tmp_path, "    - name: relapse_timing", "    - name: sponsor_region")
    s = tk.synthesize(proto, n_screened=300, seed=1)
    assert set(s.randomization["sponsor_region"]) <= set(proto.stratification[1].levels)
    assert any("'sponsor_region' is not derivable" in n for n in s.notes)


@pytest.mark.parametrize("kwargs, message", [
    ({"n_screened": 0}, "n_screened must be a positive"),
    ({"n_screened": 10, "tables": ["screening", "visits"]}, r"unknown table\(s\) \['visits'\]"),
    ({"n_screened": 10, "data_cut_date": "2023-06-01"}, "leaves no accrual window"),
])
def test_bad_arguments_say_what_to_do(kwargs, message):
    with pytest.raises(ValueError, match=message):
        tk.synthesize("b1931036", seed=1, **kwargs)


@pytest.mark.slow
def test_one_million_screened_rows():
    s = tk.synthesize("b1931036", n_screened=1_000_000, seed=1, screening_only=True, validate=False)
    scr = s.screening
    assert len(scr) == 1_000_000
    assert scr["subject_id"].is_unique
    assert scr["screening_outcome"].notna().all()
    assert re.fullmatch(r"[A-Z]{2}\d{2}-\d{5}", scr["subject_id"].iloc[0])


# ------------------------------------------------------------------------------------------------
# the committed demo data
# ------------------------------------------------------------------------------------------------
def test_committed_demo_data_equal_what_make_demo_writes_now(tmp_path):
    written = make_demo(tmp_path)
    assert sorted(written) == ["aall1732", "b1931036"]
    for pid, folder in written.items():
        committed = DEMO / pid
        names = sorted(p.name for p in folder.iterdir())
        assert sorted(p.name for p in committed.iterdir()) == names, (
            f"data/demo/{pid} is stale; regenerate it with `trialkit demo --out data/demo`")
        for name in names:
            assert (committed / name).read_bytes() == (folder / name).read_bytes(), (
                f"data/demo/{pid}/{name} differs from what make_demo writes now; regenerate it with "
                "`trialkit demo --out data/demo`")


def test_demo_sizes_are_small_and_b1931036_randomizes_about_the_planned_100(demo_b1931036, demo_aall1732):
    assert len(demo_b1931036.screening) == 260
    assert 80 <= len(demo_b1931036.randomization) <= 120  # protocol: ~100 randomized
    assert len(demo_aall1732.screening) == 400
