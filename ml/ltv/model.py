"""The dRNN: a stacked GRU over weekly purchase history + static features, with two heads.

- purchases: Poisson mean (softplus) of transactions in the horizon;
- spend: zero-inflated lognormal (p_zero, mu, sigma), giving the mean and the 10th/90th percentiles.

The static vector carries the BG/NBD+GG prediction for the same horizon (log1p), so the network learns
a correction on top of the statistical model rather than re-deriving it (stacking), plus first-order
value, tenure, recency, frequency and monetary value.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy import stats
from torch import nn

SEQ_FEATURES = 3  # transactions, log1p(spend), already-a-customer
STATIC_FEATURES = (
    "log_first_value",
    "log_tenure_weeks",
    "log_recency_weeks",
    "log_frequency",
    "log_monetary",
    "log_horizon_days",
    "log_bg_purchases",
    "log_bg_spend",
    "season_sin",
    "season_cos",
)
SPEND_SCALE = 100.0  # spend is divided by this inside the Poisson-deviance mean head


class LtvNet(nn.Module):
    def __init__(self, hidden: int = 32, layers: int = 2, static_dim: int = len(STATIC_FEATURES)):
        super().__init__()
        self.gru = nn.GRU(SEQ_FEATURES, hidden, num_layers=layers, batch_first=True)
        self.mlp = nn.Sequential(nn.Linear(hidden + static_dim, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU())
        self.head = nn.Linear(64, 5)  # purchases, zero-logit, mu, log-sigma, mean spend

    def encode(self, seq: torch.Tensor) -> torch.Tensor:
        _, h = self.gru(seq)
        return h[-1]

    def head_from_state(self, state: torch.Tensor, static: torch.Tensor) -> torch.Tensor:
        return self.head(self.mlp(torch.cat([state, static], dim=1)))

    def forward(self, seq: torch.Tensor, static: torch.Tensor) -> torch.Tensor:
        return self.head_from_state(self.encode(seq), static)


def loss_fn(out: torch.Tensor, purchases: torch.Tensor, spend: torch.Tensor) -> torch.Tensor:
    rate = nn.functional.softplus(out[:, 0]) + 1e-6
    poisson = (rate - purchases * torch.log(rate)).mean()
    zero_logit, mu, log_sigma = out[:, 1], out[:, 2], out[:, 3].clamp(-4, 3)
    positive = spend > 0
    bce = nn.functional.binary_cross_entropy_with_logits(zero_logit, (~positive).float())
    log_s = torch.log(spend.clamp_min(1e-6))
    lognorm = (log_s - mu) ** 2 / (2 * torch.exp(2 * log_sigma)) + log_sigma
    lognorm = (lognorm * positive).sum() / positive.sum().clamp_min(1)
    mean = nn.functional.softplus(out[:, 4]) + 1e-6
    y = spend / SPEND_SCALE
    spend_mean = (mean - y * torch.log(mean)).mean()
    return poisson + bce + lognorm + spend_mean


def decode(out: np.ndarray) -> dict[str, np.ndarray]:
    """Head outputs → expected purchases and spend with its 10/90 percentiles (ZILN quantiles)."""
    rate = np.logaddexp(0, out[:, 0]) + 1e-6
    p_zero = 1 / (1 + np.exp(-out[:, 1]))
    mu, sigma = out[:, 2], np.exp(np.clip(out[:, 3], -4, 3))
    # The expectation comes from its own head (Poisson deviance on spend): the ZILN mean
    # exp(mu + sigma^2/2) is far noisier. The ZILN gives the interval.
    mean = (np.logaddexp(0, out[:, 4]) + 1e-6) * SPEND_SCALE

    def quantile(q: float) -> np.ndarray:
        inner = np.clip((q - p_zero) / np.maximum(1 - p_zero, 1e-9), 1e-9, 1 - 1e-9)
        return np.where(q <= p_zero, 0.0, np.exp(mu + sigma * stats.norm.ppf(inner)))

    low, high = quantile(0.1), quantile(0.9)
    return {
        "purchases": rate,
        "spend": mean,
        "spend_low": np.minimum(low, mean),
        "spend_high": np.maximum(high, mean),
    }
