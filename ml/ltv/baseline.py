"""BG/NBD (Fader, Hardie & Lee 2005) + Gamma-Gamma (Fader & Hardie 2005), fitted by maximum likelihood.

The yardstick for the network and the fallback when it is unavailable. Spend intervals are closed
form (``BaselinePredictor.interval``): a negative binomial count (the Gamma posterior of the rate, scaled
to the BG/NBD conditional expectation) compounded with Gamma-Gamma spend per transaction under its
posterior scale, summarised as a zero-inflated lognormal with the exact P(0), mean and variance — an
approximation that ignores the dropout process's own variance beyond the expectation.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import optimize, special

from ml.ltv.data import Summary
from ml.ltv.dist import HIGH, LOW, ziln_quantile


def as_summary(
    frequency: Summary | np.ndarray,
    recency: np.ndarray | None,
    t: np.ndarray | None,
    monetary: np.ndarray | None,
) -> Summary:
    """A Summary from RFM arrays (every customer counted as seen); a Summary passes through."""
    if isinstance(frequency, Summary):
        return frequency
    if recency is None or t is None or monetary is None:
        raise TypeError("need frequency, recency, T and monetary arrays")
    x = np.asarray(frequency, dtype=np.float64)
    rest = [np.broadcast_to(np.asarray(v, dtype=np.float64), x.shape) for v in (recency, t, monetary)]
    # first_value is not a BG/NBD+GG input; the mean repeat value stands in for it.
    return Summary.from_rfm(np.stack([x, *rest, rest[2]], axis=-1))


def bgnbd_loglik(params: np.ndarray, x: np.ndarray, tx: np.ndarray, t: np.ndarray) -> np.ndarray:
    r, alpha, a, b = params
    base = special.gammaln(r + x) - special.gammaln(r) + r * np.log(alpha)
    term1 = special.betaln(a, b + x) - special.betaln(a, b) - (r + x) * np.log(alpha + t)
    with np.errstate(divide="ignore", invalid="ignore"):
        term2 = special.betaln(a + 1, b + x - 1) - special.betaln(a, b) - (r + x) * np.log(alpha + tx)
    term2 = np.where(x > 0, term2, -np.inf)
    return base + np.logaddexp(term1, term2)


def gg_loglik(params: np.ndarray, x: np.ndarray, m: np.ndarray) -> np.ndarray:
    p, q, gamma = params
    return (
        special.gammaln(p * x + q)
        - special.gammaln(p * x)
        - special.gammaln(q)
        + q * np.log(gamma)
        + (p * x - 1) * np.log(m)
        + p * x * np.log(x)
        - (p * x + q) * np.log(gamma + x * m)
    )


def _fit(negll, start: np.ndarray) -> np.ndarray:
    result = optimize.minimize(negll, np.log(start), method="L-BFGS-B", bounds=[(-8, 8)] * len(start))
    return np.exp(result.x)


def bgnbd_expected(params: np.ndarray, x, tx, t, horizon) -> np.ndarray:
    """E[transactions in (T, T + horizon] | x, t_x, T] (FHL 2005, eq. 10)."""
    r, alpha, a, b = params
    x, tx, t = (np.asarray(v, dtype=np.float64) for v in (x, tx, t))
    horizon = np.asarray(horizon, dtype=np.float64)
    z = horizon / (alpha + t + horizon)
    hyp = special.hyp2f1(r + x, b + x, a + b + x - 1, z)
    first = (a + b + x - 1) / (a - 1)
    second = 1 - ((alpha + t) / (alpha + t + horizon)) ** (r + x) * hyp
    with np.errstate(divide="ignore", invalid="ignore"):
        denom = 1 + np.where(x > 0, (a / (b + x - 1)) * ((alpha + t) / (alpha + tx)) ** (r + x), 0.0)
    return np.maximum(first * second / denom, 0.0)


def bgnbd_p_alive(params: np.ndarray, x, tx, t) -> np.ndarray:
    r, alpha, a, b = params
    with np.errstate(divide="ignore", invalid="ignore"):
        odds = (a / (b + x - 1)) * ((alpha + t) / (alpha + tx)) ** (r + x)
    return np.where(x > 0, 1.0 / (1.0 + odds), 1.0)


@dataclass(frozen=True)
class BaselinePredictor:
    bgnbd: tuple[float, float, float, float]  # r, alpha, a, b (days)
    gamma_gamma: tuple[float, float, float]  # p, q, gamma

    @property
    def version(self) -> str:
        digest = hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()[:10]
        return f"bgnbd-gg-{digest}"

    @classmethod
    def default(cls) -> BaselinePredictor:
        """Generic priors (close to published CDNOW fits, rescaled to days) for a tenant with no data yet."""
        return cls(bgnbd=(0.24, 30.0, 0.79, 2.43), gamma_gamma=(6.25, 3.74, 15.44))

    @classmethod
    def fit(
        cls,
        s: Summary | np.ndarray,
        recency: np.ndarray | None = None,
        t: np.ndarray | None = None,
        monetary: np.ndarray | None = None,
    ) -> BaselinePredictor:
        """MLE fit; returns a new predictor. Call as ``fit(summary)`` or ``fit(freq, rec, T, mon)``
        (arrays in days; ``mon`` = mean repeat-transaction value, 0 when freq == 0)."""
        s = as_summary(s, recency, t, monetary)
        seen = s.seen
        x, tx, t = s.frequency[seen], s.recency[seen], s.t[seen]
        if len(x) < 10:
            return cls.default()
        bg = _fit(
            lambda lp: -bgnbd_loglik(np.exp(lp), x, tx, t).sum() / len(x), np.array([0.5, 30.0, 1.0, 3.0])
        )
        if bg[2] <= 1.0:  # the expectation formula needs a > 1; stay just inside it
            bg[2] = 1.0001
        rep = seen & (s.frequency > 0) & (s.monetary > 0)
        if rep.sum() >= 10:
            gg = _fit(
                lambda lp: -gg_loglik(np.exp(lp), s.frequency[rep], s.monetary[rep]).sum() / rep.sum(),
                np.array([2.0, 3.0, float(np.mean(s.monetary[rep]))]),
            )
        else:
            gg = np.array(cls.default().gamma_gamma)
        if gg[1] <= 1.0:
            gg[1] = 1.0001
        return cls(tuple(float(v) for v in bg), tuple(float(v) for v in gg))  # type: ignore[arg-type]

    def to_dict(self) -> dict[str, list[float]]:
        return {"bgnbd": list(self.bgnbd), "gamma_gamma": list(self.gamma_gamma)}

    @classmethod
    def from_dict(cls, d: dict[str, list[float]]) -> BaselinePredictor:
        return cls(tuple(d["bgnbd"]), tuple(d["gamma_gamma"]))  # type: ignore[arg-type]

    def expected_spend_per_tx(self, x: np.ndarray, m: np.ndarray) -> np.ndarray:
        p, q, gamma = self.gamma_gamma
        return (p * (gamma + x * m)) / (p * x + q - 1)

    def predict(
        self,
        s: Summary | np.ndarray,
        *args: Any,
        interval: bool = True,
    ) -> dict[str, np.ndarray]:
        """``predict(summary, horizon_days)`` or ``predict(freq, rec, T, mon, horizon_days)`` →
        dict of arrays ``purchases``, ``spend``, ``spend_low``, ``spend_high`` (10 % / 90 %).
        ``interval=False`` skips the interval (``spend_low`` = ``spend_high`` = ``spend``), for callers
        that use only the point predictions (the serving path at a blend weight of 1)."""
        if isinstance(s, Summary):
            if len(args) != 1:
                raise TypeError("predict(summary, horizon_days)")
            horizon_days = float(args[0])
        else:
            if len(args) != 4:
                raise TypeError("predict(freq, rec, T, mon, horizon_days)")
            s = as_summary(s, args[0], args[1], args[2])
            horizon_days = float(args[3])
        bg = np.array(self.bgnbd)
        purchases = np.where(s.seen, bgnbd_expected(bg, s.frequency, s.recency, s.t, horizon_days), 0.0)
        per_tx = self.expected_spend_per_tx(s.frequency, s.monetary)
        spend = purchases * per_tx
        if not interval:
            return {"purchases": purchases, "spend": spend, "spend_low": spend, "spend_high": spend}
        low, high = self.interval(s, purchases)
        return {
            "purchases": purchases,
            "spend": spend,
            "spend_low": np.minimum(low, spend),
            "spend_high": np.maximum(high, spend),
        }

    def interval(self, s: Summary, purchases: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """10 % and 90 % points of spend in the window, in closed form (no sampling, so a customer's
        interval never depends on who else is in the batch). The count N is negative binomial with the
        BG/NBD expectation as mean and the posterior rate's shape r + x as size; given N = n and the
        customer's Gamma-Gamma scale nu (posterior Gamma(q + p·x, rate γ + x·m)), spend is
        Gamma(p·n, rate nu). Spend is 0 with exactly P(N = 0); above 0 it is taken as lognormal with the
        exact conditional mean and variance (a moment match), the same ZILN form as the network's head."""
        r = self.bgnbd[0]
        p, q, gamma = self.gamma_gamma
        size = r + s.frequency
        mu = np.maximum(purchases, 0.0)
        p_zero = (size / (size + mu)) ** size
        nu_shape = q + p * s.frequency
        nu_rate = gamma + s.frequency * s.monetary
        inv_nu = nu_rate / (nu_shape - 1)  # E[1/nu]
        # E[1/nu^2] is finite only for a shape > 2; below that the variance is capped as if it were 2.5.
        inv_nu2 = nu_rate**2 / ((nu_shape - 1) * np.maximum(nu_shape - 2, 0.5))
        mean = p * mu * inv_nu
        second = (p * p * (mu + mu * mu / size + mu * mu) + p * mu) * inv_nu2
        positive = np.maximum(1 - p_zero, 1e-12)
        with np.errstate(divide="ignore", invalid="ignore"):
            m1, m2 = mean / positive, second / positive
            sigma = np.sqrt(np.maximum(np.log(m2 / (m1 * m1)), 1e-12))
            log_median = np.log(m1) - sigma * sigma / 2
        live = s.seen & (mu > 0)
        log_median = np.where(live, log_median, 0.0)
        sigma = np.where(live, sigma, 1.0)
        p_zero = np.where(live, p_zero, 1.0)
        return ziln_quantile(LOW, p_zero, log_median, sigma), ziln_quantile(HIGH, p_zero, log_median, sigma)
