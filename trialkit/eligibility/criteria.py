"""Criteria as data: the :class:`Criterion` record and the loader from a protocol's criteria file."""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import ProtocolError
from ..model import column_names
from .derive import DERIVED_INPUTS
from .expr import CompiledRule, compile_rule

__all__ = ["Criterion", "criteria_from_protocol", "CATEGORIES", "STAGES"]

CATEGORIES = ("inclusion", "exclusion")
STAGES = ("screening", "post_enrollment")
_SCREENING_COLUMNS = frozenset(column_names("screening"))


@dataclass(frozen=True)
class Criterion:
    """One eligibility criterion.

    Parameters
    ----------
    id : str
        Unique within a protocol, e.g. ``"B_IN02_BLASTS"``.
    category : {"inclusion", "exclusion"}
        For an inclusion criterion *met* means satisfied; for an exclusion criterion *met* means the
        excluding condition is present (the patient is excluded).
    rule : str or callable
        A declarative expression (see :mod:`trialkit.eligibility.expr`) or, for ad-hoc analyses, a
        Python callable ``rule(frame) -> boolean array/Series`` where NA means unknown.
    text : str
        The protocol's wording.
    label : str
        A short label for tables and figures (defaults to ``id``).
    inputs : tuple of str
        Names the rule reads (columns or derived inputs). For a string rule every name it reads
        must be listed; for a callable, list the columns it needs so missing ones are reported.
    params : mapping
        Named thresholds the rule uses (``{"blasts_min_pct": 5}``); what-if analyses override them.
    stage : {"screening", "post_enrollment"}
        ``post_enrollment`` criteria (e.g. a central confirmation after enrollment) are evaluated
        but never make a screen failure; they form a later funnel stage.
    note : str
        How the wording was interpreted.

    Examples
    --------
    >>> import trialkit as tk
    >>> c = tk.Criterion(id="MY_HB", category="inclusion", rule="hb_g_dl >= 8", inputs=("hb_g_dl",))
    >>> c.params
    {}
    """

    id: str
    category: str
    rule: str | Callable[..., Any]
    text: str = ""
    label: str = ""
    inputs: tuple[str, ...] = ()
    params: Mapping[str, float] = field(default_factory=dict)
    stage: str = "screening"
    note: str = ""

    def __post_init__(self):
        if not isinstance(self.id, str) or not self.id.strip():
            raise ProtocolError("a criterion needs a non-empty string `id`.")
        if self.category not in CATEGORIES:
            raise ProtocolError(f"criterion {self.id}: category {self.category!r} must be one of "
                                f"{', '.join(CATEGORIES)}.")
        if self.stage not in STAGES:
            raise ProtocolError(f"criterion {self.id}: stage {self.stage!r} must be one of {', '.join(STAGES)}.")
        object.__setattr__(self, "inputs", tuple(self.inputs or ()))
        params = dict(self.params or {})
        for k, v in params.items():
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                raise ProtocolError(f"criterion {self.id}: parameter {k!r} = {v!r} must be a number.")
        object.__setattr__(self, "params", params)
        if not self.label:
            object.__setattr__(self, "label", self.id)
        if isinstance(self.rule, str):
            compiled = compile_rule(self.rule, criterion_id=self.id, resolve=self._resolve)
            object.__setattr__(self, "_compiled", compiled)
            used = set(compiled.names) - set(params)
            if self.inputs and used != set(self.inputs):
                raise ProtocolError(
                    f"criterion {self.id}: `inputs` lists {sorted(self.inputs)} but the rule reads "
                    f"{sorted(used)}. Make the two agree.")
            if not self.inputs:
                object.__setattr__(self, "inputs", tuple(sorted(used)))
        elif callable(self.rule):
            object.__setattr__(self, "_compiled", None)
        else:
            raise ProtocolError(f"criterion {self.id}: `rule` must be an expression string or a callable, "
                                f"got {type(self.rule).__name__}.")

    def _resolve(self, name: str) -> str:
        if name in (self.params or {}):
            return "param"
        if name in DERIVED_INPUTS or name in _SCREENING_COLUMNS or name in (self.inputs or ()):
            return "input"
        raise ProtocolError(
            f"criterion {self.id}: the rule reads `{name}`, which is neither a screening column "
            "(trialkit/model.py), a derived input (trialkit.eligibility.derive.DERIVED_INPUTS) nor one of "
            "the criterion's `params`. Fix the name, add it to `params`, or list it in `inputs`.")

    @property
    def compiled(self) -> CompiledRule | None:
        """The checked expression (``None`` for a Python-callable rule)."""
        return self._compiled  # type: ignore[attr-defined]

    @property
    def is_exclusion(self) -> bool:
        return self.category == "exclusion"

    def with_params(self, **params: float) -> Criterion:
        """A copy with some thresholds changed (unknown names raise)."""
        unknown = set(params) - set(self.params)
        if unknown:
            raise ProtocolError(f"criterion {self.id} has no parameter(s) {sorted(unknown)}; it has "
                                f"{sorted(self.params) or 'none'}.")
        return Criterion(id=self.id, category=self.category, rule=self.rule, text=self.text, label=self.label,
                         inputs=self.inputs, params={**self.params, **params}, stage=self.stage, note=self.note)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], *, where: str = "") -> Criterion:
        """Build a criterion from one entry of a ``criteria:`` list."""
        if not isinstance(d, Mapping):
            raise ProtocolError(f"{where}: each criterion must be a mapping, got {type(d).__name__}.")
        allowed = {"id", "category", "rule", "text", "label", "inputs", "params", "stage", "note"}
        extra = set(d) - allowed
        if extra:
            raise ProtocolError(f"{where}: criterion {d.get('id')!r} has unknown key(s) {sorted(extra)}; "
                                f"allowed keys: {sorted(allowed)}.")
        missing = [k for k in ("id", "category", "rule") if k not in d]
        if missing:
            raise ProtocolError(f"{where}: criterion {d.get('id')!r} lacks {', '.join(missing)}.")
        if not isinstance(d["rule"], str):
            raise ProtocolError(f"{where}: criterion {d['id']}: a protocol file's rule must be an expression "
                                "string.")
        return cls(id=str(d["id"]), category=str(d["category"]), rule=d["rule"],
                   text=" ".join(str(d.get("text", "")).split(" ")).strip(), label=str(d.get("label", "")),
                   inputs=tuple(d.get("inputs") or ()), params=dict(d.get("params") or {}),
                   stage=str(d.get("stage", "screening")), note=" ".join(str(d.get("note", "")).split()))


#: protocol id -> [(a copy of the raw criteria, the criteria built from them)]
_CACHE: dict[str, list[tuple[tuple, tuple[Criterion, ...]]]] = {}


def _build(pid: str, raw) -> tuple[Criterion, ...]:
    out = tuple(Criterion.from_dict(d, where=f"{pid} criteria") for d in raw)
    ids = [c.id for c in out]
    dup = sorted({i for i in ids if ids.count(i) > 1})
    if dup:
        raise ProtocolError(f"{pid} criteria: duplicated id(s) {dup}; ids must be unique.")
    names = [p for c in out for p in c.params]
    dup = sorted({p for p in names if names.count(p) > 1})
    if dup:
        raise ProtocolError(f"{pid} criteria: parameter name(s) {dup} are used by several criteria; "
                            "give each threshold a unique name so what-if overrides are unambiguous.")
    return out


def criteria_from_protocol(protocol) -> tuple[Criterion, ...]:
    """The protocol's criteria (from ``<id>.criteria.yaml``) as checked :class:`Criterion` objects.

    Raises
    ------
    ProtocolError
        The protocol has no criteria, or a criterion is malformed.
    UnsafeExpressionError
        A rule uses a construct outside the expression whitelist.
    """
    raw = tuple(protocol.criteria or ())
    if not raw:
        raise ProtocolError(f"protocol {protocol.id} has no eligibility criteria; add "
                            f"{protocol.id}.criteria.yaml beside its protocol file or pass criteria=[...].")
    if not any(isinstance(d, Mapping) and "rule" in d for d in raw):
        raise ProtocolError(
            f"protocol {protocol.id}'s {len(raw)} criteria are text only (no `rule`, e.g. read from CDISC TI), "
            "so they cannot be evaluated. Write rules in a <id>.criteria.yaml, pass criteria=[Criterion(...)], "
            "or use the site's recorded outcomes (trialkit.consort(study, reasons='site')).")
    # built once per protocol content: the raw entries are compared with a copy kept at build time (a
    # protocol edited in place is built again)
    seen = _CACHE.setdefault(protocol.id, [])
    for kept, built in seen:
        if kept == raw:
            return built
    built = _build(protocol.id, raw)
    if sum(len(v) for v in _CACHE.values()) > 64:
        _CACHE.clear()
    _CACHE.setdefault(protocol.id, []).append((copy.deepcopy(raw), built))
    return built
