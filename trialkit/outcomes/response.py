"""End-of-induction response: remission (CR/CRi) and MRD-negativity rates by arm.

Rates carry exact Clopper–Pearson intervals; the difference of each arm from the reference arm
carries Newcombe's hybrid score interval (default, from statsmodels), the Miettinen–Nurminen score
interval or Mee's. The two score intervals are written by hand in :mod:`trialkit.outcomes.proportions`
because statsmodels' ``score`` method is wrong (see that module); all three are tested against
Newcombe (1998) Table II.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np
import pandas as pd

from ..analysis_set import analysis_set, is_study, join_by_subject
from ..errors import TrialkitError
from ..results import Result
from .survival import _z

__all__ = ["response_rates", "ResponseResult", "RESPONSE_ENDPOINTS", "DIFFERENCE_METHODS", "response_definitions",
           "difference_interval"]

#: endpoint code -> what counts as a responder, when the protocol does not say
RESPONSE_ENDPOINTS = {
    "EOI_CR": "remission at end of induction (response in the protocol's `responders`, default CR or CRi)",
    "EOI_MRDNEG": "MRD negative at end of induction (`mrd_negative` is true)",
}
_DEFAULT_RESPONDERS = ("CR", "CRi")
#: our name -> (implementation, description)
DIFFERENCE_METHODS = {
    "newcombe": ("statsmodels:newcomb", "Newcombe hybrid score (Wilson) interval, Newcombe 1998 method 10"),
    "miettinen-nurminen": ("score", "Miettinen-Nurminen score interval, Newcombe 1998 method 6"),
    "mee": ("score", "Mee score interval, Newcombe 1998 method 5"),
}


def difference_interval(k1: int, n1: int, k0: int, n0: int, *, method: str, conf_level: float):
    """(difference, lower, upper) of k1/n1 − k0/n0 by one of :data:`DIFFERENCE_METHODS`."""
    if method == "newcombe":
        from statsmodels.stats.proportion import confint_proportions_2indep

        lo, hi = confint_proportions_2indep(k1, n1, k0, n0, method="newcomb", compare="diff",
                                            alpha=1 - conf_level)
        return k1 / n1 - k0 / n0, float(lo), float(hi)
    from .proportions import score_interval_difference

    return score_interval_difference(k1, n1, k0, n0, conf_level=conf_level, method=method)


@dataclass(frozen=True)
class ResponseResult(Result):
    """Response rates by arm and their differences.

    Attributes
    ----------
    summary : DataFrame
        ``endpoint, group, n, responders, missing, rate, lower, upper`` (Clopper–Pearson exact CI).
        ``n`` is every subject of the population in the group; ``missing`` counts those without an
        assessment, who are counted as non-responders (intention to treat).
    differences : DataFrame
        ``endpoint, comparison, difference, lower, upper, method`` (group minus reference).
    """

    summary: pd.DataFrame
    differences: pd.DataFrame
    conf_level: float
    method: str
    reference: str
    population: str | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)

    analysis: ClassVar[str] = "response_rates"

    def parts(self) -> dict[str, pd.DataFrame]:
        return {"summary": self.summary, "differences": self.differences}

    def settings(self) -> dict:
        return {"conf_level": self.conf_level, "rate_interval": "Clopper-Pearson exact",
                "difference_method": DIFFERENCE_METHODS[self.method][1], "reference": self.reference,
                "population": self.population}

    def title(self) -> str:
        return (f"Response rates ({self.conf_level:.0%} Clopper-Pearson CI); differences vs {self.reference} "
                f"({DIFFERENCE_METHODS[self.method][1]})")


def response_definitions(protocol) -> dict[str, dict]:
    """The protocol's response endpoints: ``{code: {"label", "responders" or "column"}}``.

    Read from the ``endpoints:`` entries of kind ``response`` in the protocol file (``responders:`` the
    best responses that count, ``column:`` a true/false column); the built-in definitions of
    :data:`RESPONSE_ENDPOINTS` fill what a protocol leaves out.
    """
    out = {}
    for ep in getattr(protocol, "endpoints", ()) or ():
        if ep.get("kind") != "response":
            continue
        d = {"label": ep.get("label", ep["code"])}
        if ep.get("column"):
            d["column"] = ep["column"]
        elif ep["code"] == "EOI_MRDNEG":
            d["column"] = "mrd_negative"
        else:
            d["responders"] = tuple(ep.get("responders") or _DEFAULT_RESPONDERS)
        out[ep["code"]] = d
    return out


def _responders(frame: pd.DataFrame, endpoint: str, definition: dict | None) -> tuple[np.ndarray, np.ndarray]:
    """(responder 0/1, assessed bool) per row."""
    definition = definition or ({"column": "mrd_negative"} if endpoint == "EOI_MRDNEG" else
                                {"responders": _DEFAULT_RESPONDERS} if endpoint == "EOI_CR" else
                                {"column": endpoint})
    if "responders" in definition:
        if "response" not in frame.columns:
            raise TrialkitError(f"{endpoint} needs a `response` column (CR, CRi, PR, NR, NE)")
        r = frame["response"].astype("string")
        assessed = r.notna().to_numpy()
        return r.isin(list(definition["responders"])).fillna(False).to_numpy(dtype=int), assessed
    col = definition["column"]
    if col not in frame.columns:
        raise TrialkitError(f"unknown response endpoint {endpoint!r}: no column `{col}`; use "
                            f"{', '.join(RESPONSE_ENDPOINTS)}, a protocol response endpoint or the name of a 0/1 column")
    v = frame[col].astype("boolean") if pd.api.types.is_bool_dtype(frame[col]) else frame[col]
    v = pd.to_numeric(v.astype("Float64") if pd.api.types.is_bool_dtype(v) else v, errors="coerce").astype("Float64")
    bad = v.notna() & ~v.isin([0, 1])
    if bad.any():
        raise TrialkitError(f"column `{col}` must be 0/1 or true/false to count responders")
    return v.fillna(0).to_numpy(dtype=int), v.notna().to_numpy()


def response_rates(data, *, by: str = "arm", endpoints=None, responders=None, difference: str = "newcombe",
                   reference: str | None = None, conf_level: float = 0.95, population: str | None = None,
                   subgroup: dict | None = None) -> ResponseResult:
    """Response rates by arm with exact CIs, and each arm's difference from the reference arm.

    Parameters
    ----------
    data : Study or DataFrame
        A Study (every subject of the population, joined to its ``response`` row), or a frame with
        one row per subject, the ``by`` column and ``response`` / ``mrd_negative`` columns.
    by : str, default "arm"
    endpoints : sequence of str, optional
        Response endpoints: default the protocol's (``kind: response`` in its file; B1931036:
        ``EOI_CR``, ``EOI_MRDNEG``), else those two; or names of 0/1 columns.
    responders : sequence of str, optional
        Best responses that count as remission for ``EOI_CR``, overriding the protocol's
        ``responders`` (B1931036: CR or CRi; AALL1732: CR).
    difference : {"newcombe", "miettinen-nurminen", "mee"}, default "newcombe"
        Interval for the difference from the reference arm: Newcombe's hybrid score (method 10 of
        Newcombe 1998), the Miettinen–Nurminen score interval (method 6) or Mee's (method 5).
    reference : str, optional
        Reference arm; default the protocol's (see :func:`trialkit.analysis_set.resolve_reference`).
    conf_level : float, default 0.95
    population, subgroup
        As for :func:`trialkit.km`.

    Returns
    -------
    ResponseResult

    Examples
    --------
    >>> tk.response_rates(study).summary
         endpoint  group   n  responders  missing      rate     lower     upper
    0      EOI_CR  ALLR3  35          18        0  0.514286  0.339891  0.686171
    1      EOI_CR    InO  61          41        0  0.672131  0.539981  0.786934
    2  EOI_MRDNEG  ALLR3  35          13        4  0.371429  0.214732  0.550769
    3  EOI_MRDNEG    InO  61          28        3  0.459016  0.330644  0.591501
    """
    from statsmodels.stats.proportion import proportion_confint

    if difference not in DIFFERENCE_METHODS:
        raise TrialkitError(f"difference must be one of {', '.join(DIFFERENCE_METHODS)}, not {difference!r}")
    _z(conf_level)
    definitions = response_definitions(data.protocol) if is_study(data) else {}
    if endpoints is None:
        endpoints = tuple(definitions) or tuple(RESPONSE_ENDPOINTS)
    endpoints = (endpoints,) if isinstance(endpoints, str) else tuple(endpoints)
    if responders is not None:
        responders = (responders,) if isinstance(responders, str) else tuple(responders)
        definitions = {**definitions, "EOI_CR": {**definitions.get("EOI_CR", {}), "responders": responders}}
        definitions["EOI_CR"].pop("column", None)
    aset = analysis_set(data, by=by, population=population, subgroup=subgroup, reference=reference,
                        require_reference=True)
    frame = aset.frame
    if is_study(data):
        resp = data.response.drop(columns=[c for c in data.response.columns
                                           if c in frame.columns and c != "subject_id"])
        frame = join_by_subject(frame, resp)
    notes = list(aset.notes)
    groups, reference = aset.groups, aset.reference
    g = frame["group"].astype(str).to_numpy()
    alpha = 1 - conf_level
    rates, diffs = [], []
    for ep in endpoints:
        resp, assessed = _responders(frame, ep, definitions.get(ep))
        if len(frame) and not assessed.any():
            raise TrialkitError(f"{ep}: no subject has a response assessment (the response table is empty or the "
                                "column is blank), so no rate can be given; load the response data first")
        counts = {}
        for grp in groups:
            m = g == grp
            n_, k = int(m.sum()), int(resp[m].sum())
            lo, hi = proportion_confint(k, n_, alpha=alpha, method="beta") if n_ else (np.nan, np.nan)
            rates.append({"endpoint": ep, "group": grp, "n": n_, "responders": k, "missing": int((~assessed[m]).sum()),
                          "rate": k / n_ if n_ else np.nan, "lower": float(lo), "upper": float(hi)})
            counts[grp] = (k, n_)
        k0, n0 = counts.get(reference, (0, 0))
        for grp in groups:
            if grp == reference:
                continue
            k1, n1 = counts[grp]
            if n1 and n0:
                d, lo, hi = difference_interval(k1, n1, k0, n0, method=difference, conf_level=conf_level)
            else:
                lo = hi = d = np.nan
            diffs.append({"endpoint": ep, "comparison": f"{grp} - {reference}", "difference": d,
                          "lower": float(lo), "upper": float(hi), "method": DIFFERENCE_METHODS[difference][1]})
        miss = int((~assessed).sum())
        if miss:
            notes.append(f"{ep}: {miss} subject(s) without an assessment counted as non-responders")
    cat = pd.CategoricalDtype(list(groups), ordered=True)
    rates_df = pd.DataFrame(rates, columns=["endpoint", "group", "n", "responders", "missing", "rate", "lower", "upper"])
    rates_df["group"] = rates_df["group"].astype(cat)
    diffs_df = pd.DataFrame(diffs, columns=["endpoint", "comparison", "difference", "lower", "upper", "method"])
    return ResponseResult(summary=rates_df, differences=diffs_df, conf_level=conf_level, method=difference,
                          reference=reference, population=aset.population, notes=tuple(notes))
