"""The adverse_events table in the data model: validation, flat files, checksum, site isolation, the demo."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import trialkit as tk
from trialkit.errors import DataValidationError
from trialkit.model import KEYS, TABLES, column_names
from trialkit.reports.data import site_subset
from trialkit.schemas import study_problems


def _study_with(events: pd.DataFrame, demo):
    return demo.replace(adverse_events=events.reset_index(drop=True))


def test_the_seventh_table_is_optional_and_keyed(demo_b1931036):
    assert TABLES[-1] == "adverse_events" and KEYS["adverse_events"] == ("subject_id", "ae_seq")
    empty = tk.Study(protocol=demo_b1931036.protocol)
    assert list(empty.adverse_events.columns) == column_names("adverse_events") and len(empty.adverse_events) == 0
    assert "adverse_events" in empty.tables()


def test_checksum_of_a_study_without_adverse_events_is_unchanged(demo_b1931036):
    """A study with an empty adverse_events table keeps the checksum it had when the table did not exist."""
    import hashlib

    s = demo_b1931036.replace(adverse_events=demo_b1931036.adverse_events.iloc[:0])
    h = hashlib.sha256(s.protocol.id.encode())
    for name in TABLES[:-1]:  # the six tables before issue 11, hashed as Study.checksum always did
        df = getattr(s, name)
        h.update(name.encode())
        h.update(",".join(map(str, df.columns)).encode())
        h.update(pd.util.hash_pandas_object(df, index=False).values.tobytes())
    assert s.checksum() == h.hexdigest() != demo_b1931036.checksum()


def test_validation_names_file_row_and_column_of_every_adverse_event_problem(demo_b1931036, tmp_path):
    folder = tmp_path / "study"
    tk.write_study(demo_b1931036, folder)
    path = folder / "adverse_events.csv"
    lines = path.read_text(encoding="utf-8").splitlines()
    header = lines[0].split(",")
    rows = [line.split(",") for line in lines[1:4]]
    col = {c: i for i, c in enumerate(header)}
    rows[0][col["grade"]] = "7"                                   # line 2: grade out of 1-5
    rows[1][col["subject_id"]] = "XX99-0001"                     # line 3: not randomized
    rows[2][col["end_date"]] = "2000-01-01"                      # line 4: ends before it starts
    rows.append(list(rows[2]))                                   # line 5: duplicated key (subject_id, ae_seq)
    rows[3][col["end_date"]] = ""
    text = "\n".join([",".join(header)] + [",".join(r) for r in rows]) + "\n"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(DataValidationError) as err:
        tk.load_study(folder)
    fc = err.value.failure_cases
    ae = fc[fc["table"] == "adverse_events"]
    found = {(int(r.row), r.column.split(" ")[0], r.problem.split(" ")[0]) for r in ae.itertuples()}
    assert (2, "grade", "must") in found
    assert (3, "subject_id", "subject") in found
    assert (4, "end_date", "`end_date`") in found
    assert {4, 5} <= {int(r.row) for r in ae.itertuples() if r.problem == "duplicated key"}
    assert set(ae["file"]) == {"adverse_events.csv"}


def test_grade_5_must_be_fatal(demo_b1931036):
    ev = demo_b1931036.adverse_events.head(2).copy()
    ev.loc[0, ["grade", "outcome"]] = [5, "recovered/resolved"]
    problems = study_problems(_study_with(ev, demo_b1931036))
    bad = problems[problems["table"] == "adverse_events"]
    assert bad["problem"].tolist() == ["grade 5 (death related to the event) but the outcome is not 'fatal'"]
    assert bad["row"].tolist() == [1]


def test_flat_files_round_trip_the_adverse_events(demo_b1931036, tmp_path):
    tk.write_study(demo_b1931036, tmp_path / "s")
    back = tk.load_study(tmp_path / "s")
    pd.testing.assert_frame_equal(back.adverse_events, demo_b1931036.adverse_events)
    assert back.checksum() == demo_b1931036.checksum()


def test_a_site_subset_holds_its_own_patients_events_only(demo_b1931036):
    s = demo_b1931036
    site = s.randomization["site_id"].value_counts().index[0]  # the site with most randomized patients
    sub = site_subset(s, site)
    mine = set(s.randomization.loc[s.randomization["site_id"] == site, "subject_id"])
    assert len(sub.adverse_events) and set(sub.adverse_events["subject_id"]) <= mine
    assert len(sub.adverse_events) == int(s.adverse_events["subject_id"].isin(mine).sum())


# ---- the demo data --------------------------------------------------------------------------------------
@pytest.mark.parametrize("fixture", ["demo_b1931036", "demo_aall1732"])
def test_demo_adverse_events_are_consistent_with_the_other_tables(fixture, request):
    s = request.getfixturevalue(fixture)
    ae = s.adverse_events.merge(s.disposition, on="subject_id", how="left")
    assert len(ae) > 300 and ae["treated"].all()  # only treated patients have events
    assert (ae["start_date"] <= s.data_cut_date).all() and (ae["end_date"].dropna() <= s.data_cut_date).all()
    assert (ae["start_date"] <= ae["last_contact_date"]).all()
    assert (ae["treatment_emergent"] == (ae["start_date"] >= ae["treatment_start_date"])).all()
    fatal = ae[ae["outcome"] == "fatal"]
    assert len(fatal) and (fatal["grade"] == 5).all() and (fatal["end_date"] == fatal["death_date"]).all()
    assert set(ae.loc[ae["grade"] == 5, "outcome"]) == {"fatal"}
    withdrawn = set(ae.loc[ae["action_taken"] == "drug withdrawn", "subject_id"])
    assert withdrawn == set(s.disposition.loc[s.disposition["discontinuation_reason"] == "adverse event", "subject_id"])
    assert ae["aesi_category"].isna().all()  # left for the protocol's aesi: lists


def test_demo_vod_sos_is_more_frequent_on_ino(demo_b1931036):
    """B1931036: VOD/SOS in 8 of 60 treated InO patients (13 %) against 2 of 33 on ALLR3 (6 %), from the label's
    on-treatment rates (3 % InO, INO-VATE) plus post-HSCT VOD (19 % InO, ITCC-059); docs/synthetic-data.md."""
    res = tk.aesi(demo_b1931036, category="hepatic_vod_sos")
    n = res.summary.set_index("group")
    assert n["n"].to_dict() == {"ALLR3": 2, "InO": 8} and n["N"].to_dict() == {"ALLR3": 33, "InO": 60}
    t = tk.ae_table(demo_b1931036).summary.query("kind == 'pt'").set_index(["term", "group"])["pct"]
    # ALLR3's intensive profile: more febrile neutropenia and stomatitis than InO
    assert t[("Febrile neutropenia", "ALLR3")] > t[("Febrile neutropenia", "InO")]
    assert t[("Stomatitis", "ALLR3")] > t[("Stomatitis", "InO")]
    assert np.isfinite(res.landmarks["cif"].iloc[1])
