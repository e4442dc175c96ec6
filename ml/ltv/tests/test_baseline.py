"""BG/NBD + Gamma-Gamma goldens: parameter recovery on simulated data, formula vs Monte Carlo."""

from __future__ import annotations

import numpy as np
import pytest

from ml.ltv.baseline import BaselinePredictor, bgnbd_expected
from ml.ltv.data import Summary


def simulate_bgnbd(n: int, params, t_obs: float, seed: int = 0, horizon: float = 0.0):
    """Exact BG/NBD process: Poisson purchases at rate λ~Gamma(r, α), death after each purchase with
    p~Beta(a, b). Returns x, t_x, T, and transactions in (T, T+horizon]."""
    r, alpha, a, b = params
    rng = np.random.default_rng(seed)
    lam = rng.gamma(r, 1 / alpha, n)
    p = rng.beta(a, b, n)
    x = np.zeros(n)
    tx = np.zeros(n)
    future = np.zeros(n)
    t = np.full(n, t_obs)
    for i in range(n):
        now, alive = 0.0, True
        while alive:
            now += rng.exponential(1 / lam[i])
            if now > t_obs + horizon:
                break
            if now <= t_obs:
                x[i] += 1
                tx[i] = now
            else:
                future[i] += 1
            alive = rng.random() >= p[i]
    return x, tx, t, future


def summary(x, tx, t, m=None) -> Summary:
    m = np.zeros_like(x) if m is None else m
    return Summary(x, tx, t, m, np.zeros_like(x), np.ones_like(x, dtype=bool))


def test_bgnbd_recovers_known_parameters():
    true = (0.5, 20.0, 1.5, 3.0)
    x, tx, t, _ = simulate_bgnbd(6000, true, 365.0, seed=1)
    fitted = BaselinePredictor.fit(summary(x, tx, t)).bgnbd
    r, alpha, a, b = fitted
    assert r / alpha == pytest.approx(true[0] / true[1], rel=0.15)  # mean purchase rate
    assert a / (a + b) == pytest.approx(true[2] / (true[2] + true[3]), rel=0.2)  # mean dropout
    assert r == pytest.approx(true[0], rel=0.3)


def test_expected_transactions_match_monte_carlo():
    params = (0.5, 20.0, 1.5, 3.0)
    x, tx, t, future = simulate_bgnbd(8000, params, 180.0, seed=2, horizon=90.0)
    expected = bgnbd_expected(np.array(params), x, tx, t, 90.0)
    assert expected.mean() == pytest.approx(future.mean(), rel=0.08)
    for lo, hi in ((0, 0), (1, 3), (4, 100)):  # calibrated per frequency band, not only on average
        band = (x >= lo) & (x <= hi)
        assert expected[band].mean() == pytest.approx(future[band].mean(), rel=0.15)


def test_gamma_gamma_recovers_spend_parameters():
    rng = np.random.default_rng(3)
    p, q, gamma = 6.0, 4.0, 15.0
    n = 5000
    nu = rng.gamma(q, 1 / gamma, n)
    x = rng.integers(1, 10, n).astype(float)
    m = np.array([rng.gamma(p, 1 / nu[i], int(x[i])).mean() for i in range(n)])
    model = BaselinePredictor.fit(summary(x, np.ones(n), np.full(n, 10.0), m))
    fp, fq, fg = model.gamma_gamma
    assert fp * fg / (fq - 1) == pytest.approx(p * gamma / (q - 1), rel=0.1)  # population mean spend


def test_roundtrip_default_and_interval_sanity():
    model = BaselinePredictor.default()
    assert BaselinePredictor.from_dict(model.to_dict()) == model
    assert model.version.startswith("bgnbd-gg-")
    s = summary(
        np.array([0.0, 3.0, 10.0]),
        np.array([0.0, 50.0, 300.0]),
        np.array([100.0, 200.0, 320.0]),
        np.array([0.0, 40.0, 80.0]),
    )
    out = model.predict(s, 90)
    assert np.all(out["spend_low"] <= out["spend"])
    assert np.all(out["spend"] <= out["spend_high"])
    assert out["purchases"][2] > out["purchases"][0]  # a frequent, recent buyer buys more


def test_array_api_matches_summary_api():
    x, tx, t, _ = simulate_bgnbd(1500, (0.3, 20.0, 0.8, 2.5), 300.0, seed=4)
    rng = np.random.default_rng(4)
    mon = np.where(x > 0, rng.gamma(4.0, 12.0, len(x)), 0.0)
    by_arrays = BaselinePredictor.fit(x, tx, t, mon)
    by_summary = BaselinePredictor.fit(summary(x, tx, t, mon))
    assert by_arrays == by_summary
    out = by_arrays.predict(x, tx, t, mon, 120)
    ref = by_summary.predict(summary(x, tx, t, mon), 120)
    assert set(out) == {"purchases", "spend", "spend_low", "spend_high"}
    for key in out:
        np.testing.assert_allclose(out[key], ref[key])
    assert np.all(np.isfinite(out["spend"]))
    with pytest.raises(TypeError):
        by_arrays.predict(x, tx, 120)


def _monte_carlo_draws(
    model: BaselinePredictor, s: Summary, purchases: np.ndarray, samples: int, seed: int
) -> np.ndarray:
    """Spend draws of the process the closed-form interval summarises (the Monte Carlo interval the
    baseline first shipped with): posterior rate, Poisson counts, Gamma-Gamma spend."""
    rng = np.random.default_rng(seed)
    n = len(purchases)
    r = model.bgnbd[0]
    p, q, gamma = model.gamma_gamma
    shape = r + s.frequency
    rate = purchases[:, None] * rng.gamma(shape[:, None], 1.0 / shape[:, None], size=(n, samples))
    counts = rng.poisson(rate)
    nu = rng.gamma(
        (q + p * s.frequency)[:, None], 1.0 / (gamma + s.frequency * s.monetary)[:, None], (n, samples)
    )
    return np.where(counts > 0, rng.gamma(np.maximum(p * counts, 1e-9)) / nu, 0.0)


def test_closed_form_interval_matches_a_large_monte_carlo_of_the_same_model():
    """The closed-form interval (negative binomial count x Gamma-Gamma spend, as a ZILN with the exact
    P(0), mean and variance) against 20,000 draws of the very process it summarises, per frequency band:
    P(spend = 0) and the mean agree exactly (up to sampling noise), and the closed-form 10/90 points
    leave about 10 % of the draws on each side."""
    x, tx, t, _ = simulate_bgnbd(400, (0.3, 20.0, 0.8, 2.5), 300.0, seed=5)
    rng = np.random.default_rng(5)
    mon = np.where(x > 0, rng.gamma(4.0, 12.0, len(x)), 0.0)
    s = summary(x, tx, t, mon)
    model = BaselinePredictor(bgnbd=(0.3, 20.0, 0.8 + 0.5, 2.5), gamma_gamma=(6.0, 4.0, 15.0))
    purchases = bgnbd_expected(np.array(model.bgnbd), x, tx, t, 90.0)
    low, high = model.interval(s, purchases)
    draws = _monte_carlo_draws(model, s, purchases, 20_000, seed=3)
    mean = purchases * model.expected_spend_per_tx(s.frequency, s.monetary)
    np.testing.assert_allclose(draws.mean(axis=1), mean, rtol=0.12, atol=0.5)
    size = model.bgnbd[0] + s.frequency
    np.testing.assert_allclose((draws == 0).mean(axis=1), (size / (size + purchases)) ** size, atol=0.015)
    # Spend has a mass at 0, so a bound is right when at most ~10 % of the draws lie strictly beyond
    # it and at least ~10 % lie beyond it or on it.
    beyond_low, upto_low = (draws < low[:, None]).mean(axis=1), (draws <= low[:, None]).mean(axis=1)
    beyond_high, from_high = (draws > high[:, None]).mean(axis=1), (draws >= high[:, None]).mean(axis=1)
    for band in (x == 0, (x >= 1) & (x <= 3), x > 3):
        assert band.any()
        assert beyond_low[band].mean() <= 0.13
        assert upto_low[band].mean() >= 0.07
        assert beyond_high[band].mean() <= 0.13
        assert from_high[band].mean() >= 0.07
    assert np.all(high >= low)
    assert np.any(high > 0)


def test_interval_of_a_customer_does_not_depend_on_the_batch():
    """No sampling: one customer alone gets bit for bit what they get inside any batch."""
    x, tx, t, _ = simulate_bgnbd(50, (0.3, 20.0, 0.8, 2.5), 300.0, seed=8)
    s = summary(x, tx, t, np.where(x > 0, 30.0, 0.0))
    model = BaselinePredictor.default()
    batch = model.predict(s, 90)
    for i in (0, 7, 49):
        one = model.predict(
            Summary(
                *(
                    getattr(s, f)[i : i + 1]
                    for f in ("frequency", "recency", "t", "monetary", "first_value", "seen")
                )
            ),
            90,
        )
        for key in batch:
            assert one[key][0] == batch[key][i]


def test_without_interval_gives_the_point_predictions_only():
    model = BaselinePredictor.default()
    s = summary(np.array([0.0, 3.0, 10.0]), np.array([0.0, 50.0, 300.0]), np.array([100.0, 200.0, 320.0]))
    full = model.predict(s, 90)
    point = model.predict(s, 90, interval=False)
    np.testing.assert_array_equal(point["purchases"], full["purchases"])
    np.testing.assert_array_equal(point["spend"], full["spend"])
    np.testing.assert_array_equal(point["spend_low"], point["spend"])
    np.testing.assert_array_equal(point["spend_high"], point["spend"])
    assert np.any(full["spend_high"] > full["spend"])  # the full prediction does carry an interval
