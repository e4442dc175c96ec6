"""The audit trail end to end, with two tenants: appends form a gap-free hash chain per workspace, the
database refuses UPDATE/DELETE/TRUNCATE, tampering around the trigger (as a superuser) is named by
verification, the commands and the nightly task, the export bundle and its offline verifier (no
Django), concurrent appends from several processes, and the read-only admin."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import os
import subprocess
import sys
import time
import uuid
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import IntegrityError, connection, transaction
from django.test import Client
from django_tenants.utils import schema_context, schema_exists

from apps.core.actor import Actor, ActorKind
from apps.core.errors import TenantRequired
from apps.core.logging import request_id_var
from apps.governance import chain, services, verify_bundle
from apps.governance.errors import GovernanceError
from apps.governance.models import AuditChainCheck, AuditEntry
from tests.celery_worker import worker_database_url

ROOT = Path(__file__).resolve().parents[3]
ALICE = Actor(ActorKind.USER, "7", "alice@alpha.test")
TABLE = "governance_auditentry"


def record(n: int, *, actor: Actor = ALICE, prefix: str = "apikey") -> list[AuditEntry]:
    return [
        services.audit_record(
            actor=actor,
            action=f"{prefix}.update",
            object_type="governance.apikey",
            object_id=i,
            before={"role": "analyst", "limit": Decimal("10.50"), "i": i},
            after={"role": "admin", "limit": Decimal("12.00"), "i": i, "ü": "naïve ✓"},
        )
        for i in range(n)
    ]


def head_sequence() -> int:
    last = AuditEntry.objects.order_by("-sequence").values_list("sequence", flat=True).first()
    return int(last or 0)


@contextmanager
def superuser_bypass():
    """What a superuser can do around the trigger: replica mode skips ordinary triggers. ``SET LOCAL``
    lasts until the end of the transaction; it is put back at once."""
    with connection.cursor() as cur:
        cur.execute("SET LOCAL session_replication_role = replica")
    try:
        yield
    finally:
        with connection.cursor() as cur:
            cur.execute("SET LOCAL session_replication_role = origin")


def raw(schema: str, sql: str, params: list | tuple = ()) -> None:
    with connection.cursor() as cur:
        cur.execute(sql.replace("{t}", f'"{schema}".{TABLE}'), params)


def swap_sequences(schema: str, a: int, b: int) -> None:
    raw(schema, "UPDATE {t} SET sequence = 999999999 WHERE sequence = %s", [a])
    raw(schema, "UPDATE {t} SET sequence = %s WHERE sequence = %s", [a, b])
    raw(schema, "UPDATE {t} SET sequence = %s WHERE sequence = 999999999", [b])


# --- the rule ----------------------------------------------------------------------------------------
def test_canonical_json_and_hash_follow_the_documented_bytes():
    """A golden vector written out by hand from the spec in apps.governance.chain's docstring."""
    entry = {
        "sequence": 1,
        "created_at": chain.format_time(dt.datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=dt.UTC)),
        "actor_kind": "user",
        "actor_id": "7",
        "actor_name": "Zoë",
        "action": "policy.update",
        "object_type": "governance.policy",
        "object_id": "42",
        "before": None,
        "after": chain.to_plain(
            {
                "max_bid": Decimal("1.50"),
                "ratio": 0.1,
                "at": dt.datetime(2026, 1, 2, 4, 4, 5, tzinfo=dt.timezone(dt.timedelta(hours=1))),
                "day": dt.date(2026, 1, 2),
                "id": uuid.UUID("12345678-1234-5678-1234-567812345678"),
                "tags": ("b", "a"),
                "note": 'say "hi"\n',
            }
        ),
        "request_id": "",
        "prev_hash": chain.GENESIS_HASH,
    }
    expected = (
        '{"action":"policy.update","actor_id":"7","actor_kind":"user","actor_name":"Zoë",'
        '"after":{"at":"2026-01-02T03:04:05.000000Z","day":"2026-01-02",'
        '"id":"12345678-1234-5678-1234-567812345678","max_bid":"1.50","note":"say \\"hi\\"\\n",'
        '"ratio":"0.1","tags":["b","a"]},"before":null,"created_at":"2026-01-02T03:04:05.000006Z",'
        '"object_id":"42","object_type":"governance.policy","prev_hash":"' + "0" * 64 + '",'
        '"request_id":"","sequence":1}'
    ).encode()
    assert chain.canonical_bytes(entry) == expected
    assert chain.entry_hash(entry) == hashlib.sha256(b"0" * 64 + expected).hexdigest()
    with pytest.raises(ValueError, match="timezone-aware"):
        chain.to_plain({"at": dt.datetime(2026, 1, 1)})  # noqa: DTZ001
    with pytest.raises(ValueError, match="non-finite"):
        chain.to_plain({"x": float("nan")})
    with pytest.raises(TypeError, match="bytes"):
        chain.to_plain({"x": b"secret"})


# --- appending ----------------------------------------------------------------------------------------
def test_appends_form_a_valid_chain_in_the_callers_transaction(tenants):
    with schema_context(tenants.a.schema):
        base = head_sequence()
        token = request_id_var.set("req-abc")
        try:
            entries = record(3)
        finally:
            request_id_var.reset(token)
        assert [e.sequence for e in entries] == [base + 1, base + 2, base + 3]
        first_prev = chain.GENESIS_HASH if base == 0 else AuditEntry.objects.get(sequence=base).hash
        assert entries[0].prev_hash == first_prev
        assert [e.prev_hash for e in entries[1:]] == [e.hash for e in entries[:-1]]
        stored = AuditEntry.objects.get(pk=entries[1].pk)
        assert stored.request_id == "req-abc"
        assert stored.after == {"role": "admin", "limit": "12.00", "i": 1, "ü": "naïve ✓"}
        assert stored.created_at.tzinfo is not None
        assert (stored.actor_kind, stored.actor_id, stored.actor_name) == ("user", "7", "alice@alpha.test")

        # A change rolled back takes its entry with it; the chain continues without a gap.
        def change_that_fails() -> None:
            with transaction.atomic():
                services.audit_record(actor=ALICE, action="apikey.revoke", object_type="governance.apikey")
                raise RuntimeError("the change failed")

        with pytest.raises(RuntimeError):
            change_that_fails()
        after_rollback = services.audit_record(
            actor=Actor.system("celery:test"), action="apikey.revoke", object_type="governance.apikey"
        )
        assert after_rollback.sequence == base + 4
        assert after_rollback.prev_hash == entries[-1].hash
        assert (after_rollback.object_id, after_rollback.request_id) == ("", "")

        verdict = services.audit_verify_chain()
        assert verdict == services.ChainVerdict(True, base + 4, after_rollback.hash, None, "")
        check = AuditChainCheck.objects.order_by("-id").first()
        assert (check.ok, check.entries, check.head_hash) == (True, base + 4, after_rollback.hash)


def test_bad_input_is_refused_and_writes_nothing(tenants):
    with schema_context(tenants.a.schema):
        base = head_sequence()
        with pytest.raises(GovernanceError) as exc:
            services.audit_record(actor=ALICE, action=" ", object_type="x")
        assert "action" in exc.value.details
        with pytest.raises(GovernanceError, match="before cannot be recorded"):
            services.audit_record(actor=ALICE, action="a.b", object_type="x", before={"token": b"raw"})
        with pytest.raises(GovernanceError, match="NUL"):
            services.audit_record(actor=ALICE, action="a.b", object_type="x", after={"v": "a\x00b"})
        with pytest.raises(GovernanceError, match="mapping"):
            services.audit_record(actor=ALICE, action="a.b", object_type="x", after=["not", "a", "mapping"])  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="Actor"):
            services.audit_record(actor="alice", action="a.b", object_type="x")  # type: ignore[arg-type]
        assert head_sequence() == base


def test_public_schema_fails_closed(tenants):
    with pytest.raises(TenantRequired):
        services.audit_record(actor=ALICE, action="a.b", object_type="x")
    with pytest.raises(TenantRequired):
        services.audit_verify_chain()


def test_two_tenants_chains_are_independent(tenants):
    a, b = tenants
    with schema_context(a.schema):
        base_a = head_sequence()
        record(2, prefix="alpha")
    with schema_context(b.schema):
        base_b = head_sequence()
        mine = record(3, prefix="beta")
        assert [e.sequence for e in mine] == [base_b + 1, base_b + 2, base_b + 3]
        assert not AuditEntry.objects.filter(action="alpha.update").exists()
    with schema_context(a.schema):
        assert head_sequence() == base_a + 2
        assert not AuditEntry.objects.filter(action="beta.update").exists()
        with superuser_bypass():
            raw(a.schema, "UPDATE {t} SET actor_name = 'mallory' WHERE sequence = %s", [base_a + 1])
        assert services.audit_verify_chain().first_bad_sequence == base_a + 1
    with schema_context(b.schema):
        assert services.audit_verify_chain().ok


# --- the database refuses changes ------------------------------------------------------------------------
def test_trigger_refuses_update_delete_and_truncate_from_the_apps_connection(tenants):
    for info in tenants:
        with schema_context(info.schema):
            entry = record(1)[0]
            same = AuditEntry.objects.filter(pk=entry.pk)
            with pytest.raises(IntegrityError, match="insert-only"), transaction.atomic():
                same.update(action="forged")
            with pytest.raises(IntegrityError, match="insert-only"), transaction.atomic():
                same.delete()
            with pytest.raises(IntegrityError, match="insert-only"), transaction.atomic():
                raw(info.schema, "TRUNCATE {t}")
            assert AuditEntry.objects.get(pk=entry.pk).action == "apikey.update"


def test_every_tenant_schema_and_the_template_carry_the_trigger(tenants):
    from django.conf import settings

    with connection.cursor() as cur:
        cur.execute(
            """SELECT n.nspname, array_agg(t.tgname ORDER BY t.tgname) FROM pg_trigger t
               JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace
               WHERE c.relname = %s AND NOT t.tgisinternal GROUP BY n.nspname""",
            [TABLE],
        )
        found = dict(cur.fetchall())
    expected = ["governance_auditentry_insert_only", "governance_auditentry_no_truncate"]
    for schema in (tenants.a.schema, tenants.b.schema, settings.TENANT_BASE_SCHEMA):
        assert found.get(schema) == expected
    assert "public" not in found


# --- tampering around the trigger is detected ----------------------------------------------------------
@pytest.mark.parametrize(
    ("tamper", "bad_offset", "reason"),
    [
        ("edit", 3, "altered"),
        ("edit_and_rehash", 4, "prev_hash does not match"),
        ("delete", 3, "deleted"),
        ("reorder", 2, "prev_hash does not match"),
        ("delete_tail_after_a_check", 5, "were deleted"),
        ("rewrite_after_a_check", 5, "differs from the recorded head"),  # forged from 3 on, links valid
    ],
)
def test_tampering_as_superuser_names_the_first_bad_entry(tenants, tamper, bad_offset, reason):
    schema = tenants.a.schema
    with schema_context(schema):
        base = head_sequence()
        record(5)
        seq = {k: base + k for k in range(1, 6)}
        if tamper.endswith("after_a_check"):
            assert services.audit_verify_chain().ok
        with superuser_bypass():
            if tamper == "edit":
                raw(
                    schema,
                    """UPDATE {t} SET after = '{"role": "admin", "limit": "999"}' WHERE sequence = %s""",
                    [seq[3]],
                )
            elif tamper == "edit_and_rehash":  # the forger recomputes the edited entry's own hash
                forged = AuditEntry.objects.get(sequence=seq[3])
                rec = {f: getattr(forged, f) for f in chain.HASHED_FIELDS}
                rec["created_at"] = chain.format_time(forged.created_at)
                rec["action"] = "apikey.delete"
                raw(schema, "UPDATE {t} SET action = %s, hash = %s WHERE sequence = %s",
                    [rec["action"], chain.entry_hash(rec), seq[3]])  # fmt: skip
            elif tamper == "delete":
                raw(schema, "DELETE FROM {t} WHERE sequence = %s", [seq[3]])
            elif tamper == "reorder":
                swap_sequences(schema, seq[2], seq[3])
            elif tamper == "delete_tail_after_a_check":  # what links alone cannot see: the tail is gone
                raw(schema, "DELETE FROM {t} WHERE sequence = %s", [seq[5]])
            elif tamper == "rewrite_after_a_check":  # every entry from 3 on re-forged with valid links
                raw(schema, "DELETE FROM {t} WHERE sequence >= %s", [seq[3]])
        if tamper == "rewrite_after_a_check":
            forged_entries = record(3, prefix="forged")
            assert [e.sequence for e in forged_entries] == [seq[3], seq[4], seq[5]]
        verdict = services.audit_verify_chain()
        assert not verdict.ok
        assert verdict.first_bad_sequence == base + bad_offset, verdict.reason
        assert reason in verdict.reason
        assert verdict.entries == base + bad_offset - 1
        assert verdict.head_hash == AuditEntry.objects.get(sequence=base + bad_offset - 1).hash
        check = AuditChainCheck.objects.order_by("-id").first()
        assert (check.ok, check.first_bad_sequence, check.reason) == (
            False,
            base + bad_offset,
            verdict.reason,
        )


def test_audit_verify_command_prints_one_line_per_tenant_and_exit_codes(tenants, capsys):
    a, b = tenants
    for info in tenants:
        with schema_context(info.schema):
            record(2)
    call_command("audit_verify")
    out = capsys.readouterr().out
    assert f"{a.schema}: ok," in out
    assert f"{b.schema}: ok," in out
    with schema_context(b.schema):
        bad = head_sequence() - 1
        with superuser_bypass():
            raw(b.schema, "UPDATE {t} SET object_id = 'x' WHERE sequence = %s", [bad])
    with pytest.raises(CommandError) as exc:
        call_command("audit_verify")
    assert exc.value.returncode == 1
    out = capsys.readouterr().out
    assert f"{a.schema}: ok," in out
    assert f"{b.schema}: BROKEN at entry {bad}: entry {bad}'s hash does not match its contents" in out
    call_command("audit_verify", tenant=a.schema)
    assert b.schema not in capsys.readouterr().out
    with pytest.raises(CommandError) as exc:
        call_command("audit_verify", tenant="no-such-workspace")
    assert exc.value.returncode == 2


def test_nightly_task_is_scheduled_and_records_a_check_per_tenant(tenants):
    from apps.governance.tasks import verify_audit_chain
    from kiki_project.celery import app

    entry = app.conf.beat_schedule["audit-nightly-verify"]
    assert (entry["task"], entry["args"]) == ("core.dispatch_to_tenants", ("governance.verify_audit_chain",))
    assert "governance.verify_audit_chain" in app.tasks
    with schema_context(tenants.a.schema):
        record(1)
        assert verify_audit_chain() is True
        check = AuditChainCheck.objects.order_by("-id").first()
        assert check.ok
        assert check.checked_by == "system:celery:governance.verify_audit_chain"
        with superuser_bypass():
            raw(tenants.a.schema, "UPDATE {t} SET action = 'x' WHERE sequence = %s", [head_sequence()])
        assert verify_audit_chain() is False


# --- export and offline verification ------------------------------------------------------------------
def _bundle(tenants, tmp_path: Path) -> tuple[Path, list[str]]:
    with schema_context(tenants.a.schema):
        record(6)
    out = tmp_path / "bundle"
    call_command("audit_export", tenant=tenants.a.schema, out=str(out))
    lines = (out / "entries.jsonl").read_text(encoding="utf-8").splitlines(keepends=True)
    return out, lines


def _run_offline(bundle: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    """``python -m apps.governance.verify_bundle`` with no Django settings and no database address."""
    env = {"PATH": os.environ.get("PATH", ""), "LC_ALL": "C.UTF-8", "PYTHONDONTWRITEBYTECODE": "1"}
    return subprocess.run(  # noqa: S603
        [sys.executable, *extra, "-m", "apps.governance.verify_bundle", str(bundle)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_export_then_offline_verification_without_django(tenants, tmp_path):
    bundle, lines = _bundle(tenants, tmp_path)
    with schema_context(tenants.a.schema):
        head = AuditEntry.objects.order_by("-sequence").first()
    head_json = json.loads((bundle / "head.json").read_text())
    assert head_json["schema"] == tenants.a.schema
    assert (head_json["count"], head_json["head_hash"]) == (head.sequence, head.hash)
    assert head_json["exported_at"].endswith("Z")
    last = json.loads(lines[-1])
    assert set(last) == set(chain.ENTRY_FIELDS)
    assert last["hash"] == head.hash
    assert lines[-1] == chain.canonical_json(last) + "\n"  # each line is already canonical

    done = _run_offline(bundle, "-X", "importtime")
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith(f"OK: {head.sequence} entries, head {head.hash}")
    imported = {line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines() if "|" in line}
    assert "apps.governance.chain" in imported
    assert not {m for m in imported if m.split(".")[0] in {"django", "psycopg", "kiki_project", "celery"}}


@pytest.mark.parametrize(
    ("tamper", "bad_index", "reason"),
    [
        ("edit", 3, "altered"),
        ("delete", 3, "deleted"),
        ("insert", 3, "inserted"),
        ("reorder", 2, "moved"),
        ("not_json", 3, "not valid JSON"),
        ("extra_field", 3, "unexpected fields"),
        ("drop_last", 5, "were deleted"),
        ("append", 6, "beyond the recorded head"),
        ("head_hash", 5, "differs from the recorded head"),
    ],
)
def test_tampered_bundle_fails_naming_the_entry(tenants, tmp_path, tamper, bad_index, reason):
    bundle, lines = _bundle(tenants, tmp_path)
    earlier, lines = lines[:-6], lines[-6:]  # the six entries this test wrote; earlier ones stay
    base = len(earlier)
    k = bad_index
    if tamper == "edit":
        rec = json.loads(lines[k])
        rec["after"]["role"] = "owner"
        lines[k] = chain.canonical_json(rec) + "\n"
    elif tamper == "delete":
        del lines[k]
    elif tamper == "insert":
        lines.insert(k, lines[k - 1])
    elif tamper == "reorder":
        lines[k], lines[k + 1] = lines[k + 1], lines[k]
    elif tamper == "not_json":
        lines[k] = "{not json\n"
    elif tamper == "extra_field":
        rec = json.loads(lines[k])
        rec["note"] = "added"
        lines[k] = chain.canonical_json(rec) + "\n"
    elif tamper == "drop_last":
        lines.pop()
    elif tamper == "append":  # a well-formed entry 7 chained to entry 6, beyond head.json's count
        rec = json.loads(lines[-1])
        rec.update(sequence=rec["sequence"] + 1, prev_hash=rec["hash"], action="forged.append")
        rec["hash"] = chain.entry_hash(rec)
        lines.append(chain.canonical_json(rec) + "\n")
    (bundle / "entries.jsonl").write_text("".join(earlier + lines), encoding="utf-8")
    if tamper == "head_hash":
        head = json.loads((bundle / "head.json").read_text())
        head["head_hash"] = "f" * 64
        (bundle / "head.json").write_text(json.dumps(head))
    bad_sequence = base + k + 1

    out, err = io.StringIO(), io.StringIO()
    assert verify_bundle.main([str(bundle)], out=out, err=err) == verify_bundle.EXIT_TAMPERED
    assert f"first bad entry {bad_sequence}:" in out.getvalue(), out.getvalue()
    assert reason in out.getvalue()
    if tamper in ("edit", "reorder"):  # and the real command line says the same
        done = _run_offline(bundle)
        assert done.returncode == 1
        assert f"TAMPERED: first bad entry {bad_sequence}:" in done.stdout


@pytest.mark.parametrize("damage", ["no_directory", "no_head", "head_not_json", "no_entries", "not_utf8"])
def test_unreadable_bundle_exits_2_with_a_clear_message(tenants, tmp_path, damage):
    bundle, _ = _bundle(tenants, tmp_path)
    if damage == "no_directory":
        bundle = tmp_path / "missing"
    elif damage == "no_head":
        (bundle / "head.json").unlink()
    elif damage == "head_not_json":
        (bundle / "head.json").write_text("{")
    elif damage == "no_entries":
        (bundle / "entries.jsonl").unlink()
    elif damage == "not_utf8":
        (bundle / "entries.jsonl").write_bytes(b"\xff\xfe\n")
    done = _run_offline(bundle)
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.startswith("unreadable bundle: ")
    assert done.stdout == ""


# --- concurrency, tenant creation and deletion (committed rows, other processes) ---------------------
APPENDER = r"""
import sys, time
from pathlib import Path
import django
django.setup()
from django.db import connection, transaction
from django_tenants.utils import schema_context
from apps.core.actor import Actor
from apps.governance import services
schema, worker, count, sync = sys.argv[1], sys.argv[2], int(sys.argv[3]), Path(sys.argv[4])
connection.ensure_connection()
(sync / f"ready-{worker}").touch()
while not (sync / "go").exists():
    time.sleep(0.005)
with schema_context(schema):
    for i in range(count):
        with transaction.atomic():
            services.audit_record(
                actor=Actor.system(f"race:{worker}"), action="race.append", object_type="test.race",
                object_id=f"{worker}-{i}", after={"worker": worker, "i": i},
            )
"""


def _env() -> dict[str, str]:
    return dict(
        os.environ,
        DATABASE_URL=worker_database_url(),
        DJANGO_SETTINGS_MODULE="kiki_project.settings",
        KIKI_ENV="test",
        PYTHONUNBUFFERED="1",
    )


def test_concurrent_appends_from_processes_give_one_gap_free_chain(committed_db, tmp_path):
    from apps.governance.tenancy.models import Tenant
    from apps.governance.tenancy.services import SignupRequest, tenant_signup
    from conftest import PASSWORD

    workers, per_worker = 4, 20
    created = tenant_signup(
        SignupRequest(name="Audit Race", slug="audit-race", admin_email="a@race.test", password=PASSWORD),
        actor=Actor.system("tests"),
    )
    schema = created.schema_name
    try:
        with schema_context(schema):
            base = head_sequence()
        procs = [
            subprocess.Popen(  # noqa: S603
                [sys.executable, "-c", APPENDER, schema, str(w), str(per_worker), str(tmp_path)],
                cwd=ROOT,
                env=_env(),
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
            for w in range(workers)
        ]
        deadline = time.monotonic() + 180
        while len(list(tmp_path.glob("ready-*"))) < workers:
            assert time.monotonic() < deadline, "appenders did not start"
            assert all(p.poll() is None for p in procs), [p.communicate()[0][-2000:] for p in procs]
            time.sleep(0.05)
        (tmp_path / "go").touch()
        for p in procs:
            output, _ = p.communicate(timeout=180)
            assert p.returncode == 0, output[-3000:]

        with schema_context(schema):
            rows = list(
                AuditEntry.objects.filter(sequence__gt=base)
                .order_by("sequence")
                .values_list("sequence", "actor_id")
            )
            assert [s for s, _ in rows] == list(range(base + 1, base + 1 + workers * per_worker))
            switches = sum(1 for (_, x), (_, y) in zip(rows, rows[1:], strict=False) if x != y)
            assert switches > workers  # the appends really interleaved
            verdict = services.audit_verify_chain()
            assert verdict.ok, verdict
            assert verdict.entries == base + workers * per_worker

            # The trigger came with the cloned schema; the real command line's exit codes.
            with pytest.raises(IntegrityError, match="insert-only"), transaction.atomic():
                AuditEntry.objects.filter(sequence=base + 1).delete()
        ok = subprocess.run(  # noqa: S603
            [sys.executable, "manage.py", "audit_verify", "--tenant", schema],
            cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        assert ok.returncode == 0, ok.stdout + ok.stderr
        assert f"{schema}: ok, {verdict.entries} entries" in ok.stdout
        bad = base + 50
        with schema_context(schema), transaction.atomic():
            with superuser_bypass():
                raw(schema, "UPDATE {t} SET actor_name = 'mallory' WHERE sequence = %s", [bad])
        broken = subprocess.run(  # noqa: S603
            [sys.executable, "manage.py", "audit_verify", "--tenant", schema],
            cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        assert broken.returncode == 1, broken.stdout + broken.stderr
        assert f"{schema}: BROKEN at entry {bad}:" in broken.stdout
    finally:
        for tenant in Tenant.objects.filter(schema_name=schema):
            tenant.delete(force_drop=True)  # DROP SCHEMA … CASCADE: no trigger stands in the way
    assert not schema_exists(schema)


# --- admin -----------------------------------------------------------------------------------------------
def session(info, email: str) -> Client:
    client = Client(HTTP_HOST=info.host)
    with schema_context(info.schema):
        assert client.login(username=email, password=info.password)
    return client


def test_admin_is_read_only_for_everyone_and_verifies_on_demand(tenants, django_assert_max_num_queries):
    from django.contrib.auth import get_user_model

    a = tenants.a
    with schema_context(a.schema):
        entry = record(3)[-1]
        get_user_model().objects.create_superuser("root@alpha.test", "root@alpha.test", a.password)
    base = "/admin/governance/auditentry/"
    for email in (a.admin_email, "root@alpha.test"):
        client = session(a, email)
        listing = client.get(base)
        assert listing.status_code == 200
        assert b"has not been verified yet" in listing.content or b"Intact" in listing.content
        assert b"apikey.update" in listing.content
        assert client.get(f"{base}add/").status_code == 403
        assert client.get(f"{base}{entry.pk}/change/").status_code == 200  # a view-only page
        assert client.post(f"{base}{entry.pk}/change/", {"action": "forged"}).status_code == 403
        assert client.get(f"{base}{entry.pk}/delete/").status_code == 403
        assert client.post(
            base, {"action": "delete_selected", "_selected_action": [entry.pk]}
        ).status_code in (
            200,
            302,
        )
        with schema_context(a.schema):
            assert AuditEntry.objects.get(pk=entry.pk).action == "apikey.update"
    for params in ("?actor_kind__exact=user", "?q=apikey", "?action__exact=apikey.update"):
        assert session(a, a.analyst_email).get(base + params).status_code == 200

    admin = session(a, a.admin_email)
    with django_assert_max_num_queries(20):
        assert admin.get(base).status_code == 200
    verified = admin.post(f"{base}verify/", follow=True)
    assert b"Audit chain intact" in verified.content
    assert b"Intact" in verified.content
    with schema_context(a.schema):
        check = AuditChainCheck.objects.order_by("-id").first()
        assert check.ok
        assert check.checked_by == f"user:{a.admin_email}"
        checks = AuditChainCheck.objects.count()
        with superuser_bypass():
            raw(a.schema, "UPDATE {t} SET action = 'x' WHERE sequence = %s", [entry.sequence])
    broken = admin.post(f"{base}verify/", follow=True)
    assert f"BROKEN at entry {entry.sequence}".encode() in broken.content

    analyst = session(a, a.analyst_email)
    assert b"Verify now" not in analyst.get(base).content
    analyst.post(f"{base}verify/")
    with schema_context(a.schema):
        assert AuditChainCheck.objects.count() == checks + 1  # the Admin's second check only
