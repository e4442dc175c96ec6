"""Backtest CLI (interface fixed by the LTV issue):

    python -m ml.ltv.backtest --transactions tx.csv --calibration-end 1997-09-30 --horizon-days 273 \
        --out preds.csv [--seed 0] [--channel-column channel]

Uses only rows dated on or before the calibration end (later rows are dropped and counted on stderr),
trains the network and fits BG/NBD+GG on them, prints both models' validation figures (internal time
split), and writes one row per customer seen in the file. A customer first seen after the calibration
end is unknown at calibration time: its row holds zeros. Columns other than customer_id, date and
amount are ignored unless ``--channel-column`` names one holding each customer's acquisition channel
(an input of the network then; see features.ChannelCoding).
"""

from __future__ import annotations

import argparse
import csv
import sys
import time

import torch

from ml.ltv.data import DataError, cut, parse_day, read_csv
from ml.ltv.train import TrainConfig, fit, format_metrics, predict


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Train on calibration data and predict each customer's horizon."
    )
    parser.add_argument("--transactions", required=True)
    parser.add_argument("--calibration-end", required=True, help="ISO date, inclusive")
    parser.add_argument("--horizon-days", type=int, required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--channel-column", help="a column with the customer's acquisition channel (default: not used)"
    )
    args = parser.parse_args(argv)
    started = time.perf_counter()
    try:
        if args.horizon_days <= 0:
            raise DataError("--horizon-days must be positive")
        cal_end = parse_day(args.calibration_end)
        tx = read_csv(args.transactions, channel_column=args.channel_column)
    except DataError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    calibration, later = cut(tx, cal_end)
    if later:
        print(
            f"dropped {later} transaction(s) dated after {args.calibration_end}; they are never read",
            file=sys.stderr,
        )
    if len(calibration.day) == 0:
        print(f"error: no transactions on or before {args.calibration_end}", file=sys.stderr)
        return 2
    torch.set_num_threads(max(1, min(2, torch.get_num_threads())))
    result = fit(
        calibration,
        cal_end,
        args.horizon_days,
        TrainConfig(seed=args.seed),
        log=lambda m: print(m, file=sys.stderr),
    )
    channels = result.metadata["channels"]
    if channels["slots"]:
        print(f"acquisition channels as inputs: {', '.join(channels['vocabulary'])} (+ other)")
    print(f"validation on the internal time split (inner horizon {result.inner_horizon} days):")
    print(format_metrics(result.validation))
    print(
        f"shipped = {result.metadata['blend_weight']:.2f} x network + "
        f"{1 - result.metadata['blend_weight']:.2f} x BG/NBD+GG (weight chosen on validation by spend deviance)"
    )
    low, high = result.metadata["interval_scale"]
    if (low, high) != (1.0, 1.0):
        print(f"10-90 interval bounds scaled by {low:.3f} (low) and {high:.3f} (high) on validation")
    pred = predict(result, calibration, cal_end, args.horizon_days)
    with open(args.out, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            ["customer_id", "pred_transactions", "pred_spend", "pred_spend_low", "pred_spend_high"]
        )
        for i, cid in enumerate(calibration.ids):
            writer.writerow(
                [
                    cid,
                    f"{pred['purchases'][i]:.6f}",
                    f"{pred['spend'][i]:.4f}",
                    f"{pred['spend_low'][i]:.4f}",
                    f"{pred['spend_high'][i]:.4f}",
                ]
            )
    print(
        f"wrote {len(calibration.ids)} customers to {args.out} in {time.perf_counter() - started:.1f}s "
        f"(model {result.metadata['model_version']})"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
