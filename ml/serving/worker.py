"""The ml worker: ``python -m ml.serving.worker [--redis-url URL] [--model PATH] [--max-batch N]``.

Loads the model once, blocks on the request list, drains whatever else is queued (up to --max-batch)
into one vectorised pass, skips requests whose deadline passed, and answers every request of the
batch in one pipeline. Several workers may share the queue. SIGTERM/SIGINT finish the batch and exit 0.
A heartbeat key (TTL 30 s) carries the worker id, model version and counters.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import socket
import time
from typing import Any

import redis

from ml.serving import wire
from ml.serving.scorer import Scorer

log = logging.getLogger("ml.serving.worker")


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


class Worker:
    def __init__(
        self, client: redis.Redis, scorer: Scorer, *, max_batch: int = 64, queue: str = wire.QUEUE
    ) -> None:
        self.client = client
        self.scorer = scorer
        self.max_batch = max_batch
        self.queue = queue
        self.id = f"{socket.gethostname()}-{os.getpid()}"
        self.stopping = False
        self.served = 0
        self.batches = 0
        self._last_beat = 0.0

    def heartbeat(self) -> None:
        payload = {
            "ts": time.time(),
            "worker": self.id,
            "model_version": self.scorer.version,
            "served": self.served,
            "batches": self.batches,
        }
        self.client.set(f"{wire.HEARTBEAT_PREFIX}{self.id}", json.dumps(payload), ex=30)
        self._last_beat = time.monotonic()

    def run(self) -> None:
        self.heartbeat()
        while not self.stopping:
            if time.monotonic() - self._last_beat > 5:
                self.heartbeat()
            first: Any = self.client.blpop([self.queue], timeout=1)
            if first is None:
                continue
            raws: list[bytes] = [first[1]]
            more: Any = self.client.lpop(self.queue, self.max_batch - 1)
            if more:
                raws.extend(more)
            self.handle(raws)
        self.client.delete(f"{wire.HEARTBEAT_PREFIX}{self.id}")

    def handle(self, raws: list[bytes]) -> None:
        now_ms = time.time() * 1000
        replies: list[tuple[str, bytes]] = []
        groups: dict[float, list[tuple[dict[str, Any], int]]] = {}
        requests: list[dict[str, Any]] = []
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
            groups.setdefault(float(msg.get("horizon_days", 0)), []).extend(
                (it, len(requests) - 1) for it in msg["items"]
            )
        results: dict[int, list[list[float]]] = {i: [] for i in range(len(requests))}
        errors: dict[int, str] = {}
        for horizon, entries in groups.items():
            try:
                scored = self.scorer.score([it for it, _ in entries], horizon)
            except (wire.WireError, ValueError) as exc:  # score each request alone so one bad one fails alone
                for idx in {i for _, i in entries}:
                    try:
                        results[idx] = self.scorer.score(requests[idx]["items"], horizon)
                    except (wire.WireError, ValueError) as single:
                        errors[idx] = str(single)
                log.debug("batch fell back to per-request scoring: %s", exc)
                continue
            for (_, idx), row in zip(entries, scored, strict=True):
                results[idx].append(row)
        for idx, msg in enumerate(requests):
            if idx in errors:
                body = wire.encode_reply(
                    str(msg.get("id")), ok=False, error=errors[idx], model_version=self.scorer.version
                )
            else:
                body = wire.encode_reply(
                    str(msg.get("id")), ok=True, items=results[idx], model_version=self.scorer.version
                )
            replies.append((str(msg["reply_to"]), body))
        if replies:
            pipe = self.client.pipeline(transaction=False)
            for key, body in replies:
                pipe.rpush(key, body)
                pipe.expire(key, wire.REPLY_TTL_S)
            pipe.execute()
        self.served += len(requests)
        self.batches += 1


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
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=os.environ.get("LOG_LEVEL", "INFO"), format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    import torch

    torch.set_num_threads(1)
    path = args.model if args.model and os.path.exists(args.model) else None
    if args.model and path is None:
        log.warning("model %s not found; serving the BG/NBD+GG default priors", args.model)
    scorer = Scorer.from_path(path)
    worker = Worker(redis.Redis.from_url(args.redis_url), scorer, max_batch=args.max_batch, queue=args.queue)

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
