"""The ml worker over real Redis, as a real process: answers, batching, fallback, robustness."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from ml.ltv import synth, train
from ml.ltv.data import parse_day, read_csv, summarise, weekly_sequences
from ml.ltv.features import WEEKS
from ml.serving import wire
from ml.serving.client import LtvClient
from ml.serving.scorer import Scorer
from ml.serving.wire import ScoreItem
from ml.serving.worker import read_heartbeats

ROOT = Path(__file__).resolve().parents[3]
CAL = "2024-02-15"


@pytest.fixture(scope="module")
def artefact(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("serving")
    synth.write_csv(d / "tx.csv", 800, seed=11, days=500)
    tx = read_csv(d / "tx.csv")
    result = train.fit(tx, parse_day(CAL), 60, train.TrainConfig(max_epochs=2, patience=1))
    train.save(result, d / "model.pt")
    return d


@pytest.fixture(scope="module")
def items(artefact) -> list[ScoreItem]:
    tx = read_csv(artefact / "tx.csv")
    day = parse_day(CAL)
    s = summarise(tx, day)
    seqs = weekly_sequences(tx, day, WEEKS)
    idx = np.flatnonzero(s.seen)[:20]
    return [
        ScoreItem(s.frequency[i], s.recency[i], s.t[i], s.monetary[i], s.first_value[i], day, seq=seqs[i])
        for i in idx
    ]


def start_worker(redis_url: str, model: Path | None, *extra: str) -> subprocess.Popen:
    args = [sys.executable, "-m", "ml.serving.worker", "--redis-url", redis_url, *extra]
    if model is not None:
        args += ["--model", str(model)]
    proc = subprocess.Popen(
        args, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True
    )
    return proc


def wait_ready(client, n: int = 1, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if len(read_heartbeats(client)) >= n:
            return
        time.sleep(0.05)
    raise AssertionError("ml worker did not start")


@pytest.fixture
def worker(redis_client, redis_url, artefact):
    proc = start_worker(redis_url, artefact / "model.pt")
    wait_ready(redis_client)
    yield proc
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def test_worker_answers_what_the_model_computes(worker, redis_client, artefact, items):
    client = LtvClient(redis_client)
    got = client.score_many(items, horizon_days=90, timeout_ms=5000)
    assert not any(p.fallback for p in got)
    scorer = Scorer.from_path(str(artefact / "model.pt"))
    expected = scorer.score(
        [
            {
                "rfm": [i.frequency, i.recency, i.t, i.monetary, i.first_value],
                "as_of_day": i.as_of_day,
                "seq": i.seq.astype(np.float32).tobytes(),
            }
            for i in items
        ],
        90,
    )
    np.testing.assert_allclose([p.spend for p in got], [r[1] for r in expected], rtol=1e-4)
    assert got[0].model_version == scorer.version.strip()
    # The fast path (state computed ahead) gives the same answers as sending the sequence.
    states = scorer.encode(np.stack([i.seq for i in items]))
    with_state = [
        ScoreItem(i.frequency, i.recency, i.t, i.monetary, i.first_value, i.as_of_day, state=st)
        for i, st in zip(items, states, strict=True)
    ]
    np.testing.assert_allclose(
        [p.spend for p in client.score_many(with_state, horizon_days=90, timeout_ms=5000)],
        [p.spend for p in got],
        rtol=1e-4,
    )


def test_no_worker_means_fast_fallback(redis_client, items):
    started = time.perf_counter()
    p = LtvClient(redis_client).score(items[0], horizon_days=90, timeout_ms=100)
    assert p.fallback
    assert p.model_version.startswith("bgnbd-gg-")
    assert p.spend_low <= p.spend <= p.spend_high
    assert time.perf_counter() - started < 2


def test_killed_worker_means_fallback(worker, redis_client, items):
    client = LtvClient(redis_client)
    assert not client.score(items[0], horizon_days=90, timeout_ms=5000).fallback
    os.killpg(worker.pid, signal.SIGKILL)
    worker.wait()
    assert client.score(items[0], horizon_days=90, timeout_ms=200).fallback


def test_malformed_requests_do_not_stop_the_worker(worker, redis_client, items):
    redis_client.rpush(wire.QUEUE, b"not msgpack at all")
    redis_client.rpush(
        wire.QUEUE,
        wire.encode_request("x", "kiki:ml:ltv:reply:x", int(time.time() * 1000) + 5000, 90, []).replace(
            b"\x01", b"\x09", 1
        ),
    )
    bad = {"rfm": "nonsense"}
    import msgpack

    redis_client.rpush(
        wire.QUEUE,
        msgpack.packb(
            {
                "v": 1,
                "id": "b",
                "reply_to": "kiki:ml:ltv:reply:b",
                "deadline_ms": int(time.time() * 1000) + 5000,
                "horizon_days": 90,
                "items": [bad],
            }
        ),
    )
    reply = redis_client.blpop(["kiki:ml:ltv:reply:b"], timeout=5)
    assert reply is not None
    assert wire.decode(reply[1])["ok"] is False
    assert not LtvClient(redis_client).score(items[0], horizon_days=90, timeout_ms=5000).fallback
    assert worker.poll() is None


def test_expired_requests_are_skipped(worker, redis_client, items):
    redis_client.rpush(
        wire.QUEUE,
        wire.encode_request("old", "kiki:ml:ltv:reply:old", int(time.time() * 1000) - 1, 90, items[:1]),
    )
    LtvClient(redis_client).score(items[0], horizon_days=90, timeout_ms=5000)  # processed after the old one
    assert redis_client.exists("kiki:ml:ltv:reply:old") == 0


def test_two_workers_share_the_queue_and_sigterm_is_clean(worker, redis_client, redis_url, artefact, items):
    second = start_worker(redis_url, artefact / "model.pt")
    try:
        wait_ready(redis_client, n=2)
        client = LtvClient(redis_client)
        for _ in range(20):
            assert not client.score(items[0], horizon_days=90, timeout_ms=5000).fallback
        assert len(read_heartbeats(redis_client)) == 2
    finally:
        os.killpg(second.pid, signal.SIGTERM)
        assert second.wait(timeout=10) == 0


def test_bad_input_is_a_value_error(redis_client, items):
    client = LtvClient(redis_client)
    with pytest.raises(ValueError, match="horizon"):
        client.score(items[0], horizon_days=0)
    with pytest.raises(ValueError, match="recency"):
        client.score(ScoreItem(1, 50, 10, 5, 5, 0), horizon_days=30)


def test_without_a_model_the_worker_serves_the_baseline(redis_client, redis_url, items):
    proc = start_worker(redis_url, None)
    try:
        wait_ready(redis_client)
        p = LtvClient(redis_client).score(items[0], horizon_days=90, timeout_ms=5000)
        assert not p.fallback
        assert p.model_version.startswith("bgnbd-gg-")
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=10)
