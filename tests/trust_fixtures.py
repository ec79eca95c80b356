"""Helpers of the trust tests: a study folder built from the minimal fixture plus broken files."""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path

import pandas as pd
import pytest

import trialkit as tk
from trialkit.errors import DataValidationError

FIXTURES = Path(__file__).parent / "fixtures" / "studies"
MINIMAL = FIXTURES / "minimal"
TRUST = FIXTURES / "trust"


def study_from(tmp_path: Path, overlay: str | None = None, **files) -> Path:
    """The minimal study with the files of ``trust/<overlay>`` laid over it, then ``files``
    (``name=text or bytes``; ``study_yaml=`` writes study.yaml)."""
    d = tmp_path / (overlay or "study")
    shutil.copytree(MINIMAL, d)
    if overlay:
        for f in (TRUST / overlay).iterdir():
            shutil.copy(f, d / f.name)
    for name, content in files.items():
        target = d / ("study.yaml" if name == "study_yaml" else name.replace("__", "."))
        if isinstance(content, bytes):
            target.write_bytes(content)
        else:
            target.write_text(content, encoding="utf-8")
    return d


def problems_of(folder: Path, error=DataValidationError) -> pd.DataFrame:
    """The failure cases of a study that must not load."""
    with pytest.raises(error) as exc:
        tk.load_study(folder)
    return exc.value.failure_cases


def load_quietly(folder: Path, **kw):
    """load_study without the data-cut warning reaching the test output."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return tk.load_study(folder, **kw)


def located(frame: pd.DataFrame) -> list[tuple]:
    """(file, line, column) of each problem, lines as int (None when empty)."""
    return [(f, None if r != r else int(r), c) for f, r, c in frame[["file", "row", "column"]].itertuples(index=False)]
