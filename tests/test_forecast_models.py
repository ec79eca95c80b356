"""The forecast's statistical building blocks against second implementations and published output:
the Poisson–Gamma (negative binomial) MLE against statsmodels, the Weibull fit against R's survreg
(saved output of the survival package's own tests) and lifelines, the piecewise-exponential fit
against lifelines and a hand computation, and the simulation's time change against brute force."""

from __future__ import annotations

import numpy as np
import pytest

from trialkit.errors import ForecastError
from trialkit.forecast import _poisson_gamma as pg
from trialkit.forecast._event_models import Dropout, default_cuts, fit_piecewise, fit_weibull
from trialkit.forecast._simulate import draw_rates, intensity_at, time_to_intensity


def _sites(seed=1, k=60, alpha=1.5, rate=0.01):
    rng = np.random.default_rng(seed)
    tau = rng.uniform(100, 800, k)
    n = rng.poisson(rng.gamma(alpha, rate / alpha, k) * tau).astype(float)
    return n, tau


# ------------------------------------------------------------------------------------------------
# Poisson–Gamma
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_gamma_mle_matches_statsmodels_negative_binomial(seed):
    """Second implementation: statsmodels' NB2 with exposure (alpha_NB2 = 1 / gamma shape)."""
    # not statsmodels.api: it imports all of statsmodels
    from statsmodels.discrete.discrete_model import NegativeBinomial

    n, tau = _sites(seed)
    fit = pg.fit_mle(n, tau)
    start = [np.log(n.sum() / tau.sum()), 0.5]
    res = NegativeBinomial(n, np.ones((len(n), 1)), exposure=tau, loglike_method="nb2").fit(
        start_params=start, disp=0, method="newton", maxiter=200)
    assert res.mle_retvals["converged"]
    assert fit.m == pytest.approx(np.exp(res.params[0]), rel=1e-5)
    assert fit.alpha == pytest.approx(1 / res.params[1], rel=1e-4)
    assert fit.loglik == pytest.approx(res.llf, abs=1e-6)
    # standard errors: se(log m) = se(const); se(1/alpha) = se(log alpha) / alpha (delta method)
    assert fit.se_log_m == pytest.approx(res.bse[0], rel=1e-3)
    assert fit.se_log_alpha / fit.alpha == pytest.approx(res.bse[1], rel=1e-3)


def test_gamma_mle_reproduces_mass_glm_nb_on_students_yeast_counts():
    """A published fit: R's MASS, help page theta.md ('weighted example'), glm.nb(numbers ~ 1, weights = fr)
    on Student's haemocytometer yeast counts (0-5 cells in 400 squares: 213, 128, 37, 18, 3, 1). Printed in
    MASS's tests/Examples/MASS-Ex.Rout.save (github.com/cran/MASS): intercept -0.38199 (SE 0.06603),
    theta.ml 3.586087 (SE 1.749609), 2 x log-likelihood -893.063. Each square is a 'site' with exposure 1,
    so the gamma shape alpha is glm.nb's theta and m its mean (exp of the intercept)."""
    n = np.repeat(np.arange(6.0), [213, 128, 37, 18, 3, 1])
    fit = pg.fit_mle(n, np.ones(len(n)))
    assert np.log(fit.m) == pytest.approx(-0.38199, abs=5e-6)
    assert fit.se_log_m == pytest.approx(0.06603, abs=5e-6)
    assert fit.alpha == pytest.approx(3.586087, abs=5e-6)
    assert fit.se_log_alpha * fit.alpha == pytest.approx(1.749609, abs=5e-5)  # delta method: se(alpha)
    assert 2 * fit.loglik == pytest.approx(-893.063, abs=5e-4)


def test_gamma_mle_mean_is_the_sample_mean_with_equal_exposure():
    """With equal exposures the score equation sum (n_i - mu) alpha / (alpha + mu) = 0 gives mu = mean(n)."""
    n = np.array([0, 0, 1, 2, 2, 3, 5, 9, 0, 1], dtype=float)
    fit = pg.fit_mle(n, np.full(len(n), 365.0))
    assert fit.m * 365 == pytest.approx(n.mean(), rel=1e-9)
    assert not fit.alpha_at_bound


def test_gamma_mle_without_overdispersion_sits_on_the_bound():
    """Counts less dispersed than Poisson: alpha -> infinity, held at its upper bound; m is still the rate."""
    n = np.array([3, 3, 3, 3, 3, 3], dtype=float)
    fit = pg.fit_mle(n, np.full(6, 100.0))
    assert fit.alpha_at_bound and fit.alpha == pytest.approx(pg.ALPHA_BOUNDS[1])
    assert fit.m == pytest.approx(0.03, rel=1e-9)
    assert np.isnan(fit.se_log_alpha) and fit.se_log_m == pytest.approx(1 / np.sqrt(18), rel=1e-2)


def test_score_and_hessian_are_the_derivatives_of_the_loglik():
    n, tau = _sites(4)
    x = np.array([np.log(0.01), np.log(1.3)])
    g, h = pg.nb_score_hessian(*x, n, tau)
    eps = 1e-5
    num_g = [(pg.nb_loglik(*(x + e), n, tau) - pg.nb_loglik(*(x - e), n, tau)) / (2 * eps)
             for e in np.eye(2) * eps]
    num_h = [(pg.nb_score_hessian(*(x + e), n, tau)[0] - pg.nb_score_hessian(*(x - e), n, tau)[0]) / (2 * eps)
             for e in np.eye(2) * eps]
    np.testing.assert_allclose(g, num_g, rtol=1e-6)
    np.testing.assert_allclose(h, np.array(num_h), rtol=1e-5)


def test_posterior_grid_centres_on_the_mle_and_draws_from_it():
    n, tau = _sites(5, k=200)
    fit, grid = pg.fit_mle(n, tau), pg.posterior_grid(n, tau)
    assert grid.prob.sum() == pytest.approx(1.0)
    q = grid.quantiles([0.05, 0.5, 0.95])
    assert q["m"][0] < fit.m < q["m"][2] and q["alpha"][0] < fit.alpha < q["alpha"][2]
    # with 200 sites the posterior of log m is close to the normal approximation of the MLE
    assert np.log(q["m"][2] / q["m"][0]) / (2 * 1.645) == pytest.approx(fit.se_log_m, rel=0.1)
    m, a = pg.draw_parameters(grid, 20_000, np.random.default_rng(0))
    assert np.median(m) == pytest.approx(q["m"][1], rel=0.02)
    assert np.median(a) == pytest.approx(q["alpha"][1], rel=0.05)


# ------------------------------------------------------------------------------------------------
# the simulation's time change
# ------------------------------------------------------------------------------------------------
def test_time_to_intensity_inverts_the_piecewise_linear_intensity():
    rng = np.random.default_rng(0)
    open_rate = np.array([0.0, 0.02, 0.1])
    fut_rate = rng.random((3, 4)) * 0.05
    offsets = np.array([5.0, 20.0, 20.0, 90.0])
    g = np.sort(rng.gamma(3.0, size=(3, 5)), axis=1)
    t = time_to_intensity(g, open_rate, fut_rate, offsets)
    back = np.stack([intensity_at(t[i], open_rate[i:i + 1], fut_rate[i:i + 1], offsets)[0] for i in range(3)])
    np.testing.assert_allclose(back, g, rtol=1e-12)
    # hand check of one path: only site rates 1/day opening at day 0 (open) and day 10
    t1 = time_to_intensity(np.array([15.0]), np.array([1.0]), np.array([[1.0]]), np.array([10.0]))
    assert t1[0] == pytest.approx(12.5)  # 10 by day 10, then 2 per day: 10 + 2 * 2.5 = 15
    assert np.isinf(time_to_intensity(np.array([1.0]), np.array([0.0]), np.zeros((1, 0)), np.zeros(0))[0])


def test_draw_rates_follow_their_posteriors():
    """Open sites: Gamma(alpha + n_i, beta + tau_i); future sites: Gamma(alpha, beta) (plug-in: fixed)."""
    n, tau = np.array([0.0, 4.0]), np.array([100.0, 200.0])
    fit = pg.PGFit(m=0.02, alpha=2.0, loglik=0.0, cov=np.eye(2), alpha_at_bound=False, n_sites=2, n_patients=4,
                   exposure_days=300.0)
    p = draw_rates(n=n, tau=tau, group=np.array([0, 1]), n_groups=2, fut_offset=np.array([30.0]),
                   fut_group=np.array([1]), n_sims=200_000, rng=np.random.default_rng(1), fit=fit)
    beta = 2.0 / 0.02
    assert p.open_group[:, 0].mean() == pytest.approx(2.0 / (beta + 100), rel=0.01)
    assert p.open_group[:, 1].mean() == pytest.approx(6.0 / (beta + 200), rel=0.01)
    assert p.open_group[:, 1].var() == pytest.approx(6.0 / (beta + 200) ** 2, rel=0.03)
    assert p.fut_rate[:, 0].mean() == pytest.approx(0.02, rel=0.01)


# ------------------------------------------------------------------------------------------------
# event-time models
# ------------------------------------------------------------------------------------------------
def test_weibull_matches_r_survreg_on_the_lung_data():
    """R: survreg(Surv(time, status) ~ 1, lung) gives (Intercept) 6.034904, Scale= 0.7593936,
    Loglik(model)= -1153.9 (survival package, tests/r_lung.Rout.save). Weibull scale = exp(intercept),
    shape = 1 / Scale. The lung data (NCCTG, 228 patients, 165 deaths) as shipped with lifelines."""
    from lifelines.datasets import load_lung

    df = load_lung()
    w = fit_weibull(df["time"].to_numpy(float), df["status"].to_numpy(float))
    assert np.log(w.scale) == pytest.approx(6.034904, abs=5e-7)
    assert 1 / w.shape == pytest.approx(0.7593936, abs=5e-8)
    assert w.loglik == pytest.approx(-1153.9, abs=0.05)


def test_weibull_matches_lifelines_weibull_fitter():
    """Second implementation: lifelines' WeibullFitter (lambda_ = scale, rho_ = shape), estimates and SEs,
    on censored data with a decreasing hazard (shape < 1), like the demo's EFS."""
    from lifelines import WeibullFitter

    rng = np.random.default_rng(3)
    t = 400 * rng.weibull(0.7, 150)
    c = rng.uniform(50, 1500, 150)
    time, event = np.minimum(t, c), (t <= c).astype(float)
    w = fit_weibull(time, event)
    lf = WeibullFitter().fit(time, event)
    assert w.scale == pytest.approx(lf.lambda_, rel=1e-5) and w.shape == pytest.approx(lf.rho_, rel=1e-5)
    se = lf.summary["se(coef)"]
    assert w.scale * np.sqrt(w.cov[0, 0]) == pytest.approx(se["lambda_"], rel=1e-3)
    assert w.shape * np.sqrt(w.cov[1, 1]) == pytest.approx(se["rho_"], rel=1e-3)
    assert w.loglik == pytest.approx(lf.log_likelihood_, rel=1e-8)


def test_weibull_needs_two_events():
    with pytest.raises(ForecastError, match="at least 2 events"):
        fit_weibull(np.array([5.0, 6.0, 7.0]), np.array([1.0, 0.0, 0.0]))


def test_piecewise_by_hand():
    """Times 2, 4*, 5, 8, 12* (* censored), cut at day 5: interval [0, 5] has exposure 2+4+5+5+5 = 21
    and 2 events (an event at the cut belongs to the interval it ends), (5, inf) has 0+0+0+3+7 = 10 and 1."""
    pw = fit_piecewise(np.array([2.0, 4.0, 5.0, 8.0, 12.0]), np.array([1, 0, 1, 1, 0]), cuts=[5])
    np.testing.assert_allclose(pw.exposure, [21.0, 10.0])
    np.testing.assert_allclose(pw.events, [2.0, 1.0])
    np.testing.assert_allclose(pw.hazard, [2 / 21, 1 / 10])
    assert pw.loglik == pytest.approx(2 * np.log(2 / 21) - 2 + np.log(0.1) - 1)


def test_piecewise_matches_lifelines():
    """Second implementation: lifelines' PiecewiseExponentialFitter (lambda_i_ = 1 / hazard) on the lung
    data, with cut points between event times (at an event time the two conventions differ)."""
    from lifelines import PiecewiseExponentialFitter
    from lifelines.datasets import load_lung

    df = load_lung()
    pw = fit_piecewise(df["time"].to_numpy(float), df["status"].to_numpy(float), cuts=[180.5, 365.5])
    lf = PiecewiseExponentialFitter(breakpoints=[180.5, 365.5]).fit(df["time"], df["status"])
    np.testing.assert_allclose(pw.hazard, 1 / lf.summary["coef"].to_numpy(), rtol=1e-6)
    assert pw.loglik == pytest.approx(lf.log_likelihood_, rel=1e-9)


def test_piecewise_sampling_inverts_the_cumulative_hazard():
    """T | T > u from hazards (0.1 on [0, 5], 0.02 after): check by evaluating H(T) - H(u) = E."""
    pw = fit_piecewise(np.array([1.0, 6.0, 9.0]), np.array([1, 1, 0]), cuts=[5])
    params = np.array([[0.1, 0.02]])
    u = np.array([[0.0, 3.0, 7.0, 0.0]])
    e = np.array([[0.2, 0.3, 0.05, 1.0]])
    t = pw.sample(params, u, e)

    def cum(x):
        return 0.1 * min(x, 5) + 0.02 * max(x - 5, 0)

    got = [cum(ti) - cum(ui) for ti, ui in zip(t[0], u[0])]
    np.testing.assert_allclose(got, e[0], rtol=1e-12)
    assert t[0, 0] == pytest.approx(2.0) and t[0, 3] == pytest.approx(5 + 0.5 / 0.02)


def test_default_cuts_one_piece_per_ten_events():
    t = np.arange(1, 36, dtype=float)
    assert len(default_cuts(t, np.ones(35))) == 2  # 35 events -> 3 pieces
    assert len(default_cuts(t[:9], np.ones(9))) == 0  # fewer than 10 events: exponential
    assert len(default_cuts(np.arange(1, 101.0), np.ones(100))) == 3  # at most 4 pieces


def test_dropout_rate_and_draws():
    d = Dropout(events=4, exposure=2000.0)
    assert d.rate == pytest.approx(0.002)
    draws = d.draw(200_000, np.random.default_rng(0))
    assert draws.mean() == pytest.approx(4.5 / 2000, rel=0.01)  # Gamma(4 + 1/2, 2000): Jeffreys
