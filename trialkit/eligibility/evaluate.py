"""Evaluate criteria on screened patients: met / not met / unknown per subject × criterion."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from pandas.core.arrays.masked import BaseMaskedArray

from ..analysis_set import is_study, with_site_columns
from ..errors import ProtocolError
from ..model import columns as model_columns
from ..results import Result
from .criteria import Criterion, criteria_from_protocol
from .derive import DERIVED_INPUTS, ColumnCache, holds_text
from .expr import BOOL, DATE, NUM, STR, Val

__all__ = ["evaluate_eligibility", "EligibilityResult", "PreparedScreening", "prepare_screening", "MET", "NOT_MET", "UNKNOWN", "STATUS_LABELS"]

MET, NOT_MET, UNKNOWN = np.int8(1), np.int8(0), np.int8(-1)
STATUS_LABELS = {1: "met", 0: "not met", -1: "unknown"}
_STATUS_CAT = pd.CategoricalDtype(["met", "not met", "unknown"])
_MODEL_KIND = {c.name: {"string": STR, "boolean": BOOL, "Int64": NUM, "Float64": NUM, "datetime": DATE}[c.dtype]
               for c in model_columns("screening")}
_CONTEXT = ("site_id", "country", "screening_date", "screening_outcome", "screen_failure_reason")


class _Env:
    """Column access for rules: converts each input once to (values, known) numpy arrays.

    Holds only conversions of the data, which do not depend on what is evaluated: the thresholds of
    one evaluation travel in a :class:`_Bound` view and the absent inputs are worked out from the
    criteria (:func:`absent_inputs`), so a prepared environment gives the same answer whatever was
    evaluated before and can be shared between threads (a race at worst converts a column twice).
    """

    def __init__(self, frame: pd.DataFrame, derivations: Mapping[str, Callable]):
        self.frame = frame
        self.n = len(frame)
        self.derivations = derivations
        self.cache: dict[str, Val] = {}
        self.columns = ColumnCache(frame)  # memoized conversions for the built-in derivations

    def get(self, name: str) -> Val:
        hit = self.cache.get(name)
        if hit is None:
            hit = self.cache[name] = self._load(name)
        return hit

    def bind(self, params: Mapping[str, float]) -> _Bound:
        """This environment with one criterion's thresholds."""
        return _Bound(self, params)

    def _load(self, name: str) -> Val:
        if name in self.derivations:
            fn = self.derivations[name]
            builtin = name in DERIVED_INPUTS and fn is DERIVED_INPUTS[name].func
            out = fn(self.columns if builtin else self.frame)
            return _to_val(out, self.n, name)
        if name not in self.frame.columns:
            kind = _MODEL_KIND.get(name, NUM)
            if kind == STR:
                return Val(np.full(self.n, -1, dtype=np.intp), np.zeros(self.n, bool), STR, np.array([], object))
            fill = {NUM: np.nan, BOOL: False, DATE: np.datetime64("NaT")}[kind]
            dtype = {NUM: float, BOOL: bool, DATE: "datetime64[D]"}[kind]
            return Val(np.full(self.n, fill, dtype=dtype), np.zeros(self.n, bool), kind)
        col = self.frame[name]
        kind = _MODEL_KIND.get(name)
        if kind in (NUM, BOOL, DATE) and holds_text(col.dtype):
            _wrong_type(name, col, kind)
        return _column_val(col, kind)


class _Bound:
    """An :class:`_Env` seen with one evaluation's parameter values (what a compiled rule reads)."""

    __slots__ = ("env", "params", "n")

    def __init__(self, env: _Env, params: Mapping[str, float]):
        self.env, self.params, self.n = env, params, env.n

    def get(self, name: str) -> Val:
        return self.env.get(name)

    def param(self, name: str) -> Val:
        return Val(float(self.params[name]), True, NUM)


def absent_inputs(criteria: Iterable[Criterion], frame: pd.DataFrame, derivations: Mapping[str, Callable]) -> tuple[str, ...]:
    """Input columns the criteria read (directly or through a built-in derivation) that ``frame`` lacks."""
    absent: set[str] = set()
    for c in criteria:
        for name in c.inputs:
            if name in derivations:
                builtin = name in DERIVED_INPUTS and derivations[name] is DERIVED_INPUTS[name].func
                reads = DERIVED_INPUTS[name].reads if builtin else ()
                absent.update(col for col in reads if col not in frame.columns)
            elif name not in frame.columns and name not in (c.params or {}):
                absent.add(name)
    return tuple(sorted(absent))


def _wrong_type(name: str, col: pd.Series, kind: str):
    """Raise DataValidationError for an input column stored as text where the model wants numbers,
    true/false or dates (never coerced silently)."""
    from .derive import raise_text_column

    want = {NUM: "numbers", BOOL: "true/false values", DATE: "dates"}[kind]
    raise_text_column(col, name, want, reader="the criteria",
                      convert="pd.to_numeric / astype('boolean') / pd.to_datetime")


def _to_val(out, n: int, name: str) -> Val:
    if isinstance(out, Val):
        return out
    if isinstance(out, np.ndarray) and out.dtype == np.float64 and out.ndim == 1 and len(out) == n:
        v = out.copy()  # what the built-in derivations return: NaN = unknown (as _column_val reads a float Series)
        return Val(v, ~np.isnan(v), NUM)
    s = out if isinstance(out, pd.Series) else pd.Series(np.asarray(out))
    if len(s) != n:
        raise ProtocolError(f"derivation {name!r} returned {len(s)} values for {n} rows; it must return one "
                            "value per screened row.")
    return _column_val(s.reset_index(drop=True), None)


def _encode_strings(s: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Integer codes (-1 = missing) and the distinct strings of a text column.

    Categoricals give their codes directly; object / python-string columns are dictionary-encoded by
    pyarrow (a C loop, ~4x faster than hashing Python objects with ``pandas.factorize``); anything
    pyarrow cannot read as strings falls back to ``pandas.factorize``.
    """
    if isinstance(s.dtype, pd.CategoricalDtype):
        return s.cat.codes.to_numpy().astype(np.intp), np.asarray(s.cat.categories, dtype=object)
    import pyarrow as pa
    import pyarrow.compute as pc

    arr = s.array
    values = getattr(arr, "_ndarray", None)
    if values is None and s.dtype.kind == "O" and not hasattr(arr, "__arrow_array__"):
        values = s.to_numpy()
    if values is not None or hasattr(arr, "__arrow_array__"):
        try:
            data = pa.array(values, type=pa.string(), from_pandas=True) if values is not None else pa.array(arr)
            if isinstance(data, pa.ChunkedArray):
                data = data.combine_chunks()
            enc = pc.dictionary_encode(data)
        except (TypeError, ValueError, pa.ArrowException):
            enc = None
        if enc is not None:
            idx = enc.indices.fill_null(-1) if enc.indices.null_count else enc.indices
            codes = idx.to_numpy(zero_copy_only=False).astype(np.intp)
            return codes, np.asarray(enc.dictionary.to_pylist(), dtype=object)
    codes, cats = pd.factorize(s, use_na_sentinel=True)
    return codes, np.asarray(cats, dtype=object)


def _column_val(s: pd.Series, kind: str | None) -> Val:
    dt = s.dtype
    arr = s.array
    if kind == DATE or dt.kind == "M":
        v = pd.to_datetime(s, errors="coerce").to_numpy(dtype="datetime64[ns]").astype("datetime64[D]")
        return Val(v, ~np.isnat(v), DATE)
    if isinstance(arr, BaseMaskedArray) and kind != STR:
        # nullable Float64/Int64/boolean: use the buffers directly (no copy, no NA scan)
        known = ~arr._mask
        v = arr._data
        if v.dtype.kind == "b":
            return Val(v & known, known, BOOL)
        if kind == BOOL:
            return Val((v != 0) & known, known, BOOL)
        return Val(v, known, NUM)
    if kind == BOOL or pd.api.types.is_bool_dtype(dt):
        known = s.notna().to_numpy()
        v = s.to_numpy(dtype=bool, na_value=False)
        return Val(v & known, known, BOOL)
    if kind == STR or holds_text(dt):
        codes, cats = _encode_strings(s)
        return Val(codes, codes >= 0, STR, cats)
    v = s.to_numpy(dtype=float, na_value=np.nan)
    return Val(v, ~np.isnan(v), NUM)


@dataclass(frozen=True)
class EligibilityResult(Result):
    """Per subject × criterion status, compact (int8 codes) with readable views.

    Attributes
    ----------
    summary : pandas.DataFrame (property)
        Independent counts per criterion: ``criterion_id, category, stage, label, met, not_met,
        unknown, excludes``.
    subject_ids : pandas.Index
        One entry per screened row, in input order.
    criteria : tuple of Criterion
        The criteria evaluated, in evaluation (protocol or user) order.
    codes : numpy.ndarray of int8, shape (n_subjects, n_criteria)
        1 = criterion met, 0 = not met, -1 = unknown (an input is missing). For an exclusion
        criterion "met" means the excluding condition is present.
    context : pandas.DataFrame
        ``subject_id`` plus site, country, screening date and the site's recorded outcome where the
        data have them (used by the funnel, exclusion lists and filters).
    protocol_id : str or None
    params : dict
        The thresholds in force, ``{criterion id: {parameter: value}}``.
    disabled : tuple of str
        Criteria switched off for a what-if analysis (not evaluated).
    absent_inputs : tuple of str
        Input columns the data do not have at all (every criterion reading them is unknown).
    """

    subject_ids: pd.Index
    criteria: tuple[Criterion, ...]
    codes: np.ndarray
    context: pd.DataFrame = field(repr=False)
    protocol_id: str | None = None
    params: dict = field(default_factory=dict)
    disabled: tuple[str, ...] = ()
    absent_inputs: tuple[str, ...] = ()

    analysis: ClassVar[str] = "evaluate_eligibility"
    part_keys: ClassVar[dict] = {"status": ("subject_id", "criterion_id")}

    # --- views ----------------------------------------------------------------------------------
    @property
    def criterion_ids(self) -> list[str]:
        return [c.id for c in self.criteria]

    @cached_property
    def _stage_mask(self) -> np.ndarray:
        return np.array([c.stage == "screening" for c in self.criteria], dtype=bool)

    @cached_property
    def pass_codes(self) -> np.ndarray:
        """int8 (n, m): 1 = the subject passes the criterion, 0 = it excludes them, -1 = unknown."""
        excl = np.array([c.is_exclusion for c in self.criteria], dtype=bool)
        out = self.codes.copy(order="K")
        if excl.any():
            sub = out[:, excl]
            out[:, excl] = np.where(sub < 0, sub, 1 - sub)
        return out

    def _verdict(self, mask: np.ndarray) -> pd.Series:
        p = self.pass_codes[:, mask]
        fails = (p == 0).any(axis=1)
        unknown = (p < 0).any(axis=1) & ~fails
        arr = pd.arrays.BooleanArray(~fails, unknown)
        return pd.Series(arr, index=self.subject_ids, name="eligible")

    @cached_property
    def eligible(self) -> pd.Series:
        """Boolean (nullable) per subject over screening-stage criteria: True = every criterion passed,
        False = at least one excludes, <NA> = none excludes but at least one is unknown."""
        return self._verdict(self._stage_mask)

    @cached_property
    def post_enrollment(self) -> pd.Series:
        """Like :attr:`eligible` for the post-enrollment criteria (all True when there are none)."""
        s = self._verdict(~self._stage_mask)
        return s.rename("post_enrollment_ok")

    @property
    def status(self) -> pd.DataFrame:
        """Wide int8 frame of the codes, subjects × criterion ids."""
        return pd.DataFrame(self.codes, index=self.subject_ids, columns=self.criterion_ids)

    def statuses(self) -> pd.DataFrame:
        """Long form, one row per subject × criterion.

        Columns: ``subject_id, criterion_id, category, stage, status`` (met / not met / unknown,
        categorical), ``code`` (int8) and ``passes`` (nullable boolean: does the subject pass it).
        """
        n, m = self.codes.shape
        codes = self.codes.reshape(-1)
        passes = self.pass_codes.reshape(-1)
        cat = np.array([c.category for c in self.criteria], dtype=object)
        stage = np.array([c.stage for c in self.criteria], dtype=object)
        labels = np.array(["unknown", "not met", "met"], dtype=object)[codes + 1]
        return pd.DataFrame({
            "subject_id": np.repeat(np.asarray(self.subject_ids, dtype=object), m),
            "criterion_id": np.tile(np.array(self.criterion_ids, dtype=object), n),
            "category": np.tile(cat, n),
            "stage": np.tile(stage, n),
            "status": pd.Categorical(labels, dtype=_STATUS_CAT),
            "code": codes,
            "passes": pd.arrays.BooleanArray(passes == 1, passes < 0),
        })

    @cached_property
    def summary(self) -> pd.DataFrame:
        """Independent counts per criterion: ``criterion_id, category, stage, label, met, not_met,
        unknown, excludes`` (subjects the criterion alone would exclude)."""
        c = self.codes
        met = np.count_nonzero(c == 1, axis=0)
        not_met = np.count_nonzero(c == 0, axis=0)
        counts = np.stack([len(c) - met - not_met, not_met, met], axis=1)
        excl = np.array([x.is_exclusion for x in self.criteria], dtype=bool)
        return pd.DataFrame({
            "criterion_id": self.criterion_ids,
            "category": [x.category for x in self.criteria],
            "stage": [x.stage for x in self.criteria],
            "label": [x.label for x in self.criteria],
            "met": counts[:, 2],
            "not_met": counts[:, 1],
            "unknown": counts[:, 0],
            "excludes": np.where(excl, counts[:, 2], counts[:, 1]),
        })

    def counts(self) -> dict[str, int]:
        """Eligible / not eligible / undetermined counts (screening-stage criteria)."""
        e = self.eligible
        return {"screened": int(len(e)), "eligible": int(e.eq(True).sum()),
                "not eligible": int(e.eq(False).sum()), "undetermined": int(e.isna().sum())}

    def select(self, mask) -> EligibilityResult:
        """The result restricted to the rows where ``mask`` is True (a filter; nothing recomputed)."""
        m = np.asarray(mask, dtype=bool)
        if len(m) == len(self) and m.all():
            return self
        return EligibilityResult(subject_ids=self.subject_ids[m], criteria=self.criteria, codes=self.codes[m],
                                 context=self.context.loc[m].reset_index(drop=True),
                                 protocol_id=self.protocol_id, params=self.params, disabled=self.disabled,
                                 absent_inputs=self.absent_inputs)

    def __len__(self) -> int:
        return self.codes.shape[0]

    def __repr__(self) -> str:
        k = self.counts()
        return (f"EligibilityResult(protocol={self.protocol_id!r}, screened={k['screened']}, "
                f"eligible={k['eligible']}, not_eligible={k['not eligible']}, "
                f"undetermined={k['undetermined']}, criteria={len(self.criteria)})")

    def parts(self) -> dict[str, pd.DataFrame]:
        k = self.counts()
        st = self.statuses()
        return {"summary": self.summary,
                "counts": pd.DataFrame({"verdict": list(k), "n": list(k.values())}),
                "status": st[["subject_id", "criterion_id", "status"]]}

    def settings(self) -> dict:
        import json

        return {"protocol": self.protocol_id, "params": json.dumps(self.params, sort_keys=True),
                "disabled": self.disabled, "absent_inputs": self.absent_inputs}

    @property
    def notes(self) -> tuple[str, ...]:
        out = []
        if self.disabled:
            out.append(f"Switched off (what-if): {', '.join(self.disabled)}")
        if self.absent_inputs:
            out.append(f"Inputs absent from the data (criteria reading them are unknown): {', '.join(self.absent_inputs)}")
        return tuple(out)

    def title(self) -> str:
        k = self.counts()
        return (f"Eligibility — protocol {self.protocol_id or '(custom criteria)'}: {k['screened']} screened, "
                f"{k['eligible']} eligible, {k['not eligible']} not eligible, {k['undetermined']} undetermined "
                "(no criterion excludes, some input missing)")

    def html_parts(self):
        return [("", self.summary)]


def _derivations(extra) -> dict:
    derive = {name: d.func for name, d in DERIVED_INPUTS.items()}
    for name, fn in (extra or {}).items():
        if not callable(fn):
            raise ProtocolError(f"derivation {name!r} must be a callable f(frame) -> array.")
        derive[name] = fn
    return derive


def _row_mask(x, n: int) -> np.ndarray:
    """``x`` (an array or a scalar of a rule's result) as a boolean array of ``n`` rows."""
    x = np.asarray(x, dtype=bool)
    return x if x.shape == (n,) else np.broadcast_to(x, (n,))


def _criterion_codes(c: Criterion, params: dict, env: _Env) -> np.ndarray:
    """int8 codes (1 met, 0 not met, -1 unknown) of one criterion over every row of ``env``."""
    n = env.n
    frame = env.frame
    if c.compiled is not None:
        val = c.compiled(env.bind(params))
        v, k = _row_mask(val.v, n), _row_mask(val.k, n)
    else:
        val = _to_val(c.rule(frame), n, c.id)
        if val.t != BOOL:
            raise ProtocolError(f"criterion {c.id}: the Python rule must return booleans (NA = unknown), "
                                f"got {val.t} values.")
        v, k = val.v, val.k
    out = np.empty(n, dtype=np.int8)
    np.copyto(out, v, casting="unsafe")
    out[~k] = UNKNOWN
    return out


class PreparedScreening:
    """Screening data converted once for repeated evaluation (what-if analyses, explorers).

    Input columns are converted to numpy on first use and kept; each criterion's codes are cached
    per parameter values, so changing one threshold re-evaluates one criterion only. Pass it to
    :func:`evaluate_eligibility` in place of the data. Build it with :func:`prepare_screening`.
    """

    def __init__(self, data, *, derivations=None):
        frame, _ = _split_data(data)
        self.data = data
        self.frame = frame
        self.env = _Env(frame, _derivations(derivations))
        self._codes: dict = {}
        #: free cache for callers that reuse work across evaluations (e.g. the explorer's CONSORT inputs)
        self.memo: dict = {}

    def codes_for(self, c: Criterion, params: dict) -> np.ndarray:
        key = (c.id, c.compiled.source if c.compiled is not None else id(c.rule), tuple(sorted(params.items())))
        hit = self._codes.get(key)
        if hit is None:
            if len(self._codes) > 512:
                self._codes.clear()
            hit = _criterion_codes(c, params, self.env)
            self._codes[key] = hit
        return hit

    def __len__(self) -> int:
        return len(self.frame)


def prepare_screening(data, *, derivations=None) -> PreparedScreening:
    """Convert a Study's screening table (or a screening frame) once for repeated evaluation.

    Examples
    --------
    >>> import pandas as pd, trialkit as tk
    >>> from trialkit.eligibility import prepare_screening
    >>> prep = prepare_screening(pd.DataFrame({"subject_id": ["a", "b"], "marrow_blasts_pct": [4.0, 9.0]}))
    >>> crit = tk.Criterion(id="B", category="inclusion", rule="marrow_blasts_pct >= t", params={"t": 5})
    >>> [int(tk.evaluate_eligibility(prep, criteria=[crit], thresholds={"t": t}).eligible.sum()) for t in (3, 5, 10)]
    [2, 1, 0]
    """
    return PreparedScreening(data, derivations=derivations)


def _context(frame: pd.DataFrame, data) -> tuple[pd.Index, pd.DataFrame]:
    """Subject ids and the context columns (site, country, date, site outcome) of a screening frame."""
    if "subject_id" in frame.columns:
        sid = pd.Index(frame["subject_id"].array, name="subject_id")
    else:
        sid = pd.Index(frame.index.to_numpy(), name="subject_id")
    ctx = pd.DataFrame({"subject_id": sid.array, **{col: frame[col].array for col in _CONTEXT if col in frame.columns}})
    if is_study(data):
        ctx = with_site_columns(ctx, data)
    return sid, ctx


def _split_data(data) -> tuple[pd.DataFrame, Any]:
    if is_study(data):
        return data.screening, data.protocol
    if isinstance(data, pd.DataFrame):
        return data, None
    raise ProtocolError(f"evaluate_eligibility needs a Study or a screening DataFrame, got {type(data).__name__}.")


def _resolve_params(crits: tuple[Criterion, ...], thresholds: Mapping[str, float] | None) -> dict[str, dict]:
    params = {c.id: dict(c.params) for c in crits}
    if not thresholds:
        return params
    owner: dict[str, list[str]] = {}
    for c in crits:
        for p in c.params:
            owner.setdefault(p, []).append(c.id)
    for key, value in thresholds.items():
        if (isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating))
                or not np.isfinite(value)):
            raise ProtocolError(f"threshold {key!r} = {value!r} must be a finite number.")
        if "." in key:
            cid, p = key.split(".", 1)
            if cid not in params or p not in params[cid]:
                raise ProtocolError(f"threshold {key!r}: no criterion {cid!r} with parameter {p!r}. "
                                    f"Known parameters: {sorted(owner)}.")
            params[cid][p] = float(value)
            continue
        if key not in owner:
            raise ProtocolError(f"unknown threshold {key!r}; the criteria's parameters are {sorted(owner)}. "
                                "Use one of those names (or 'CRITERION_ID.parameter').")
        if len(owner[key]) > 1:
            raise ProtocolError(f"threshold {key!r} is a parameter of several criteria ({owner[key]}); "
                                "name it as 'CRITERION_ID.parameter'.")
        params[owner[key][0]][key] = float(value)
    return params


def evaluate_eligibility(
    data,
    *,
    protocol=None,
    criteria: Iterable[Criterion | Mapping] | None = None,
    extra_criteria: Iterable[Criterion | Mapping] = (),
    thresholds: Mapping[str, float] | None = None,
    disabled: Iterable[str] = (),
    order: Iterable[str] | None = None,
    derivations: Mapping[str, Callable[[pd.DataFrame], Any]] | None = None,
) -> EligibilityResult:
    """Evaluate eligibility criteria for every screened patient: met / not met / unknown.

    Parameters
    ----------
    data : Study, pandas.DataFrame or PreparedScreening
        A study (its ``screening`` table and protocol are used) or a screening frame with the
        canonical columns of :mod:`trialkit.model` (or either, prepared once with
        :func:`prepare_screening` for repeated what-if evaluation). Absent columns make the criteria reading them
        unknown (listed in ``absent_inputs``); no row is dropped.
    protocol : Protocol or str, optional
        Protocol (or id) whose criteria to use; defaults to the study's.
    criteria : iterable of Criterion or dict, optional
        Use these criteria instead of the protocol's.
    extra_criteria : iterable of Criterion or dict
        Ad-hoc criteria appended to the protocol's (e.g. Python-callable rules).
    thresholds : mapping, optional
        What-if overrides of rule parameters: ``{"blasts_min_pct": 10}`` or
        ``{"B_IN02_BLASTS.blasts_min_pct": 10}``. Unknown names raise.
    disabled : iterable of str
        Criterion ids to switch off (not evaluated). Unknown ids raise.
    order : iterable of str, optional
        Evaluation / funnel order of criterion ids (others follow in protocol order).
    derivations : mapping, optional
        Replace or add derived inputs: ``{"renal_function_ml_min": f}`` with ``f(frame)`` returning one
        float per row (NaN = unknown).

    Returns
    -------
    EligibilityResult
        ``.eligible`` (nullable boolean per subject), ``.codes`` (int8), ``.summary`` (counts per
        criterion), ``.statuses()`` (long form, one row per subject × criterion).

    Raises
    ------
    ProtocolError
        No criteria, unknown threshold / criterion id, malformed criterion.
    UnsafeExpressionError
        A rule uses a construct outside the expression whitelist.

    Examples
    --------
    >>> import pandas as pd, trialkit as tk
    >>> df = pd.DataFrame({"subject_id": ["S1", "S2", "S3"], "marrow_blasts_pct": [40.0, 2.0, None]})
    >>> crit = tk.Criterion(id="BLASTS", category="inclusion", rule="marrow_blasts_pct >= 5")
    >>> tk.evaluate_eligibility(df, criteria=[crit]).eligible.tolist()
    [True, False, <NA>]
    """
    prepared = data if isinstance(data, PreparedScreening) else None
    frame, study_protocol = _split_data(prepared.data if prepared is not None else data)
    if criteria is not None:
        crits = tuple(c if isinstance(c, Criterion) else Criterion.from_dict(c, where="criteria") for c in criteria)
        pid = None if protocol is None else getattr(protocol, "id", str(protocol))
    else:
        proto = protocol if protocol is not None else study_protocol
        if proto is None:
            raise ProtocolError("no criteria to evaluate: pass protocol='b1931036' (or a Protocol), or "
                                "criteria=[...], or a Study.")
        if isinstance(proto, str):
            from ..protocols import get_protocol
            proto = get_protocol(proto)
        crits = criteria_from_protocol(proto)
        pid = proto.id
    crits = crits + tuple(c if isinstance(c, Criterion) else Criterion.from_dict(c, where="extra_criteria")
                          for c in extra_criteria)
    ids = [c.id for c in crits]
    if len(set(ids)) != len(ids):
        dup = sorted({i for i in ids if ids.count(i) > 1})
        raise ProtocolError(f"criterion id(s) {dup} appear more than once; give ad-hoc criteria their own ids.")
    disabled = tuple(disabled or ())
    unknown = sorted(set(disabled) - set(ids))
    if unknown:
        raise ProtocolError(f"cannot switch off unknown criterion id(s) {unknown}; known ids: {ids}.")
    if order is not None:
        order = list(order)
        bad = sorted(set(order) - set(ids))
        if bad:
            raise ProtocolError(f"`order` names unknown criterion id(s) {bad}; known ids: {ids}.")
        rank = {cid: i for i, cid in enumerate(order)}
        crits = tuple(sorted(crits, key=lambda c: (rank.get(c.id, len(order)), ids.index(c.id))))
    params = _resolve_params(crits, thresholds)
    active = tuple(c for c in crits if c.id not in disabled)

    if prepared is not None:
        if derivations:
            raise ProtocolError("derivations are fixed when the data are prepared: pass them to "
                                "prepare_screening(frame, derivations=...).")
        env = prepared.env
    else:
        env = _Env(frame, _derivations(derivations))
    n = len(frame)
    codes = np.empty((n, len(active)), dtype=np.int8, order="F")
    for j, c in enumerate(active):
        if prepared is not None and c.compiled is not None:
            codes[:, j] = prepared.codes_for(c, params[c.id])
        else:
            codes[:, j] = _criterion_codes(c, params[c.id], env)

    if prepared is not None:
        if "context" not in prepared.memo:
            prepared.memo["context"] = _context(frame, prepared.data)
        sid, ctx = prepared.memo["context"]
    else:
        sid, ctx = _context(frame, data)
    return EligibilityResult(subject_ids=sid, criteria=active, codes=codes, context=ctx, protocol_id=pid,
                             params={c.id: params[c.id] for c in active if params[c.id]},
                             disabled=disabled, absent_inputs=absent_inputs(active, frame, env.derivations))
