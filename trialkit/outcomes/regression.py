"""Cox proportional-hazards hazard ratios: overall, adjusted, stratified, and across subgroups.

Efron's tie handling (the default, as R ``coxph``) is fitted by lifelines' ``CoxPHFitter``, which
implements Efron only. Breslow's approximation (SAS PROC PHREG and Stata's default) is fitted by
statsmodels' ``PHReg(ties="breslow")``, a well-kept implementation, rather than by hand; both give
Wald intervals, so the two methods differ only in the partial likelihood.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np
import pandas as pd

from ..analysis_set import group_order
from ..errors import TrialkitError
from ..results import Result
from ._data import SurvivalData, quiet_lifelines, stratum_codes, survival_data
from .survival import _z

__all__ = ["cox", "CoxResult", "cox_subgroups", "SubgroupResult", "TIES", "CI_METHODS", "CoxFit"]


@dataclass(frozen=True)
class CoxFit:
    """What :func:`cox` fitted: the analysis data, design, terms and estimates (for :func:`cox_zph`)."""

    sd: SurvivalData
    X: pd.DataFrame
    terms: list
    beta: np.ndarray
    cov: np.ndarray
    ties: str

TIES = {"efron": "Efron (lifelines CoxPHFitter, one Newton step to R's precision)",
        "breslow": "Breslow (statsmodels PHReg)"}
CI_METHODS = {"wald": "Wald CI", "profile": "Wald and profile-likelihood CI"}


def _design(sd: SurvivalData, reference: str | None) -> tuple[pd.DataFrame, list[tuple[str, str, str]]]:
    """Numeric design matrix; terms as (column, term label, comparison label)."""
    f = sd.frame
    ref = reference if reference is not None else sd.reference
    present = [g for g in sd.groups if (f["group"] == g).any()] if sd.by is not None else []
    if sd.by is not None and ref not in present:
        raise TrialkitError(f"reference group {ref!r} has no subjects here; choose one of {', '.join(present)}")
    cols: dict[str, np.ndarray] = {}
    terms = []
    for g in present:
        if g == ref:
            continue
        name = f"{sd.by or 'group'}[{g}]"
        cols[name] = (f["group"] == g).to_numpy(dtype=float)
        terms.append((name, sd.by or "group", f"{g} vs {ref}"))
    for c in sd.covariates:
        v = f[c]
        if v.isna().any():
            raise TrialkitError(f"covariate `{c}` is missing for {int(v.isna().sum())} subject(s); impute it, "
                                "filter those subjects out, or leave the covariate out")
        if pd.api.types.is_numeric_dtype(v):
            cols[c] = v.to_numpy(dtype=float)
            terms.append((c, c, "per unit"))
        else:
            levels = list(group_order(v))
            for lev in levels[1:]:
                name = f"{c}[{lev}]"
                cols[name] = (v.astype(str) == lev).to_numpy(dtype=float)
                terms.append((name, c, f"{lev} vs {levels[0]}"))
    return pd.DataFrame(cols, index=f.index), terms


def _fit(sd: SurvivalData, X: pd.DataFrame, ties: str, conf_level: float) -> tuple[pd.DataFrame, float]:
    """Coefficients (coef, se) by term column and the log partial likelihood."""
    est, ll, _ = _fit_full(sd, X, ties, conf_level)
    return est, ll


def _fit_full(sd: SurvivalData, X: pd.DataFrame, ties: str, conf_level: float):
    """(coefficients ``coef, se`` by column, log partial likelihood, covariance matrix) of the Cox fit."""
    f = sd.frame
    if ties == "efron":
        from lifelines import CoxPHFitter

        df = X.assign(_time=f["time"].to_numpy(), _event=f["event"].to_numpy())
        strata = None
        if sd.strata:
            df["_stratum"] = stratum_codes(f, sd.strata)[0]
            strata = ["_stratum"]
        with quiet_lifelines():
            cph = CoxPHFitter(alpha=1 - conf_level).fit(df, "_time", "_event", strata=strata)
        # params_ and the variance matrix, not `summary` (which computes intervals and tests: half the fit's time)
        var = cph.variance_matrix_.loc[list(X.columns), list(X.columns)]
        cov = var.to_numpy(dtype=float)
        est = pd.DataFrame({"coef": cph.params_.loc[list(X.columns)].to_numpy(dtype=float),
                            "se": np.sqrt(np.diag(cov))}, index=X.columns)
        return est, float(cph.log_likelihood_), cov
    from statsmodels.duration.hazard_regression import PHReg

    strata = None
    if sd.strata:
        strata = stratum_codes(f, sd.strata)[0]
    r = PHReg(f["time"].to_numpy(), X.to_numpy(), status=f["event"].to_numpy(), strata=strata,
              ties="breslow").fit()
    return (pd.DataFrame({"coef": r.params, "se": r.bse}, index=X.columns), float(r.llf),
            np.asarray(r.cov_params(), dtype=float))


class _NotConverged(TrialkitError):
    """A Cox fit warned of non-convergence (separation, an arm without events)."""


def _fit_checked(sd: SurvivalData, X: pd.DataFrame, ties: str, conf_level: float):
    """:func:`_fit` that turns a convergence warning (separation, an arm without events) into an error."""
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = _fit(sd, X, ties, conf_level)
    bad = [w for w in caught if "Convergence" in type(w.message).__name__ or issubclass(w.category, RuntimeWarning)]
    if bad:
        raise _NotConverged(str(bad[0].message).strip().splitlines()[0])
    for w in caught:  # pass on anything else untouched
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    return out


def _table(est: pd.DataFrame, terms, conf_level: float) -> pd.DataFrame:
    from scipy.stats import norm

    z = _z(conf_level)
    rows = []
    for col, term, comp in terms:
        b, se = float(est.loc[col, "coef"]), float(est.loc[col, "se"])
        rows.append({"term": term, "comparison": comp, "coef": b, "se": se, "hr": np.exp(b),
                     "lower": np.exp(b - z * se), "upper": np.exp(b + z * se), "z": b / se,
                     "p_value": float(2 * norm.sf(abs(b / se)))})
    return pd.DataFrame(rows)


@dataclass(frozen=True)
class CoxResult(Result):
    """A Cox model's hazard ratios and global tests.

    Attributes
    ----------
    summary : DataFrame
        One row per term: ``term, comparison, coef, se, hr, lower, upper, z, p_value`` (Wald), and
        with ``conf_int="profile"`` also ``pl_lower, pl_upper`` (profile-likelihood limits of the HR).
    tests : DataFrame
        The global tests of all coefficients = 0 that R's ``summary(coxph)`` prints: ``test``
        (likelihood ratio, Wald, score (log-rank)), ``statistic, df, p_value``, and the log partial
        likelihoods at 0 and at the estimate.
    n, events : int
    ties : {"efron", "breslow"}
    strata, covariates : tuple of str
    log_likelihood : float
        The log partial likelihood at the estimate.
    ci_method : {"wald", "profile"}
        Which intervals the summary carries besides Wald.

    The data of the fit are kept (not shown, not in ``to_frame()``) so that :func:`cox_zph` can test
    proportional hazards on this very model.
    """

    summary: pd.DataFrame
    endpoint: str | None
    n: int
    events: int
    ties: str
    strata: tuple[str, ...]
    covariates: tuple[str, ...]
    conf_level: float
    log_likelihood: float
    notes: tuple[str, ...] = field(default_factory=tuple)
    tests: pd.DataFrame = field(default_factory=pd.DataFrame)
    ci_method: str = "wald"
    fit_data: object = field(default=None, repr=False, compare=False)

    analysis: ClassVar[str] = "cox"

    @property
    def method(self) -> str:
        return TIES[self.ties]

    def parts(self) -> dict[str, pd.DataFrame]:
        return {"summary": self.summary, "tests": self.tests}

    def settings(self) -> dict:
        return {"endpoint": self.endpoint, "n": self.n, "events": self.events, "ties": self.ties,
                "method": self.method, "strata": self.strata, "covariates": self.covariates,
                "conf_level": self.conf_level, "log_likelihood": self.log_likelihood,
                "ci_method": CI_METHODS[self.ci_method]}

    def title(self) -> str:
        strata = f", stratified by {', '.join(self.strata)}" if self.strata else ""
        return (f"Cox model for {self.endpoint or ''}: {self.n} subjects, {self.events} events, ties "
                f"{self.method}{strata}, {self.conf_level:.0%} {CI_METHODS[self.ci_method]}")

    def html_parts(self):
        return [("", self.summary), ("global tests (all coefficients = 0)", self.tests)]


def cox(data, *, endpoint: str | None = None, by: str | None = "arm", covariates=(), strata=None, ties: str = "efron",
        reference: str | None = None, conf_level: float = 0.95, conf_int: str = "wald",
        population: str | None = None, subgroup: dict | None = None) -> CoxResult:
    """Hazard ratios of each arm against the reference arm from a Cox proportional-hazards model.

    Parameters
    ----------
    data : Study or DataFrame
        See :func:`trialkit.km`.
    endpoint : str, optional
    by : str or None, default "arm"
        The treatment column; each other group is compared with ``reference``. None fits the
        covariates alone.
    covariates : sequence of str
        Adjustment covariates: numeric columns enter linearly, others as indicators against their
        first level in sort order.
    strata : str or sequence of str, optional
        Stratified baseline hazards (one per combination of levels), e.g. the randomization strata.
    ties : {"efron", "breslow"}, default "efron"
        Efron as R ``coxph`` (lifelines); Breslow as SAS PHREG and Stata (statsmodels).
    reference : str, optional
        Reference group; default the protocol's reference arm, else the first group.
    conf_level : float, default 0.95
    conf_int : {"wald", "profile"}, default "wald"
        ``"profile"`` adds profile-likelihood limits of each hazard ratio (``pl_lower``,
        ``pl_upper``) beside the Wald ones: better when events are few or the HR is extreme
        (SAS PHREG ``RISKLIMITS=PL``; computed here, as neither lifelines nor statsmodels has them).
    population, subgroup
        As for :func:`trialkit.km`.

    Returns
    -------
    CoxResult
        ``.summary`` (hazard ratios), ``.tests`` (likelihood-ratio, Wald and score global tests, as
        R's ``summary(coxph)``).

    Examples
    --------
    >>> res = tk.cox(study, endpoint="EFS", strata=["age_group"], covariates=["sex"])
    >>> res.summary[["term", "comparison", "hr", "lower", "upper", "p_value"]]
      term    comparison        hr     lower    upper   p_value
    0  arm  InO vs ALLR3  0.664528  0.384065  1.14980  0.144027
    1  sex        M vs F  0.777444  0.461501  1.30968  0.344105
    >>> import trialkit as tk
    >>> res = tk.cox(tk.load_study("data/demo/b1931036"), endpoint="EFS")
    >>> res.tests["test"].tolist()
    ['likelihood ratio', 'Wald', 'score (log-rank)']
    """
    if ties not in TIES:
        raise TrialkitError(f"ties must be 'efron' or 'breslow', not {ties!r}")
    if conf_int not in CI_METHODS:
        raise TrialkitError(f"conf_int must be 'wald' or 'profile', not {conf_int!r}")
    _z(conf_level)
    sd = survival_data(data, endpoint=endpoint, by=by, strata=strata, covariates=covariates,
                       population=population, subgroup=subgroup, reference=reference,
                       require_reference=by is not None)
    f = sd.frame
    if int(f["event"].sum()) == 0:
        raise TrialkitError(f"{sd.endpoint}: no events in the selected subjects, so no hazard ratio can be "
                            "estimated; widen the population or subgroup")
    X, terms = _design(sd, reference)
    if not terms:
        raise TrialkitError(f"only one group in `{by}` after selection, so there is nothing to compare"
                            if by is not None else "by=None needs covariates= to fit")
    try:
        est, ll, cov = _fit_full(sd, X, ties, conf_level)
    except TrialkitError:
        raise
    except Exception as exc:  # convergence failures of either fitter
        raise TrialkitError(f"the Cox model for {sd.endpoint} did not converge ({type(exc).__name__}: {exc}); "
                            "an arm or covariate level may have no events: drop that covariate or merge levels") from exc
    from .cox_tests import CoxLikelihood, global_tests, newton_polish, profile_limits

    beta = est.loc[list(X.columns), "coef"].to_numpy(dtype=float)
    lik = CoxLikelihood(time=f["time"].to_numpy(dtype=float), event=f["event"].to_numpy(dtype=int),
                        X=X.to_numpy(dtype=float), strata=stratum_codes(f, sd.strata)[0] if sd.strata else None,
                        ties=ties)
    if ties == "efron":  # lifelines' stopping rule leaves ~1e-6; one Newton step reaches R's precision
        beta, cov, ll = newton_polish(lik, beta, ll)
        est = pd.DataFrame({"coef": beta, "se": np.sqrt(np.diag(cov))}, index=X.columns)
    table = _table(est, terms, conf_level)
    notes = list(sd.notes)
    if conf_int == "profile":
        se = est.loc[list(X.columns), "se"].to_numpy(dtype=float)
        lim = profile_limits(lik, beta, se, conf_level)
        table["pl_lower"], table["pl_upper"] = np.exp(lim[:, 0]), np.exp(lim[:, 1])
        if not np.isfinite(lim).all():
            notes.append("a profile-likelihood limit is infinite: the likelihood is monotone (e.g. an arm "
                         "without events), so that side of the interval is unbounded")
    return CoxResult(summary=table, endpoint=sd.endpoint, n=len(f), events=int(f["event"].sum()), ties=ties,
                     strata=sd.strata, covariates=sd.covariates, conf_level=conf_level, log_likelihood=ll,
                     notes=tuple(notes), tests=global_tests(lik, beta, cov, ll), ci_method=conf_int,
                     fit_data=CoxFit(sd=sd, X=X, terms=terms, beta=beta, cov=cov, ties=ties))


def _level_order(data, column: str, values: pd.Series) -> list[str]:
    """Levels in their natural order (protocol strata levels, age bands by age; see group_order)."""
    return list(group_order(values, protocol=getattr(data, "protocol", None), column=column))


@dataclass(frozen=True)
class SubgroupResult(Result):
    """Hazard ratios of the arms within subgroups, ready for a forest plot.

    ``summary`` has ``subgroup, level, comparison, n, events, hr, lower, upper, p_interaction,
    note``; the first rows (``subgroup == "All"``) are the whole population. ``p_interaction``
    is the likelihood-ratio test of arm × subgroup (one value per subgroup variable).
    """

    summary: pd.DataFrame
    endpoint: str | None
    ties: str
    conf_level: float
    notes: tuple[str, ...] = field(default_factory=tuple)

    analysis: ClassVar[str] = "cox_subgroups"

    def settings(self) -> dict:
        return {"endpoint": self.endpoint, "ties": self.ties, "conf_level": self.conf_level}

    def title(self) -> str:
        return f"Hazard ratios by subgroup ({self.endpoint or ''}, Cox {TIES[self.ties]})"

    def figure(self, **kwargs):
        """The forest plot (:func:`trialkit.plot_forest`)."""
        from ..plots.outcomes import plot_forest

        return plot_forest(self, **kwargs)


def _interaction_p(base: SurvivalData, sg: str, levels: list[str], reference, ties: str, conf_level: float) -> float:
    """Likelihood-ratio p-value of arm × ``sg`` (NaN when a model cannot be fitted)."""
    from scipy.stats import chi2

    f = base.frame
    try:
        ok = f[sg].notna().to_numpy()
        fs = f[ok]
        lv = fs[sg].astype(str).to_numpy()
        sd0 = SurvivalData(frame=fs, endpoint=base.endpoint, by=base.by, groups=base.groups,
                           time_unit=base.time_unit, population=base.population, reference=base.reference)
        X0, arm_terms = _design(sd0, reference)
        for lev in levels[1:]:
            X0[f"_lev[{lev}]"] = (lv == lev).astype(float)
        X1 = X0.copy()
        for col, _, _ in arm_terms:
            for lev in levels[1:]:
                X1[f"{col}:{lev}"] = X0[col] * (lv == lev)
        X1 = X1.loc[:, X1.abs().sum() > 0]
        _, ll0 = _fit_checked(sd0, X0, ties, conf_level)
        _, ll1 = _fit_checked(sd0, X1, ties, conf_level)
    except Exception:  # noqa: BLE001 - a non-estimable interaction is reported as NaN
        return np.nan
    dfree = X1.shape[1] - X0.shape[1]
    return float(chi2.sf(max(2 * (ll1 - ll0), 0.0), dfree)) if dfree > 0 else np.nan


def cox_subgroups(data, *, endpoint: str | None = None, by: str = "arm", subgroups=("age_band", "sex", "country"),
                  ties: str = "efron", reference: str | None = None, conf_level: float = 0.95,
                  population: str | None = None) -> SubgroupResult:
    """Hazard ratio of each arm against the reference within each level of each subgroup variable.

    Parameters
    ----------
    data : Study or DataFrame
    endpoint : str, optional
    by : str, default "arm"
    subgroups : sequence of str
        Columns defining subgroups (for a Study: ``age_band``, ``sex``, ``country`` and the
        randomization strata columns are available).
    ties, reference, conf_level, population
        As for :func:`cox`.

    Returns
    -------
    SubgroupResult
        A level without events in some arm keeps its row with ``hr`` NaN and a ``note``.
    """
    subgroups = (subgroups,) if isinstance(subgroups, str) else tuple(subgroups)
    sd_all = survival_data(data, endpoint=endpoint, by=by, covariates=subgroups, population=population,
                           reference=reference, require_reference=True)
    f = sd_all.frame
    rows = []

    def _one(sd: SurvivalData, label: str, level: str):
        try:
            X, terms = _design(sd, reference)
        except TrialkitError:  # the reference arm is absent from this subgroup
            X, terms = None, []
        n, ev = len(sd.frame), int(sd.frame["event"].sum())
        note = ""
        tab = None
        if terms and ev:
            try:
                est, _ = _fit_checked(sd, X, ties, conf_level)
                tab = _table(est, terms, conf_level)
            except Exception:  # noqa: BLE001 - a non-estimable subgroup keeps its row
                note = "not estimable (the model did not converge: too few events or an arm without events)"
        else:
            note = "not estimable (no events or a single arm)"
        comps = [t[2] for t in terms] or [""]
        for i, comp in enumerate(comps):
            r = {"subgroup": label, "level": level, "comparison": comp, "n": n, "events": ev,
                 "hr": np.nan, "lower": np.nan, "upper": np.nan, "p_interaction": np.nan, "note": note}
            if tab is not None:
                r.update(hr=tab["hr"].iloc[i], lower=tab["lower"].iloc[i], upper=tab["upper"].iloc[i])
            rows.append(r)

    base = SurvivalData(frame=f, endpoint=sd_all.endpoint, by=by, groups=sd_all.groups,
                        time_unit=sd_all.time_unit, population=population, reference=sd_all.reference)
    _one(base, "All", "All")
    for sg in subgroups:
        values = f[sg]
        levels = _level_order(data, sg, values)
        p_int = _interaction_p(base, sg, levels, reference, ties, conf_level) \
            if len(levels) > 1 and len(base.groups) > 1 else np.nan
        first = len(rows)
        for lev in levels:
            m = (values.astype("string") == lev).fillna(False).to_numpy()
            sub = SurvivalData(frame=f[m], endpoint=base.endpoint, by=by, groups=base.groups,
                               time_unit=base.time_unit, population=population, reference=base.reference)
            _one(sub, sg, lev)
        if first < len(rows):
            rows[first]["p_interaction"] = p_int
        if values.isna().any():  # kept, as their own row, after the levels
            na = int(values.isna().sum())
            rows_before = len(rows)
            sub = SurvivalData(frame=f[values.isna().to_numpy()], endpoint=base.endpoint, by=by,
                               groups=base.groups, time_unit=base.time_unit, population=population,
                               reference=base.reference)
            _one(sub, sg, "missing")
            for r in rows[rows_before:]:
                r["note"] = (r["note"] + "; " if r["note"] else "") + f"{na} subject(s) with `{sg}` missing"
    table = pd.DataFrame(rows)
    return SubgroupResult(summary=table, endpoint=base.endpoint, ties=ties, conf_level=conf_level, notes=sd_all.notes)
