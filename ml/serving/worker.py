"""The ml worker: ``python -m ml.serving.worker [--redis-url URL] [--model PATH] [--max-batch N]
[--max-models N]``.

Loads its default model once, blocks on the request list and takes whatever else is queued (up to
--max-batch) in the same call (BLMPOP on Redis >= 7, BLPOP + LPOP before), scores each (model version,
horizon) group in one vectorised pass, skips requests whose deadline passed, and answers every request
of the batch in one pipeline. A request naming a ``model`` is scored by that published artefact, loaded
from Redis on first use and kept in an LRU of --max-models versions. Several workers may share the
queue. SIGTERM/SIGINT finish the batch and exit 0. A heartbeat key (TTL 30 s) carries the worker id,
the default and loaded model versions and counters.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import socket
import time
from collections import OrderedDict
from typing import Any

import redis

from ml.serving import wire
from ml.serving.scorer import Scorer

log = logging.getLogger("ml.serving.worker")

UNKNOWN_MODEL_TTL_S = 2.0  # a version without an artefact is not looked up again for this long


def read_heartbeats(client: redis.Redis) -> list[dict[str, Any]]:
    """Live workers (as written by ``Worker.heartbeat``), each with its age in seconds."""
    beats = []
    now = time.time()
    for key in client.scan_iter(f"{wire.HEARTBEAT_PREFIX}*"):
        raw = client.get(key)
        if raw:
            beat = json.loads(raw)
            beat["age_s"] = now - float(beat["ts"])
            beats.append(beat)
    return beats


def supports_blmpop(client: redis.Redis) -> bool:
    """BLMPOP (block, then pop up to COUNT in one call) exists from Redis 7.0 on."""
    version = str(client.info("server").get("redis_version", "0"))
    major = version.split(".")[0]
    return major.isdigit() and int(major) >= 7


class Worker:
    def __init__(
        self,
        client: redis.Redis,
        scorer: Scorer,
        *,
        max_batch: int = 64,
        queue: str = wire.QUEUE,
        max_models: int = 16,
    ) -> None:
        self.client = client
        self.scorer = scorer
        self.max_batch = max_batch
        self.queue = queue
        self.max_models = max(1, max_models)
        self.models: OrderedDict[str, Scorer] = OrderedDict()  # published versions, least recent first
        self._unknown: dict[str, float] = {}  # version -> monotonic time until which it stays unknown
        self.id = f"{socket.gethostname()}-{os.getpid()}"
        self.stopping = False
        self.served = 0
        self.batches = 0
        self._last_beat = 0.0
        self._blmpop = supports_blmpop(client)

    def scorer_for(self, version: str | None) -> Scorer | str:
        """The Scorer for a request's ``model`` (None: the default one), or the error to answer.
        A version not in the LRU is loaded from ``wire.artefact_key(version)`` with one GET; a missing
        or unloadable one is remembered for UNKNOWN_MODEL_TTL_S so a client retrying in a loop does
        not cost a GET per request."""
        if version is None or version == self.scorer.version:
            return self.scorer
        found = self.models.get(version)
        if found is not None:
            self.models.move_to_end(version)
            return found
        now = time.monotonic()
        if self._unknown.get(version, 0.0) > now:
            return f"unknown model {version}"
        blob: Any = self.client.get(wire.artefact_key(version))
        error = None
        if blob is None:
            error = f"unknown model {version}"
        else:
            try:
                found = Scorer.from_bytes(bytes(blob))
            except Exception as exc:  # a corrupt artefact fails its own requests, never the worker
                log.warning("cannot load model %s: %s", version, exc)
                error = f"cannot load model {version}: {type(exc).__name__}"
            else:
                if found.version != version:
                    error = f"artefact under {wire.artefact_key(version)} is model {found.version}"
        if error is not None or found is None:
            if len(self._unknown) >= 1024:
                self._unknown = {v: until for v, until in self._unknown.items() if until > now}
            self._unknown[version] = now + UNKNOWN_MODEL_TTL_S
            return error or f"unknown model {version}"
        self._unknown.pop(version, None)
        self.models[version] = found
        if len(self.models) > self.max_models:
            evicted, _ = self.models.popitem(last=False)
            log.info("model %s evicted from the cache (--max-models %d)", evicted, self.max_models)
        log.info("loaded model %s", version)
        self._last_beat = 0.0  # the heartbeat lists the loaded versions: refresh it after this batch
        return found

    def heartbeat(self) -> None:
        payload = {
            "ts": time.time(),
            "worker": self.id,
            "model_version": self.scorer.version,
            "models": [self.scorer.version, *self.models],
            "served": self.served,
            "batches": self.batches,
        }
        self.client.set(f"{wire.HEARTBEAT_PREFIX}{self.id}", json.dumps(payload), ex=30)
        self._last_beat = time.monotonic()

    def run(self) -> None:
        """Serve until SIGTERM/SIGINT. A lost Redis connection is waited out (back-off 0.1 s → 2 s,
        logged), never fatal: clients fall back to BG/NBD+GG meanwhile, and a batch taken before the
        loss is answered once the connection is back (its clients may have given up by then)."""
        backoff = 0.0
        pending: list[tuple[str, bytes]] = []
        while not self.stopping:
            try:
                if pending:
                    self.send(pending)
                    pending = []
                if time.monotonic() - self._last_beat > 5:
                    self.heartbeat()
                raws = self.take()
                if raws:
                    pending = self.handle(raws)
                    self.send(pending)
                    pending = []
                backoff = 0.0
            except (redis.ConnectionError, redis.TimeoutError) as exc:
                backoff = min(2.0, max(0.1, backoff * 2))
                log.warning("redis unavailable (%s); retrying in %.1f s", exc, backoff)
                time.sleep(backoff)
        try:
            self.client.delete(f"{wire.HEARTBEAT_PREFIX}{self.id}")
        except redis.RedisError:
            pass  # it expires by itself

    def take(self) -> list[bytes]:
        """Block (up to 1 s) for a request and take up to --max-batch queued ones: one round trip with
        BLMPOP, two (BLPOP, then LPOP of the rest) on a Redis older than 7."""
        if self._blmpop:
            got: Any = self.client.blmpop(1, 1, self.queue, direction="LEFT", count=self.max_batch)
            return list(got[1]) if got else []
        first: Any = self.client.blpop([self.queue], timeout=1)
        if first is None:
            return []
        raws: list[bytes] = [first[1]]
        if self.max_batch > 1:
            more: Any = self.client.lpop(self.queue, self.max_batch - 1)
            if more:
                raws.extend(more)
        return raws

    def send(self, replies: list[tuple[str, bytes]]) -> None:
        """Every reply of a batch in one pipeline. A reply that Redis refuses (a ``reply_to`` key of
        another type) is logged, not raised: one client's bad key must not stop the worker."""
        if not replies:
            return
        pipe = self.client.pipeline(transaction=False)
        for key, body in replies:
            pipe.rpush(key, body)
            pipe.expire(key, wire.REPLY_TTL_S)
        for res in pipe.execute(raise_on_error=False):
            if isinstance(res, redis.ResponseError):
                log.warning("redis refused a reply: %s", res)

    def handle(self, raws: list[bytes]) -> list[tuple[str, bytes]]:
        """Score a batch of raw requests; returns the (reply key, reply) pairs to send."""
        now_ms = time.time() * 1000
        replies: list[tuple[str, bytes]] = []
        groups: dict[tuple[str, float], list[tuple[dict[str, Any], int]]] = {}
        scorers: dict[str, Scorer] = {}  # the batch holds its models even if the LRU evicts one
        requests: list[dict[str, Any]] = []
        errors: dict[int, str] = {}
        for raw in raws:
            try:
                msg = wire.decode(raw)
                if not isinstance(msg.get("items"), list) or not msg.get("reply_to"):
                    raise wire.WireError("request needs items and reply_to")
            except wire.WireError as exc:
                log.warning("rejected malformed request: %s", exc)
                continue  # without a valid reply_to nobody can be answered
            if msg.get("deadline_ms", now_ms + 1) < now_ms:
                continue  # the client has given up already
            requests.append(msg)
            idx = len(requests) - 1
            model = msg.get("model")
            try:
                horizon = float(msg.get("horizon_days", 0))
            except (TypeError, ValueError):
                errors[idx] = "horizon_days must be a number"
                continue
            if model is not None and not isinstance(model, str):
                errors[idx] = "model must be a string (a published model version)"
                continue
            found = self.scorer_for(model)
            if isinstance(found, str):
                errors[idx] = found
                continue
            scorers[found.version] = found
            groups.setdefault((found.version, horizon), []).extend((it, idx) for it in msg["items"])
        results: dict[int, list[list[float]]] = {i: [] for i in range(len(requests))}
        answered_by: dict[int, str] = {}
        for (version, horizon), entries in groups.items():
            scorer = scorers[version]
            for _, idx in entries:
                answered_by[idx] = version
            try:
                scored = scorer.score([it for it, _ in entries], horizon)
            except (wire.WireError, ValueError) as exc:  # score each request alone so one bad one fails alone
                for idx in {i for _, i in entries}:
                    try:
                        results[idx] = scorer.score(requests[idx]["items"], horizon)
                    except (wire.WireError, ValueError) as single:
                        errors[idx] = str(single)
                log.debug("batch fell back to per-request scoring: %s", exc)
                continue
            for (_, idx), row in zip(entries, scored, strict=True):
                results[idx].append(row)
        for idx, msg in enumerate(requests):
            version = answered_by.get(idx) or str(msg.get("model") or self.scorer.version)
            if idx in errors:
                body = wire.encode_reply(
                    str(msg.get("id")), ok=False, error=errors[idx], model_version=version
                )
            else:
                body = wire.encode_reply(
                    str(msg.get("id")), ok=True, items=results[idx], model_version=version
                )
            replies.append((str(msg["reply_to"]), body))
        self.served += len(requests)
        self.batches += 1
        return replies


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="KIKI LTV scoring worker")
    parser.add_argument(
        "--redis-url",
        default=os.environ.get("KIKI_ML_REDIS_URL")
        or os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/3"),
    )
    parser.add_argument("--model", default=os.environ.get("KIKI_LTV_MODEL_PATH"))
    parser.add_argument("--max-batch", type=int, default=64)
    parser.add_argument("--queue", default=wire.QUEUE)
    parser.add_argument(
        "--max-models", type=int, default=16, help="published model versions kept loaded (LRU)"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=os.environ.get("LOG_LEVEL", "INFO"), format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    import torch
    from threadpoolctl import threadpool_limits

    # One thread for torch AND numpy's BLAS: several workers scale by processes, and OpenBLAS threads
    # that spin after each small product take the core that Redis and the clients need (measured with
    # `make bench` on 2 cores: end-to-end p99 0.81 ms with OpenBLAS's default threads, 0.52 ms with one).
    torch.set_num_threads(1)
    threadpool_limits(1)
    path = args.model if args.model and os.path.exists(args.model) else None
    if args.model and path is None:
        log.warning("model %s not found; serving the BG/NBD+GG default priors", args.model)
    scorer = Scorer.from_path(path)
    worker = Worker(
        redis.Redis.from_url(args.redis_url),
        scorer,
        max_batch=args.max_batch,
        queue=args.queue,
        max_models=args.max_models,
    )

    def stop(signum: int, frame: object) -> None:
        worker.stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    log.info("ml worker %s serving %s on %s", worker.id, scorer.version, args.queue)
    worker.run()
    log.info("ml worker %s stopped after %d requests", worker.id, worker.served)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
