"""The one analysis-input layer: a Study, a canonical frame or an ADaM frame → one row per subject.

Every analysis (survival, response, Table 1, allocation, safety) asks :func:`analysis_set` for its
subjects instead of joining tables itself, so population, arm order, subgroup filters, covariates and
the messages about them are the same everywhere.

What it does
------------
* **Population** — ``"randomized"`` (intention to treat, the default), ``"treated"``, ``"safety"``,
  ``"efficacy"``, ``"per_protocol"``, ``"analysed"`` (see :data:`POPULATIONS`), or the name of any flag
  column (``"SAFFL"``, ``"saffl"``, a boolean column). On an ADaM frame the named populations read their
  ADaM flags (``"safety"`` → ``SAFFL`` …). A population nobody recorded is an error, never an empty set.
* **Groups** — ``by`` is the grouping column. Its levels are ordered by the protocol (arms by dose,
  stratification levels as declared), else by a categorical's order, else by an ADaM numeric companion
  (``TRT01P`` by ``TRT01PN``, ``AGEGR1`` by ``AGEGR1N``), and only then naturally sorted. Never is the
  alphabetically first group silently made the reference: see :func:`resolve_reference`.
* **Subgroups** — ``subgroup={"sex": "F", "country": ["Germany", "Austria"]}``: values are checked
  against the column's type (a string for a true/false column is an error naming the allowed values);
  a selection that leaves nobody raises :class:`~trialkit.errors.EmptySelectionError` naming the filter.
* **Columns** — any column of randomization, screening, disposition, response, the site's country, a
  derived ``age_band`` (bands from the protocol's age range), and, for a study loaded from ADaM, every
  ADSL variable (``MMSETOT``, ``AGEGR1`` …).

Examples
--------
>>> import trialkit as tk
>>> study = tk.load_study("data/demo/b1931036")
>>> aset = tk.analysis_set(study, columns=["age_band", "sex"])
>>> aset.groups, aset.reference
(('ALLR3', 'InO'), 'ALLR3')
>>> aset.frame["age_band"].cat.categories.tolist()
['1 to <10 years', '10 to <18 years']
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from .errors import EmptySelectionError, TrialkitError

__all__ = ["AnalysisSet", "analysis_set", "join_by_subject", "POPULATIONS", "ADAM_POPULATION_FLAGS", "age_band", "age_band_labels",
           "group_order", "resolve_reference", "select_subgroup", "site_countries", "with_site_columns", "is_study",
           "subject_frame", "as_tuple", "stratum_codes"]

#: populations a Study understands, and what defines each
POPULATIONS = {
    "randomized": "every randomized subject (intention to treat)",
    "treated": "received at least one dose (disposition.treated)",
    "safety": "the safety population: disposition.safety (ADaM SAFFL) where recorded, else treated",
    "efficacy": "the efficacy population: disposition.efficacy (ADaM EFFFL)",
    "per_protocol": "the per-protocol population: disposition.per_protocol (ADaM PPROTFL)",
    "analysed": "the primary analysis population: disposition.analysed",
}
_ALIASES = {"itt": "randomized", "intention_to_treat": "randomized", "all": "randomized", "as_treated": "treated",
            "pp": "per_protocol", "analyzed": "analysed", "efficacy_evaluable": "efficacy"}
#: the ADaM flag each named population reads on an ADaM frame (first present wins)
ADAM_POPULATION_FLAGS = {"randomized": ("ITTFL", "RANDFL"), "treated": ("SAFFL",), "safety": ("SAFFL",),
                         "efficacy": ("EFFFL",), "per_protocol": ("PPROTFL", "PPSFL"), "analysed": ("ITTFL",)}
_FLAG_TRUE = {"Y", "YES", "TRUE", "T", "1"}
_FLAG_FALSE = {"N", "NO", "FALSE", "F", "0", ""}
#: candidate age cut-points (years) when a protocol declares no ``age_bands``: the NCI risk cut at 10,
#: adulthood at 18, and the usual adult cuts; those inside the protocol's age range are used.
_DEFAULT_AGE_CUTS = (10.0, 18.0, 40.0, 65.0, 75.0)
#: group names taken as the control arm of a frame with no protocol (matched as whole words)
_CONTROL_WORDS = re.compile(r"\b(placebo|pbo|control|standard of care|soc|usual care|vehicle)\b", re.I)
_TABLE_ORDER = ("randomization", "screening", "disposition", "response")


def is_study(data) -> bool:
    """True for a :class:`~trialkit.Study` (or anything shaped like one)."""
    return all(hasattr(data, a) for a in ("protocol", "randomization", "screening", "outcomes"))


def as_tuple(x) -> tuple[str, ...]:
    """``None`` → ``()``, ``"a"`` → ``("a",)``, a sequence → a tuple."""
    if x is None:
        return ()
    if isinstance(x, str):
        return (x,)
    return tuple(x)


def stratum_codes(frame: pd.DataFrame, strata) -> tuple[np.ndarray, list[str]]:
    """One integer code per combination of the ``strata`` columns' levels, and the strata's labels.

    Codes number the combinations in order of first appearance; a missing level is its own level
    ``"(missing)"``. No strata: everyone in stratum 0, ``"all"``.
    """
    strata = list(as_tuple(strata))
    if not strata:
        return np.zeros(len(frame), dtype=np.int64), ["all"]
    absent = [f for f in strata if f not in frame.columns]
    if absent:
        raise TrialkitError(f"stratification column(s) {', '.join(map(repr, absent))} are not in the data"
                            f"{_suggest(absent[0], frame.columns)}; add them or leave them out of strata")
    key = frame[strata].astype("string").fillna("(missing)")
    codes, uniques = pd.MultiIndex.from_frame(key).factorize()
    labels = [" / ".join(u) if isinstance(u, tuple) else str(u) for u in uniques]
    return codes.astype(np.int64), labels


# ------------------------------------------------------------------------------------------------
# sites and countries
# ------------------------------------------------------------------------------------------------
def site_countries(study) -> pd.Series:
    """``site_id → country`` from the study's sites table (first row of a duplicated id)."""
    sites = study.sites
    if not len(sites) or "country" not in sites.columns:
        return pd.Series(dtype="string")
    return sites.drop_duplicates("site_id").set_index("site_id")["country"].astype("string")


def _site_rows(site_ids: pd.Series, key: pd.Series) -> np.ndarray:
    """For each ``key``, the first row of the sites table with its ``site_id`` (-1: no such site).

    The key is compared as text with the ids as stored, as ``Series.map`` over
    ``sites.drop_duplicates("site_id").set_index("site_id")`` would: text ids (as loaded) are matched by
    pyarrow in one pass (``index_in`` gives the first occurrence; a missing id matches a missing id, as
    in pandas), other ids through a pandas index of the de-duplicated ids. A missing key is no site:
    it never takes the row of a site whose id is missing too.
    """
    if not isinstance(site_ids.dtype, pd.StringDtype):
        first = np.flatnonzero(~site_ids.duplicated().to_numpy())
        pos = pd.Index(site_ids.take(first)).get_indexer(key.astype("string").array)
        return np.where((pos >= 0) & key.notna().to_numpy(), first[np.maximum(pos, 0)], -1)
    import pyarrow as pa
    import pyarrow.compute as pc

    text = key.array if isinstance(key.dtype, pd.StringDtype) else key.astype("string").array
    found = pc.index_in(pa.array(text), value_set=pa.array(site_ids.array), skip_nulls=True)
    return found.fill_null(-1).to_numpy(zero_copy_only=False)


def _as_text(values: pd.Series) -> np.ndarray:
    """``values.astype("string")`` as an object array (str, ``<NA>`` where missing); text is read as it is."""
    if isinstance(values.dtype, pd.StringDtype):
        return values.to_numpy(dtype=object, na_value=pd.NA)
    return values.astype("string").to_numpy()


def _site_text(sites: pd.DataFrame, col: str, rows: np.ndarray) -> np.ndarray:
    """The text of the sites' ``col`` at ``rows`` (first rows of their sites; -1 gives ``<NA>``)."""
    values = sites[col]
    if isinstance(values.dtype, pd.StringDtype):
        text = _as_text(values)
    else:  # as astype("string") writes the de-duplicated column (the text of dates depends on the whole column)
        kept = ~sites["site_id"].duplicated().to_numpy()
        text = np.full(len(values), pd.NA, dtype=object)
        text[kept] = _as_text(values[kept])
    return np.append(text, pd.NA)[rows]  # row -1 picks the appended <NA>


def with_site_columns(frame: pd.DataFrame, study, columns=("country",)) -> pd.DataFrame:
    """``frame`` with the site's ``country`` (or other ``sites`` columns) filled by ``site_id`` where empty.

    The one place a site attribute is joined; a value the frame already records is never overwritten.
    Values come out as text (``astype("string")``) in object columns, missing ones as ``<NA>``.
    """
    if "site_id" not in frame.columns or not len(study.sites):
        return frame
    sites = study.sites
    if "site_id" not in sites.columns:
        raise TrialkitError(f"the sites table has no site_id column (its columns: {', '.join(map(str, sites.columns))}); "
                            "name the column of the site identifiers site_id")
    site_ids = sites["site_id"]
    wanted = [col for col in as_tuple(columns) if col in sites.columns and col != "site_id"]
    if not wanted:
        return frame
    rows = _site_rows(site_ids, frame["site_id"])
    out = {}
    for col in wanted:
        from_sites = _site_text(sites, col, rows)
        if col in frame.columns:
            own = _as_text(frame[col])
            from_sites = np.where(pd.isna(own), from_sites, own)
        out[col] = from_sites
    return frame.assign(**out)


# ------------------------------------------------------------------------------------------------
# age bands
# ------------------------------------------------------------------------------------------------
def _fmt_age(x: float) -> str:
    return f"{x:g}"


def _age_cuts(protocol) -> tuple[float, ...]:
    declared = (protocol.raw or {}).get("age_bands") if protocol is not None else None
    if isinstance(declared, Mapping):
        declared = declared.get("cutpoints")
    if declared:
        return tuple(float(c) for c in declared)
    lo = protocol.age_min_years if protocol is not None else 0.0
    hi = protocol.age_max_years if protocol is not None else 120.0
    return tuple(c for c in _DEFAULT_AGE_CUTS if lo < c < hi)


def age_band_labels(protocol) -> tuple[str, ...]:
    """The age bands of a protocol, youngest first: its declared ``age_bands`` cut-points, else cuts at
    10, 18, 40, 65 and 75 years that fall inside its age range; the outer bands end at the protocol's
    own limits (``"1 to <10 years"``, ``"18 to <25 years"``), so no band lies outside the trial's ages."""
    cuts = _age_cuts(protocol)
    lo = protocol.age_min_years if protocol is not None else None
    hi = protocol.age_max_years if protocol is not None else None
    inclusive = bool(protocol.age_max_inclusive) if protocol is not None else False
    edges = [lo, *cuts, hi]
    labels = []
    for i in range(len(edges) - 1):
        a, b = edges[i], edges[i + 1]
        last = i == len(edges) - 2
        if a is None or (i == 0 and a <= 0):
            labels.append(f"<{_fmt_age(b)} years")
        elif last and (b is None or b >= 120):
            labels.append(f"{_fmt_age(a)}+ years")
        elif last and inclusive:
            labels.append(f"{_fmt_age(a)} to {_fmt_age(b)} years")
        else:
            labels.append(f"{_fmt_age(a)} to <{_fmt_age(b)} years")
    return tuple(labels)


def age_band(age_years: pd.Series, protocol=None) -> pd.Series:
    """Age bands of :func:`age_band_labels` as an ordered categorical (missing age → missing band).

    Ages outside the protocol's range fall in the nearest outer band (the data are not altered; an
    out-of-range age is a validation finding elsewhere).
    """
    cuts = np.asarray(_age_cuts(protocol), dtype=float)
    labels = list(age_band_labels(protocol))
    age = pd.to_numeric(age_years, errors="coerce").astype("float64").to_numpy()
    idx = np.searchsorted(cuts, age, side="right")
    codes = np.where(np.isnan(age), -1, idx)
    return pd.Series(pd.Categorical.from_codes(codes, categories=labels, ordered=True), index=age_years.index)


# ------------------------------------------------------------------------------------------------
# groups and reference
# ------------------------------------------------------------------------------------------------
def _natural_key(s: str):
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", s)]


def group_order(values: pd.Series, *, protocol=None, companion: pd.Series | None = None,
                column: str | None = None) -> tuple[str, ...]:
    """The order of a grouping column's levels (as text), never alphabetical when anything says better.

    In order of preference: the protocol's arm order (when every level is an arm code), the protocol's
    levels of a stratification factor named ``column``, a categorical's own order, a numeric companion
    (ADaM ``TRT01PN`` for ``TRT01P``), and last a natural sort ("Site 2" before "Site 10").
    """
    present = list(dict.fromkeys(str(v) for v in pd.unique(values.dropna())))
    if protocol is not None and present and set(present) <= set(protocol.arm_codes):
        return tuple(a for a in protocol.arm_codes if a in present)
    if protocol is not None and column is not None:
        factor = next((f for f in protocol.stratification if f.name == column), None)
        if factor is not None and set(present) <= set(factor.levels):
            return tuple(level for level in factor.levels if level in present)
    if isinstance(values.dtype, pd.CategoricalDtype):
        return tuple(str(c) for c in values.cat.categories if str(c) in set(present))
    if companion is not None:
        num = pd.to_numeric(companion, errors="coerce")
        pairs = pd.DataFrame({"v": values.astype("string"), "n": num}).dropna()
        if len(pairs) and pairs.groupby("v")["n"].nunique().max() == 1:
            first = pairs.drop_duplicates("v").sort_values("n", kind="stable")["v"].tolist()
            return tuple(first) + tuple(sorted((p for p in present if p not in set(first)), key=_natural_key))
    return tuple(sorted(present, key=_natural_key))


def _has_declared_order(values: pd.Series, protocol, companion, column) -> bool:
    present = {str(v) for v in pd.unique(values.dropna())}
    if protocol is not None and present <= set(protocol.arm_codes):
        return True
    if isinstance(values.dtype, pd.CategoricalDtype) or companion is not None:
        return True
    return bool(protocol is not None and column and any(f.name == column for f in protocol.stratification))


def resolve_reference(groups: tuple[str, ...], *, reference: str | None = None, protocol=None,
                      declared_order: bool = False, required: bool = False) -> tuple[str | None, str | None]:
    """``(reference group, note)``: which group the others are compared with.

    An explicit ``reference`` wins (it must be one of the groups); then the protocol's reference arm;
    then the first group of a declared order (a categorical, an ADaM ``…N`` companion); then a group
    named like a control (placebo, control, standard of care …). When none of these decides and a
    comparison needs a reference (``required``), it is an error asking for ``reference=`` — the
    alphabetically first group is never chosen silently.
    """
    if reference is not None:
        if str(reference) not in groups:
            raise TrialkitError(f"reference={reference!r} is not one of the groups ({', '.join(groups) or 'none'}); "
                                "pass one of them")
        return str(reference), None
    if protocol is not None and protocol.reference_arm in groups:
        return protocol.reference_arm, None
    if not groups:
        return None, None
    if declared_order:
        return groups[0], None
    control = [g for g in groups if _CONTROL_WORDS.search(g)]
    if len(control) == 1:
        return control[0], f"reference group {control[0]!r} chosen by its name (a control arm); pass reference= to change"
    if required and len(groups) > 1:
        raise TrialkitError(f"which group is the reference? The data give no order for {', '.join(groups)}: pass "
                            f"reference= one of them (e.g. reference={groups[0]!r})")
    return groups[0], None


# ------------------------------------------------------------------------------------------------
# subgroups and populations
# ------------------------------------------------------------------------------------------------
def _kind(s: pd.Series) -> str:
    if pd.api.types.is_bool_dtype(s):
        return "boolean"
    if isinstance(s.dtype, pd.CategoricalDtype):
        return "text"
    if pd.api.types.is_numeric_dtype(s):
        return "number"
    if pd.api.types.is_datetime64_any_dtype(s):
        return "date"
    return "text"


def _check_value(col: str, kind: str, v: Any, present: list) -> None:
    ok = {"boolean": isinstance(v, bool | np.bool_),
          "number": isinstance(v, int | float | np.integer | np.floating) and not isinstance(v, bool | np.bool_),
          "date": isinstance(v, pd.Timestamp | np.datetime64) or (isinstance(v, str) and bool(re.match(r"\d{4}-", v))),
          "text": isinstance(v, str)}[kind]
    if not ok:
        allowed = {"boolean": "True or False", "number": "a number", "date": "a date (e.g. '2024-01-31')",
                   "text": "text, e.g. " + ", ".join(repr(p) for p in present[:5])}[kind]
        raise TrialkitError(f"subgroup `{col}` is {'true/false' if kind == 'boolean' else kind} but was given "
                            f"{v!r} ({type(v).__name__}); use {allowed}")


def select_subgroup(frame: pd.DataFrame, subgroup: Mapping[str, Any] | None, *,
                    what: str = "subject") -> tuple[pd.DataFrame, list[str]]:
    """Keep the rows matching every ``{column: value or [values]}``; values typed against the column."""
    notes: list[str] = []
    for col, want in (subgroup or {}).items():
        if col not in frame.columns:
            raise TrialkitError(f"subgroup column {col!r} is not in the data{_suggest(col, frame.columns)}")
        s = frame[col]
        wanted = list(want) if isinstance(want, list | tuple | set | frozenset) else [want]
        kind = _kind(s)
        present = [str(p) for p in pd.unique(s.dropna())][:50]
        for v in wanted:
            _check_value(col, kind, v, present)
        if kind == "date":
            mask = s.isin(pd.to_datetime(wanted))
        elif kind == "text":
            mask = s.astype("string").isin([str(v) for v in wanted])
        else:
            mask = s.isin(wanted)
        mask = mask.fillna(False).to_numpy(dtype=bool)
        shown = wanted[0] if len(wanted) == 1 else wanted
        if not mask.any():
            raise EmptySelectionError(f"no {what}s left after subgroup {col} = {shown!r} (values present: "
                                      f"{', '.join(present[:12]) or 'none'})")
        notes.append(f"subgroup {col} = {shown}: {int((~mask).sum())} {what}(s) outside it left out")
        frame = frame[mask]
    return frame, notes


def _flag_values(s: pd.Series, name: str) -> pd.Series:
    """A population flag (boolean, 0/1 or Y/N text) as booleans; anything else is an error."""
    if pd.api.types.is_bool_dtype(s):
        return s.astype("boolean").fillna(False)
    if pd.api.types.is_numeric_dtype(s):
        bad = s.notna() & ~s.isin([0, 1])
        if bad.any():
            raise TrialkitError(f"population flag `{name}` must be 0/1, Y/N or true/false; found {s[bad].iloc[0]!r}")
        return s.eq(1).fillna(False)
    text = s.astype("string").str.strip().str.upper().fillna("")
    bad = ~text.isin(_FLAG_TRUE | _FLAG_FALSE)
    if bad.any():
        raise TrialkitError(f"population flag `{name}` must be Y/N (or true/false); found {s[bad].iloc[0]!r} — "
                            "use a flag column for population=")
    return text.isin(_FLAG_TRUE)


def _population_key(population: str) -> str:
    key = str(population).strip().lower().replace("-", "_").replace(" ", "_")
    return _ALIASES.get(key, key)


def _population_mask(frame: pd.DataFrame, population: str, *, study: bool) -> tuple[pd.Series, str]:
    """(mask, description) of a named population or a flag column."""
    key = _population_key(population)
    if study and key in POPULATIONS:
        if key == "safety":
            safety = frame["safety"].astype("boolean") if "safety" in frame.columns else None
            treated = frame["treated"].astype("boolean") if "treated" in frame.columns else None
            if safety is not None and safety.notna().any():
                return safety.fillna(False), "safety (disposition.safety)"
            if treated is not None and treated.notna().any():
                return treated.fillna(False), "safety (treated: disposition.safety not recorded)"
            column = "safety"
        else:
            column = key
        if column not in frame.columns or frame[column].isna().all():
            raise TrialkitError(f"population {population!r} is not recorded in this study: disposition.{column} is "
                                f"{'empty' if column in frame.columns else 'absent'} ({POPULATIONS[key]}); use "
                                "population='randomized' or fill the column")
        return _flag_values(frame[column], column), key
    if not study and key in ADAM_POPULATION_FLAGS:
        flag = next((f for f in ADAM_POPULATION_FLAGS[key] if f in frame.columns), None)
        if flag is None:
            raise TrialkitError(f"population {population!r} needs one of the ADaM flags "
                                f"{', '.join(ADAM_POPULATION_FLAGS[key])}, which the data do not have; pass the name "
                                "of a flag column instead (e.g. population='SAFFL')")
        return _flag_values(frame[flag], flag), f"{key} ({flag} = Y)"
    if population in frame.columns:
        return _flag_values(frame[population], population), f"{population} = Y"
    names = ", ".join(POPULATIONS) if study else ", ".join(ADAM_POPULATION_FLAGS)
    raise TrialkitError(f"unknown population {population!r}: use one of {names} or the name of a flag column"
                        f"{_suggest(population, frame.columns)}")


def _select_population(frame: pd.DataFrame, population: str | None, *, study: bool,
                       what: str) -> tuple[pd.DataFrame, str, list[str]]:
    if population is None or (_population_key(population) == "randomized"
                              and (study or not any(f in frame.columns for f in ("ITTFL", "RANDFL")))):
        return frame, "randomized" if study else "all records", []
    mask, desc = _population_mask(frame, population, study=study)
    mask = mask.to_numpy(dtype=bool)
    if not mask.any():
        raise EmptySelectionError(f"no {what}s left after population {population!r} ({desc}): nobody is in it")
    note = f"population {desc}: {int((~mask).sum())} {what}(s) outside it left out" if (~mask).any() else None
    return frame[mask], desc, [note] if note else []


def _suggest(name, candidates) -> str:
    close = difflib.get_close_matches(str(name), [str(c) for c in candidates], n=3, cutoff=0.6)
    return f"; did you mean {', '.join(map(repr, close))}?" if close else ""


# ------------------------------------------------------------------------------------------------
# the per-subject frame of a Study
# ------------------------------------------------------------------------------------------------
def _adsl(study) -> pd.DataFrame | None:
    adsl = (getattr(study, "adam", None) or {}).get("adsl")
    if adsl is None or not len(adsl):
        return None
    if "subject_id" not in adsl.columns and "USUBJID" in adsl.columns:
        adsl = adsl.assign(subject_id=adsl["USUBJID"].astype("string"))
    return adsl.drop_duplicates("subject_id")


def join_by_subject(frame: pd.DataFrame, right: pd.DataFrame, *, how: str = "left",
                    on: str = "subject_id") -> pd.DataFrame:
    """``frame.merge(right, on=on, how=how, validate="one_to_one")``, the same frame by position.

    ``how`` is ``"left"`` or ``"inner"`` (``frame``'s row order either way). A merge costs about three
    times as much on a trial's few hundred subjects, and analyses join subjects to their attributes
    on every call. Where the position join would not give exactly the merge (a key repeated on either
    side, key dtypes that differ, another column in both frames) the merge itself runs, and raises
    as it does.
    """
    from pandas.api.extensions import ExtensionDtype, take

    def values(col: pd.Series, at=None, fill: bool = False):
        """The column's values (at positions ``at``; -1 gives a missing value of the merge's dtype)."""
        if isinstance(col.dtype, ExtensionDtype):
            return col.array if at is None else col.array.take(at, allow_fill=fill)
        v = col.to_numpy()
        return v if at is None else (take(v, at, allow_fill=True) if fill else v[at])

    key = pd.Index(right[on])
    ids = frame[on]
    if (set(frame.columns) & set(right.columns) - {on} or ids.dtype != key.dtype or not key.is_unique
            or ids.duplicated().any()):
        return frame.merge(right, on=on, how=how, validate="one_to_one")
    pos = key.get_indexer(ids)
    rows = np.flatnonzero(pos >= 0) if how == "inner" else None
    if rows is not None:
        pos = pos[rows]
    cols = {c: values(frame[c], rows) for c in frame.columns}
    cols.update((c, values(right[c], pos, fill=True)) for c in right.columns if c != on)
    return pd.DataFrame(cols)


def _available(study) -> dict[str, str]:
    """column → where it comes from (first table that has it)."""
    where: dict[str, str] = {}
    for t in _TABLE_ORDER:
        for c in getattr(study, t).columns:
            where.setdefault(c, t)
    where.setdefault("country", "sites")
    if "age_years" in where:
        where.setdefault("age_band", "derived")
    adsl = _adsl(study)
    if adsl is not None:
        for c in adsl.columns:
            where.setdefault(c, "adsl")
    return where


def subject_frame(study, columns: Iterable[str] = ()) -> pd.DataFrame:
    """One row per randomized subject of a Study with the requested columns (and the randomization table).

    Columns are looked up in randomization, screening, disposition, response, the sites table
    (``country``), the derived ``age_band`` and the ADSL variables of a study loaded from ADaM, in that
    order; an unknown column is an error listing the close matches.
    """
    where = _available(study)
    wanted = [c for c in dict.fromkeys(columns) if c not in study.randomization.columns]
    unknown = [c for c in wanted if c not in where]
    if unknown:
        raise TrialkitError(f"column(s) {', '.join(map(repr, unknown))} are in none of the study's tables "
                            "(randomization, screening, disposition, response"
                            + (", ADSL" if _adsl(study) is not None else "") + ")"
                            + _suggest(unknown[0], where))
    frame = study.randomization
    by_table: dict[str, list[str]] = {}
    for c in wanted:
        by_table.setdefault(where[c], []).append(c)
    for t in _TABLE_ORDER[1:]:
        cols = by_table.get(t, [])
        if t == "screening" and "age_band" in wanted and "age_years" not in frame.columns and "age_years" not in cols:
            cols = [*cols, "age_years"]
        if cols:
            right = getattr(study, t)[["subject_id", *cols]].drop_duplicates("subject_id")
            frame = join_by_subject(frame, right)
    if "country" in wanted:
        frame = with_site_columns(frame, study)
    if by_table.get("adsl"):
        adsl = _adsl(study)
        cols = {c: _ordered_by_companion(adsl, c) for c in by_table["adsl"]}
        frame = join_by_subject(frame, pd.DataFrame({"subject_id": adsl["subject_id"], **cols}))
    if "age_band" in wanted:
        frame = frame.assign(age_band=_study_age_band(study, frame))
    return frame


def _ordered_by_companion(adsl: pd.DataFrame, column: str) -> pd.Series:
    """An ADSL text variable as a categorical ordered by its numeric companion (``AGEGR1`` by ``AGEGR1N``)."""
    s = adsl[column]
    comp = f"{column}N"
    if comp not in adsl.columns or pd.api.types.is_numeric_dtype(s):
        return s
    order = group_order(s, companion=adsl[comp])
    return pd.Series(pd.Categorical(s.astype("string").astype(object), categories=list(order), ordered=True),
                     index=s.index)


def _study_age_band(study, frame: pd.DataFrame) -> pd.Series:
    if "age_years" not in frame.columns:
        extra = study.screening[["subject_id", "age_years"]].drop_duplicates("subject_id")
        age = join_by_subject(frame[["subject_id"]], extra)["age_years"]
        age.index = frame.index
    else:
        age = frame["age_years"]
    return age_band(age, study.protocol)


# ------------------------------------------------------------------------------------------------
# the analysis set
# ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class AnalysisSet:
    """The subjects of one analysis.

    Attributes
    ----------
    frame : DataFrame
        One row per subject (per record for a frame input): ``subject_id``, the ``by`` column, ``group``
        (an ordered categorical of the groups, ``"all"`` when ``by`` is None) and the requested columns.
    by : str or None
    groups : tuple of str
        The groups in analysis order (reference first when the order is declared).
    reference : str or None
        The group the others are compared with (see :func:`resolve_reference`).
    population : str
        The population as applied (e.g. ``"safety (disposition.safety)"``).
    notes : tuple of str
        Who was left out and why; how the reference was chosen.
    protocol : Protocol or None
    """

    frame: pd.DataFrame
    by: str | None
    groups: tuple[str, ...]
    reference: str | None
    population: str
    notes: tuple[str, ...] = field(default_factory=tuple)
    protocol: Any = None

    @property
    def n(self) -> dict[str, int]:
        """Subjects per group."""
        counts = self.frame["group"].value_counts()
        return {g: int(counts.get(g, 0)) for g in self.groups}


def _companion(frame: pd.DataFrame, by: str | None) -> pd.Series | None:
    if by is None:
        return None
    for name in (f"{by}N", f"{by}n", f"{by}_order"):
        if name in frame.columns:
            return frame[name]
    return None


def analysis_set(data, *, by: str | None = "arm", population: str | None = None,
                 subgroup: Mapping[str, Any] | None = None, columns: Iterable[str] = (),
                 reference: str | None = None, protocol=None, require_reference: bool = False,
                 missing_group: str = "error", what: str = "subject") -> AnalysisSet:
    """The subjects of an analysis, with their group, population, subgroup and columns.

    Parameters
    ----------
    data : Study or DataFrame
        A Study (one row per randomized subject, columns from its tables; see :func:`subject_frame`) or
        a frame with one row per subject (a canonical table, an ADSL, an ADTTE already restricted to one
        parameter).
    by : str or None, default "arm"
        The grouping column (``"arm"`` = as randomized, ``"actual_arm"`` = as treated, or any column);
        None puts everyone in one group ``"all"``.
    population : str, optional
        A named population (:data:`POPULATIONS`; on an ADaM frame read from
        :data:`ADAM_POPULATION_FLAGS`) or the name of a flag column. Default: everyone (randomized).
    subgroup : dict, optional
        ``{column: value or list of values}``, typed against the column.
    columns : sequence of str
        Further columns the analysis needs (covariates, strata, subgroup variables).
    reference : str, optional
        The reference group; see :func:`resolve_reference`.
    protocol : Protocol, optional
        Orders groups and names the reference for a frame input (a Study brings its own).
    require_reference : bool
        Raise when no reference can be determined (comparative analyses).
    missing_group : {"error", "keep"}
        A subject without a ``by`` value is an error (the default: nothing is dropped silently), or is
        kept with a missing ``group`` (Table 1 counts such subjects in its Overall column).

    Returns
    -------
    AnalysisSet
    """
    study = is_study(data)
    if study:
        protocol = data.protocol
        needed = [c for c in dict.fromkeys([*([by] if by else []), *as_tuple(columns), *(subgroup or {}),
                                            *_population_columns(population, _available(data))]) if c]
        frame = subject_frame(data, needed)
    elif isinstance(data, pd.DataFrame):
        frame = data
        needed = [c for c in dict.fromkeys([*([by] if by else []), *as_tuple(columns)]) if c]
        absent = [c for c in needed if c not in frame.columns]
        if absent:
            raise TrialkitError(f"column(s) {', '.join(map(repr, absent))} not in the data"
                                f"{_suggest(absent[0], frame.columns)}")
    else:
        raise TrialkitError(f"expected a Study or a pandas DataFrame, got {type(data).__name__}")
    if protocol is not None and not hasattr(protocol, "arm_codes"):
        from .protocols import get_protocol

        protocol = get_protocol(protocol)
    frame, pop_desc, notes = _select_population(frame, population, study=study, what=what)
    frame, sub_notes = select_subgroup(frame, subgroup, what=what)
    notes += sub_notes
    if not len(frame):
        raise EmptySelectionError(f"no {what}s to analyse: the data are empty")
    if by is None:
        groups: tuple[str, ...] = ("all",)
        group = pd.Categorical(["all"] * len(frame), categories=["all"])
        ref = None
    else:
        values = frame[by]
        coded = _text_codes(values)
        if coded is None and values.isna().any() and missing_group != "keep":
            raise TrialkitError(f"{int(values.isna().sum())} {what}(s) have no `{by}`; fix them or filter them out "
                                "before the analysis (no row is dropped silently)")
        comp = _companion(frame, by)
        # the levels in order of appearance stand for the column wherever only they matter
        levels = values if coded is None else pd.Series(coded[1], dtype=values.dtype)
        groups = group_order(levels if comp is None else values, protocol=protocol, companion=comp, column=by)
        if not groups:
            raise EmptySelectionError(f"`{by}` has no values: there is no group to analyse")
        ref, ref_note = resolve_reference(groups, reference=reference, protocol=protocol,
                                          declared_order=_has_declared_order(levels, protocol, comp, by),
                                          required=require_reference)
        if ref_note:
            notes.append(ref_note)
        if coded is None:
            group = pd.Categorical(values.astype("string").astype(object), categories=list(groups), ordered=True)
        else:
            at = {g: i for i, g in enumerate(groups)}
            lookup = np.array([at.get(str(u), -1) for u in coded[1]], dtype=np.int64)
            group = pd.Categorical.from_codes(lookup[coded[0]], categories=list(groups), ordered=True)
    frame = frame.assign(group=group)
    return AnalysisSet(frame=frame, by=by, groups=groups, reference=ref, population=pop_desc,
                       notes=tuple(notes), protocol=protocol)


def _text_codes(values: pd.Series) -> tuple[np.ndarray, list] | None:
    """``(codes, levels in order of appearance)`` of a text column with no missing value, from one hashing
    pass; None for any other column (which takes the general path).

    Only plain strings qualify: for them ``str``, ``astype("string")`` and equality all agree, so the
    levels give the same group order, reference and group of every row as the whole column does.
    """
    if not (values.dtype == object or isinstance(values.dtype, pd.StringDtype)):
        return None
    codes, uniques = pd.factorize(values.to_numpy() if values.dtype == object else values.array)
    uniques = list(uniques)
    if not len(codes) or (codes < 0).any() or not all(isinstance(u, str) for u in uniques):
        return None
    return codes, uniques


def _population_columns(population, available) -> list[str]:
    """The columns a population reads that the study has (an unknown name is reported by the selection)."""
    if population is None:
        return []
    key = _population_key(population)
    cols = {"randomized": [], "safety": ["safety", "treated"]}.get(key, [key] if key in POPULATIONS else [population])
    return [c for c in cols if c in available]


class _CallableModule(__import__("types").ModuleType):
    """``trialkit.analysis_set`` is both this module and the public function ``analysis_set()``.

    Importing a module binds it to the package attribute of the same name, which would shadow the
    function ``trialkit.analysis_set``; making the module callable (with the function's signature and
    docstring) keeps ``tk.analysis_set(study, ...)`` working whichever is bound.
    """

    def __call__(self, data, **kwargs) -> AnalysisSet:
        return analysis_set(data, **kwargs)


__import__("sys").modules[__name__].__class__ = _CallableModule
__signature__ = __import__("inspect").signature(analysis_set)
