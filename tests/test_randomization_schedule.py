"""Tests of allocation schedules (trialkit.randomization.schedule)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml

import trialkit as tk
from trialkit.protocols import load_protocol
from trialkit.randomization.schedule import ScheduleError, read_schedule, stratum_rng


def _ratio_protocol(tmp_path, ratio=(3, 2), block_sizes=None):
    raw = {"id": "toy32", "title": "toy", "age": {"min_years": 0, "max_years": 99},
           "arms": [{"code": "C", "label": "control", "ratio": ratio[1], "dose_order": 0},
                    {"code": "E", "label": "experimental", "ratio": ratio[0], "dose_order": 1}],
           "reference_arm": "C",
           "stratification": {"factors": [{"name": "grp", "levels": ["a", "b"]}]}}
    if block_sizes:
        raw["randomization"] = {"block_sizes": list(block_sizes)}
    p = tmp_path / "toy32.yaml"
    p.write_text(yaml.safe_dump(raw))
    return load_protocol(p)


def test_blocks_hold_the_protocol_ratio_exactly():
    s = tk.generate_schedule("b1931036", n_per_stratum=40, seed=11, strata=["age_group", "relapse_timing"])
    t = s.allocations
    assert t["stratum"].nunique() == 4
    assert set(t["block_size"].unique()) <= {3, 6}  # protocol randomization.block_sizes
    per_block = t.groupby(["stratum", "block"])["arm"].value_counts().unstack(fill_value=0)
    sizes = t.groupby(["stratum", "block"])["block_size"].first()
    # 2:1 within every block: InO = 2/3 of the block, ALLR3 = 1/3
    assert (per_block["InO"] == sizes * 2 // 3).all()
    assert (per_block["ALLR3"] == sizes // 3).all()
    # each list ends on a complete block and is at least n_per_stratum long
    n = t.groupby("stratum").size()
    assert (n >= 40).all() and (n % 3 == 0).all() and (n < 40 + 6).all()


def test_pinned_list_is_reproducible():
    # regression pin: PCG64 + SeedSequence are stable across numpy versions (NEP 19)
    s = tk.generate_schedule("b1931036", n_per_stratum=12, seed=20230517, strata=["age_group"])
    first = s.allocations[s.allocations["stratum"] == "1 to <10 years"]["arm"].tolist()
    assert first == ["ALLR3", "InO", "InO", "InO", "InO", "ALLR3", "ALLR3", "InO", "InO", "InO", "ALLR3", "InO"]
    again = tk.generate_schedule("b1931036", n_per_stratum=12, seed=20230517, strata=["age_group"])
    pd.testing.assert_frame_equal(s.allocations, again.allocations)
    assert s.hash == again.hash and len(s.hash) == 64
    other = tk.generate_schedule("b1931036", n_per_stratum=12, seed=20230518, strata=["age_group"])
    assert other.hash != s.hash


def test_adding_a_stratum_never_changes_existing_lists():
    small = tk.generate_schedule("b1931036", n_per_stratum=9, seed=3, strata=["site_id"],
                                 levels={"site_id": ["AT01", "BE01"]})
    big = tk.generate_schedule("b1931036", n_per_stratum=9, seed=3, strata=["site_id"],
                               levels={"site_id": ["XX99", "BE01", "AT01", "DE01"]})
    for site in ("AT01", "BE01"):
        a = small.allocations[small.allocations["site_id"] == site].reset_index(drop=True)
        b = big.allocations[big.allocations["site_id"] == site].reset_index(drop=True)
        pd.testing.assert_frame_equal(a, b)


def test_default_site_levels_come_from_the_protocol():
    s = tk.generate_schedule("b1931036", n_per_stratum=3, seed=1, strata=["site_id"], block_sizes=(3,))
    # 72 distinct sites (74 registry entries, 2 duplicates left out), 3 slots each
    assert s.allocations["site_id"].nunique() == 72 and len(s.allocations) == 216
    c = tk.generate_schedule("b1931036", n_per_stratum=3, seed=1, strata=["country"], block_sizes=(3,))
    assert c.allocations["country"].nunique() == 17  # Greece has no site


def test_ratio_is_read_from_the_protocol(tmp_path):
    p = tk.get_protocol("aall1732")
    s = tk.generate_schedule(p, n_per_stratum=20, seed=2, strata=["diagnosis"])
    assert set(s.allocations["block_size"].unique()) <= {2, 4}
    assert (s.allocations.groupby("stratum")["arm"].value_counts().unstack().nunique(axis=1) == 1).all()  # 1:1
    toy = _ratio_protocol(tmp_path, ratio=(3, 2))
    assert toy.minimal_block == 5
    t = tk.generate_schedule(toy, n_per_stratum=50, seed=9, strata=["grp"]).allocations
    assert set(t["block_size"].unique()) <= {5, 10}
    counts = t.groupby("stratum")["arm"].value_counts().unstack()
    assert (counts["E"] * 2 == counts["C"] * 3).all()


def test_complete_randomization_draws_with_planned_probabilities():
    s = tk.generate_schedule("b1931036", n_per_stratum=30000, seed=4, algorithm="complete")
    t = s.allocations
    assert len(t) == 30000 and t["block"].isna().all()
    share = (t["arm"] == "InO").mean()
    # Binomial(30000, 2/3): SD of the share = sqrt(2/9/30000) = 0.00272; allow 4 SD
    assert abs(share - 2 / 3) < 4 * np.sqrt(2 / 9 / 30000)


def test_verify_passes_and_detects_a_tampered_list(tmp_path):
    s = tk.generate_schedule("b1931036", n_per_stratum=6, seed=21, strata=["age_group"])
    assert tk.verify_schedule(s).ok
    path = s.to_csv(tmp_path / "schedule.csv")
    back = read_schedule(path)
    pd.testing.assert_frame_equal(back.allocations[["stratum", "sequence", "arm"]],
                                  s.allocations[["stratum", "sequence", "arm"]])
    assert back.hash == s.hash and back.seed == 21
    check = tk.verify_schedule(path)
    assert check.ok and check.n_mismatched == 0 and check.hash_matches
    # swap one assignment in the file: verification must fail and name the slot
    lines = path.read_text().splitlines()
    i = next(k for k, line in enumerate(lines) if line.startswith("1 to <10 years,") and line.endswith(",InO"))
    lines[i] = lines[i][: -len("InO")] + "ALLR3"
    path.write_text("\n".join(lines) + "\n")
    bad = tk.verify_schedule(path)
    assert not bad.ok and bad.n_mismatched == 1 and not bad.hash_matches
    assert bad.differences[["stored_arm", "regenerated_arm"]].iloc[0].tolist() == ["ALLR3", "InO"]


def test_to_frame_carries_seed_algorithm_version_and_hash():
    s = tk.generate_schedule("b1931036", n_per_stratum=3, seed=7)
    f = s.to_frame()
    settings = f[f["part"] == "settings"].set_index("statistic")["value"]
    assert settings["seed"] == 7 and settings["algorithm"] == "blocks"
    assert settings["trialkit_version"] == tk.__version__ and settings["hash"] == s.hash
    slots = f[(f["part"] == "allocations") & (f["statistic"] == "arm")]
    assert len(slots) == len(s.allocations) and slots["term"].str.startswith("stratum=all; sequence=").all()


def test_stratum_rng_depends_on_key_and_seed():
    a = stratum_rng(1, "site_id=AT01").integers(0, 2**31, 3)
    assert (a == stratum_rng(1, "site_id=AT01").integers(0, 2**31, 3)).all()
    assert not (a == stratum_rng(1, "site_id=AT02").integers(0, 2**31, 3)).all()
    assert not (a == stratum_rng(2, "site_id=AT01").integers(0, 2**31, 3)).all()


@pytest.mark.parametrize("kwargs, match", [
    ({"block_sizes": (3, 4)}, "multiple of the minimal block 3"),
    ({"algorithm": "urn"}, "unknown algorithm"),
    ({"seed": -1}, "non-negative integer"),
    ({"seed": 1.5}, "non-negative integer"),
    ({"n_per_stratum": 0}, "positive integer"),
    ({"strata": ["hair_colour"]}, "unknown stratification factor"),
    ({"strata": ["age_group", "age_group"]}, "repeats a factor"),
    ({"levels": {"site_id": ["A"]}}, "not in strata"),
    ({"strata": ["site_id"], "levels": {"site_id": ["A", "A"]}}, "repeated levels"),
    # a factor named like a column of the list (pandas' "cannot insert block, already exists" before)
    ({"strata": ["block"], "levels": {"block": ["a", "b"]}}, "factor `block` has the name of a column"),
])
def test_generate_rejects_bad_arguments(kwargs, match):
    args = {"n_per_stratum": 6, "seed": 1, **kwargs}
    with pytest.raises(ScheduleError, match=match):
        tk.generate_schedule("b1931036", **args)


def test_protocol_without_sites_needs_levels():
    with pytest.raises(ScheduleError, match="pass them with levels"):
        tk.generate_schedule("aall1732", n_per_stratum=4, seed=1, strata=["site_id"])


def test_read_schedule_rejects_missing_or_foreign_files(tmp_path):
    with pytest.raises(ScheduleError, match="does not exist"):
        read_schedule(tmp_path / "nope.csv")
    f = tmp_path / "plain.csv"
    f.write_text("stratum,sequence,arm\nall,1,InO\n")
    with pytest.raises(ScheduleError, match="header lacks"):
        read_schedule(f)
    g = tmp_path / "broken.csv"
    g.write_text("# seed: {not json\nstratum,sequence,arm\n")
    with pytest.raises(ScheduleError, match="not valid"):
        read_schedule(g)


def test_complete_schedule_round_trips_through_csv(tmp_path):
    s = tk.generate_schedule("aall1732", n_per_stratum=5, seed=8, algorithm="complete",
                             strata=["diagnosis"])
    assert len(s.allocations) == 15 and s.block_sizes == ()
    back = read_schedule(s.to_csv(tmp_path / "c.csv"))
    assert back.algorithm == "complete" and back.allocations["block"].isna().all()
    assert tk.verify_schedule(back).ok


def test_stratum_allocations_are_the_schedule_list_without_the_schedule():
    """What the synthetic data generator draws arms from is generate_schedule's list, slot for slot."""
    from trialkit.randomization.schedule import stratum_allocations

    levels = {"age_group": ["10 to <18 years"]}
    sched = tk.generate_schedule("b1931036", n_per_stratum=7, seed=11, strata=["age_group"], levels=levels)
    got = stratum_allocations(tk.get_protocol("b1931036"), n_per_stratum=7, seed=11, strata=("age_group",),
                              levels=levels)
    pd.testing.assert_frame_equal(got, sched.allocations)
