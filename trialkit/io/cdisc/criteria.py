"""IE (inclusion/exclusion exceptions) and SUPPDS ``ENTCRIT`` → the entry criteria a subject did not meet."""

from __future__ import annotations

import re

import pandas as pd

from ..mapped import Mapped
from ..sas import col as _col
from ..sas import join_codes, upper

__all__ = ["map_ie", "map_suppds", "criteria_not_met"]


def _frame(codes: pd.Series) -> pd.DataFrame:
    return pd.DataFrame({"USUBJID": pd.array(codes.index, dtype="string"),
                         "criteria_not_met": pd.array(codes.to_numpy(), dtype="string")})


def map_ie(ie: pd.DataFrame, *, file: str = "ie.xpt") -> Mapped:
    """The IE criteria each subject did not meet (``IETESTCD`` joined by "; ").

    IE holds the criteria *not* met; a record whose ``IEORRES`` says the criterion was met (Y for
    an inclusion, N for an exclusion criterion) is not counted, and their number is noted.

    Examples
    --------
    >>> import pandas as pd
    >>> ie = pd.DataFrame({"USUBJID": ["S-2", "S-2", "S-4"], "IETESTCD": ["INCL02", "EXCL03", "INCL02"],
    ...                    "IECAT": ["INCLUSION", "EXCLUSION", "INCLUSION"], "IEORRES": ["N", "Y", "Y"]})
    >>> map_ie(ie).frame
      USUBJID criteria_not_met
    0     S-2   INCL02; EXCL03
    """
    cat, res = upper(_col(ie, "IECAT")), upper(_col(ie, "IEORRES"))
    met = ((cat.str.startswith("INCL") & res.eq("Y")) | (cat.str.startswith("EXCL") & res.eq("N"))).fillna(False)
    notes = []
    if met.any():
        notes.append(f"{file}: {int(met.sum())} record(s) say the criterion was met (IEORRES) and are not "
                     "counted as failures")
    keep = ~met.to_numpy()
    return Mapped(_frame(join_codes(ie[keep], ie.loc[keep, "IETESTCD"])), notes=tuple(notes))


def _by_number(ti_codes: list[str]):
    """A criterion number ("16") → the one TI ``IETESTCD`` ending in that number ("EXCL16"), else as given."""
    numbered: dict[int, list[str]] = {}
    for c in ti_codes:
        m = re.search(r"(\d+)$", c)
        if m:
            numbered.setdefault(int(m.group(1)), []).append(c)

    def resolve(q):
        q = str(q).strip()
        hits = numbered.get(int(q), []) if q.isdigit() else []
        return hits[0] if len(hits) == 1 else q

    return resolve


def map_suppds(suppds: pd.DataFrame, *, ti: pd.DataFrame | None = None, file: str = "suppds.xpt") -> Mapped:
    """SUPPDS ``QNAM = "ENTCRIT"`` (the entry criterion not met) per subject.

    A criterion number in ``QVAL`` is resolved to the TI ``IETESTCD`` carrying that number when
    exactly one does (the CDISC pilot numbers INCL01–08 and EXCL09–31 consecutively: ``16`` →
    ``EXCL16``); otherwise it is kept as recorded. Other ``QNAM`` values are not mapped (counted).

    Examples
    --------
    >>> import pandas as pd
    >>> ti = pd.DataFrame({"IETESTCD": ["INCL01", "EXCL02"]})
    >>> suppds = pd.DataFrame({"USUBJID": ["S-3", "S-4"], "QNAM": "ENTCRIT", "QVAL": ["2", "7"]})
    >>> map_suppds(suppds, ti=ti).frame
      USUBJID criteria_not_met
    0     S-3           EXCL02
    1     S-4                7
    """
    notes = []
    is_ent = upper(suppds["QNAM"]).eq("ENTCRIT").fillna(False).to_numpy()
    if (~is_ent).any():
        notes.append(f"{file}: {int((~is_ent).sum())} record(s) with QNAM other than ENTCRIT not mapped")
    codes = pd.Series(dtype="string")
    if is_ent.any():
        ti_codes = ti["IETESTCD"].dropna().astype(str).tolist() if ti is not None else []
        qval = suppds.loc[is_ent, "QVAL"]
        resolved = qval.map(_by_number(ti_codes), na_action="ignore")
        codes = join_codes(suppds[is_ent], resolved)
        changed = int((resolved.astype(str) != qval.astype(str)).sum())
        notes.append(f"{file}: ENTCRIT (entry criterion not met) for {len(codes)} subject(s); "
                     f"{changed} criterion number(s) matched to their TI IETESTCD by number")
    return Mapped(_frame(codes), notes=tuple(notes))


def criteria_not_met(*frames: pd.DataFrame | None) -> pd.Series:
    """USUBJID → every criterion not met across IE and SUPPDS (each once, "; "-joined)."""
    parts = [f.set_index("USUBJID")["criteria_not_met"] for f in frames if f is not None and len(f)]
    if not parts:
        return pd.Series(dtype="string")
    joined = pd.concat(parts).groupby(level=0, sort=False).agg(
        lambda s: "; ".join(dict.fromkeys("; ".join(s).split("; "))))
    return joined.astype("string")
