"""Zero-inflated lognormal (ZILN) quantiles, shared by the network's spend head and the BG/NBD+GG
baseline's closed-form interval. No torch here: the Django-side fallback imports it."""

from __future__ import annotations

import numpy as np
from scipy import special

LOW, HIGH = 0.1, 0.9  # the interval every prediction carries: 10th and 90th percentiles of spend


def interval_tails(pred: dict[str, np.ndarray], spend: np.ndarray) -> tuple[float, float]:
    """Shares of customers below ``spend_low`` and above ``spend_high`` (0.10 each when calibrated;
    nobody can be below a low bound of 0)."""
    if len(spend) == 0:
        return 0.0, 0.0
    return float(np.mean(spend < pred["spend_low"])), float(np.mean(spend > pred["spend_high"]))


def ziln_quantile(level: float, p_zero: np.ndarray, mu: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    """The ``level`` quantile of a ZILN: 0 with probability ``p_zero``, else lognormal(mu, sigma)."""
    inner = np.clip((level - p_zero) / np.maximum(1 - p_zero, 1e-9), 1e-9, 1 - 1e-9)
    return np.where(level <= p_zero, 0.0, np.exp(mu + sigma * special.ndtri(inner)))
