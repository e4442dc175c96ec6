"""The worker's model: an artefact loaded once, scoring a batch in one vectorised pass."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ml.ltv.baseline import BaselinePredictor
from ml.ltv.data import Summary
from ml.ltv.features import WEEKS, ChannelCoding, static_vector
from ml.ltv.model import SEQ_FEATURES, NumpyHead, decode
from ml.ltv.train import TrainResult, channel_coding, finish, interval_of, load, loads, season_scale
from ml.serving.scalar import SCALAR_MAX_BATCH, ScalarBaseline, ScalarModel
from ml.serving.wire import WireError


def _channel(item: dict[str, Any]) -> str | None:
    """A request item's acquisition channel (optional in wire v1)."""
    channel = item.get("channel")
    if channel is not None and not isinstance(channel, str):
        raise WireError("channel must be a string")
    return channel


class Scorer:
    def __init__(self, result: TrainResult | None, baseline: BaselinePredictor) -> None:
        self.result = result
        self.baseline = baseline
        self.version = result.metadata["model_version"] if result else baseline.version
        self.state_dim = result.net.state_dim if result else 0
        self.weight = float(result.metadata.get("blend_weight", 1.0)) if result else 0.0
        self.interval = interval_of(result) if result else (1.0, 1.0)
        self.channels = channel_coding(result) if result else ChannelCoding()
        self.head = None
        self.scalar_baseline = ScalarBaseline(baseline)
        self.scalar: ScalarModel | None = None
        if result is not None:
            result.net.eval()
            self.head = NumpyHead(result.net)  # the request-time head (GRU states come precomputed)
            self.scalar = ScalarModel(
                self.head,
                self.scalar_baseline,
                inner_horizon=result.inner_horizon,
                interval=self.interval,
                channels=self.channels,
                season=result.net.season.detach().cpu().numpy().astype(np.float64),
                state_dim=self.state_dim,
            )

    @classmethod
    def from_result(cls, result: TrainResult) -> Scorer:
        """The artefact's network with the BG/NBD+GG parameters fitted on the same data."""
        return cls(result, BaselinePredictor.from_dict(result.metadata["baseline"]))

    @classmethod
    def from_path(cls, path: str | None) -> Scorer:
        if path:
            return cls.from_result(load(path))
        return cls(None, BaselinePredictor.default())

    @classmethod
    def from_bytes(cls, blob: bytes) -> Scorer:
        """From a published artefact (``ml.ltv.train.dumps`` bytes, as stored under ``wire.artefact_key``)."""
        return cls.from_result(loads(blob))

    def score(self, items: list[dict[str, Any]], horizon_days: float) -> list[list[float]]:
        if horizon_days <= 0:
            raise WireError("horizon_days must be positive")
        if len(items) <= SCALAR_MAX_BATCH and (self.result is None or all("state" in it for it in items)):
            return [self.score_one(it, float(horizon_days)) for it in items]
        try:
            s = Summary.from_rfm(
                np.array([it["rfm"] for it in items], dtype=np.float64).reshape(len(items), 5)
            )
            as_of = np.array([it.get("as_of_day", 0) for it in items], dtype=np.float64)
        except (KeyError, TypeError, ValueError) as exc:
            raise WireError(f"bad item: {exc}") from exc
        if self.result is None:
            out = self.baseline.predict(s, horizon_days)
        else:
            # Only what ``finish`` reads is computed: the baseline's interval enters only through the
            # blend (weight < 1) and only at the inner horizon; at the requested horizon only its
            # purchases and spend (the scale E[H]/E[h]) are used; at weight 0 the network's output is
            # multiplied by 0, so the network is not run (blend(base, base, 0) == base exactly).
            h = self.result.inner_horizon
            w = self.weight
            base_h = self.baseline.predict(s, h, interval=w < 1)
            base_big = base_h if horizon_days == h else self.baseline.predict(s, horizon_days, interval=False)
            net = base_h if w == 0 else self._network(items, self._static(items, s, as_of, h, base_h))
            scale = season_scale(self.result.net, as_of, h, horizon_days, len(items)) if w > 0 else None
            out = finish(net, base_h, base_big, w, scale, self.interval)
        return np.stack(
            [out["purchases"], out["spend"], out["spend_low"], out["spend_high"]], axis=1
        ).tolist()

    def _static(
        self,
        items: list[dict[str, Any]],
        s: Summary,
        as_of: np.ndarray,
        h: float,
        base_h: dict[str, np.ndarray],
    ) -> np.ndarray:
        static = static_vector(s, as_of, h, base_h)
        if not self.channels.slots:
            return static
        return np.concatenate([static, self.channels.encode([_channel(it) for it in items])], axis=1)

    def score_one(self, item: dict[str, Any], horizon_days: float) -> list[float]:
        """One item, in scalar arithmetic (``ml.serving.scalar``): the same answer as ``score`` without
        numpy's per-call overhead. Needs the item's GRU ``state`` when a network is loaded."""
        try:
            rfm = tuple(float(v) for v in item["rfm"])
            as_of = float(item.get("as_of_day", 0))
        except (KeyError, TypeError, ValueError) as exc:
            raise WireError(f"bad item: {exc}") from exc
        if len(rfm) != 5:
            raise WireError("bad item: rfm needs 5 values")
        if self.scalar is None:
            return self.scalar_baseline.predict(rfm, horizon_days)
        if self.weight > 0 and "state" not in item:
            raise WireError("the scalar path needs the item's GRU state")
        return self.scalar.score(
            rfm, as_of, item.get("state", b""), horizon_days, self.weight, _channel(item)
        )

    def _loaded(self) -> Any:
        if self.result is None or self.head is None:
            raise RuntimeError("no network loaded: this scorer serves the BG/NBD+GG baseline only")
        return self.result

    def encode(self, seq: np.ndarray) -> np.ndarray:
        result = self._loaded()
        with torch.inference_mode():
            return result.net.encode(torch.from_numpy(seq.astype(np.float32))).numpy()

    def _network(self, items: list[dict[str, Any]], static: np.ndarray) -> dict[str, np.ndarray]:
        self._loaded()
        states = np.zeros((len(items), self.state_dim), dtype=np.float32)
        need_seq = [i for i, it in enumerate(items) if "state" not in it]
        for i, it in enumerate(items):
            if "state" in it:
                states[i] = np.frombuffer(it["state"], dtype=np.float32).reshape(self.state_dim)
        if need_seq:
            try:
                seqs = np.stack(
                    [
                        np.frombuffer(items[i]["seq"], dtype=np.float32).reshape(WEEKS, SEQ_FEATURES)
                        for i in need_seq
                    ]
                )
            except (KeyError, ValueError) as exc:
                raise WireError(
                    f"item needs a state of {self.state_dim} or a seq of {WEEKS}x{SEQ_FEATURES} floats"
                ) from exc
            states[need_seq] = self.encode(seqs)
        return decode(self.head(states, static))  # type: ignore[misc]  # _loaded() checked it
