"""Parsing, same-day merge, calibration cut, reproducibility and the backtest CLI end to end."""

from __future__ import annotations

import csv
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest

from ml.ltv import evaluate, synth, train
from ml.ltv.data import DataError, cut, parse_day, read_csv, summarise

ROOT = Path(__file__).resolve().parents[3]


def write(path: Path, rows: list[list[str]], header=("customer_id", "date", "amount", "sku")) -> Path:
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
    return path


def test_same_day_purchases_merge_and_summary(tmp_path):
    tx = read_csv(
        write(
            tmp_path / "t.csv",
            [
                ["a", "2020-01-01", "10.00", "x"],
                ["a", "2020-01-01T15:30:00", "5.50", "y"],
                ["a", "2020-01-11", "20", "x"],
                ["b", "2020-01-05", "7", "x"],
                ["a", "2020-03-01", "99", "x"],
            ],
        )
    )
    assert len(tx.day) == 4
    calibration, dropped = cut(tx, parse_day("2020-01-31"))
    assert dropped == 1
    assert len(calibration.day) == 3
    s = summarise(tx, parse_day("2020-01-31"))
    a = list(tx.ids).index("a")
    assert s.frequency[a] == 1
    assert s.recency[a] == 10
    assert s.t[a] == 30
    assert s.monetary[a] == 20
    assert s.first_value[a] == pytest.approx(15.5)


@pytest.mark.parametrize(
    ("rows", "header", "message"),
    [
        ([], ("customer_id", "date", "amount"), "no transactions"),
        ([["a", "2020-01-01"]], ("customer_id", "date"), "lacks column"),
        ([["a", "01/02/2020", "3"]], ("customer_id", "date", "amount"), "unparsable date"),
        ([["a", "2020-01-01", "three"]], ("customer_id", "date", "amount"), "unparsable amount"),
    ],
)
def test_bad_input_is_a_clear_error(tmp_path, rows, header, message):
    with pytest.raises(DataError, match=message):
        read_csv(write(tmp_path / "bad.csv", rows, header))


@pytest.fixture(scope="module")
def small_csv(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("ltv") / "tx.csv"
    synth.write_csv(path, 1500, seed=5, days=500)
    return path


def test_training_is_reproducible(small_csv):
    tx = read_csv(small_csv)
    cal = parse_day("2024-02-15")
    cfg = train.TrainConfig(max_epochs=4, patience=2, seed=3)
    first = train.predict(train.fit(tx, cal, 90, cfg), tx, cal, 90)
    second = train.predict(train.fit(tx, cal, 90, cfg), tx, cal, 90)
    np.testing.assert_allclose(first["spend"], second["spend"], rtol=1e-5)


def test_artefact_round_trip_and_promotion(small_csv, tmp_path):
    tx = read_csv(small_csv)
    cal = parse_day("2024-02-15")
    result = train.fit(tx, cal, 90, train.TrainConfig(max_epochs=3, patience=2))
    train.save(result, tmp_path / "m.pt")
    loaded = train.load(tmp_path / "m.pt")
    assert loaded.metadata["model_version"] == result.metadata["model_version"]
    assert set(loaded.metadata["validation"]) == {"network", "bgnbd_gg", "blend"}
    assert loaded.metadata["interval_scale"] == [1.0, 1.0]  # the rescaling is off by default
    np.testing.assert_allclose(
        train.predict(loaded, tx, cal, 90)["spend"], train.predict(result, tx, cal, 90)["spend"], rtol=1e-5
    )
    again = train.loads(train.dumps(result))
    assert again.metadata == result.metadata
    scored = train.predict(again, tx, cal, 90, states=True)
    np.testing.assert_allclose(scored["spend"], train.predict(result, tx, cal, 90)["spend"], rtol=1e-5)
    assert scored["state"].shape == (tx.n_customers, result.net.state_dim)

    # Promotion compares two models on the same window: the candidate's validation period.
    # The candidate's own figure is its out-of-sample validation; the current model is scored there.
    as_of, end = train.validation_window(result)
    own = result.validation["blend"]
    other = train.evaluate_window(result, tx, as_of, end)
    assert 0 < other.spend_mae < 10 * own.spend_mae
    assert 0 <= other.coverage_10_90 <= 1
    worse = train.Metrics(
        spend_mae=1e9, purchases_mae=1e9, coverage_10_90=0.0, top20_capture=0, gini=0, above_high=0.5
    )
    assert train.should_promote(own, worse)
    assert not train.should_promote(worse, own)
    assert train.should_promote(own, None)
    narrower = train.Metrics(**{**asdict(own), "spend_mae": own.spend_mae * 0.9, "above_high": 0.6})
    assert not train.should_promote(narrower, own)
    # Too wide an interval is as wrong as too narrow: the tails are judged by their distance from 10 %.
    calibrated = train.Metrics(
        **{**asdict(own), "spend_mae": own.spend_mae * 0.9, "above_high": 0.1, "below_low": 0.05}
    )
    too_wide = train.Metrics(**{**asdict(own), "above_high": 0.01, "below_low": 0.0})
    assert train.should_promote(calibrated, too_wide)
    assert not train.should_promote(
        train.Metrics(**{**asdict(own), "spend_mae": own.spend_mae * 0.9, "above_high": 0.01}),
        train.Metrics(**{**asdict(own), "above_high": 0.1}),
    )
    # Asked for, the validation interval's bounds are rescaled (a split-conformal factor per side; the
    # golden cases are in test_interval_scale_hits_the_nominal_tails): at most 10 % below the low
    # bound; the points are those of the same training without it.
    on = train.fit(tx, cal, 90, train.TrainConfig(max_epochs=3, patience=2, calibrate_interval=True))
    low, high = on.metadata["interval_scale"]
    assert train.INTERVAL_SCALE_BOUNDS[0] <= min(low, high)
    assert max(low, high) <= train.INTERVAL_SCALE_BOUNDS[1]
    assert (low, high) != (1.0, 1.0)
    assert on.validation["blend"].below_low <= 0.1
    assert on.validation["blend"].spend_mae == own.spend_mae
    assert on.validation["blend_uncalibrated_interval"].coverage_10_90 == own.coverage_10_90


def run_backtest(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "ml.ltv.backtest", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )


def test_backtest_cli_end_to_end(small_csv, tmp_path, capsys):
    out = tmp_path / "preds.csv"
    done = run_backtest(
        "--transactions",
        str(small_csv),
        "--calibration-end",
        "2024-02-15",
        "--horizon-days",
        "120",
        "--out",
        str(out),
        "--seed",
        "0",
    )
    assert done.returncode == 0, done.stderr
    assert "dropped" in done.stderr
    assert "bgnbd_gg" in done.stdout
    assert "network" in done.stdout
    with open(out) as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == [
        "customer_id",
        "pred_transactions",
        "pred_spend",
        "pred_spend_low",
        "pred_spend_high",
    ]
    assert len(rows) == len(read_csv(small_csv).ids)
    assert len({r["customer_id"] for r in rows}) == len(rows)
    spend = np.array([float(r["pred_spend"]) for r in rows])
    low = np.array([float(r["pred_spend_low"]) for r in rows])
    high = np.array([float(r["pred_spend_high"]) for r in rows])
    assert np.all(spend >= 0)
    assert np.all(low <= high)
    args = ["--transactions", str(small_csv), "--calibration-end", "2024-02-15", "--horizon-days", "120"]
    assert evaluate.main([*args, "--preds", str(out)]) == 0
    report = capsys.readouterr().out
    assert "BG/NBD+GG" in report
    assert "spend_mae=" in report


def test_backtest_never_reads_after_calibration_end(small_csv, tmp_path):
    """Changing every row after the calibration end must not change a single prediction."""
    with open(small_csv) as f:
        rows = list(csv.reader(f))
    cal_end = "2024-02-15"
    tampered = [rows[0]] + [r if r[1] <= cal_end else [r[0], r[1], "99999.00"] for r in rows[1:]]
    write(tmp_path / "t2.csv", tampered[1:], tuple(tampered[0]))
    outs = []
    for src, name in ((small_csv, "a.csv"), (tmp_path / "t2.csv", "b.csv")):
        done = run_backtest(
            "--transactions",
            str(src),
            "--calibration-end",
            cal_end,
            "--horizon-days",
            "120",
            "--out",
            str(tmp_path / name),
        )
        assert done.returncode == 0, done.stderr
        outs.append((tmp_path / name).read_text())
    assert outs[0] == outs[1]


def test_backtest_bad_input_exits_2(tmp_path):
    bad = write(tmp_path / "bad.csv", [["a", "2020-13-01", "1"]], ("customer_id", "date", "amount"))
    done = run_backtest(
        "--transactions",
        str(bad),
        "--calibration-end",
        "2020-12-31",
        "--horizon-days",
        "30",
        "--out",
        str(tmp_path / "p.csv"),
    )
    assert done.returncode == 2
    assert done.stderr.startswith("error:")
    assert "Traceback" not in done.stderr


def test_interval_scale_hits_the_nominal_tails():
    """Golden cases for the split-conformal factors: at most 10 % below low and 10 % above high."""
    rng = np.random.default_rng(0)
    n = 1000
    spend = rng.gamma(2.0, 50.0, n)
    actual = spend * rng.lognormal(0.0, 1.0, n)
    pred = {"spend": spend, "spend_low": spend * 0.05, "spend_high": spend * 20}  # far too wide
    low, high = train.interval_scale(pred, actual)
    scaled = train.scale_interval(pred, (low, high))
    assert np.mean(actual < scaled["spend_low"]) <= 0.10
    assert np.mean(actual > scaled["spend_high"]) <= 0.10
    # (a bound never crosses the point prediction, so coverage may end a little above 0.80)
    assert 0.78 <= np.mean((actual >= scaled["spend_low"]) & (actual <= scaled["spend_high"])) <= 0.86
    assert low > 1
    assert high < 1
    assert train.Metrics.of({**scaled, "purchases": spend}, spend, actual).interval_error <= 0.02
    # A bound of 0 cannot be moved by a factor: those customers do not count on that side, so they do
    # not push the others' bounds (before, a zero-inflated population drove the low bounds onto the point).
    zero = {"spend": np.zeros(10), "spend_low": np.zeros(10), "spend_high": np.zeros(10)}
    assert train.interval_scale(zero, np.ones(10)) == (1.0, 1.0)
    mixed = {k: np.concatenate([v, zero[k] if k != "spend" else np.full(10, 5.0)]) for k, v in pred.items()}
    assert train.interval_scale(mixed, np.concatenate([actual, np.zeros(10)])) == (low, high)


def test_channels_are_read_only_when_asked_and_the_earliest_named_row_wins(tmp_path):
    path = tmp_path / "tx.csv"
    path.write_text(
        "customer_id,date,amount,channel\n"
        "a,2024-01-05,10,email\n"
        "a,2024-01-02,5,\n"  # a's earliest row names no channel: its earliest NAMED row counts
        "a,2024-02-01,7,social\n"
        "b,2024-01-03,8,\n"
        "c,2024-01-04,9,search\n"
    )
    plain = read_csv(path)
    assert plain.channel is None  # the backtest's contract: other columns are ignored
    tx = read_csv(path, channel_column="Channel")
    assert dict(zip(tx.ids, tx.channel, strict=True)) == {"a": "email", "b": "", "c": "search"}
    assert tx.until(parse_day("2024-01-03")).channel is tx.channel
    with pytest.raises(DataError, match="channel column 'source'"):
        read_csv(path, channel_column="source")


def test_channel_coding_learns_the_common_channels_of_seen_customers():
    from ml.ltv.data import from_arrays
    from ml.ltv.features import CHANNEL_MIN_CUSTOMERS, ChannelCoding

    n = CHANNEL_MIN_CUSTOMERS
    names = ["email"] * (3 * n) + ["search"] * (2 * n) + ["tiktok"] * (n - 1) + [""] * 5
    ids = np.array([f"c{i}" for i in range(len(names))])
    tx = from_arrays(ids, np.full(len(ids), 100, dtype=np.int64), np.ones(len(ids)), np.array(names))
    coding = ChannelCoding.learn(tx)
    assert coding.vocabulary == ("email", "search")  # most common first; tiktok is too rare
    assert coding.slots == 8
    encoded = coding.encode(["search", "tiktok", "", None, "email"])
    assert encoded.shape == (5, 8)
    assert encoded[0, 1] == 1
    assert encoded[1, 7] == 1  # tiktok: "other"
    assert encoded[4, 0] == 1
    assert encoded[2].sum() == 0  # unknown: no slot
    assert encoded[3].sum() == 0
    assert encoded.sum() == 3
    assert ChannelCoding.from_dict(coding.to_dict()) == coding
    # Only customers seen by the calibration end count (no look-ahead).
    later = from_arrays(ids, np.full(len(ids), 500, dtype=np.int64), np.ones(len(ids)), np.array(names))
    assert ChannelCoding.learn(later.until(400)) == ChannelCoding()
    # No channels at all: no channel inputs (the network is what it was before channels).
    assert ChannelCoding.learn(from_arrays(ids, tx.day, tx.amount)).slots == 0


def test_a_model_trained_with_channels_uses_them(tmp_path):
    """On generated data where the channel changes behaviour, the channel is an input of the network:
    the artefact records the coding, round-trips, and another channel changes the prediction. The
    backtest CLI takes the column only with --channel-column."""
    path = tmp_path / "tx.csv"
    synth.write_csv(path, 1000, seed=4, days=500, channels=True)
    tx = read_csv(path, channel_column="channel")
    cal = parse_day("2024-02-15")
    result = train.fit(tx, cal, 60, train.TrainConfig(max_epochs=2, patience=1))
    assert result.metadata["channels"]["slots"] == 8
    assert set(result.metadata["channels"]["vocabulary"]) == set(synth.CHANNELS)
    assert result.net.mlp[0].in_features == result.net.state_dim + 14 + 8
    again = train.loads(train.dumps(result))
    np.testing.assert_allclose(
        train.predict(again, tx, cal, 60)["spend"], train.predict(result, tx, cal, 60)["spend"], rtol=1e-5
    )
    swapped = np.where(tx.channel == "email", "social", "email")
    other = train.predict(result, type(tx)(tx.ids, tx.cust, tx.day, tx.amount, swapped), cal, 60)
    assert not np.allclose(other["spend"], train.predict(result, tx, cal, 60)["spend"])
    # An artefact from before channels (no coding in its metadata or config) still loads and predicts.
    plain = train.fit(read_csv(path), cal, 60, train.TrainConfig(max_epochs=1, patience=1))
    assert plain.metadata["channels"] == {"vocabulary": [], "slots": 0}
    blob = train._blob(plain)
    del blob["metadata"]["channels"]
    del blob["config"]["channel_slots"]
    old = train._from_blob(blob)
    np.testing.assert_allclose(
        train.predict(old, tx, cal, 60)["spend"], train.predict(plain, tx, cal, 60)["spend"], rtol=1e-6
    )
    out = tmp_path / "preds.csv"
    small = tmp_path / "small.csv"
    synth.write_csv(small, 400, seed=4, days=500, channels=True)
    done = run_backtest(
        "--transactions", str(small), "--calibration-end", "2024-02-15", "--horizon-days", "60",
        "--out", str(out), "--channel-column", "channel",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "channel" in done.stdout  # the validation figures were printed
    bad = run_backtest(
        "--transactions", str(small), "--calibration-end", "2024-02-15", "--horizon-days", "60",
        "--out", str(out), "--channel-column", "nope",
    )  # fmt: skip
    assert bad.returncode == 2
    assert "lacks the channel column 'nope'" in bad.stderr
