"""Schema validation: large tables are validated in row chunks with the same findings."""

import pandas as pd
import pytest

import trialkit as tk
import trialkit.schemas as schemas
from trialkit.io.flatfile import load_study


def _broken_screening():
    s = load_study("tests/fixtures/studies/minimal")
    scr = s.screening.copy()
    scr.loc[0, "age_years"] = 250.0
    scr.loc[2, "sex"] = "X"
    scr.loc[3, "subject_id"] = scr.loc[1, "subject_id"]
    return scr.drop(columns=["screening_date"])


def test_chunked_validation_finds_exactly_what_whole_table_validation_finds(monkeypatch):
    scr = _broken_screening()
    whole = schemas.validate_table(scr, "screening")
    monkeypatch.setattr(schemas, "CHUNK_ROWS", 2)  # 4 rows -> 2 chunks
    chunked = schemas.validate_table(scr, "screening")
    cols = ["row", "column", "value", "problem"]

    def norm(f):
        return f[cols].astype(str).sort_values(cols).reset_index(drop=True)

    pd.testing.assert_frame_equal(norm(whole), norm(chunked))
    # every kind is there: range, allowed values, duplicated key (both rows), missing column once
    assert set(chunked["problem"]) >= {"must lie between 0 and 120", "must be one of: F, M, U", "duplicated key",
                                       "required column is missing"}
    # no source file given: rows are 1-based record numbers (records 2 and 4 share a subject_id)
    assert sorted(chunked.loc[chunked["problem"] == "duplicated key", "row"].astype(int)) == [2, 4]
    assert (chunked["problem"] == "required column is missing").sum() == 1


@pytest.mark.slow
def test_valid_study_validates_in_chunks(monkeypatch):
    monkeypatch.setattr(schemas, "CHUNK_ROWS", 50)
    s = tk.load_study("data/demo/b1931036")
    assert tk.validate_study(s) is s
