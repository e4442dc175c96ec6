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
from torch import nn

from ml.ltv.dist import HIGH, LOW, ziln_quantile

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
    "target_season_sin",
    "target_season_cos",
    "history_season_sin",
    "history_season_cos",
)
SPEND_SCALE = 100.0  # spend is divided by this inside the Poisson-deviance mean head


BG_PURCHASES = STATIC_FEATURES.index("log_bg_purchases")
BG_SPEND = STATIC_FEATURES.index("log_bg_spend")
TARGET_SEASON = [STATIC_FEATURES.index("target_season_sin"), STATIC_FEATURES.index("target_season_cos")]
HISTORY_SEASON = [STATIC_FEATURES.index("history_season_sin"), STATIC_FEATURES.index("history_season_cos")]


class DilatedGRU(nn.Module):
    """GRU layers with growing dilation (Chang et al. 2017, "Dilated Recurrent Neural Networks"): layer
    k runs over every d_k-th step, as d_k interleaved chains folded into the batch, so a 52-week history
    takes 52 + 52/d_2 + ... sequential steps instead of 52 per layer."""

    def __init__(self, input_size: int, hidden: int, dilations: tuple[int, ...]):
        super().__init__()
        self.dilations = dilations
        self.hidden_size = hidden
        self.cells = nn.ModuleList(
            nn.GRU(input_size if i == 0 else hidden, hidden, batch_first=True) for i in range(len(dilations))
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for gru, d in zip(self.cells, self.dilations, strict=True):
            batch, steps, feats = x.shape
            pad = (-steps) % d
            if pad:  # left-pad in time so the last step stays the most recent week
                x = nn.functional.pad(x, (0, 0, pad, 0))
            chain = x.shape[1] // d
            folded = x.reshape(batch, chain, d, feats).transpose(1, 2).reshape(batch * d, chain, feats)
            out, _ = gru(folded)
            x = out.reshape(batch, d, chain, -1).transpose(1, 2).reshape(batch, chain * d, -1)[:, pad:]
        return x[:, -1]


class LtvNet(nn.Module):
    """Sequence encoder (stacked or dilated GRU) + MLP over [state, static] + five outputs.

    The purchases and expected-spend outputs are log-multipliers on the BG/NBD+GG prediction that the
    static vector carries (stacking as a residual: the output layer starts at zero, so an untrained
    network IS the baseline and training moves it only where the data says so)."""

    def __init__(
        self,
        hidden: int = 32,
        layers: int = 2,
        static_dim: int = len(STATIC_FEATURES),
        arch: str = "stacked",
        dilations: tuple[int, ...] = (1, 4, 13),
        seasonal: bool = True,
    ):
        super().__init__()
        self.arch = arch
        self.gru: nn.Module
        if arch == "stacked":
            self.gru = nn.GRU(SEQ_FEATURES, hidden, num_layers=layers, batch_first=True)
        elif arch == "dilated":
            self.gru = DilatedGRU(SEQ_FEATURES, hidden, tuple(dilations))
        else:
            raise ValueError(f"unknown architecture {arch!r} (stacked or dilated)")
        self.state_dim = hidden
        self.mlp = nn.Sequential(nn.Linear(hidden + static_dim, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU())
        self.head = nn.Linear(64, 5)  # purchases, zero-logit, mu, log-sigma, mean spend
        # Yearly seasonality of the purchase rate, 1 + b1 sin + b2 cos of the phase, learned end to end.
        # BG/NBD's rate averages the customer's history, so the expected ratio of the target window's
        # rate to it is mean season(target) / mean season(history): an explicit, extrapolating form.
        # Without a year of history it stays at zero (a buffer, not learned): it would fit the trend.
        if seasonal:
            self.season = nn.Parameter(torch.zeros(2))
        else:
            self.register_buffer("season", torch.zeros(2))
        with torch.no_grad():
            for row in (0, 4):
                self.head.weight[row].zero_()
                self.head.bias[row] = 0.0

    def encode(self, seq: torch.Tensor) -> torch.Tensor:
        if self.arch == "stacked":
            _, h = self.gru(seq)
            return h[-1]
        return self.gru(seq)

    def head_from_state(self, state: torch.Tensor, static: torch.Tensor) -> torch.Tensor:
        raw = self.head(self.mlp(torch.cat([state, static], dim=1)))
        target = 1 + static[:, TARGET_SEASON] @ self.season
        history = 1 + static[:, HISTORY_SEASON] @ self.season
        seasonal = torch.log(target.clamp_min(0.05)) - torch.log(history.clamp_min(0.05))
        base_purchases = torch.expm1(static[:, BG_PURCHASES]).clamp_min(1e-6)
        base_spend = torch.expm1(static[:, BG_SPEND]).clamp_min(1e-4) / SPEND_SCALE
        return torch.stack(
            [
                torch.log(base_purchases) + seasonal + raw[:, 0],
                raw[:, 1],
                raw[:, 2],
                raw[:, 3],
                torch.log(base_spend) + seasonal + raw[:, 4],
            ],
            dim=1,
        )

    def forward(self, seq: torch.Tensor, static: torch.Tensor) -> torch.Tensor:
        return self.head_from_state(self.encode(seq), static)


class NumpyHead:
    """``LtvNet.head_from_state`` in numpy, for serving: at batch 1 torch's per-operation overhead
    (~15 µs each) is most of the head's cost; the same arithmetic in numpy takes a fraction of it.
    Built once from a trained network; answers equal the network's (tests compare them)."""

    def __init__(self, net: LtvNet):
        def grab(t: torch.Tensor) -> np.ndarray:
            return t.detach().cpu().numpy().astype(np.float32)

        first, second = net.mlp[0], net.mlp[2]
        if not isinstance(first, nn.Linear) or not isinstance(second, nn.Linear):
            raise TypeError("LtvNet.mlp must be Linear, activation, Linear")
        self.w1, self.b1 = grab(first.weight).T.copy(), grab(first.bias)
        self.w2, self.b2 = grab(second.weight).T.copy(), grab(second.bias)
        self.w3, self.b3 = grab(net.head.weight).T.copy(), grab(net.head.bias)
        self.season = grab(net.season)

    def __call__(self, state: np.ndarray, static: np.ndarray) -> np.ndarray:
        x = np.concatenate([state, static], axis=1)
        x = np.maximum(x @ self.w1 + self.b1, 0)
        x = np.maximum(x @ self.w2 + self.b2, 0)
        raw = x @ self.w3 + self.b3
        target = 1 + static[:, TARGET_SEASON] @ self.season
        history = 1 + static[:, HISTORY_SEASON] @ self.season
        seasonal = np.log(np.maximum(target, 0.05)) - np.log(np.maximum(history, 0.05))
        base_purchases = np.maximum(np.expm1(static[:, BG_PURCHASES]), 1e-6)
        base_spend = np.maximum(np.expm1(static[:, BG_SPEND]), 1e-4) / SPEND_SCALE
        raw[:, 0] += np.log(base_purchases) + seasonal
        raw[:, 4] += np.log(base_spend) + seasonal
        return raw


def loss_fn(out: torch.Tensor, purchases: torch.Tensor, spend: torch.Tensor) -> torch.Tensor:
    log_rate = out[:, 0].clamp(-20, 12)
    poisson = (torch.exp(log_rate) - purchases * log_rate).mean()
    zero_logit, mu, log_sigma = out[:, 1], out[:, 2], out[:, 3].clamp(-4, 3)
    positive = spend > 0
    bce = nn.functional.binary_cross_entropy_with_logits(zero_logit, (~positive).float())
    log_s = torch.log(spend.clamp_min(1e-6))
    lognorm = (log_s - mu) ** 2 / (2 * torch.exp(2 * log_sigma)) + log_sigma
    lognorm = (lognorm * positive).sum() / positive.sum().clamp_min(1)
    log_mean = out[:, 4].clamp(-20, 12)
    spend_mean = (torch.exp(log_mean) - spend / SPEND_SCALE * log_mean).mean()
    return poisson + bce + lognorm + spend_mean


def decode(out: np.ndarray) -> dict[str, np.ndarray]:
    """Head outputs → expected purchases and spend with its 10/90 percentiles (ZILN quantiles)."""
    rate = np.exp(np.clip(out[:, 0], -20, 12))
    p_zero = 1 / (1 + np.exp(-out[:, 1]))
    mu, sigma = out[:, 2], np.exp(np.clip(out[:, 3], -4, 3))
    # The expectation comes from its own head (Poisson deviance on spend): the ZILN mean
    # exp(mu + sigma^2/2) is far noisier. The ZILN gives the interval.
    mean = np.exp(np.clip(out[:, 4], -20, 12)) * SPEND_SCALE

    low, high = ziln_quantile(LOW, p_zero, mu, sigma), ziln_quantile(HIGH, p_zero, mu, sigma)
    return {
        "purchases": rate,
        "spend": mean,
        "spend_low": np.minimum(low, mean),
        "spend_high": np.maximum(high, mean),
    }
