"""The ml worker over real Redis, as a real process: answers, batching, per-tenant models, fallback,
robustness."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from ml.ltv import synth, train
from ml.ltv.baseline import BaselinePredictor
from ml.ltv.data import Summary, parse_day, read_csv, summarise, weekly_sequences
from ml.ltv.features import WEEKS, static_vector
from ml.serving import wire
from ml.serving.client import LtvClient, publish_artefact
from ml.serving.scalar import SCALAR_MAX_BATCH
from ml.serving.scorer import Scorer
from ml.serving.wire import ScoreItem
from ml.serving.worker import Worker, read_heartbeats

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
def tenant_blobs(artefact) -> list[bytes]:
    """Two published-artefact blobs with different versions (the artefact's network and a second
    training with another seed), at blend weights 1 and 0.5 so that their answers differ (a w = 0
    blend would answer both from the same baseline)."""
    first = train.load(artefact / "model.pt")
    first.metadata["blend_weight"] = 1.0
    tx = read_csv(artefact / "tx.csv")
    second = train.fit(tx, parse_day(CAL), 60, train.TrainConfig(max_epochs=2, patience=1, seed=7))
    second.metadata["blend_weight"] = 0.5
    blobs = [train.dumps(first), train.dumps(second)]
    assert first.metadata["model_version"] != second.metadata["model_version"]
    return blobs


def as_wire(items: list[ScoreItem]) -> list[dict]:
    return [
        {
            "rfm": [i.frequency, i.recency, i.t, i.monetary, i.first_value],
            "as_of_day": i.as_of_day,
            "seq": np.asarray(i.seq, dtype=np.float32).tobytes(),
        }
        for i in items
    ]


def rows(predictions) -> list[list[float]]:
    return [[p.purchases, p.spend, p.spend_low, p.spend_high] for p in predictions]


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
    # One customer a request (the worker's scalar path) answers what the batch did, every field.
    batch = client.score_many(with_state, horizon_days=90, timeout_ms=5000)
    for item, together in zip(with_state[:5], batch, strict=False):
        alone = client.score(item, horizon_days=90, timeout_ms=5000)
        assert not alone.fallback
        np.testing.assert_allclose(
            [alone.purchases, alone.spend, alone.spend_low, alone.spend_high],
            [together.purchases, together.spend, together.spend_low, together.spend_high],
            rtol=1e-5,
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


def test_scorer_skips_only_work_whose_result_is_unused(artefact, items):
    """At blend weight 1 the baseline interval is not drawn, at the requested horizon only the point
    predictions are computed, at weight 0 the network is not run: the answers are those of the full
    computation (both baseline predictions with their intervals, the network, its season scale from
    the inner to the requested horizon, ``finish``)."""
    result = train.load(artefact / "model.pt")
    wire_items = as_wire(items)
    s = Summary.from_rfm(np.array([it["rfm"] for it in wire_items]))
    as_of = np.array([it["as_of_day"] for it in wire_items], dtype=np.float64)
    for weight in (0.0, 0.5, 1.0):
        result.metadata["blend_weight"] = weight
        scorer = Scorer.from_result(result)
        for horizon in (90, result.inner_horizon):
            base_h = scorer.baseline.predict(s, result.inner_horizon)
            base_big = scorer.baseline.predict(s, horizon)
            net = scorer._network(wire_items, static_vector(s, as_of, result.inner_horizon, base_h))
            scale = train.season_scale(result.net, as_of, result.inner_horizon, horizon, len(wire_items))
            full = train.finish(net, base_h, base_big, weight, scale, train.interval_of(result))
            expected = np.stack([full["purchases"], full["spend"], full["spend_low"], full["spend_high"]], 1)
            np.testing.assert_allclose(scorer.score(wire_items, horizon), expected, rtol=1e-12)


def test_one_worker_serves_two_published_versions(redis_client, redis_url, tenant_blobs, items):
    versions = []
    for blob in tenant_blobs:
        versions.append(Scorer.from_bytes(blob).version)
        publish_artefact(redis_client, versions[-1], blob)
    proc = start_worker(redis_url, None)  # its own default is the baseline priors
    try:
        wait_ready(redis_client)
        client = LtvClient(redis_client)
        answers = {}
        for _ in range(2):  # the second round comes from the worker's cache
            for version, blob in zip(versions, tenant_blobs, strict=True):
                got = client.score_many(items, horizon_days=90, timeout_ms=10000, model_version=version)
                assert not any(p.fallback for p in got)
                assert {p.model_version for p in got} == {version}
                expected = Scorer.from_bytes(blob).score(as_wire(items), 90)
                np.testing.assert_allclose(rows(got), expected, rtol=1e-4)
                answers[version] = rows(got)
        assert not np.allclose(answers[versions[0]], answers[versions[1]], rtol=1e-3)
        default = client.score(items[0], horizon_days=90, timeout_ms=5000)
        assert not default.fallback
        assert default.model_version == BaselinePredictor.default().version
        deadline = time.monotonic() + 15
        while set(versions) - set(read_heartbeats(redis_client)[0].get("models", [])):
            assert time.monotonic() < deadline, "the heartbeat does not list the loaded versions"
            time.sleep(0.1)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=10)


def test_unknown_version_fails_alone_and_the_client_falls_back(worker, redis_client, artefact, items):
    deadline = int(time.time() * 1000) + 10000
    good = wire.encode_request("good", "kiki:ml:ltv:reply:good", deadline, 90, items[:3])
    unknown = wire.encode_request(
        "unknown", "kiki:ml:ltv:reply:unknown", deadline, 90, items[:3], model="drnn-notpublished"
    )
    redis_client.rpush(wire.QUEUE, unknown, good)  # one command: the worker takes both in one batch
    replies = {}
    for _ in range(2):
        key, body = redis_client.blpop(["kiki:ml:ltv:reply:good", "kiki:ml:ltv:reply:unknown"], timeout=10)
        replies[key.decode().rsplit(":", 1)[1]] = wire.decode(body)
    assert replies["unknown"]["ok"] is False
    assert replies["unknown"]["error"] == "unknown model drnn-notpublished"
    assert replies["good"]["ok"] is True
    expected = Scorer.from_path(str(artefact / "model.pt")).score(as_wire(items[:3]), 90)
    np.testing.assert_allclose(replies["good"]["items"], expected, rtol=1e-4)
    p = LtvClient(redis_client).score(items[0], horizon_days=90, timeout_ms=5000, model_version="drnn-nope")
    assert p.fallback
    assert p.model_version.startswith("bgnbd-gg-")


def test_a_version_published_after_start_becomes_servable(worker, redis_client, tenant_blobs, items):
    blob = tenant_blobs[1]
    version = Scorer.from_bytes(blob).version
    client = LtvClient(redis_client)
    assert client.score(items[0], horizon_days=90, timeout_ms=5000, model_version=version).fallback
    publish_artefact(redis_client, version, blob)
    deadline = time.monotonic() + 15  # the worker remembers an unknown version for a couple of seconds
    while (got := client.score(items[0], horizon_days=90, timeout_ms=5000, model_version=version)).fallback:
        assert time.monotonic() < deadline, "a version published after start never became servable"
        time.sleep(0.2)
    assert got.model_version == version
    np.testing.assert_allclose(rows([got]), Scorer.from_bytes(blob).score(as_wire(items[:1]), 90), rtol=1e-4)


def test_the_model_cache_is_bounded(redis_client, redis_url, tenant_blobs, items):
    versions = [Scorer.from_bytes(blob).version for blob in tenant_blobs]
    for version, blob in zip(versions, tenant_blobs, strict=True):
        publish_artefact(redis_client, version, blob)
    proc = start_worker(redis_url, None, "--max-models", "1")
    try:
        wait_ready(redis_client)
        client = LtvClient(redis_client)
        for version in [*versions, versions[0]]:  # the last one was evicted and is loaded again
            p = client.score(items[0], horizon_days=90, timeout_ms=10000, model_version=version)
            assert not p.fallback
            assert p.model_version == version
        deadline = time.monotonic() + 15
        while read_heartbeats(redis_client)[0].get("models") != [
            BaselinePredictor.default().version,
            versions[0],
        ]:
            assert time.monotonic() < deadline, "the heartbeat should list the default and one cached version"
            time.sleep(0.1)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=10)


@pytest.mark.parametrize("blmpop", [True, False])
def test_the_worker_takes_a_batch_in_either_pop_mode(redis_client, blmpop):
    worker = Worker(redis_client, Scorer.from_path(None), max_batch=3)
    if blmpop and not worker._blmpop:
        pytest.skip("this Redis has no BLMPOP (< 7.0)")
    worker._blmpop = blmpop  # Redis 7 also answers BLPOP + LPOP, the path for Redis 6
    redis_client.rpush(wire.QUEUE, b"a", b"b", b"c", b"d")
    assert worker.take() == [b"a", b"b", b"c"]
    assert worker.take() == [b"d"]
    assert worker.take() == []  # after blocking for up to a second


def test_a_refused_reply_does_not_stop_the_others(redis_client):
    worker = Worker(redis_client, Scorer.from_path(None))
    redis_client.set("kiki:test:not-a-list", b"x")  # a client's reply_to that RPUSH refuses
    worker.send(
        [("kiki:test:not-a-list", b"refused"), ("kiki:test:reply", b"r1"), ("kiki:test:reply", b"r2")]
    )
    assert redis_client.lrange("kiki:test:reply", 0, -1) == [b"r1", b"r2"]
    assert 0 < redis_client.ttl("kiki:test:reply") <= wire.REPLY_TTL_S


def _wire_with_states(scorer: Scorer, items: list[ScoreItem]) -> list[dict]:
    states = scorer.encode(np.stack([i.seq for i in items]))
    return [
        {
            "rfm": [i.frequency, i.recency, i.t, i.monetary, i.first_value],
            "as_of_day": i.as_of_day,
            "state": st.tobytes(),
        }
        for i, st in zip(items, states, strict=True)
    ]


def test_scalar_path_equals_the_vectorised_one(artefact, items):
    """Small batches are scored one customer at a time in plain floats (``ml.serving.scalar``); big ones
    in one vectorised pass. Both must answer the same, at every blend weight, at the inner horizon and
    others, with rescaled intervals, and for the baseline-only scorer."""
    result = train.load(artefact / "model.pt")
    result.metadata["interval_scale"] = [1.3, 0.7]
    with torch.no_grad():  # a non-zero seasonal layer, so its scale between horizons is exercised
        result.net.season.copy_(torch.tensor([0.3, -0.2]))
    for weight in (0.0, 0.5, 1.0):
        result.metadata["blend_weight"] = weight
        scorer = Scorer.from_result(result)
        wire_items = _wire_with_states(scorer, items)
        assert len(wire_items) > SCALAR_MAX_BATCH  # so ``score`` takes the vectorised path
        for horizon in (result.inner_horizon, 90.0, 365.0):
            together = np.array(scorer.score(wire_items, horizon))
            alone = np.array([scorer.score_one(it, horizon) for it in wire_items])
            np.testing.assert_allclose(alone, together, rtol=1e-5, atol=1e-9)
            assert np.all(alone[:, 2] <= alone[:, 1])
            assert np.all(alone[:, 1] <= alone[:, 3])
            small = np.array(scorer.score(wire_items[:3], horizon))  # the scalar path, by batch size
            np.testing.assert_array_equal(small, alone[:3])
        assert np.any(together[:, 3] > together[:, 1])  # the interval is not degenerate
    baseline = Scorer(None, BaselinePredictor.default())
    wire_items = as_wire(items)
    for horizon in (30.0, 90.0):
        np.testing.assert_allclose(
            [baseline.score_one(it, horizon) for it in wire_items],
            baseline.score(wire_items, horizon),
            rtol=1e-12,
        )


def test_scalar_path_refuses_bad_items_clearly(artefact, items):
    scorer = Scorer.from_path(str(artefact / "model.pt"))
    scorer.weight = 0.5
    good = _wire_with_states(scorer, items[:1])[0]
    with pytest.raises(wire.WireError, match="rfm"):
        scorer.score([{**good, "rfm": [1.0, 2.0]}], 90)
    with pytest.raises(wire.WireError, match="bad item"):
        scorer.score([{**good, "rfm": ["x", 1, 1, 1, 1]}], 90)
    with pytest.raises(ValueError, match="state"):
        scorer.score([{**good, "state": b"\x00" * 12}], 90)
    # An item without a state in a small batch goes the vectorised way (the worker runs the GRU).
    seq_item = as_wire(items[:1])[0]
    np.testing.assert_allclose(scorer.score([seq_item], 90), scorer.score([good], 90), rtol=1e-5)


def test_a_lost_redis_connection_is_waited_out(redis_client, items):
    """Redis going away makes the worker wait and retry, not exit; a batch whose replies could not be
    sent is answered once the connection is back."""
    import threading

    import redis as redis_lib

    class Flaky(Worker):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.take_failures, self.send_failures = 2, 1

        def take(self):
            if self.take_failures:
                self.take_failures -= 1
                raise redis_lib.ConnectionError("connection refused (test)")
            return super().take()

        def send(self, replies):
            if self.send_failures:
                self.send_failures -= 1
                raise redis_lib.ConnectionError("connection reset (test)")
            super().send(replies)

    worker = Flaky(redis_client, Scorer.from_path(None))
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    try:
        client = LtvClient(redis_client)
        got = client.score(items[0], horizon_days=90, timeout_ms=5000)
        assert not got.fallback  # answered after a failed take, a failed send and the retries
        assert worker.take_failures == 0
        assert worker.send_failures == 0
        assert worker.served == 1
        again = client.score(items[1], horizon_days=90, timeout_ms=5000)
        assert not again.fallback
    finally:
        worker.stopping = True
        thread.join(timeout=5)
    assert not thread.is_alive()


def test_channels_reach_the_model_through_the_wire(redis_client, redis_url, tmp_path):
    """A model trained with acquisition channels takes each request item's ``channel``: the scalar
    and vectorised paths agree, another channel changes the answer, and a real worker gives what the
    scorer computes (a channel the model never saw counts as "other")."""
    path = tmp_path / "tx.csv"
    synth.write_csv(path, 600, seed=9, days=500, channels=True)
    tx = read_csv(path, channel_column="channel")
    day = parse_day(CAL)
    result = train.fit(tx, day, 60, train.TrainConfig(max_epochs=1, patience=1))
    result.metadata["blend_weight"] = 0.5
    scorer = Scorer.from_result(result)
    s = summarise(tx, day)
    idx = np.flatnonzero(s.seen)[:16]
    states = scorer.encode(weekly_sequences(tx, day, WEEKS)[idx])
    items = [
        ScoreItem(
            s.frequency[i],
            s.recency[i],
            s.t[i],
            s.monetary[i],
            s.first_value[i],
            day,
            state=states[k],
            channel=str(tx.channel[i]) or None,
        )  # fmt: skip
        for k, i in enumerate(idx)
    ]
    raw = wire.decode(wire.encode_request("r", "k", 0, 90, items))["items"]
    assert {it.get("channel") for it in raw} <= set(synth.CHANNELS)
    together = np.array(scorer.score(raw, 90))
    np.testing.assert_allclose([scorer.score_one(it, 90) for it in raw], together, rtol=1e-5, atol=1e-9)
    moved = [{**it, "channel": "social" if it.get("channel") != "social" else "email"} for it in raw]
    assert not np.allclose(scorer.score(moved, 90), together)
    unseen = [{**it, "channel": "carrier-pigeon"} for it in raw]
    other = [{**it, "channel": "\x00other"} for it in raw]  # any unlearned name → the "other" slot
    np.testing.assert_array_equal(scorer.score(unseen, 90), scorer.score(other, 90))
    with pytest.raises(wire.WireError, match="channel must be a string"):
        scorer.score([{**raw[0], "channel": 7}], 90)
    blob = train.dumps(result)
    publish_artefact(redis_client, scorer.version, blob)
    proc = start_worker(redis_url, None)
    try:
        wait_ready(redis_client)
        client = LtvClient(redis_client)
        got = client.score_many(items, horizon_days=90, timeout_ms=5000, model_version=scorer.version)
        assert not any(p.fallback for p in got)
        np.testing.assert_allclose(rows(got), together, rtol=1e-5)
        alone = client.score(items[0], horizon_days=90, timeout_ms=5000, model_version=scorer.version)
        np.testing.assert_allclose(rows([alone])[0], together[0], rtol=1e-5)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=20)
