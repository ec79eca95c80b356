"""The :class:`Study`: the canonical tables of one trial bundled with its protocol."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace

import pandas as pd

from .model import TABLES, empty_table
from .protocols import Protocol


@dataclass(frozen=True)
class Study:
    """One trial's data: the canonical tables and the protocol they follow.

    Build it with :func:`trialkit.load_study`, :func:`trialkit.load_cdisc` or
    :func:`trialkit.synthesize`; those validate the tables. Tables a study does not have (a
    screening-only export) are empty frames with the canonical columns, never ``None``.

    Attributes
    ----------
    protocol : Protocol
    sites, screening, randomization, disposition, response, outcomes : pandas.DataFrame
    adverse_events : pandas.DataFrame
        Optional (empty by default): one row per adverse event (see ``docs/safety.md``).
    source : str
        Where the data came from (a folder, "cdisc", "synthetic(seed=…)").
    notes : tuple of str
        What the loader did that a reader should know (imputed partial dates, mapped columns, …).
    data_cut_date : pandas.Timestamp, optional
    adam : dict of str to DataFrame
        The ADaM datasets the study was loaded from, by lower-case name (``"adsl"``, ``"adtte"``),
        each with ``subject_id`` added; empty for other sources. The analysis layer offers every ADSL
        variable as a covariate.
    """

    protocol: Protocol
    sites: pd.DataFrame = field(default_factory=lambda: empty_table("sites"))
    screening: pd.DataFrame = field(default_factory=lambda: empty_table("screening"))
    randomization: pd.DataFrame = field(default_factory=lambda: empty_table("randomization"))
    disposition: pd.DataFrame = field(default_factory=lambda: empty_table("disposition"))
    response: pd.DataFrame = field(default_factory=lambda: empty_table("response"))
    outcomes: pd.DataFrame = field(default_factory=lambda: empty_table("outcomes"))
    adverse_events: pd.DataFrame = field(default_factory=lambda: empty_table("adverse_events"))
    source: str = ""
    notes: tuple[str, ...] = ()
    data_cut_date: pd.Timestamp | None = None
    adam: dict[str, pd.DataFrame] = field(default_factory=dict)

    def tables(self) -> dict[str, pd.DataFrame]:
        """The tables by canonical name."""
        return {t: getattr(self, t) for t in TABLES}

    def replace(self, **changes) -> Study:
        """A copy with some tables (or fields) replaced; the original is never mutated."""
        return replace(self, **changes)

    def checksum(self) -> str:
        """SHA-256 over the content of every table (stable across runs and platforms).

        An empty ``adverse_events`` table (a study without safety data) is left out, so such a study keeps
        the checksum it had before the table existed.
        """
        h = hashlib.sha256(self.protocol.id.encode())
        for name, df in self.tables().items():
            if name == "adverse_events" and not len(df):
                continue
            h.update(name.encode())
            h.update(",".join(map(str, df.columns)).encode())
            h.update(pd.util.hash_pandas_object(df, index=False).values.tobytes())
        return h.hexdigest()

    def summary(self) -> pd.DataFrame:
        """Counts a data manager checks first: sites, screened, randomized per arm, events."""
        rows = [("sites", len(self.sites)), ("screened", len(self.screening)),
                ("randomized", len(self.randomization))]
        if len(self.randomization):
            counts = self.randomization["arm"].value_counts()
            rows += [(f"randomized: {a}", int(counts.get(a, 0))) for a in self.protocol.arm_codes]
        for ep, g in self.outcomes.groupby("endpoint", sort=True):
            rows.append((f"{ep} events", int(g["event"].sum())))
        return pd.DataFrame(rows, columns=["measure", "value"])

    def _repr_html_(self) -> str:  # pragma: no cover - presentation
        return (f"<b>Study {self.protocol.id}</b> ({self.source})<br>"
                + self.summary().to_html(index=False))

    def __repr__(self) -> str:
        parts = ", ".join(f"{t}={len(df)}" for t, df in self.tables().items())
        return f"Study(protocol={self.protocol.id!r}, {parts}, source={self.source!r})"
