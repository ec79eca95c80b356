"""TA, TI, TS (with DM, ADSL and ADTTE) → the study's :class:`~trialkit.protocols.Protocol`.

Arms come from TA (else DM ``ARMCD``/``ARM``) ordered by dose — ADSL ``TRT01PN`` of each planned
arm, else a dose in the arm label ("54 mg"), placebo/control 0 — then by a dose word in the label
(low < medium < high), then by TA order; never by alphabet.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from ...errors import DataValidationError
from ...protocols import Protocol, get_protocol, load_protocol, parse_protocol
from ..sas import clean_frame, upper_values
from ..sas import col as _col

__all__ = ["protocol_from_sdtm", "resolve_protocol", "natural_key", "NOT_ARMS"]

#: ARMCD values that are not arms (screen failure, not assigned, not treated, unplanned)
NOT_ARMS = {"SCRNFAIL", "NOTASSGN", "NOTTRT", "UNPLAN"}


def _arm_table(d: dict) -> list[dict]:
    """Arms (code, label, dose, dose source) from TA (else DM), ordered by dose, then dose word, then TA order."""
    dm = d["dm"]
    if "ta" in d:
        src = d["ta"][["ARMCD", "ARM"]]
    else:
        src = pd.DataFrame({"ARMCD": dm["ARMCD"], "ARM": _col(dm, "ARM")})
    arms, seen = [], set()
    for code, up, label in zip(src["ARMCD"], upper_values(src["ARMCD"]), src["ARM"].astype("string")):
        if pd.isna(code) or up in NOT_ARMS or code in seen:
            continue
        seen.add(code)
        arms.append({"code": str(code), "label": label, "dose": np.nan, "dose_source": ""})
    adsl_doses = _adsl_doses(dm, d.get("adsl"))
    for a in arms:
        vals = adsl_doses.get(a["code"], [])
        if len(vals) == 1:
            a["dose"], a["dose_source"] = float(vals[0]), "ADSL TRT01PN"
        else:
            a["dose"], a["dose_source"] = _label_dose(a["code"], a["label"])
    order = sorted(range(len(arms)), key=lambda i: (np.inf if np.isnan(arms[i]["dose"]) else arms[i]["dose"],
                                                    _dose_word(arms[i]["label"]), i))
    return [arms[i] for i in order]


def _adsl_doses(dm: pd.DataFrame, adsl: pd.DataFrame | None) -> dict:
    """DM ARMCD → the distinct ADSL ``TRT01PN`` values of its subjects (none without ADSL ``TRT01PN``)."""
    if adsl is None or "TRT01PN" not in adsl:
        return {}
    dose_by_subject = adsl.set_index("USUBJID")["TRT01PN"]
    dose_by_subject = dose_by_subject[~dose_by_subject.index.duplicated()]
    per_arm = pd.DataFrame({"code": dm["ARMCD"], "dose": dm["USUBJID"].map(dose_by_subject)}).dropna()
    return per_arm.groupby("code")["dose"].agg(lambda s: s.unique().tolist()).to_dict()


def _label_dose(code: str, label) -> tuple[float, str]:
    """A dose in the arm label ("54 mg"), else 0 for placebo/control, else none."""
    label = "" if pd.isna(label) else str(label)
    m = re.search(r"(\d+(?:\.\d+)?)\s*(?:mg|g|µg|ug|mcg|iu|u|units?|ml)\b", label, flags=re.I)
    if m:
        return float(m.group(1)), "arm label"
    if re.search(r"placebo|control|vehicle|sham", label, flags=re.I) or re.fullmatch(r"(?i)pbo|plc|placebo", code):
        return 0.0, "placebo"
    return np.nan, ""


def natural_key(value) -> tuple:
    """Sort key that puts site "9" before "10" and "A2" before "A10"."""
    return tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in re.split(r"(\d+)", str(value)) if p)


def _dose_word(label) -> int:
    """Rank of a dose word in an arm label (low < middle < high); 9 when there is none."""
    label = "" if pd.isna(label) else str(label)
    for rank, pattern in enumerate((r"\blow", r"\b(mid|medium|middle|intermediate)", r"\bhigh")):
        if re.search(pattern, label, flags=re.I):
            return rank
    return 9


def _arm_dicts(arms: list[dict]) -> list[dict]:
    out = []
    for i, a in enumerate(arms):
        label = a["code"] if pd.isna(a["label"]) else str(a["label"])
        placebo = bool(re.search(r"placebo", label, flags=re.I))
        dosing = "" if np.isnan(a["dose"]) else f"dose {a['dose']:g} ({a['dose_source']})"
        out.append({"code": a["code"], "label": label, "ratio": 1, "dose_order": i, "dosing": dosing,
                    "type": "placebo comparator" if placebo else ("reference" if i == 0 else "experimental")})
    return out


def _ti_criteria(ti: pd.DataFrame | None) -> list[dict]:
    """TI criteria as wording only: ``{"id", "category", "text"}``."""
    if ti is None:
        return []
    out = []
    for r in ti.itertuples(index=False):
        cat = str(getattr(r, "IECAT", "") or "").lower()
        out.append({"id": r.IETESTCD, "category": "exclusion" if cat.startswith("excl") else "inclusion",
                    "text": "" if pd.isna(getattr(r, "IETEST", pd.NA)) else str(r.IETEST)})
    return out


def _site_dicts(dm: pd.DataFrame) -> list[dict]:
    first: dict = {}  # each SITEID's first record's COUNTRY
    for site, country in zip(dm["SITEID"], _col(dm, "COUNTRY")):
        if not pd.isna(site) and site not in first:
            first[site] = country
    return [{"site_id": str(s), "site_name": "", "city": "", "country": "not recorded" if pd.isna(c) else str(c)}
            for s, c in sorted(first.items(), key=lambda t: natural_key(t[0]))]


def _endpoints(adtte: pd.DataFrame | None) -> list[dict]:
    if adtte is None:
        return []
    first: dict = {}  # PARAMCD → the PARAM of its first record
    for code, label in zip(adtte["PARAMCD"], adtte["PARAM"] if "PARAM" in adtte.columns else adtte["PARAMCD"]):
        first.setdefault(code, label)
    return [{"code": str(code), "label": str(label), "kind": "time_to_event"} for code, label in first.items()
            if pd.notna(code)]


def _trial_summary(ts: pd.DataFrame | None) -> dict:
    """TS parameter code → value (first record of each)."""
    if ts is None:
        return {}
    return ts.dropna(subset=["TSPARMCD"]).drop_duplicates("TSPARMCD").set_index("TSPARMCD")["TSVAL"].to_dict()


def _planned_subjects(tsval: dict) -> int | None:
    try:
        return int(float(tsval.get("PLANSUB"))) if tsval.get("PLANSUB") is not None else None
    except ValueError:
        return None


def protocol_from_sdtm(domains: dict[str, pd.DataFrame]) -> Protocol:
    """Build a :class:`Protocol` from the SDTM trial design (TA, TI, TS), DM, ADSL and ADTTE.

    Arms come from TA (else DM ``ARMCD``/``ARM``) ordered by dose (see the module docstring), with
    **equal allocation** (TA does not carry the ratio; the CDISC pilot randomized 1:1:1) and the
    lowest-dose arm as reference. TI criteria are kept as wording only, in
    ``protocol.raw["ti_criteria"]`` (``{"id", "category", "text"}``); ``protocol.criteria`` stays
    empty because TI has no machine-readable rules (trialkit's eligibility engine needs a rule for
    every criterion, and none can be evaluated from the mapped domains). Age limits are not in the
    trial design domains and are left open (0–120 years). Sites are DM's ``SITEID`` values (no
    names); endpoints are ADTTE's ``PARAMCD``/``PARAM``; TS gives the title (``TITLE``), phase
    (``TPHASE``) and planned subjects (``PLANSUB``) when present. Nothing is copied into the
    repository: the protocol exists only in memory.

    Raises
    ------
    DataValidationError
        Fewer than two arms.

    Examples
    --------
    >>> import pandas as pd
    >>> dm = pd.DataFrame({"STUDYID": "T1", "USUBJID": ["S-1", "S-2", "S-3"], "SITEID": ["10", "9", "9"],
    ...                    "ARMCD": ["HI", "PBO", "SCRNFAIL"], "ARM": ["Drug 20 mg", "Placebo", "Screen Failure"]})
    >>> p = protocol_from_sdtm({"dm": dm})
    >>> p.arm_codes, p.reference_arm, [s.site_id for s in p.sites]
    (('PBO', 'HI'), 'PBO', ['9', '10'])
    """
    d = {k.lower(): clean_frame(v, source=k) for k, v in domains.items() if v is not None}
    dm = d["dm"]
    studyid = str(_col(dm, "STUDYID").dropna().iloc[0]) if _col(dm, "STUDYID").notna().any() else "cdisc"
    tsval = _trial_summary(d.get("ts"))
    arms = _arm_table(d)
    if len(arms) < 2:
        raise DataValidationError(pd.DataFrame([{
            "table": "protocol", "file": "ta.xpt" if "ta" in d else "dm.xpt", "row": np.nan, "column": "ARMCD",
            "value": ", ".join(a["code"] for a in arms), "problem": f"found {len(arms)} arm(s); a randomized trial needs two",
            "fix": "provide TA (trial arms) or pass protocol=… with the arms"}]), source="CDISC mapping")
    arm_dicts = _arm_dicts(arms)
    site_dicts = _site_dicts(dm)
    raw = {
        "id": studyid, "title": tsval.get("TITLE") or f"{studyid} (protocol built from the SDTM trial design)",
        "phase": str(tsval.get("TPHASE") or ""), "arms": arm_dicts, "reference_arm": arm_dicts[0]["code"],
        "age": {"min_years": 0, "max_years": 120, "max_inclusive": True,
                "assumption": "not in the trial design domains; read the protocol's inclusion criteria"},
        "allocation": {"assumption": "equal allocation (TA does not carry the ratio); pass protocol= otherwise"},
        "planned_enrollment": _planned_subjects(tsval), "sites": site_dicts, "endpoints": _endpoints(d.get("adtte")),
        "ti_criteria": _ti_criteria(d.get("ti")), "countries": {"registered": sorted({s["country"] for s in site_dicts})},
    }
    return parse_protocol(raw, "")


def resolve_protocol(protocol, domains: dict[str, pd.DataFrame]) -> Protocol:
    """The protocol to map onto: built from the trial design (``None``), a :class:`Protocol`, a YAML
    file or a known protocol id."""
    if protocol is None:
        return protocol_from_sdtm(domains)
    if isinstance(protocol, Protocol):
        return protocol
    if str(protocol).endswith((".yaml", ".yml")):
        return load_protocol(protocol)
    return get_protocol(str(protocol))


