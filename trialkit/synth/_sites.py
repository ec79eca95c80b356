"""Sites and accrual: staggered activation and Poisson–Gamma (negative binomial) per-site rates.

Each site *i* opens at ``activation_i`` and screens patients as a Poisson process with its own
rate ``lambda_i ~ Gamma(shape=alpha, scale=1/alpha)`` (mean 1, variance 1/alpha): the standard
Poisson–Gamma accrual model (Anisimov & Fedorov 2007, Stat Med 26:4958–4975). Integrated over the
rates, a site's count is negative binomial, so counts vary more between sites than Poisson counts
would. The total number screened is fixed by the caller; given the total, Poisson counts are
multinomial with probabilities ``lambda_i * exposure_i / sum(...)``, and given a site's count its
screening dates are uniform over its open window (the order statistics of a Poisson process).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..model import empty_table

#: COG member countries with a rough share of COG sites (assumption: most COG sites are in the US).
COG_COUNTRIES = (("United States", 0.84), ("Canada", 0.09), ("Australia", 0.05), ("New Zealand", 0.02))

#: Cities used for the synthetic COG sites (city, region), per country. Only the city is real; the
#: institutions are invented and named "Synthetic COG site ###".
COG_CITIES = {
    "United States": [
        ("Philadelphia", "PA"), ("Boston", "MA"), ("Houston", "TX"), ("Memphis", "TN"), ("Los Angeles", "CA"),
        ("Seattle", "WA"), ("Cincinnati", "OH"), ("Columbus", "OH"), ("Chicago", "IL"), ("Atlanta", "GA"),
        ("Denver", "CO"), ("Minneapolis", "MN"), ("Pittsburgh", "PA"), ("St. Louis", "MO"), ("Dallas", "TX"),
        ("Phoenix", "AZ"), ("San Diego", "CA"), ("Salt Lake City", "UT"), ("Kansas City", "MO"),
        ("Nashville", "TN"), ("Baltimore", "MD"), ("New York", "NY"), ("Miami", "FL"), ("Portland", "OR"),
        ("Detroit", "MI"), ("Milwaukee", "WI"), ("Indianapolis", "IN"), ("New Orleans", "LA"),
        ("Albuquerque", "NM"), ("Omaha", "NE"), ("Birmingham", "AL"), ("Charlotte", "NC"),
    ],
    "Canada": [("Toronto", "ON"), ("Montreal", "QC"), ("Vancouver", "BC"), ("Calgary", "AB"),
               ("Edmonton", "AB"), ("Ottawa", "ON"), ("Winnipeg", "MB"), ("Halifax", "NS")],
    "Australia": [("Sydney", "NSW"), ("Melbourne", "VIC"), ("Brisbane", "QLD"), ("Perth", "WA"),
                  ("Adelaide", "SA")],
    "New Zealand": [("Auckland", "Auckland"), ("Christchurch", "Canterbury")],
}

#: Institutional upper limits of normal vary by laboratory; each site draws one value per test.
ULN_CHOICES = {"ast_uln_u_l": (35.0, 40.0, 45.0, 50.0, 60.0), "alt_uln_u_l": (35.0, 40.0, 45.0, 55.0),
               "bilirubin_uln_mg_dl": (1.0, 1.1, 1.2, 1.3)}


@dataclass(frozen=True)
class AccrualModel:
    """Parameters of site activation and accrual (documented in docs/synthetic-data.md).

    Attributes
    ----------
    gamma_shape : float
        Shape ``alpha`` of the Gamma distribution of site rates (mean 1); smaller = more unequal sites.
    activation_mean_days : float
        Mean delay (exponential) from the protocol's start date to a site's activation; the first site
        opens on the start date.
    activation_max_share : float
        No site opens later than this share of the accrual window.
    """

    gamma_shape: float = 1.2
    activation_mean_days: float = 180.0
    activation_max_share: float = 0.6


def synthetic_cog_sites(n_sites: int, rng: np.random.Generator) -> pd.DataFrame:
    """A COG-like site table: ids ``COG001``…, names "Synthetic COG site 001"…, in COG countries."""
    width = max(3, len(str(n_sites)))
    ids = [f"COG{i:0{width}d}" for i in range(1, n_sites + 1)]
    names = [f"Synthetic COG site {i:0{width}d}" for i in range(1, n_sites + 1)]
    countries = np.array([c for c, _ in COG_COUNTRIES])
    share = np.array([s for _, s in COG_COUNTRIES])
    country = countries[rng.choice(len(countries), size=n_sites, p=share / share.sum())]
    city = np.empty(n_sites, dtype=object)
    region = np.empty(n_sites, dtype=object)
    for c in countries:
        m = country == c
        pick = rng.integers(0, len(COG_CITIES[c]), size=int(m.sum()))
        city[m] = [COG_CITIES[c][k][0] for k in pick]
        region[m] = [COG_CITIES[c][k][1] for k in pick]
    df = pd.DataFrame({"site_id": ids, "site_name": names, "city": city, "region": region, "country": country,
                       "activation_date": pd.NaT, "status": "recruiting"})
    out = empty_table("sites")
    return pd.concat([out, df], ignore_index=True).astype(out.dtypes.to_dict())


def activate_sites(sites: pd.DataFrame, *, start_day: int, accrual_end_day: int, model: AccrualModel,
                   rng: np.random.Generator) -> tuple[pd.DataFrame, np.ndarray]:
    """Staggered activation dates; returns the site table with ``activation_date`` and the
    activation day numbers (days since 1970-01-01)."""
    n = len(sites)
    window = accrual_end_day - start_day
    delay = rng.exponential(model.activation_mean_days, size=n)
    delay = np.minimum(delay, model.activation_max_share * window)
    delay[rng.integers(0, n)] = 0.0  # one site opens on the start date
    act = start_day + np.floor(delay).astype(np.int64)
    out = sites.assign(activation_date=pd.to_datetime(act, unit="D").astype("datetime64[ns]"))
    return out, act


def accrue(n: int, *, activation_day: np.ndarray, accrual_end_day: int, model: AccrualModel,
           rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Draw per-site rates, split ``n`` screened patients over sites and date each screening.

    Returns ``(site_index, screening_day, rate)``: the site (row of the site table) and day number of
    each patient, sorted by day then site, and each site's relative rate ``lambda_i``. Screening
    visits fall on weekdays (a weekend draw moves to the next Monday).
    """
    rate = rng.gamma(model.gamma_shape, 1.0 / model.gamma_shape, size=len(activation_day))
    exposure = np.maximum(accrual_end_day - activation_day, 1).astype(float)
    p = rate * exposure
    counts = rng.multinomial(n, p / p.sum())
    site_idx = np.repeat(np.arange(len(activation_day)), counts)
    start = activation_day[site_idx]
    span = accrual_end_day - start + 1
    day = start + np.floor(rng.random(n) * span).astype(np.int64)
    day = weekday(day)
    order = np.lexsort((site_idx, day))
    return site_idx[order], day[order], rate


def weekday(day: np.ndarray) -> np.ndarray:
    """Move day numbers (days since 1970-01-01) that fall on a Saturday or Sunday to the next Monday."""
    d = np.asarray(day, dtype=np.int64).astype("datetime64[D]")
    return np.busday_offset(d, 0, roll="forward").astype(np.int64)
