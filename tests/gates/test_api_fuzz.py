"""API fuzzing gate: Schemathesis (pinned) against the real web process, over every operation that
``/api/schema`` lists, as eight principals in two workspaces.

- Principals per workspace: an Admin's token, an Analyst's token, an Admin API key, and anonymous.
- Checks: no server error; status codes, content types and bodies as the schema says (errors
  included); schema-violating input refused; and ``workspace_isolation`` (``st_hooks.py``): nothing
  one workspace's principal sees is served by the other workspace.
- Phases: ``coverage`` (boundary and invalid values of every parameter) once, for the richest
  principal; ``fuzzing`` (a fixed number of examples per operation) for all; ``stateful`` (create a
  store, upsert orders to it, read its customers: the schema's OpenAPI links) for those who can write.
- Bounded and reproducible: one pinned seed, fixed example counts, no example database.

The schema is read from the server at test time, so routes added later are fuzzed without anyone
listing them. Logout and password change end or change the credential a run uses, so they are fuzzed
apart, with principals of their own. Reports (JUnit) land in ``.kiki/test-artifacts/gates/fuzz/``.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from apps.core.actor import Actor
from conftest import PASSWORD
from tests.gates.conftest import ARTIFACTS, record_figure
from tests.live_server import LiveServer

pytestmark = [pytest.mark.integration, pytest.mark.slow]

HERE = Path(__file__).resolve().parent
SEED = 20261201
CHECKS = ",".join(
    [
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_schema_conformance",
        "negative_data_rejection",
        "workspace_isolation",
    ]
)
CREDENTIAL_ENDING = r"/api/v1/auth/(logout|password/change)/$"
WORKSPACES = ("fuzz-one", "fuzz-two")


@dataclass(frozen=True)
class Principal:
    name: str
    authorization: str | None  # the Authorization header, None for anonymous


@dataclass(frozen=True)
class Workspace:
    slug: str
    schema_name: str
    host: str


# (workspace, principal, phases, examples per operation). Each run gets credentials made for it
# alone, just before it starts: what an earlier run deactivated or revoked cannot blind a later one.
PLAN = [
    ("fuzz-one", "admin_token", "coverage,fuzzing,stateful", 8),
    ("fuzz-one", "analyst_token", "fuzzing", 4),
    ("fuzz-one", "admin_api_key", "fuzzing,stateful", 4),
    ("fuzz-one", "anonymous", "fuzzing", 2),
    ("fuzz-two", "admin_token", "fuzzing,stateful", 8),
    ("fuzz-two", "analyst_token", "fuzzing", 4),
    ("fuzz-two", "admin_api_key", "fuzzing,stateful", 4),
    ("fuzz-two", "anonymous", "fuzzing", 2),
]


def fresh_principal(server: LiveServer, workspace: Workspace, kind: str) -> Principal:
    """A new credential of ``kind`` (``<role>_token``, ``<role>_api_key`` or ``anonymous``): a token
    from a real sign-in through the API, or a key issued by the governance service."""
    import secrets

    from django_tenants.utils import schema_context

    from apps.governance.services import apikey_create, user_create

    if kind == "anonymous":
        return Principal(kind, None)
    role, _, credential = kind.partition("_")
    with schema_context(workspace.schema_name):
        if credential == "api_key":
            issued = apikey_create(name=f"fuzz {kind}", role=role, actor=Actor.system("tests"))
            return Principal(kind, f"Api-Key {issued.plaintext}")
        email = f"{kind}-{secrets.token_hex(3)}@{workspace.slug}.test"
        user_create(email=email, password=PASSWORD, role=role, actor=Actor.system("tests"))
    response = requests.post(
        f"{server.url}/api/v1/auth/login/",
        json={"username": email, "password": PASSWORD},
        headers={"Host": workspace.host},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    return Principal(kind, f"Token {response.json()['key']}")


@pytest.fixture(scope="module")
def fuzz_workspaces(gate_server: LiveServer, django_db_blocker: Any) -> Iterator[dict[str, Workspace]]:
    from apps.governance.tenancy.models import Tenant
    from apps.governance.tenancy.services import SignupRequest, tenant_signup

    workspaces = {}
    with django_db_blocker.unblock():
        for slug in WORKSPACES:
            result = tenant_signup(
                SignupRequest(
                    name=f"{slug} Ltd", slug=slug, admin_email=f"owner@{slug}.test", password=PASSWORD
                ),
                actor=Actor.system("tests"),
            )
            workspaces[slug] = Workspace(slug, result.schema_name, gate_server.host(slug))
    yield workspaces
    with django_db_blocker.unblock():
        for tenant in Tenant.objects.filter(slug__in=WORKSPACES):
            tenant.delete(force_drop=True)


@pytest.fixture(scope="module")
def schema_file(
    gate_server: LiveServer, fuzz_workspaces: dict[str, Workspace], tmp_path_factory: Any
) -> Path:
    """The schema as the server serves it now (any workspace host serves the same document)."""
    response = requests.get(
        f"{gate_server.url}/api/schema",
        params={"format": "json"},
        headers={"Host": fuzz_workspaces[WORKSPACES[0]].host},
        timeout=30,
    )
    assert response.status_code == 200, response.text[:500]
    path = tmp_path_factory.mktemp("schema") / "openapi.json"
    path.write_bytes(response.content)
    return path


@dataclass(frozen=True)
class FuzzRun:
    returncode: int
    output: str
    generated: int
    operations: int
    seconds: float


def run_schemathesis(
    *,
    server: LiveServer,
    schema: Path,
    principal: Principal,
    host: str,
    other: Workspace,
    observer: Principal,
    phases: str,
    examples: int,
    report_dir: Path,
    include_path_regex: str | None = None,
    exclude_path_regex: str | None = None,
) -> FuzzRun:
    argv = [
        str(Path(sys.executable).parent / "schemathesis"),
        "--config-file",
        str(HERE / "schemathesis.toml"),
        "--no-color",
        "run",
        str(schema),
        "--url",
        server.url,
        "--header",
        f"Host: {host}",
        "--checks",
        CHECKS,
        "--phases",
        phases,
        "--max-examples",
        str(examples),
        "--seed",
        str(SEED),
        "--workers",
        "1",
        "--request-timeout",
        "30",
        "--report",
        "junit",
        "--report-dir",
        str(report_dir),
        "--output-truncate",
        "true",
    ]
    if principal.authorization:
        argv += ["--header", f"Authorization: {principal.authorization}"]
    if include_path_regex:
        argv += ["--include-path-regex", include_path_regex]
    if exclude_path_regex:
        argv += ["--exclude-path-regex", exclude_path_regex]
    env = dict(
        os.environ,
        SCHEMATHESIS_HOOKS="tests.gates.st_hooks",
        PYTHONPATH=str(HERE.parent.parent),
        KIKI_GATE_BASE_URL=server.url,
        KIKI_GATE_OTHER_HOST=other.host,
        KIKI_GATE_OTHER_AUTH=str(observer.authorization),
    )
    started = time.monotonic()
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=240, check=False)
    output = done.stdout + done.stderr
    generated = re.search(r"(\d+) generated", output)
    operations = re.search(r"Tested: (\d+)", output)
    return FuzzRun(
        returncode=done.returncode,
        output=output,
        generated=int(generated.group(1)) if generated else 0,
        operations=int(operations.group(1)) if operations else 0,
        seconds=time.monotonic() - started,
    )


def _assert_clean(run: FuzzRun, label: str, server: LiveServer) -> None:
    report = (
        f"Schemathesis as {label} (exit {run.returncode}):\n{run.output[-12000:]}\n"
        f"--- server log (tail) ---\n{server.log_tail(3000)}"
    )
    assert run.generated > 0, report
    assert run.returncode == 0, report


def _fuzz(
    server: LiveServer,
    workspaces: dict[str, Workspace],
    schema: Path,
    blocker: Any,
    *,
    workspace: str,
    principal: str,
    phases: str,
    examples: int,
    label: str,
    **paths: str,
) -> None:
    """One run as a new ``principal`` of ``workspace``, observed from the other workspace."""
    this = workspaces[workspace]
    other = next(w for slug, w in workspaces.items() if slug != workspace)
    with blocker.unblock():
        credential = fresh_principal(server, this, principal)
        observer = fresh_principal(server, other, "admin_token")
    run = run_schemathesis(
        server=server,
        schema=schema,
        principal=credential,
        host=this.host,
        other=other,
        observer=observer,
        phases=phases,
        examples=examples,
        report_dir=ARTIFACTS / "gates" / "fuzz" / label,
        **paths,
    )
    record_figure(
        f"fuzz {label}",
        f"{run.operations} operations, {run.generated} examples, {run.seconds:.1f} s ({phases})",
    )
    _assert_clean(run, f"{principal} in {workspace}", server)


@pytest.mark.parametrize(
    ("workspace", "principal", "phases", "examples"), PLAN, ids=[f"{w}-{p}" for w, p, _, _ in PLAN]
)
def test_fuzz_every_operation(
    gate_server: LiveServer,
    fuzz_workspaces: dict[str, Workspace],
    schema_file: Path,
    django_db_blocker: Any,
    workspace: str,
    principal: str,
    phases: str,
    examples: int,
) -> None:
    _fuzz(
        gate_server,
        fuzz_workspaces,
        schema_file,
        django_db_blocker,
        workspace=workspace,
        principal=principal,
        phases=phases,
        examples=examples,
        label=f"{workspace}-{principal}",
        exclude_path_regex=CREDENTIAL_ENDING,
    )


@pytest.mark.parametrize("principal", ["analyst_token", "analyst_api_key"])
def test_fuzz_routes_that_end_a_credential(
    gate_server: LiveServer,
    fuzz_workspaces: dict[str, Workspace],
    schema_file: Path,
    django_db_blocker: Any,
    principal: str,
) -> None:
    """Logout and password change, each run with a principal of its own that nothing else uses."""
    _fuzz(
        gate_server,
        fuzz_workspaces,
        schema_file,
        django_db_blocker,
        workspace=WORKSPACES[0],
        principal=principal,
        phases="fuzzing",
        examples=6,
        label=f"credential-{principal}",
        include_path_regex=CREDENTIAL_ENDING,
    )
