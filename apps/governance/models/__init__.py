"""Governance models, one module per purpose; everything is importable from ``apps.governance.models``."""

from apps.governance.models.access import ApiKey, Capability, ReportRun, Secret
from apps.governance.models.approval import ApprovalRequest
from apps.governance.models.audit import AuditChainCheck, AuditEntry
from apps.governance.models.budget import BudgetLedgerEntry
from apps.governance.models.policy import ALL_PLATFORMS, Platform, PolicyVersion

__all__ = [
    "ALL_PLATFORMS",
    "ApiKey",
    "ApprovalRequest",
    "AuditChainCheck",
    "AuditEntry",
    "BudgetLedgerEntry",
    "Capability",
    "Platform",
    "PolicyVersion",
    "ReportRun",
    "Secret",
]
