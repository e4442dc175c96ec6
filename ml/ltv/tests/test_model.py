"""The network's structure: residual start at the baseline, seasonal features, both encoders."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ml.ltv import train
from ml.ltv.baseline import BaselinePredictor
from ml.ltv.data import from_arrays, summarise
from ml.ltv.features import WEEKS, build, window_season
from ml.ltv.model import SEQ_FEATURES, LtvNet, decode


def small_tx(n: int = 300, seed: int = 0):
    rng = np.random.default_rng(seed)
    cust = rng.integers(0, n, 6 * n)
    day = 19_000 + rng.integers(0, 400, 6 * n)
    return from_arrays(np.array([f"c{c}" for c in cust]), day, rng.gamma(2.0, 20.0, 6 * n))


@pytest.mark.parametrize(
    ("start", "days", "expected_sin", "expected_cos"),
    [
        (0.0, 365.25, 0.0, 0.0),  # a whole year averages out
        (100.0, 0.0, np.sin(2 * np.pi * 100 / 365.25), np.cos(2 * np.pi * 100 / 365.25)),  # a point
        # a quarter from phase 0: mean of sin over [0, pi/2] = 2/pi, of cos = 2/pi
        (0.0, 365.25 / 4, 2 / np.pi, 2 / np.pi),
    ],
)
def test_window_season_is_the_mean_over_the_window(start, days, expected_sin, expected_cos):
    s, c = window_season(np.array([start]), days)
    assert s[0] == pytest.approx(expected_sin, abs=1e-9)
    assert c[0] == pytest.approx(expected_cos, abs=1e-9)
    # Against a brute-force mean over fine steps.
    grid = start + np.linspace(0, days, 20001)
    phase = 2 * np.pi * grid / 365.25
    assert s[0] == pytest.approx(np.sin(phase).mean(), abs=1e-3)
    assert c[0] == pytest.approx(np.cos(phase).mean(), abs=1e-3)


@pytest.mark.parametrize("arch", ["stacked", "dilated"])
def test_an_untrained_network_predicts_the_baseline(arch):
    """The purchases and spend outputs are log-multipliers on BG/NBD+GG that start at zero."""
    tx = small_tx()
    as_of = int(tx.day.max())
    x = build(tx, as_of, 90, BaselinePredictor.fit(summarise(tx, as_of)))
    torch.manual_seed(0)
    net = LtvNet(16, 2, arch=arch)
    net.eval()
    with torch.inference_mode():
        out = net(torch.from_numpy(x.seq), torch.from_numpy(x.static)).numpy()
    pred = decode(out)
    seen = x.summary.seen
    np.testing.assert_allclose(pred["purchases"][seen], x.baseline["purchases"][seen], rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(pred["spend"][seen], x.baseline["spend"][seen], rtol=1e-4, atol=1e-3)


def test_dilated_encoder_sees_the_whole_window_and_its_last_week():
    torch.manual_seed(0)
    net = LtvNet(8, arch="dilated", dilations=(1, 4, 13))
    net.eval()
    seq = torch.zeros(2, WEEKS, SEQ_FEATURES)
    with torch.inference_mode():
        quiet = net.encode(seq)
        first, last = seq.clone(), seq.clone()
        first[:, 0, 0] = 3.0
        last[:, -1, 0] = 3.0
        assert quiet.shape == (2, 8)
        assert not torch.allclose(net.encode(first), quiet)  # the oldest week reaches the state
        assert not torch.allclose(net.encode(last), quiet)  # and so does the newest


def test_season_scale_carries_the_learned_season_to_another_horizon():
    net = LtvNet(8)
    with torch.no_grad():
        net.season.copy_(torch.tensor([0.5, 0.0]))
    as_of = np.array([0.0, 365.25 / 2])
    ones = train.season_scale(net, as_of, 90, 90, 2)
    np.testing.assert_allclose(ones, 1.0)
    scale = train.season_scale(net, as_of, 90, 270, 2)
    # From phase 0 the next quarter is the peak of sin: adding two more lowers the mean (scale < 1);
    # half a year later it is the trough, so the longer window raises it (scale > 1).
    assert scale[0] < 1 < scale[1]
    expected = (1 + 0.5 * window_season(as_of, 270)[0]) / (1 + 0.5 * window_season(as_of, 90)[0])
    np.testing.assert_allclose(scale, expected)


def test_poisson_deviance_prefers_the_mean_where_mae_prefers_zero():
    rng = np.random.default_rng(0)
    actual = np.where(rng.random(20_000) < 0.2, rng.gamma(2.0, 50.0, 20_000), 0.0)
    mean = np.full_like(actual, actual.mean())
    low = mean * 0.3
    assert train.poisson_deviance(mean, actual) < train.poisson_deviance(low, actual)
    assert np.abs(low - actual).mean() < np.abs(mean - actual).mean()


@pytest.mark.parametrize("arch", ["stacked", "dilated"])
def test_numpy_head_equals_the_network_head(arch):
    """Serving runs the head in numpy (NumpyHead); it must answer what the torch head answers."""
    from ml.ltv.model import NumpyHead

    tx = small_tx(seed=3)
    as_of = int(tx.day.max())
    x = build(tx, as_of, 60, BaselinePredictor.fit(summarise(tx, as_of)))
    torch.manual_seed(1)
    net = LtvNet(16, 2, arch=arch)
    with torch.no_grad():  # move off the zero start so every output depends on the weights
        for p in net.parameters():
            p.add_(0.05 * torch.randn_like(p))
    net.eval()
    with torch.inference_mode():
        state = net.encode(torch.from_numpy(x.seq))
        expected = net.head_from_state(state, torch.from_numpy(x.static)).numpy()
    got = NumpyHead(net)(state.numpy(), x.static)
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)
