"""`make run`'s demo model: if the artefact is missing, train a small one on generated data.

python -m ml.ltv.demo_model .kiki/models/ltv-demo.pt
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from ml.ltv import synth, train
from ml.ltv.data import parse_day, read_csv


def ensure(path: Path) -> bool:
    """True when a model was trained now, False when one was already there."""
    if path.exists():
        return False
    with tempfile.TemporaryDirectory() as tmp:
        csv_path = Path(tmp) / "tx.csv"
        synth.write_csv(csv_path, 3000, seed=42, days=730)
        result = train.fit(
            read_csv(csv_path), parse_day("2024-06-30"), 184, train.TrainConfig(max_epochs=8, patience=2)
        )
    train.save(result, path)
    return True


def main(argv: list[str] | None = None) -> int:
    args = argv if argv is not None else sys.argv[1:]
    if len(args) != 1:
        sys.stderr.write("usage: python -m ml.ltv.demo_model PATH\n")
        return 2
    path = Path(args[0])
    trained = ensure(path)
    sys.stdout.write(f"{'trained' if trained else 'kept'} demo LTV model at {path}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
