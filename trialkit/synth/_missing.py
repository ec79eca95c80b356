"""Missing values in the exported screening inputs, injected after the site's verdict.

Two kinds, as in real exports:

* structural — a value that was never measured: the ejection fraction by MUGA is only recorded
  when no echocardiogram was done (and then the shortening fraction is empty); the share of CD22+
  blasts is often not reported beside the positive/negative call;
* sporadic — a lab value, a date or a history item left empty. Sites differ in how complete their
  data are: each site's rates are the column's rate times a site factor drawn from
  Gamma(shape ``SITE_SHAPE``, mean 1), so missingness clusters by site (missing at random given the
  site) as data managers see it in real exports.

With ``scale=0`` nothing is masked: the export equals the true values the verdict was made on.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

#: Share of rows whose value is left empty, per column (MCAR); other input columns use DEFAULT_RATE.
RATES = {
    "birth_date": 0.04, "age_years": 0.03, "sex": 0.003, "diagnosis": 0.003,
    "diagnosis_date": 0.01, "relapse_date": 0.01, "primary_therapy_end_date": 0.03,
    "marrow_blasts_pct": 0.02, "cd22_positive": 0.01,
    "kmt2a_aff1": 0.03, "tcf3_hlf": 0.04, "tcf3_pbx1": 0.03, "modal_chromosomes": 0.04,
    "masked_low_hypodiploidy": 0.05, "tp53_alteration": 0.06, "ph_positive": 0.01,
    "height_cm": 0.02, "weight_kg": 0.02, "creatinine_mg_dl": 0.02,
    "ast_u_l": 0.015, "alt_u_l": 0.015, "bilirubin_mg_dl": 0.015,
    "ast_uln_u_l": 0.01, "alt_uln_u_l": 0.01, "bilirubin_uln_mg_dl": 0.01,
    "wbc_per_ul": 0.01, "wbc_date": 0.02, "cns_status": 0.01,
}
DEFAULT_RATE = 0.01
#: Columns never masked: identifiers, the screening date, the site's verdict, derived site columns.
NEVER = {"subject_id", "site_id", "screening_date", "country", "screening_outcome", "screen_failure_reason",
         "egfr_ml_min", "orchiectomy", "mpal_confirmation_date"}
#: Structural missingness: share of patients assessed by MUGA instead of echocardiogram; share of
#: CD22 calls reported without the percentage.
P_MUGA = 0.1
P_CD22_PCT_NOT_REPORTED = 0.4
#: Shape of the Gamma distribution of the per-site completeness factor (mean 1).
SITE_SHAPE = 2.0


def inject_missing(screening: pd.DataFrame, *, site_index: np.ndarray, n_sites: int, scale: float,
                   rng: np.random.Generator) -> pd.DataFrame:
    """Return a copy of ``screening`` with values masked (see the module docstring).

    ``site_index`` gives each row's site (0 … ``n_sites`` − 1), for the per-site completeness factor.
    """
    if scale <= 0:
        return screening
    out = {}
    n = len(screening)
    site_factor = rng.gamma(SITE_SHAPE, 1.0 / SITE_SHAPE, size=n_sites)[site_index]
    muga = rng.random(n) < P_MUGA
    for col in screening.columns:
        values = screening[col].array
        u = rng.random(n)  # one draw per column, whatever the column's content: stable streams
        if col in NEVER or values.isna().all():
            out[col] = values
            continue
        mask = u < np.minimum(1.0, RATES.get(col, DEFAULT_RATE) * scale * site_factor)
        if col == "shortening_fraction_pct":
            mask |= muga
        elif col == "ejection_fraction_pct":
            mask |= ~muga
        elif col == "cd22_pct":
            mask |= u > 1 - P_CD22_PCT_NOT_REPORTED
        if mask.any():  # Series.mask's result, without its per-column cost
            values = values.copy()
            values[mask] = pd.NaT if values.dtype.kind == "M" else pd.NA
        out[col] = values
    return pd.DataFrame(out, index=screening.index)
