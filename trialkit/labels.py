"""The words a clinician reads: one label dictionary per protocol, kept in the protocol's YAML.

A protocol file may carry a ``labels:`` section::

    labels:
      arms: {InO: InO, ALLR3: ALLR3}                 # the one name of each arm, in every view
      criteria:                                       # {parameter} is the threshold in force
        B_IN02_BLASTS: "Marrow blasts ≥ {blasts_min_pct} % (≥ M2)"
      thresholds:
        blasts_min_pct: {label: Minimum marrow blasts, text: "Marrow blasts ≥ {value} %", unit: "%",
                         min: 0, max: 100, step: 1}
        age_min_years: {label: Minimum age, text: "Age ≥ {value} years", unit: years, min: 0, max: 30,
                        step: 0.5, at_most: age_max_years}     # a minimum must not exceed its maximum
      covariates: {age_years: "Age (years)"}
      subgroups: {age_band: Age band}

Ids (criterion ids, parameter names, column names, arm codes) stay what the data and the results use;
figures show these labels and keep the ids as hover text. A protocol without the section (e.g. one
built from CDISC trial design) falls back to the criteria's own ``label`` and to the ids.

Examples
--------
>>> from trialkit.labels import labels_for
>>> lab = labels_for("b1931036")
>>> lab.criterion("B_IN02_BLASTS", {"blasts_min_pct": 25})
'Marrow blasts ≥ 25 % (≥ M2)'
>>> lab.threshold_text("bilirubin_max_x_uln", 3)
'Bilirubin ≤ 3 × ULN'
>>> lab.check_thresholds({"age_min_years": 12, "age_max_years": 10})
['Minimum age (12 years) is above Maximum age (10 years); set it at or below 10.']
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from dataclasses import dataclass, field

from .errors import ProtocolError

__all__ = ["Labels", "Threshold", "labels_for", "format_number"]


def format_number(v) -> str:
    """A threshold as people write it: ``5``, ``1.5``, ``50,000`` (no trailing ``.0``)."""
    try:
        x = float(v)
    except (TypeError, ValueError):
        return str(v)
    if x.is_integer():
        return f"{int(x):,}"
    return f"{x:,.6g}"


@dataclass(frozen=True)
class Threshold:
    """One what-if parameter: its label, the sentence it reads as, its unit and allowed range."""

    name: str
    label: str
    text: str
    unit: str = ""
    min: float | None = None
    max: float | None = None
    step: float = 1.0
    at_most: str | None = None  # the name of the parameter this one must not exceed (a minimum's maximum)

    def describe(self, value) -> str:
        """``"Marrow blasts ≥ 25 %"`` for ``value`` 25."""
        return self.text.replace("{value}", format_number(value))

    def with_unit(self, value) -> str:
        return f"{format_number(value)} {self.unit}".strip()


class _Params(dict):
    """Formats ``{name}`` with the threshold in force; an unknown name stays as written."""

    def __missing__(self, key):
        return "{" + key + "}"


@dataclass(frozen=True)
class Labels:
    """The label dictionary of one protocol (see the module docstring for the YAML)."""

    protocol_id: str | None = None
    arms: dict = field(default_factory=dict)
    criteria: dict = field(default_factory=dict)
    thresholds: dict = field(default_factory=dict)  # name -> Threshold
    covariates: dict = field(default_factory=dict)
    subgroups: dict = field(default_factory=dict)
    fallback_criteria: dict = field(default_factory=dict)  # the criteria files' own short labels
    defaults: dict = field(default_factory=dict)  # the protocol's threshold values, {parameter: value}

    def arm(self, code) -> str:
        """The one display name of an arm (its code when the protocol names none)."""
        return str(self.arms.get(str(code), code))

    def criterion(self, cid: str, params: Mapping | None = None, default: str | None = None) -> str:
        """A criterion's label with the thresholds in force (``params``), else its file label, else its id."""
        template = self.criteria.get(cid)
        if template is None:
            return default or self.fallback_criteria.get(cid) or cid
        values = _Params({k: format_number(v) for k, v in {**self.defaults, **dict(params or {})}.items()})
        return string.Formatter().vformat(template, (), values)

    def threshold(self, name: str) -> Threshold:
        t = self.thresholds.get(name)
        return t if t is not None else Threshold(name=name, label=name, text=f"{name} = {{value}}")

    def threshold_text(self, name: str, value) -> str:
        """``"Marrow blasts ≥ 25 %"``: the threshold's sentence with ``value``."""
        return self.threshold(name).describe(value)

    def covariate(self, name: str) -> str:
        return str(self.covariates.get(name, self.subgroups.get(name, name)))

    def subgroup(self, name: str) -> str:
        return str(self.subgroups.get(name, self.covariates.get(name, name)))

    def check_thresholds(self, values: Mapping[str, float]) -> list[str]:
        """Messages for values outside their range or a minimum above its maximum (empty when fine)."""
        problems = []
        for name, v in values.items():
            t = self.thresholds.get(name)
            if t is None:
                continue
            if t.min is not None and float(v) < t.min:
                problems.append(f"{t.label} ({t.with_unit(v)}) is below its lowest allowed value "
                                f"{t.with_unit(t.min)}.")
            if t.max is not None and float(v) > t.max:
                problems.append(f"{t.label} ({t.with_unit(v)}) is above its highest allowed value "
                                f"{t.with_unit(t.max)}.")
            if t.at_most and t.at_most in values and float(v) > float(values[t.at_most]):
                other = self.threshold(t.at_most)
                problems.append(f"{t.label} ({t.with_unit(v)}) is above {other.label} "
                                f"({other.with_unit(values[t.at_most])}); set it at or below "
                                f"{format_number(values[t.at_most])}.")
        return problems


def _threshold(name: str, spec, source: str) -> Threshold:
    if not isinstance(spec, Mapping) or "text" not in spec:
        raise ProtocolError(f"{source}: labels.thresholds.{name} needs at least `text` (e.g. "
                            "\"Marrow blasts ≥ {value} %\"), and should give label, unit, min, max and step.")
    unknown = set(spec) - {"label", "text", "unit", "min", "max", "step", "at_most"}
    if unknown:
        raise ProtocolError(f"{source}: labels.thresholds.{name} has unknown key(s) {sorted(unknown)}; "
                            "allowed: label, text, unit, min, max, step, at_most.")
    return Threshold(name=name, label=str(spec.get("label", name)), text=str(spec["text"]),
                     unit=str(spec.get("unit", "") or ""),
                     min=None if spec.get("min") is None else float(spec["min"]),
                     max=None if spec.get("max") is None else float(spec["max"]),
                     step=float(spec.get("step", 1) or 1), at_most=spec.get("at_most"))


def labels_for(protocol) -> Labels:
    """The :class:`Labels` of a protocol (a :class:`~trialkit.protocols.Protocol`, its id, or ``None``).

    Raises :class:`~trialkit.errors.ProtocolError` when the ``labels:`` section is malformed.
    """
    if protocol is None:
        return Labels()
    if isinstance(protocol, str):
        from .protocols import get_protocol

        protocol = get_protocol(protocol)
    raw = (getattr(protocol, "raw", None) or {}).get("labels") or {}
    source = getattr(protocol, "source", "") or getattr(protocol, "id", "protocol")
    if not isinstance(raw, Mapping):
        raise ProtocolError(f"{source}: `labels:` must be a mapping of arms, criteria, thresholds, covariates, "
                            "subgroups.")
    unknown = set(raw) - {"arms", "criteria", "thresholds", "covariates", "subgroups"}
    if unknown:
        raise ProtocolError(f"{source}: `labels:` has unknown section(s) {sorted(unknown)}; allowed: arms, "
                            "criteria, thresholds, covariates, subgroups.")
    fallback = {str(c.get("id")): str(c.get("label") or c.get("id")) for c in (protocol.criteria or ())
                if isinstance(c, Mapping)}
    defaults = {str(p): v for c in (protocol.criteria or ()) if isinstance(c, Mapping)
                for p, v in (c.get("params") or {}).items()}
    arms = {a.code: a.code for a in getattr(protocol, "arms", ())}
    arms.update({str(k): str(v) for k, v in (raw.get("arms") or {}).items()})
    return Labels(protocol_id=getattr(protocol, "id", None), arms=arms,
                  criteria={str(k): str(v) for k, v in (raw.get("criteria") or {}).items()},
                  thresholds={str(k): _threshold(str(k), v, source) for k, v in (raw.get("thresholds") or {}).items()},
                  covariates={str(k): str(v) for k, v in (raw.get("covariates") or {}).items()},
                  subgroups={str(k): str(v) for k, v in (raw.get("subgroups") or {}).items()},
                  fallback_criteria=fallback, defaults=defaults)
