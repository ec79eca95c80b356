"""Forecasting: when will the trial reach its patients, and its events?

:func:`forecast_accrual` (Poisson–Gamma accrual with per-site rates, sites still to open and the
uncertainty of the estimated parameters carried into the prediction), :func:`forecast_events`
(accrual still to come combined with a Weibull or piecewise-exponential model of the event times,
censored for dropout; pooled over arms) and their backtests :func:`backtest_accrual` and
:func:`backtest_events`. The model, its assumptions and references are in ``docs/forecasting.md``.
"""

from .accrual import AccrualForecast, forecast_accrual
from .backtest import Backtest, backtest_accrual, backtest_events
from .events import EventForecast, forecast_events

__all__ = ["forecast_accrual", "AccrualForecast", "forecast_events", "EventForecast", "backtest_accrual",
           "backtest_events", "Backtest"]
