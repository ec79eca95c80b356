"""End-of-induction response: remission (CR/CRi) and MRD-negativity rates by arm.

Rates carry exact Clopper–Pearson intervals; the difference of each arm from the reference arm
carries Newcombe's hybrid score interval (default) or the Miettinen–Nurminen score interval. Both
come from statsmodels; nothing is written by hand here.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..errors import TrialkitError
from ._data import (
    _group_order,
    _is_study,
    _select_population_frame,
    _select_population_study,
    _subject_attributes,
)
from .survival import _html, _z

__all__ = ["response_rates", "ResponseResult", "RESPONSE_ENDPOINTS", "DIFFERENCE_METHODS"]

#: endpoint code -> what counts as a responder
RESPONSE_ENDPOINTS = {
    "EOI_CR": "remission at end of induction (response in `remission`, default CR or CRi)",
    "EOI_MRDNEG": "MRD negative at end of induction (`mrd_negative` is true)",
}
#: our name -> (statsmodels confint_proportions_2indep method, description)
DIFFERENCE_METHODS = {
    "newcombe": ("newcomb", "Newcombe hybrid score (Wilson) interval, Newcombe 1998 method 10"),
    "miettinen-nurminen": ("score", "Miettinen-Nurminen score interval"),
}


@dataclass(frozen=True)
class ResponseResult:
    """Response rates by arm and their differences.

    Attributes
    ----------
    rates : DataFrame
        ``endpoint, group, n, responders, missing, rate, lower, upper`` (Clopper–Pearson exact CI).
        ``n`` is every subject of the population in the group; ``missing`` counts those without an
        assessment, who are counted as non-responders (intention to treat).
    differences : DataFrame
        ``endpoint, comparison, difference, lower, upper, method`` (group minus reference).
    """

    rates: pd.DataFrame
    differences: pd.DataFrame
    conf_level: float
    method: str
    reference: str
    notes: tuple[str, ...] = field(default_factory=tuple)

    def to_frame(self) -> pd.DataFrame:
        return self.rates

    def _repr_html_(self) -> str:
        return _html(f"Response rates ({self.conf_level:.0%} Clopper-Pearson CI); differences vs {self.reference} "
                     f"({DIFFERENCE_METHODS[self.method][1]})",
                     [("rates", self.rates), ("differences", self.differences)], self.notes)


def _responders(frame: pd.DataFrame, endpoint: str, remission) -> tuple[np.ndarray, np.ndarray]:
    """(responder 0/1, assessed bool) per row."""
    if endpoint == "EOI_CR":
        if "response" not in frame.columns:
            raise TrialkitError("EOI_CR needs a `response` column (CR, CRi, PR, NR, NE)")
        r = frame["response"].astype("string")
        assessed = r.notna().to_numpy()
        return r.isin(list(remission)).fillna(False).to_numpy(dtype=int), assessed
    if endpoint == "EOI_MRDNEG":
        if "mrd_negative" not in frame.columns:
            raise TrialkitError("EOI_MRDNEG needs an `mrd_negative` column (true/false)")
        m = frame["mrd_negative"].astype("boolean")
        return m.fillna(False).to_numpy(dtype=int), m.notna().to_numpy()
    if endpoint in frame.columns:  # any 0/1 or boolean column
        v = frame[endpoint].astype("Float64")
        bad = v.notna() & ~v.isin([0, 1])
        if bad.any():
            raise TrialkitError(f"column `{endpoint}` must be 0/1 or true/false to count responders")
        return v.fillna(0).to_numpy(dtype=int), v.notna().to_numpy()
    raise TrialkitError(f"unknown response endpoint {endpoint!r}: use {', '.join(RESPONSE_ENDPOINTS)} or the name "
                        "of a 0/1 column")


def response_rates(data, *, by: str = "arm", endpoints=("EOI_CR", "EOI_MRDNEG"), remission=("CR", "CRi"),
                   difference: str = "newcombe", reference: str | None = None, conf_level: float = 0.95,
                   population: str | None = None, subgroup: dict | None = None) -> ResponseResult:
    """Response rates by arm with exact CIs, and each arm's difference from the reference arm.

    Parameters
    ----------
    data : Study or DataFrame
        A Study (every subject of the population, joined to its ``response`` row), or a frame with
        one row per subject, the ``by`` column and ``response`` / ``mrd_negative`` columns.
    by : str, default "arm"
    endpoints : sequence of str
        ``"EOI_CR"`` (remission), ``"EOI_MRDNEG"`` (MRD negativity) or names of 0/1 columns.
    remission : sequence of str, default ("CR", "CRi")
        Responses that count as remission (B1931036: CR or CRi; a CR-only endpoint: ``("CR",)``).
    difference : {"newcombe", "miettinen-nurminen"}, default "newcombe"
    reference : str, optional
        Reference arm; default the protocol's, else the first group.
    conf_level : float, default 0.95
    population, subgroup
        As for :func:`trialkit.km`.

    Returns
    -------
    ResponseResult

    Examples
    --------
    >>> tk.response_rates(study).rates
         endpoint  group   n  responders  missing      rate     lower     upper
    0      EOI_CR  ALLR3  35          18        0  0.514286  0.339891  0.686171
    1      EOI_CR    InO  61          41        0  0.672131  0.539981  0.786934
    2  EOI_MRDNEG  ALLR3  35          13        4  0.371429  0.214732  0.550769
    3  EOI_MRDNEG    InO  61          28        3  0.459016  0.330644  0.591501
    """
    from statsmodels.stats.proportion import confint_proportions_2indep, proportion_confint

    if difference not in DIFFERENCE_METHODS:
        raise TrialkitError(f"difference must be one of {', '.join(DIFFERENCE_METHODS)}, not {difference!r}")
    _z(conf_level)
    endpoints = (endpoints,) if isinstance(endpoints, str) else tuple(endpoints)
    notes: list[str] = []
    protocol_arms = None
    if _is_study(data):
        protocol_arms = data.protocol.arm_codes
        reference = reference or data.protocol.reference_arm
        frame = _subject_attributes(data)
        frame, n = _select_population_study(frame, population)
        notes += n
        resp = data.response.drop(columns=[c for c in data.response.columns
                                           if c in frame.columns and c != "subject_id"])
        frame = frame.merge(resp, on="subject_id", how="left", validate="one_to_one")
    elif isinstance(data, pd.DataFrame):
        frame, n = _select_population_frame(data, population)
        notes += n
    else:
        raise TrialkitError(f"expected a Study or a pandas DataFrame, got {type(data).__name__}")
    if by not in frame.columns:
        raise TrialkitError(f"column `{by}` is not in the data; pass by= one of {', '.join(map(str, frame.columns))}")
    for col, val in (subgroup or {}).items():
        if col not in frame.columns:
            raise TrialkitError(f"subgroup column {col!r} is not in the data")
        mask = (frame[col].astype("string") == str(val)).fillna(False).to_numpy()
        notes.append(f"subgroup {col} = {val}: {int((~mask).sum())} subject(s) outside it left out")
        frame = frame[mask]
    if frame[by].isna().any():
        raise TrialkitError(f"{int(frame[by].isna().sum())} subject(s) have no `{by}`; fix or filter them first")
    groups = _group_order(frame[by], protocol_arms, by)
    if reference is None or reference not in groups:
        reference = groups[0] if groups else ""
    g = frame[by].astype(str).to_numpy()
    alpha = 1 - conf_level
    rates, diffs = [], []
    for ep in endpoints:
        resp, assessed = _responders(frame, ep, remission)
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
                lo, hi = confint_proportions_2indep(k1, n1, k0, n0, method=DIFFERENCE_METHODS[difference][0],
                                                    compare="diff", alpha=alpha)
                d = k1 / n1 - k0 / n0
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
    return ResponseResult(rates=rates_df, differences=diffs_df, conf_level=conf_level, method=difference,
                          reference=reference, notes=tuple(notes))
