"""Tests of trialkit.tables (HTML, LaTeX, Excel, CSV rendering of result frames)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import trialkit as tk
from trialkit.errors import TrialkitError
from trialkit.tables import format_value, frame_html, frame_latex, render_table


def test_format_value():
    assert format_value(np.nan) == "" and format_value(pd.NA) == "" and format_value(None) == ""
    assert format_value(1.23456, 2) == "1.23" and format_value(12345) == "12,345" and format_value(7) == "7"
    assert format_value(True) == "yes" and format_value(pd.Timestamp("2024-03-05")) == "2024-03-05"


def test_frame_html_escapes_flags_and_cuts():
    df = pd.DataFrame({"name": ["<b>x</b>", "y"], "v": [0.5, 2.25]})
    h = frame_html(df, caption="cap & more", digits=1, flags=pd.DataFrame({"v": [False, True]}))
    assert "&lt;b&gt;x&lt;/b&gt;" in h and "cap &amp; more" in h
    assert 'class="data row1 col1 num tk-flag" >2.2</td>' in h  # round-half-even of 2.25 at 1 decimal
    assert 'class="data row0 col1 num" >0.5</td>' in h  # an unflagged number: right-aligned, not red
    long = pd.DataFrame({"a": range(10)})
    assert "(first 3 of 10 rows shown)" in frame_html(long, max_rows=3)


def test_frame_latex_escapes_specials():
    tex = frame_latex(pd.DataFrame({"a_b": ["50%"], "c": [1.0]}), caption="n (%)")
    assert "\\toprule" in tex and "50\\%" in tex and "a\\_b" in tex and "\\caption{n (\\%)}" in tex


def test_render_all_formats(tmp_path):
    bt = tk.balance_table(pd.DataFrame({"arm": ["A", "A", "B", "B"], "x": [1.0, 3.0, 2.0, 6.0]}),
                          covariates=["x"], reference="A")
    html = render_table(bt, tmp_path / "t1.html").read_text()
    assert "A (N=2)" in html and "0.894" in html and "<!doctype html>" in html
    tex = bt.to_latex(tmp_path / "t1.tex").read_text()
    assert "0.894" in tex and "\\begin{table}" in tex
    xl = bt.to_excel(tmp_path / "t1.xlsx")
    back = pd.read_excel(xl, header=2, dtype=str)
    assert back.columns.tolist()[:3] == ["Characteristic", "Statistic", "A (N=2)"]
    assert back.loc[back["Characteristic"] == "x", "SMD"].iloc[0] == "0.894"
    assert pd.read_excel(xl, header=None).iat[0, 0].startswith("Baseline characteristics by arm")
    csv = render_table(pd.DataFrame({"a": [1]}), tmp_path / "t.csv")
    assert csv.read_text().splitlines() == ["a", "1"]
    assert bt.to_html(tmp_path / "t2.html").exists()


def test_render_rejects_unknown_suffix_and_objects(tmp_path):
    with pytest.raises(TrialkitError, match="use one of the suffixes"):
        render_table(pd.DataFrame({"a": [1]}), tmp_path / "t.docx")
    with pytest.raises(TrialkitError, match="cannot render a list"):
        render_table([1, 2], tmp_path / "t.html")


def test_a_single_patient_sd_reads_as_a_dash_never_nan(tmp_path):
    # arm B has one patient: its SD is not estimable (ddof=1), shown "–" in every format
    bt = tk.balance_table(pd.DataFrame({"arm": ["A", "A", "B"], "x": [1.0, 3.0, 2.0]}), covariates=["x"],
                          reference="A")
    html = bt._repr_html_()
    assert "(nan)" not in html and "nan" not in html.lower().replace("nan;", "")
    assert ">2.0 (–)</td>" in html
    assert "2.0 (–)" in render_table(bt, tmp_path / "t.csv").read_text(encoding="utf-8")
    back = pd.read_excel(render_table(bt, tmp_path / "t.xlsx"), header=2, dtype=str)
    assert "2.0 (–)" in back.to_numpy().ravel().tolist()
    assert "2.0 (–)" in frame_latex(bt.display_frame())


def test_counts_are_integers_estimates_have_their_precision():
    from trialkit.tables import format_count, format_estimate, format_mean_sd

    assert format_estimate(np.nan) == "–" and format_estimate(0.12345, 3) == "0.123"
    assert format_count(1234.0) == "1,234" and format_count(np.nan) == ""
    assert format_mean_sd(12.34, np.nan, 1) == "12.3 (–)" and format_mean_sd(np.nan, np.nan) == ""
    assert format_mean_sd(12.34, 4.56, 1) == "12.3 (4.6)"
    # a count column stored as float (one count missing) still shows integers; an HR of 1 keeps its decimals
    df = pd.DataFrame({"n": [3.0, np.nan, 12000.0], "events": [1.0, 2.0, 0.0], "hr": [1.0, 0.5, np.nan]})
    h = frame_html(df, digits=2)
    assert '>3</td>' in h and '>12,000</td>' in h and '>1</td>' in h and '>1.00</td>' in h
    assert "3.00" not in h


def test_frame_html_cells_are_what_series_map_and_stylers_html_escaping_gave():
    """frame_html formats and escapes the cells itself (no Series.map, no Styler formatter per cell); the HTML is
    byte for byte what Series.map + ``Styler.format(escape="html")`` give, for every kind of column."""
    from pandas.io.formats.style import Styler

    from trialkit.tables import _CSS, _cell_classes, clean_text

    df = pd.DataFrame({
        "text": ["<b>&'\"</b>", "12.3 (nan)", None],
        "cat": pd.Categorical(["a<", np.nan, "a<"]),
        "catint": pd.Categorical([1, None, 20000]),
        "Int64": pd.array([1, None, 20000], dtype="Int64"),
        "bool": pd.array([True, None, False], dtype="boolean"),
        "arrow": pd.array(["x&y", None, "nan"], dtype="string[pyarrow]"),
        "mixed": pd.Series(["s", 1.5, pd.Timestamp("2024-01-02")], dtype=object),
        "date": pd.to_datetime(["2024-01-02", None, "2024-03-04"]),
        "x": [1.234, np.nan, 12345.0]})
    # a nullable integer column is formatted from its integers (Series.map would hand it floats: "1.00")
    text = pd.DataFrame({c: (df[c].astype(object) if c == "Int64" else df[c]).map(
        lambda v: clean_text(format_value(v, 2))) for c in df}).astype(str)
    reference = (Styler(text, cell_ids=False, uuid="tk").hide(axis="index").format(escape="html")
                 .set_td_classes(_cell_classes(df, None, None)).set_table_attributes("class='tk-table'")
                 .to_html(doctype_html=False))
    html = frame_html(df)
    assert html == _CSS + reference
    assert "&lt;b&gt;&amp;&#39;&#34;&lt;/b&gt;" in html and "12.3 (–)" in html
    assert ">1</td>" in html and "1.00" not in html and "20,000" in html  # Int64: integers stay integers


def test_repeated_column_names_and_row_labels_render_instead_of_raising():
    # Styler places cell classes by label and refuses repeated ones (a KeyError traceback before)
    df = pd.DataFrame([[1, 2.5], [3, 4.25]], columns=["a", "a"], index=[0, 0])
    html = frame_html(df, flags=pd.DataFrame([[False, True], [False, False]], columns=["x", "y"]))
    assert html.count(">a</th>") == 2 and ">2.50</td>" in html and ">4.25</td>" in html
    assert 'class="data row0 col0 num" >1</td>' in html and 'class="data row1 col1 num" >4.25</td>' in html
