"""Bad arguments to the reading, validating and writing functions are TrialkitErrors, never a
standard-library exception from deep inside (issue 9, "never a traceback")."""

from __future__ import annotations

import pandas as pd
import pytest

import trialkit as tk
from trialkit.errors import InputTypeError, UsageError
from trialkit.io.export import csv_text, write_table
from trialkit.io.flatfile import coerce_table, parse_dates
from trialkit.schemas import validate_table

SITES = pd.DataFrame({"site_id": ["AT01"], "country": ["Austria"]})

CALLS = [
    # (what, call, error, words of the message)  — each was an AttributeError, TypeError or ValueError
    ("write_table list", lambda tmp: write_table([1, 2], tmp / "x.csv"), InputTypeError, "not a list"),
    ("csv_text list", lambda tmp: csv_text([1]), InputTypeError, "not a list"),
    ("validate_table list", lambda tmp: validate_table([1], "sites"), InputTypeError, "not a list"),
    ("coerce_table list", lambda tmp: coerce_table([1], "sites", file="f"), InputTypeError, "not a list"),
    ("coerce_table decimal", lambda tmp: coerce_table(SITES, "sites", file="f", decimal=";"), UsageError,
     "`decimal` must be one of"),
    ("parse_dates %Q", lambda tmp: parse_dates(pd.Series(["2023-01-01"]), date_format="%Q"), UsageError,
     "unknown directive(s) %Q"),
    ("parse_dates partial", lambda tmp: parse_dates(pd.Series(["2023"]), partial="end"), UsageError,
     "`partial_dates` must be one of"),
    ("parse_dates dayfirst", lambda tmp: parse_dates(pd.Series(["2023"]), dayfirst="yes"), UsageError,
     "`dayfirst` must be true or false"),
    ("parse_dates int", lambda tmp: parse_dates(5), InputTypeError, "not a int"),
    ("synthesize text", lambda tmp: tk.synthesize("b1931036", n_screened="x", seed=1), UsageError,
     "n_screened must be a positive number"),
]


@pytest.mark.parametrize(("what", "call", "error", "words"), CALLS, ids=[c[0] for c in CALLS])
def test_bad_arguments_are_trialkit_errors(tmp_path, what, call, error, words):
    with pytest.raises(error) as exc:
        call(tmp_path)
    assert words in str(exc.value)


def test_parse_dates_takes_a_list_too():
    dates, failed, _ = parse_dates(["2023-01-01", "13/01/2023"])
    assert dates.tolist() == [pd.Timestamp("2023-01-01"), pd.Timestamp("2023-01-13")] and not failed.any()
