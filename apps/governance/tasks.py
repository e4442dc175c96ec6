import logging

from apps.core.actor import Actor
from apps.core.tasks import Queue, kiki_task
from apps.governance.services import audit_verify_chain, report_execute

logger = logging.getLogger(__name__)


@kiki_task("governance.run_report", queue=Queue.DEFAULT)
def run_report(run_id: int) -> str:
    return report_execute(run_id=run_id).status


@kiki_task("governance.verify_audit_chain", queue=Queue.DEFAULT, soft_time_limit=1800, time_limit=1900)
def verify_audit_chain() -> bool:
    """Nightly, per workspace (beat → core.dispatch_to_tenants): verify the chain and record the check.

    Repeating it only records another check; a broken chain is logged as an error, naming the entry.
    """
    verdict = audit_verify_chain(actor=Actor.system("celery:governance.verify_audit_chain"))
    if not verdict.ok:
        logger.error(
            "audit chain broken at entry %s: %s",
            verdict.first_bad_sequence,
            verdict.reason,
            extra={"first_bad_sequence": verdict.first_bad_sequence},
        )
    return verdict.ok


# --- budget guardrails and the approval queue (per workspace, beat → core.dispatch_to_tenants) ------
@kiki_task(
    "governance.expire_budget_reservations",
    queue=Queue.DEFAULT,
    max_retries=2,
    soft_time_limit=60,
    time_limit=90,
)
def expire_budget_reservations() -> int:
    """Every minute: reservations past their expiry give their budget back (idempotent)."""
    from apps.governance.services import budget_expire

    return budget_expire()


@kiki_task(
    "governance.reconcile_budget", queue=Queue.DEFAULT, max_retries=2, soft_time_limit=120, time_limit=180
)
def reconcile_budget() -> bool:
    """Hourly: the Redis counters are rebuilt from the ledger (drift, only ever upwards, is audited)."""
    from apps.governance.services import budget_rebuild

    return budget_rebuild(force=True, actor=Actor.system("celery:governance.reconcile_budget"))


@kiki_task("governance.expire_approvals", queue=Queue.DEFAULT, max_retries=2)
def expire_approvals() -> int:
    """Hourly: approval requests nobody decided in time expire (audited, idempotent)."""
    from apps.governance.services import approvals_expire

    return approvals_expire()
