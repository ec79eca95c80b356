"""trialkit.schemas.surely_valid, the shortcut that lets a valid table skip pandera, never hides a problem:
wherever it says True, pandera (the schema of trialkit.schemas.schema) finds nothing. Checked on the demo
studies' tables as they are (where the shortcut must say True, or it saves nothing) and on copies broken one
rule at a time: a missing required column, a wrong dtype, an empty value where none may be, a value not
allowed, one out of range, a NaN in a nullable float, a duplicated key, a duplicated column. The quick tier
breaks the first column of each kind per table; the slow tier breaks every column.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pandera.pandas as pa
import pytest

from trialkit.model import KEYS, TABLES, columns
from trialkit.schemas import schema, surely_valid, validate_table


def _pandera_problems(df: pd.DataFrame, table: str) -> int:
    if df.columns.duplicated().any() or not df.index.is_unique:
        return 1  # pandera raises a ValueError on such a frame; validate_table reports it (tested below)
    try:
        schema(table).validate(df, lazy=True)
    except pa.errors.SchemaErrors as err:
        return len(err.failure_cases)
    return 0


def _broken(df: pd.DataFrame, table: str, every: bool):
    """(what was broken, the broken copy) for each rule of the table's columns; one column per kind unless
    ``every``."""
    seen = set()

    def want(kind):
        if every or kind not in seen:
            seen.add(kind)
            return True
        return False

    n = len(df)
    for c in columns(table):
        if c.name not in df.columns:
            continue
        if c.required and want("required"):
            yield f"{c.name} dropped", df.drop(columns=c.name)
        if want(f"dtype {c.dtype}"):
            yield f"{c.name} as object", df.astype({c.name: object})
        if not n:
            continue
        if not c.nullable and want("nullable"):
            d = df.copy()
            d.loc[d.index[n // 2], c.name] = pd.NA
            yield f"{c.name} one empty", d
            yield f"{c.name} all empty", df.assign(**{c.name: pd.Series(pd.NA, index=df.index, dtype=df[c.name].dtype)})
        if c.allowed and want("allowed"):
            d = df.copy()
            d.loc[d.index[-1], c.name] = "not-a-level"
            yield f"{c.name} not allowed", d
        for bound, step in ((c.min, -1), (c.max, 1)):
            if bound is not None and want(f"range {step}"):
                d = df.copy()
                d.loc[d.index[0], c.name] = bound + step
                yield f"{c.name} = {bound + step}", d
        if c.dtype == "Float64" and (c.min is not None or c.max is not None) and want("nan"):
            vals = df[c.name].array.copy()
            vals._data[0], vals._mask[0] = np.nan, False  # a NaN value, not the masked NA (0/0 gives one)
            d = df.assign(**{c.name: vals})
            yield f"{c.name} NaN", d
    if n and want("key"):
        yield "key repeated", pd.concat([df, df.iloc[[0]]], ignore_index=True)
        yield "key and index label repeated", pd.concat([df, df.iloc[[0]]])
    if n and want("columns"):
        yield "column repeated", pd.concat([df, df.iloc[:, :1]], axis=1)


@pytest.fixture(scope="module")
def tables(demo_b1931036, demo_aall1732):
    return [(t, getattr(s, t)) for s in (demo_b1931036, demo_aall1732) for t in TABLES]


def test_valid_demo_tables_take_the_shortcut_and_pandera_agrees(tables):
    for table, df in tables:
        assert surely_valid(df, table), table
        assert _pandera_problems(df, table) == 0, table
        assert validate_table(df, table).empty


def _check_broken(tables, every: bool, confirm: int | None) -> int:
    """Every broken copy fails the shortcut; pandera finds a problem in it too (in the first ``confirm``
    copies, or all when None), so each copy breaks a real rule and the problems reach validate_table."""
    tried = 0
    for table, df in tables:
        small = df.head(12)  # the rules are per value: a dozen rows break them as well as thousands
        for what, broken in _broken(small, table, every):
            assert not surely_valid(broken, table), f"{table}: {what} passes the shortcut"
            if confirm is None or tried < confirm:
                assert _pandera_problems(broken, table) >= 1, f"{table}: {what} breaks no rule of pandera's"
                assert len(validate_table(broken, table)) >= 1, (table, what)
            tried += 1
    return tried


def test_a_table_broken_by_one_rule_never_takes_the_shortcut(tables):
    assert _check_broken(tables, every=False, confirm=12) > 50


@pytest.mark.slow
def test_every_column_broken_by_each_of_its_rules_never_takes_the_shortcut(tables):
    assert _check_broken(tables, every=True, confirm=None) > 500


def test_keys_are_known_for_every_table():
    assert set(KEYS) >= set(TABLES)


def test_a_repeated_column_is_a_problem_not_a_traceback(demo_b1931036):
    df = demo_b1931036.sites
    broken = pd.concat([df, df[["site_name"]].assign(site_name="x")], axis=1)
    problems = validate_table(broken, "sites")
    assert problems[["column", "problem"]].values.tolist() == [["site_name", "column name repeated"]]
    df2 = broken.copy()
    df2.iloc[0, 0] = pd.NA  # site_id, the key, emptied: reported beside the repeat
    problems = validate_table(df2, "sites")
    assert problems["problem"].tolist()[0] == "column name repeated" and len(problems) >= 2
    assert (problems["column"] == "site_id").any()


def test_a_repeated_index_label_is_numbered_by_position_not_a_traceback(demo_b1931036):
    df = demo_b1931036.sites.head(3)
    broken = pd.concat([df, df.iloc[[0]]])  # the index reads 0, 1, 2, 0 and the site id repeats
    problems = validate_table(broken, "sites")
    assert set(problems["problem"]) == {"duplicated key"}
    assert sorted(problems["row"].tolist()) == [1, 4]  # positions 0 and 3, counted from 1 without a file


@pytest.mark.cdisc
def test_the_cdisc_pilot_tables_agree_with_pandera(cdisc_study):
    """The real study's tables, as mapped from SDTM/ADaM: the shortcut's verdict is pandera's."""
    for table in TABLES:
        df = getattr(cdisc_study, table)
        assert surely_valid(df, table) == (_pandera_problems(df, table) == 0), table
