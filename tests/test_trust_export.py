"""Exports are safe to open: one writer neutralizes formula cells in CSV and XLSX, keeps real
numbers numeric, and every export of the package goes through it (issue 9).

Reference: OWASP, "CSV Injection" (owasp.org/www-community/attacks/CSV_Injection): cells beginning
with ``=``, ``+``, ``-``, ``@``, tab (0x09) or carriage return (0x0D) are run as formulas by
spreadsheet software; prefix them with a single quote.
"""

from __future__ import annotations

import re
from pathlib import Path

import openpyxl
import pandas as pd
import pytest

import trialkit as tk
from trialkit.errors import ExportError, TrialkitWarning
from trialkit.io.export import csv_text, risky_cells, write_table

ROOT = Path(__file__).resolve().parents[1]
PAYLOADS = ["=HYPERLINK(\"http://x\",\"y\")", "+1+1", "-2+3", "@SUM(A1)", "\tTAB", "\rCR", "=1+1"]


def _frame() -> pd.DataFrame:
    return pd.DataFrame({
        "subject_id": ["S001", "S002", "S003", "S004", "S005", "S006", "S007"],
        "reason": PAYLOADS,
        "text_number": ["-0.5", "+3", "-12", "1e-3", "-", "2", None],
        "change": [-1.5, -2.0, 0.0, 3.25, None, -0.001, 7.0],
        "count": pd.array([-3, 2, None, 4, 5, 6, 7], dtype="Int64"),
    })


def test_csv_cells_are_prefixed_and_numbers_kept(tmp_path):
    p = write_table(_frame(), tmp_path / "x.csv")
    back = pd.read_csv(p, dtype=str, keep_default_na=False)
    assert back["reason"].tolist() == ["'" + v for v in PAYLOADS]
    assert back["text_number"].tolist() == ["-0.5", "+3", "-12", "1e-3", "'-", "2", ""]  # plain numbers untouched
    assert back["change"].tolist() == ["-1.5", "-2.0", "0.0", "3.25", "", "-0.001", "7.0"]
    assert back["count"].tolist()[:2] == ["-3", "2"]


def test_xlsx_has_no_formula_and_keeps_negative_numbers_numeric(tmp_path):
    p = write_table(_frame(), tmp_path / "x.xlsx", sheet="exclusions", caption="=caption")
    wb = openpyxl.load_workbook(p)
    ws = wb["exclusions"]
    cells = [c for row in ws.iter_rows() for c in row if c.value is not None]
    assert cells and not any(c.data_type == "f" for c in cells)  # no cell is a formula
    assert ws["A1"].value == "=caption" and ws["A1"].data_type == "s"
    header = [c.value for c in ws[3]]
    assert header == ["subject_id", "reason", "text_number", "change", "count"]
    reasons = [ws.cell(row=r, column=2) for r in range(4, 11)]
    # the text as written, marked as text; XML reads a carriage return back as a line feed (XML 1.0, 2.11)
    assert [c.value for c in reasons] == [p.replace("\r", "\n") for p in PAYLOADS]
    assert all(c.data_type == "s" and c.quotePrefix for c in reasons)
    change = [ws.cell(row=r, column=4).value for r in range(4, 11)]
    assert change == [-1.5, -2.0, 0.0, 3.25, None, -0.001, 7.0]
    assert ws.cell(row=4, column=5).value == -3 and ws.cell(row=4, column=5).data_type == "n"


def test_headers_are_neutralized_too(tmp_path):
    p = write_table(pd.DataFrame({"=cmd": [1]}), tmp_path / "h.csv")
    assert p.read_text().splitlines()[0] == "'=cmd"


def test_risky_cells_ignores_numbers_and_missing():
    risky = risky_cells(_frame())
    assert risky["reason"].all() and risky["text_number"].tolist() == [False] * 4 + [True, False, False]
    assert not risky["change"].any() and not risky["count"].any()


def test_risky_cells_in_every_kind_of_text_column_and_repeated_names():
    """Text in object columns beside other values, in pandas' string dtype, in categories; two columns of
    one name: each judged by its own cells (the rule: first character = + - @ tab CR, not a plain number)."""
    data = pd.DataFrame([["=1", "@a", "-", 5], [3.0, pd.NA, "+2", 6], [None, "ok", "=x", 7]],
                        columns=["mixed", "string", "cat", "mixed"])
    data = data.astype({"string": "string"})
    data.isetitem(2, data.iloc[:, 2].astype("category"))
    got = risky_cells(data)
    assert list(got.columns) == ["mixed", "string", "cat", "mixed"]
    assert got.to_numpy().tolist() == [[True, True, True, False], [False, False, False, False],
                                       [False, False, True, False]]


def test_bad_targets_are_export_errors(tmp_path):
    with pytest.raises(ExportError, match="writes .csv or .xlsx"):
        write_table(_frame(), tmp_path / "x.json")
    with pytest.raises(ExportError, match="does not exist"):
        write_table(_frame(), tmp_path / "nope" / "x.csv")


def test_render_table_and_balance_table_go_through_the_writer(tmp_path):
    df = pd.DataFrame({"Characteristic": ["=2+3", "age"], "value": ["-0.12 (-0.30, 0.05)", "1.0"]})
    xl = tk.render_table(df, tmp_path / "t.xlsx", caption="Table 1")
    ws = openpyxl.load_workbook(xl).active
    assert not any(c.data_type == "f" for row in ws.iter_rows() for c in row)
    assert ws["A4"].value == "=2+3" and ws["B4"].quotePrefix
    csv = tk.render_table(df, tmp_path / "t.csv")
    assert csv.read_text().splitlines()[1] == "'=2+3,\"'-0.12 (-0.30, 0.05)\""


def test_exclusion_list_download_is_neutralized(tmp_path, demo_b1931036):
    from trialkit.widgets.eligibility import eligibility_explorer, on_export

    ex = eligibility_explorer(demo_b1931036, export_dir=str(tmp_path))
    ex.w["export_format"].value = "xlsx"
    books = [p for p in on_export(ex) if p.suffix == ".xlsx"]
    assert books, "'Export this view' wrote no workbook"
    for path in books:
        ws = openpyxl.load_workbook(path).active
        assert ws.max_row > 1 and not any(c.data_type == "f" for row in ws.iter_rows() for c in row)


def test_schedule_csv_is_neutralized_and_still_verifies(tmp_path):
    sched = tk.generate_schedule("b1931036", n_per_stratum=6, seed=3)
    p = sched.to_csv(tmp_path / "s.csv")
    assert tk.verify_schedule(p).ok
    assert csv_text(pd.DataFrame({"arm": ["@x"]})) == "arm\n'@x\n"


def test_write_study_warns_when_a_value_is_neutralized(tmp_path):
    s = tk.load_study(ROOT / "tests" / "fixtures" / "studies" / "minimal")
    scr = s.screening.copy()
    scr.loc[0, "screen_failure_reason"] = "=cmd"
    with pytest.warns(TrialkitWarning, match="1 text cell"):
        tk.write_study(s.replace(screening=scr), tmp_path / "out")


def test_every_export_in_the_package_goes_through_the_writer():
    """No module but the writer calls pandas' CSV/Excel writers for files people open."""
    allowed = {
        "trialkit/io/export.py": "the writer itself",
        "trialkit/randomization/schedule.py": "_hash_frame serializes the list into a hash, not a file",
    }
    found = {}
    for p in sorted((ROOT / "trialkit").rglob("*.py")):
        rel = p.relative_to(ROOT).as_posix()
        code = "\n".join(line for line in p.read_text().splitlines() if not line.strip().startswith(("#", "``")))
        if re.search(r"\.to_csv\(|\.to_excel\(|ExcelWriter\(|csv\.writer\(|csv\.DictWriter\(|Workbook\(|xlsxwriter",
                     code) and rel not in allowed:
            found[rel] = True
    assert found == {}
    hashing = (ROOT / "trialkit/randomization/schedule.py").read_text()
    assert hashing.count(".to_csv(") == 1 and "def _hash_frame" in hashing


def test_html_table_export_holds_formula_like_cells_as_text(tmp_path):
    """An .html table opens in Excel as a sheet, which runs a cell starting with = + - @ unless the cell has the
    Text number format: a page with such a cell (or header) sets it for every cell; the page shows the values as
    they are; a page without one keeps numbers as numbers (no style)."""
    from trialkit.tables import render_table

    risky = render_table(pd.DataFrame({"site": ['=HYPERLINK("http://x","y")', "DE01"], "n": [1, 2]}),
                         tmp_path / "a.html").read_text(encoding="utf-8")
    assert 'mso-number-format: "\\@"' in risky and "=HYPERLINK(" in risky.replace("&quot;", '"')
    header = render_table(pd.DataFrame({"@cmd": ["x"]}), tmp_path / "b.html").read_text(encoding="utf-8")
    assert "mso-number-format" in header
    plain = render_table(pd.DataFrame({"site": ["DE01"], "delta": [-1.5]}), tmp_path / "c.html").read_text(encoding="utf-8")
    assert "mso-number-format" not in plain  # a negative number is a number, not a formula
