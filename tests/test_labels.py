"""The label dictionary of each protocol (``labels:`` in its YAML): complete, with units and ranges."""

from __future__ import annotations

import pytest

import trialkit as tk
from trialkit.errors import ProtocolError
from trialkit.labels import labels_for
from trialkit.protocols import parse_protocol


@pytest.mark.parametrize("pid", ["b1931036", "aall1732"])
def test_every_criterion_threshold_arm_and_stratum_has_a_label(pid):
    p = tk.get_protocol(pid)
    lab = labels_for(p)
    for c in p.criteria:
        text = lab.criterion(c["id"])
        assert c["id"] in lab.criteria and "{" not in text and c["id"] not in text
        for param, value in (c.get("params") or {}).items():
            t = lab.thresholds[param]
            assert t.unit and t.label and "{value}" in t.text
            assert t.min <= float(value) <= t.max, (param, value)
            assert t.step > 0
            if t.at_most:
                assert t.at_most in lab.thresholds
    assert set(lab.arms) == set(p.arm_codes)
    for f in p.stratification:
        assert f.name in lab.subgroups and f.name in lab.covariates


def test_labels_carry_the_threshold_in_force():
    lab = labels_for("b1931036")
    assert lab.criterion("B_IN02_BLASTS") == "Marrow blasts ≥ 5 % (≥ M2)"
    assert lab.criterion("B_IN02_BLASTS", {"blasts_min_pct": 25}) == "Marrow blasts ≥ 25 % (≥ M2)"
    assert lab.threshold_text("blasts_min_pct", 25) == "Marrow blasts ≥ 25 %"
    assert labels_for("aall1732").criterion("A_IN02_WBC").startswith("B-ALL: WBC ≥ 50,000 /µL under age 10")
    assert lab.arm("InO") == "InO" and lab.covariate("age_years") == "Age (years)"
    assert lab.subgroup("age_band") == "Age band" and lab.subgroup("unknown_col") == "unknown_col"


def test_a_minimum_above_its_maximum_and_values_out_of_range_are_refused():
    lab = labels_for("b1931036")
    assert lab.check_thresholds({"age_min_years": 1, "age_max_years": 18}) == []
    assert lab.check_thresholds({"hr_dx_min_months": 31, "hr_dx_max_months": 30}) == [
        "Relapse from diagnosis at least (31 months) is above Relapse from diagnosis at most (30 months); "
        "set it at or below 30."]
    assert lab.check_thresholds({"blasts_min_pct": 120}) == [
        "Minimum marrow blasts (120 %) is above its highest allowed value 100 %."]
    assert lab.check_thresholds({"bilirubin_max_x_uln": -1}) == [
        "Maximum bilirubin (-1 × ULN) is below its lowest allowed value 0 × ULN."]


def _protocol(labels):
    return parse_protocol({"id": "x", "title": "t", "age": {"min_years": 1, "max_years": 2},
                           "arms": [{"code": "A", "label": "a", "ratio": 1}, {"code": "B", "label": "b", "ratio": 1}],
                           "labels": labels})


def test_malformed_label_sections_are_reported():
    with pytest.raises(ProtocolError, match="unknown section"):
        labels_for(_protocol({"colours": {}}))
    with pytest.raises(ProtocolError, match="needs at least `text`"):
        labels_for(_protocol({"thresholds": {"t": {"label": "T"}}}))
    with pytest.raises(ProtocolError, match="unknown key"):
        labels_for(_protocol({"thresholds": {"t": {"text": "T ≥ {value}", "colour": "red"}}}))
    with pytest.raises(ProtocolError, match="must be a mapping"):
        labels_for(_protocol(["a"]))


def test_a_protocol_without_labels_falls_back_to_ids():
    lab = labels_for(_protocol(None))
    assert lab.arm("A") == "A" and lab.criterion("C1") == "C1" and lab.threshold_text("t", 2) == "t = 2"
    assert labels_for(None).arm("X") == "X"
