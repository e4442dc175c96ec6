"""Score a backtest's predictions against the true holdout, next to BG/NBD+GG fitted on the same data.

    python -m ml.ltv.evaluate --transactions tx.csv --calibration-end 2024-03-31 --horizon-days 275 \
        --preds preds.csv

Holdout = transactions in (calibration end, calibration end + horizon]. Figures are reported for the
customers seen on or before the calibration end (customers first seen later get zeros from the
backtest by design and are excluded: neither model can know them).
"""

from __future__ import annotations

import argparse
import csv
import sys

import numpy as np

from ml.ltv.baseline import BaselinePredictor
from ml.ltv.data import DataError, cut, parse_day, read_csv, summarise, window_totals
from ml.ltv.dist import interval_tails


def metrics(pred: dict[str, np.ndarray], purchases: np.ndarray, spend: np.ndarray) -> dict[str, float]:
    inside = (spend >= pred["spend_low"]) & (spend <= pred["spend_high"])
    below_low, above_high = interval_tails(pred, spend)
    return {
        "spend_mae": float(np.abs(pred["spend"] - spend).mean()),
        "purchases_mae": float(np.abs(pred["purchases"] - purchases).mean()),
        "coverage_10_90": float(inside.mean()),
        "below_low": below_low,
        "above_high": above_high,
        "pred_total_over_actual": float(pred["spend"].sum() / max(spend.sum(), 1e-9)),
    }


def read_preds(path: str, ids: np.ndarray) -> dict[str, np.ndarray]:
    index = {cid: i for i, cid in enumerate(ids)}
    out = {k: np.zeros(len(ids)) for k in ("purchases", "spend", "spend_low", "spend_high")}
    cols = {
        "pred_transactions": "purchases",
        "pred_spend": "spend",
        "pred_spend_low": "spend_low",
        "pred_spend_high": "spend_high",
    }
    with open(path, newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            i = index.get(row["customer_id"])
            if i is None:
                continue
            for col, key in cols.items():
                out[key][i] = float(row[col])
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Backtest predictions vs the true holdout.")
    parser.add_argument("--transactions", required=True)
    parser.add_argument("--calibration-end", required=True)
    parser.add_argument("--horizon-days", type=int, required=True)
    parser.add_argument("--preds", required=True)
    args = parser.parse_args(argv)
    try:
        cal_end = parse_day(args.calibration_end)
        tx = read_csv(args.transactions)
    except DataError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 2
    calibration, _ = cut(tx, cal_end)
    s = summarise(calibration, cal_end)
    seen = s.seen
    actual_n, actual_spend = window_totals(tx, cal_end, cal_end + args.horizon_days)
    shipped = read_preds(args.preds, tx.ids)
    baseline = BaselinePredictor.fit(s).predict(s, args.horizon_days)
    rows = {
        "--preds file": metrics({k: v[seen] for k, v in shipped.items()}, actual_n[seen], actual_spend[seen]),
        "BG/NBD+GG": metrics({k: v[seen] for k, v in baseline.items()}, actual_n[seen], actual_spend[seen]),
    }
    sys.stdout.write(
        f"holdout ({args.horizon_days} days after {args.calibration_end}), {int(seen.sum())} customers, "
        f"mean actual spend {actual_spend[seen].mean():.2f}\n"
    )
    for name, m in rows.items():
        sys.stdout.write(f"{name:26s} " + "  ".join(f"{k}={v:.4f}" for k, v in m.items()) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
