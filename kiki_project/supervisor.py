"""`make run`: services, migrations, demo data, then web + Celery worker + beat + ml worker as one group.

- PostgreSQL and Redis come from DATABASE_URL / REDIS_URL, or start embedded (kiki_project.devstack).
- Children share one environment and print through here, each line prefixed with its name.
- Ctrl-C (or SIGTERM) stops every child: SIGTERM first, SIGKILL after a grace period.
- A child that dies is reported with its exit code and restarted (at most 3 times a minute); after
  that the whole group stops with a non-zero exit, like a process manager would.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from kiki_project.addresses import AddressError, bind_address, public_address
from kiki_project.devstack import DEFAULT_DATA_DIR, ROOT, StackError, ensure_stack, with_db_index

PY = sys.executable
GRACE_S = 10.0
MAX_RESTARTS_PER_MIN = 3
COLOURS = ["\033[36m", "\033[33m", "\033[35m", "\033[32m", "\033[34m"]
RESET = "\033[0m"


def say(msg: str) -> None:
    print(f"\033[1m[kiki]\033[0m {msg}", flush=True)


@dataclass
class Child:
    name: str
    argv: Sequence[str]
    colour: str
    proc: subprocess.Popen[bytes] | None = None
    restarts: deque[float] = field(default_factory=deque)

    def start(self, env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(
            list(self.argv),
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        threading.Thread(target=self._pump, args=(self.proc,), daemon=True).start()

    def _pump(self, proc: subprocess.Popen[bytes]) -> None:
        if proc.stdout is None:  # started with stdout=PIPE, so never; nothing to pump otherwise
            return
        tag = f"{self.colour}{self.name:>6}{RESET} | "
        for raw in iter(proc.stdout.readline, b""):
            sys.stdout.write(tag + raw.decode("utf-8", "replace"))
            sys.stdout.flush()

    def signal(self, sig: int) -> None:
        if self.proc is not None and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, sig)
            except ProcessLookupError:
                pass


def run_step(title: str, argv: Sequence[str], env: dict[str, str]) -> None:
    say(title)
    result = subprocess.run(list(argv), cwd=ROOT, env=env, check=False)
    if result.returncode != 0:
        say(f"step failed ({title}); exit code {result.returncode}")
        raise SystemExit(result.returncode)


def build_env(database_url: str, redis_url: str, data_dir: Path) -> dict[str, str]:
    prom_dir = data_dir / "prometheus"
    shutil.rmtree(prom_dir, ignore_errors=True)
    prom_dir.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env.update(
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        KIKI_ML_REDIS_URL=env.get("KIKI_ML_REDIS_URL") or with_db_index(redis_url, 3),
        DJANGO_SETTINGS_MODULE="kiki_project.settings",
        PROMETHEUS_MULTIPROC_DIR=str(prom_dir),
        PYTHONUNBUFFERED="1",
        KIKI_LTV_MODEL_PATH=env.get("KIKI_LTV_MODEL_PATH") or str(data_dir / "models" / "ltv-demo.pt"),
        LC_ALL=env.get("LC_ALL", "C.UTF-8"),
    )
    return env


def children(env: dict[str, str], data_dir: Path) -> list[Child]:
    from apps.core.tasks import ALL_QUEUES  # noqa: PLC0415 - needs settings in the environment

    specs = [
        (
            "web",
            [
                PY,
                "-m",
                "gunicorn",
                "-c",
                str(ROOT / "kiki_project" / "gunicorn_conf.py"),
                "kiki_project.wsgi:application",
            ],
        ),
        (
            "worker",
            [
                PY,
                "-m",
                "celery",
                "-A",
                "kiki_project",
                "worker",
                "-Q",
                ALL_QUEUES,
                "-c",
                "2",
                "--loglevel",
                "INFO",
                "-n",
                "kiki-worker@%h",
            ],
        ),
        (
            "beat",
            [
                PY,
                "-m",
                "celery",
                "-A",
                "kiki_project",
                "beat",
                "--loglevel",
                "INFO",
                "--schedule",
                str(data_dir / "celerybeat-schedule"),
            ],
        ),
        ("ml", [PY, "-m", "ml.serving.worker"]),
    ]
    return [Child(name, argv, COLOURS[i % len(COLOURS)]) for i, (name, argv) in enumerate(specs)]


def _answers(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
    except OSError:
        return False
    return True


def _wait_for_ports(child: Child, ports: Sequence[int], timeout_s: float) -> bool | None:
    """True once every port answers, False when the child exits first, None after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    waiting = list(ports)
    while time.monotonic() < deadline:
        if child.proc is not None and child.proc.poll() is not None:
            return False
        if not _answers(waiting[0]):
            time.sleep(0.3)
            continue
        waiting.pop(0)
        if not waiting:
            return True
    return None


def sandbox_child(env: dict[str, str]) -> Child | None:
    """The sandbox Shopify (a loopback fake shop), started before the demo is seeded, which connects
    to it. Off with KIKI_SANDBOX=0, or when a real Shopify app is configured."""
    if env.get("KIKI_SANDBOX", "1") == "0" or env.get("KIKI_SHOPIFY_CLIENT_ID"):
        return None
    from apps.stores.integrations.fakes.sandbox import SANDBOX_CLIENT_ID, SANDBOX_CLIENT_SECRET, SANDBOX_SHOP

    port = int(env.get("KIKI_SANDBOX_PORT", "8799"))
    env.update(
        KIKI_SANDBOX_SHOP=SANDBOX_SHOP,
        KIKI_SHOPIFY_CLIENT_ID=SANDBOX_CLIENT_ID,
        KIKI_SHOPIFY_CLIENT_SECRET=SANDBOX_CLIENT_SECRET,
        KIKI_SHOPIFY_API_BASE=f"http://127.0.0.1:{port}/shops/{{shop}}",
        KIKI_STORES_ALLOW_HTTP="1",
    )
    child = Child(
        "shop", [PY, "-m", "apps.stores.integrations.fakes.sandbox", "--port", str(port)], COLOURS[4]
    )
    say(f"starting the sandbox Shopify on 127.0.0.1:{port}…")
    child.start(env)
    ready = _wait_for_ports(child, [port], 120)
    if ready:
        return child
    if ready is False:
        say("the sandbox Shopify did not start; the demo gets a manual store instead")
        env.pop("KIKI_SANDBOX_SHOP")
    else:
        say("the sandbox Shopify did not answer within 120 s")
    return None


def ads_sandbox_child(env: dict[str, str]) -> Child | None:
    """The ads sandbox (loopback fakes of Google Ads, Meta, TikTok and LinkedIn on KIKI_ADS_SANDBOX_PORT
    and the three ports after it), started before the demo is seeded, which connects one account per
    platform. Off with KIKI_SANDBOX=0, or when a real platform's API base is configured."""
    from apps.bidding.integrations.sandbox import SANDBOX_ACCOUNTS, sandbox_env

    if env.get("KIKI_SANDBOX", "1") == "0" or any(env.get(a.base_setting) for a in SANDBOX_ACCOUNTS):
        return None
    port = int(env.get("KIKI_ADS_SANDBOX_PORT", "8790"))
    ports = [port + a.port_offset for a in SANDBOX_ACCOUNTS]
    taken = [p for p in ports if _answers(p)]
    if taken:  # something else listens there: its answers would pass for the sandbox's
        say(f"port {taken[0]} is taken (KIKI_ADS_SANDBOX_PORT); the demo workspace gets no ad accounts")
        return None
    child = Child("ads", [PY, "-m", "apps.bidding.integrations.sandbox", "--port", str(port)], COLOURS[2])
    say(f"starting the ads sandbox (Google Ads, Meta, TikTok, LinkedIn) on 127.0.0.1:{port}-{port + 3}…")
    child.start(env)
    ready = _wait_for_ports(child, ports, 60)
    if ready:
        env.update(sandbox_env(base_port=port))
        return child
    child.signal(signal.SIGTERM)
    say(
        "the ads sandbox did not start; the demo workspace gets no ad accounts"
        if ready is False
        else "the ads sandbox did not answer within 60 s; the demo workspace gets no ad accounts"
    )
    return None


def supervise(group: list[Child], env: dict[str, str]) -> int:
    stopping = threading.Event()

    def on_signal(signum: int, frame: object) -> None:
        stopping.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    for child in group:
        if child.proc is None:
            child.start(env)
    exit_code = 0
    while not stopping.is_set():
        for child in group:
            if child.proc is None:  # every child was started above
                continue
            code = child.proc.poll()
            if code is None:
                continue
            say(f"{child.name} exited with code {code}")
            now = time.monotonic()
            while child.restarts and now - child.restarts[0] > 60:
                child.restarts.popleft()
            if len(child.restarts) >= MAX_RESTARTS_PER_MIN:
                say(f"{child.name} keeps crashing; stopping everything")
                exit_code = 1
                stopping.set()
                break
            child.restarts.append(now)
            say(f"restarting {child.name}")
            child.start(env)
        stopping.wait(0.5)
    say("stopping…")
    for child in group:
        child.signal(signal.SIGTERM)
    deadline = time.monotonic() + GRACE_S
    for child in group:
        if child.proc is None:
            continue
        try:
            child.proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            say(f"{child.name} did not stop in {GRACE_S:.0f}s; killing it")
            child.signal(signal.SIGKILL)
            child.proc.wait()
    say("all processes stopped")
    return exit_code


def main() -> int:
    started = time.monotonic()
    os.environ.setdefault("LC_ALL", "C.UTF-8")
    try:  # a bad address stops us before any server starts, with the variable's name
        public_address(os.environ, production=os.environ.get("KIKI_ENV") == "production")
    except AddressError as exc:
        say(f"error: {exc}")
        return 2
    data_dir = Path(os.environ.get("KIKI_DATA_DIR", DEFAULT_DATA_DIR))
    data_dir.mkdir(parents=True, exist_ok=True)
    try:
        stack = ensure_stack(data_dir=data_dir)
    except StackError as exc:
        say(f"error: {exc}")
        return 2
    say(f"services: {stack.describe()}")
    env = build_env(stack.database_url, stack.redis_url, data_dir)
    sandbox = sandbox_child(env)
    ads_sandbox = ads_sandbox_child(env)
    os.environ.update(env)
    manage = [PY, str(ROOT / "manage.py")]
    run_step("migrating (public, tenant template, tenants)…", [*manage, "kiki_bootstrap"], env)
    run_step("collecting static files…", [*manage, "collectstatic", "--noinput", "-v0"], env)
    run_step(
        "preparing the demo LTV model (first run trains one, ~30 s)…",
        [PY, "-m", "ml.ltv.demo_model", env["KIKI_LTV_MODEL_PATH"]],
        env,
    )
    run_step("seeding the demo workspace…", [*manage, "seed_demo"], env)
    public = public_address(env, production=env.get("KIKI_ENV") == "production")
    site, demo = public.url(), public.url(f"demo.{public.domain}")
    group = children(env, data_dir) + [c for c in (sandbox, ads_sandbox) if c is not None]
    say(f"ready in {time.monotonic() - started:.1f}s (web listens on {bind_address(env)})")
    say(f"  public site + signup : {site}/")
    say(f"  health               : {site}/health   metrics: {site}/metrics")
    say(f"  platform admin       : {site}/admin/  (create staff: manage.py createsuperuser)")
    say(f"  demo workspace admin : {demo}/admin/   API docs: {demo}/api/docs")
    say("  demo logins are printed above by seed_demo; Ctrl-C stops everything")
    try:
        return supervise(group, env)
    finally:
        for extra in (sandbox, ads_sandbox):
            if extra is not None:
                extra.signal(signal.SIGTERM)
        stack.close()


if __name__ == "__main__":
    raise SystemExit(main())
