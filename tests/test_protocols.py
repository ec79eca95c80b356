"""The two seed trials as data."""

from fractions import Fraction

import pytest

import trialkit as tk
from trialkit.errors import ProtocolError
from trialkit.protocols import load_protocol


def test_known_protocols():
    assert {"b1931036", "aall1732"} <= set(tk.protocols())
    import trialkit.protocols  # noqa: F401  (the subpackage must not shadow the function)

    assert {"b1931036", "aall1732"} <= set(tk.protocols())


def test_b1931036_allocation_is_two_to_one_from_the_file():
    p = tk.get_protocol("B1931036")
    assert p.ratio == {"ALLR3": 1, "InO": 2}
    assert p.allocation_proportions["InO"] == Fraction(2, 3)
    assert p.minimal_block == 3
    assert p.arm_codes == ("ALLR3", "InO")  # dose order, control first
    assert p.experimental_arm == "InO" and p.reference_arm == "ALLR3"
    assert p.planned_enrollment == 100 and p.follow_up_years == 5
    assert [f.name for f in p.stratification] == ["age_group", "relapse_timing"]


def test_b1931036_sites_as_in_the_registry_record():
    """The seed lists 74 location entries (not 77); two institutions appear twice."""
    p = tk.get_protocol("b1931036")
    assert len(p.sites) == 74
    dups = {s.site_id: s.duplicate_of for s in p.sites if s.duplicate_of}
    assert dups == {"DE14": "DE06", "ES07": "ES01"}
    table = p.site_table()
    assert len(table) == 72 and table["site_id"].is_unique
    assert table["country"].nunique() == 17
    assert "Greece" in p.countries and "Greece" not in set(table["country"])
    assert len(p.countries) == 18
    first = table.iloc[0]
    assert (first["site_id"], first["site_name"], first["city"], first["country"]) == (
        "AT01", "St. Anna Kinderspital", "Vienna", "Austria")
    assert "Vandœuvre-lès-Nancy" in set(table["city"])  # non-ASCII kept as written


def test_age_limits():
    b = tk.get_protocol("b1931036")
    assert b.age_ok([0.99, 1.0, 17.99, 18.0]).tolist() == [False, True, True, False]
    a = tk.get_protocol("aall1732")
    assert a.age_ok([1.0, 24.99, 25.0]).tolist() == [True, True, False]
    assert a.ratio == {"CHEMO": 1, "CHEMO+InO": 1} and a.minimal_block == 2
    assert len(a.site_table()) == 0


def test_unknown_and_malformed_protocols(tmp_path):
    with pytest.raises(ProtocolError, match="unknown protocol 'nope'"):
        tk.get_protocol("nope")
    bad = tmp_path / "x.yaml"
    bad.write_text("id: x\ntitle: t\nage: {min_years: 1, max_years: 2}\narms:\n"
                   "  - {code: A, label: A, ratio: 0}\n  - {code: B, label: B, ratio: 1}\n")
    with pytest.raises(ProtocolError, match="positive integer"):
        load_protocol(bad)
    bad.write_text("id: x\ntitle: t\n")
    with pytest.raises(ProtocolError, match="missing key"):
        load_protocol(bad)
    bad.write_text("id: x\ntitle: t\nage: {min_years: 1, max_years: 2}\narms:\n  - {code: A, label: A, ratio: 1, colour: red}\n"
                   "  - {code: B, label: B, ratio: 1}\n")
    with pytest.raises(ProtocolError, match="colour"):
        load_protocol(bad)


def test_user_protocol_folder(tmp_path, monkeypatch):
    (tmp_path / "mytrial.yaml").write_text(
        "id: mytrial\ntitle: My trial\nage: {min_years: 18, max_years: 99}\n"
        "arms:\n  - {code: A, label: Control, ratio: 1, dose_order: 0}\n  - {code: B, label: New, ratio: 3, dose_order: 1}\n")
    monkeypatch.setenv("TRIALKIT_PROTOCOLS", str(tmp_path))
    assert "mytrial" in tk.protocols()
    p = tk.get_protocol("mytrial")
    assert p.minimal_block == 4 and p.ratio == {"A": 1, "B": 3}
