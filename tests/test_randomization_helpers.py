"""Inline study builders shared by the randomization tests (no tests of its own)."""

from __future__ import annotations

import numpy as np
import pandas as pd

import trialkit as tk
from trialkit.model import empty_table


def toy_study(arms: list[str], *, sites: list[str] | None = None, strata: list[str] | None = None,
              ages: list[float] | None = None, sexes: list[str] | None = None, start="2024-01-01"):
    """A B1931036 study whose randomization has exactly the given arms, in that order."""
    p = tk.get_protocol("b1931036")
    n = len(arms)
    ids = [f"S{i + 1:03d}" for i in range(n)]
    sites = sites or ["AT01"] * n
    strata = strata or ["1 to <10 years"] * n
    dates = pd.date_range(start, periods=n, freq="7D")
    scr = empty_table("screening")
    base = pd.DataFrame({"subject_id": ids, "site_id": sites, "screening_date": dates - pd.Timedelta(days=3),
                         "age_years": ages if ages is not None else np.linspace(2, 16, n),
                         "sex": sexes or (["F", "M"] * n)[:n]})
    scr = base.reindex(columns=scr.columns).astype(scr.dtypes.to_dict())
    rnd = pd.DataFrame({"subject_id": ids, "site_id": sites, "randomization_date": dates, "arm": arms,
                        "actual_arm": arms, "stratum": [f"{s} / within 6 months of end of therapy" for s in strata],
                        "age_group": strata, "relapse_timing": "within 6 months of end of therapy"})
    rnd = rnd.astype({"subject_id": "string", "site_id": "string", "arm": "string", "actual_arm": "string",
                      "stratum": "string", "age_group": "string", "relapse_timing": "string"})
    return tk.Study(protocol=p, sites=p.site_table(), screening=scr, randomization=rnd, source="inline")
