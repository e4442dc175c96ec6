"""Admin for automation's guardrails: policy versions, the approval queue, the budget ledger.

- Policy: every version is read-only (Analysts see them); "Add" (``governance.manage_policies``, Admins)
  opens a form pre-filled with the current policy that makes a new version, reason required.
- Approvals: opens on the pending ones; "Approve" and "Reject" ask for a reason on an intermediate
  page and need ``governance.approve_money_movement`` (Admins).
- Budget ledger: read-only.

Imported by ``apps.governance.admin``.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect

from apps.core.actor import Actor
from apps.core.admin import ReadOnlyTenantAdmin, TenantOnlyAdmin, action_with_reason
from apps.governance import services
from apps.governance.errors import GovernanceError
from apps.governance.models import ApprovalRequest, BudgetLedgerEntry, PolicyVersion
from apps.governance.services.policy import MAX_REASON, validate_rules


class PolicyVersionForm(forms.ModelForm):
    """A new version: the current policy's values to edit, and why."""

    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), max_length=MAX_REASON)

    class Meta:
        model = PolicyVersion
        fields = [*PolicyVersion.RULE_FIELDS, "reason"]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if self.errors:
            return data
        rules = {name: data.get(name) for name in PolicyVersion.RULE_FIELDS}
        try:
            validated = validate_rules(rules)
        except GovernanceError as exc:
            for name, problems in exc.details.items():
                self.add_error(name.split(".")[0] if name.split(".")[0] in self.fields else None, problems)
            return data
        if validated == validate_rules(services.policy_current().rules()):
            self.add_error(None, "The new version would change nothing.")
        data.update(validated)
        return data


@admin.register(PolicyVersion)
class PolicyVersionAdmin(TenantOnlyAdmin):
    form = PolicyVersionForm
    list_display = [
        "version",
        "created_at",
        "author_name",
        "short_reason",
        "dry_run",
        "kill_switch",
        "max_bid_micros",
    ]
    list_filter = ["dry_run", "kill_switch"]
    search_fields = ["reason", "author_name"]
    ordering = ["-version"]
    fieldsets = [
        ("Why", {"fields": ["reason"]}),
        ("Automation", {"fields": ["dry_run", "kill_switch", "allowed_platforms", "blackout_hours"]}),
        ("Bids", {"fields": ["max_bid_micros", "min_roas", "approval_threshold_micros"]}),
        (
            "Budget caps (micros)",
            {
                "fields": [
                    "campaign_daily_cap_micros",
                    "campaign_monthly_cap_micros",
                    "campaign_caps",
                    "platform_caps",
                ]
            },
        ),
    ]

    @admin.display(description="reason")
    def short_reason(self, obj: PolicyVersion) -> str:
        return obj.reason if len(obj.reason) <= 80 else obj.reason[:79] + "…"

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is None:
            return self.fieldsets
        return [
            (None, {"fields": ["version", "created_at", "author_kind", "author_id", "author_name"]}),
            *self.fieldsets,
        ]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is None:
            return []
        return [
            "version",
            "created_at",
            "author_kind",
            "author_id",
            "author_name",
            "reason",
            *PolicyVersion.RULE_FIELDS,
        ]

    def get_changeform_initial_data(self, request: HttpRequest) -> dict[str, Any]:
        current = services.policy_current()
        return {name: getattr(current, name) for name in PolicyVersion.RULE_FIELDS}

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return self._here() and request.user.has_perm("governance.manage_policies")

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # a version is immutable: add a new one

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: PolicyVersion, form: Any, change: bool) -> None:
        data = form.cleaned_data
        new = services.policy_update(
            actor=Actor.for_user(request.user),
            reason=data["reason"],
            changes={name: data[name] for name in PolicyVersion.RULE_FIELDS},
        )
        obj.pk, obj.version = new.pk, new.version
        obj._state.adding = False

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        pass  # nothing related; save_model wrote the version through the service


class DecisionForm(forms.Form):
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), max_length=MAX_REASON)


@admin.register(ApprovalRequest)
class ApprovalRequestAdmin(ReadOnlyTenantAdmin):
    """Requests come from automation, through action_authorize; people only approve or reject them."""

    list_display = [
        "id",
        "status",
        "kind",
        "platform",
        "campaign_key",
        "amount_micros",
        "requested_by_name",
        "created_at",
        "expires_at",
        "decided_by_name",
    ]
    list_filter = ["status", "kind", "platform"]
    search_fields = ["campaign_key", "requested_by_name", "decided_by_name", "reason"]
    actions = ["approve", "reject"]
    readonly_fields = [f.name for f in ApprovalRequest._meta.fields if f.name != "id"]

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        # The queue opens on what waits for a decision.
        if request.method == "GET" and not any(k.startswith("status") for k in request.GET):
            query = request.GET.copy()
            query["status__exact"] = ApprovalRequest.Status.PENDING
            return HttpResponseRedirect(f"{request.path}?{query.urlencode()}")
        return super().changelist_view(request, extra_context)

    def has_approve_permission(self, request: HttpRequest) -> bool:
        return self._here() and request.user.has_perm("governance.approve_money_movement")

    def _decide(self, request: HttpRequest, queryset: QuerySet[ApprovalRequest], *, approve: bool) -> Any:
        verb = "approve" if approve else "reject"

        def apply(data: dict[str, Any]) -> None:
            decide = services.approval_approve if approve else services.approval_reject
            done = 0
            for pending in queryset:
                try:
                    decide(approval_id=pending.pk, reason=data["reason"], actor=Actor.for_user(request.user))
                    done += 1
                except GovernanceError as exc:
                    self.message_user(request, f"#{pending.pk}: {exc.message}", messages.ERROR)
            if done:
                self.message_user(request, f"{verb.title()}d {done} request(s).", messages.SUCCESS)

        return action_with_reason(
            self,
            request,
            action=verb,
            verb=verb,
            form_class=DecisionForm,
            selected=queryset,
            apply=apply,
            template="admin/governance/approvalrequest/decide.html",
            title=f"{verb.title()} approval requests",
        )

    @admin.action(description="Approve selected requests (asks for a reason)", permissions=["approve"])
    def approve(self, request: HttpRequest, queryset: QuerySet[ApprovalRequest]) -> Any:
        return self._decide(request, queryset, approve=True)

    @admin.action(description="Reject selected requests (asks for a reason)", permissions=["approve"])
    def reject(self, request: HttpRequest, queryset: QuerySet[ApprovalRequest]) -> Any:
        return self._decide(request, queryset, approve=False)


@admin.register(BudgetLedgerEntry)
class BudgetLedgerEntryAdmin(ReadOnlyTenantAdmin):
    list_display = [
        "created_at",
        "source",
        "state",
        "platform",
        "campaign_key",
        "day",
        "amount_micros",
        "actual_micros",
        "expires_at",
        "requested_by",
    ]
    list_filter = ["state", "source", "platform", "day"]
    search_fields = ["campaign_key", "report_key", "requested_by"]
    readonly_fields = [f.name for f in BudgetLedgerEntry._meta.fields]
