"""Admin registrations of the bidding app: the LTV model registry and training runs (read-only figures;
Admins may request a training run)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponseRedirect
from django.urls import path, reverse

from apps.bidding import services
from apps.bidding.errors import BiddingError
from apps.bidding.models import CircuitState, LtvModel, LtvTrainingRun
from apps.core.actor import Actor
from apps.core.admin import ReadOnlyTenantAdmin


def _figure(metrics: dict[str, float] | None, name: str) -> str:
    return "–" if not metrics else f"{metrics[name]:.3f}"


@admin.register(LtvModel)
class LtvModelAdmin(ReadOnlyTenantAdmin):
    """Models come from training runs; the registry is the record of what scored the customers."""

    list_display = [
        "version",
        "status",
        "horizon_days",
        "calibration_end",
        "customers_count",
        "candidate_spend_mae",
        "current_spend_mae",
        "trained_at",
        "promoted_at",
    ]
    list_filter = ["status"]
    search_fields = ["version"]
    exclude = ["artefact"]
    readonly_fields = list(LtvModel.SHOWN_FIELDS)

    def get_queryset(self, request: HttpRequest) -> QuerySet[LtvModel]:
        return super().get_queryset(request).defer("artefact")

    @admin.display(description="spend MAE (candidate)")
    def candidate_spend_mae(self, obj: LtvModel) -> str:
        return _figure(obj.candidate_metrics, "spend_mae")

    @admin.display(description="spend MAE (then active)")
    def current_spend_mae(self, obj: LtvModel) -> str:
        return _figure(obj.current_metrics, "spend_mae")


@admin.register(LtvTrainingRun)
class LtvTrainingRunAdmin(ReadOnlyTenantAdmin):
    """Read-only: "Train now" requests a run."""

    list_display = [
        "id",
        "status",
        "horizon_days",
        "requested_by",
        "created_at",
        "finished_at",
        "model",
        "promoted",
    ]
    list_filter = ["status", "promoted"]
    list_select_related = ["model"]
    readonly_fields = list(LtvTrainingRun.SHOWN_FIELDS)
    change_list_template = "admin/bidding/ltvtrainingrun/change_list.html"

    def get_queryset(self, request: HttpRequest) -> QuerySet[LtvTrainingRun]:
        return super().get_queryset(request).defer("model__artefact")

    def can_train(self, request: HttpRequest) -> bool:
        return self._here() and request.user.has_perm("bidding.train_ltv")

    def get_urls(self) -> list[Any]:
        train = path(
            "train/", self.admin_site.admin_view(self.train_view), name="bidding_ltvtrainingrun_train"
        )
        return [train, *super().get_urls()]

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> Any:
        return super().changelist_view(
            request, {**(extra_context or {}), "can_train": self.can_train(request)}
        )

    def train_view(self, request: HttpRequest) -> HttpResponseRedirect:
        """POST only (a button on the changelist), Admins only (``bidding.train_ltv``)."""
        back = reverse("admin:bidding_ltvtrainingrun_changelist")
        if request.method != "POST" or not self.can_train(request):
            self.message_user(request, "Only Admins can train LTV models.", messages.ERROR)
            return HttpResponseRedirect(back)
        try:
            run = services.ltv_training_request(actor=Actor.for_user(request.user))
        except BiddingError as exc:
            self.message_user(request, exc.message, messages.WARNING)
        else:
            self.message_user(
                request,
                f"Training run #{run.pk} requested; the worker trains it in the background.",
                messages.SUCCESS,
            )
        return HttpResponseRedirect(back)


@admin.register(CircuitState)
class CircuitStateAdmin(ReadOnlyTenantAdmin):
    """Each account's circuit breaker as last mirrored (transitions only; the live state is in Redis).
    Read-only (rows mirror transitions); Admins (``bidding.change_circuitstate``) may reset a breaker
    to closed (audited)."""

    list_display = ["account", "platform", "state", "failures", "opened_at", "changed_at", "last_failure"]
    list_filter = ["state", "account__platform"]
    list_select_related = ["account"]
    readonly_fields = ["account", "state", "failures", "opened_at", "last_failure", "changed_at"]
    actions = ["reset_breaker"]

    @admin.display(description="platform", ordering="account__platform")
    def platform(self, obj: CircuitState) -> str:
        return obj.account.get_platform_display()

    def has_reset_permission(self, request: HttpRequest) -> bool:
        return self._here() and request.user.has_perm("bidding.change_circuitstate")

    @admin.action(description="Reset breaker (close it now)", permissions=["reset"])
    def reset_breaker(self, request: HttpRequest, queryset: QuerySet[CircuitState]) -> None:
        actor = Actor.for_user(request.user)
        rows = list(queryset.select_related("account"))
        for row in rows:
            services.breaker_reset(account=row.account, actor=actor)
        self.message_user(request, f"Reset {len(rows)} circuit breaker(s) to closed.", messages.SUCCESS)


# Ad accounts, campaigns, bid decisions, platform changes, spend, inventory holds.
from apps.bidding import admin_campaigns  # noqa: E402, F401
