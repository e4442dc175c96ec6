"""Admin of ad accounts, campaigns and what automation did to them (imported by ``apps.bidding.admin``).

- Ad accounts: added with their credentials (``ad_account_connect``); the change page rotates them
  (``ad_account_set_credentials``). Credential fields are write-only: no page shows a value, only
  the names of the credentials an account holds.
- Campaigns: registered through ``campaign_register``; every field is read-only after that, status and
  who paused it included. The promoted products (inline) are saved through ``campaign_set_products``.
  Pause, resume, set bid and set budget are actions that ask for a reason (and the amount) on an
  intermediate page and go through governance like the API: queued, waiting for approval or refused.
- Bid decisions, platform changes, the spend ledger and inventory holds: read-only.

Amounts are shown in the account's currency (stored as micros). Admins change; Analysts view (the
Admin and Analyst groups' model permissions).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal
from operator import attrgetter
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.forms.models import BaseInlineFormSet
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.utils.html import format_html, format_html_join

from apps.bidding import services
from apps.bidding.errors import BiddingError
from apps.bidding.models import (
    AdPlatformAccount,
    BidDecision,
    Campaign,
    CampaignProduct,
    CircuitState,
    InventoryHold,
    PlatformChange,
    SpendLedger,
)
from apps.bidding.services.campaigns import MAX_ROAS
from apps.bidding.services.platforms import MAX_REASON, MAX_VALUE_MICROS
from apps.core.actor import Actor
from apps.core.admin import ReadOnlyTenantAdmin, TenantOnlyAdmin, action_with_reason
from apps.core.money import CENT, has_whole_cents, micros_to_decimal, to_micros

MAX_AMOUNT = micros_to_decimal(MAX_VALUE_MICROS)
MICRO = Decimal("0.000001")


def money(micros: int | None, currency: str) -> str:
    """Micros as an amount a person reads: ``12,500,000`` → ``12.50 USD``."""
    if micros is None:
        return "–"
    value = micros_to_decimal(micros)
    shown = value.quantize(CENT) if has_whole_cents(value) else value.normalize()
    return f"{shown:,} {currency}"


def money_column(
    micros_field: str,
    description: str,
    *,
    currency: str = "campaign.account.currency",
    sortable: bool = False,
) -> Callable[[Any, Any], str]:
    """An admin column: ``micros_field`` shown by ``money`` in the currency at the dotted path
    ``currency`` from the row; ``sortable`` orders by the field."""
    currency_of = attrgetter(currency)

    @admin.display(description=description, ordering=micros_field if sortable else None)
    def column(model_admin: Any, obj: Any) -> str:
        return money(getattr(obj, micros_field), currency_of(obj))

    return column


def breaker_state(account: AdPlatformAccount) -> str:
    try:
        return account.circuit.get_state_display()
    except CircuitState.DoesNotExist:
        return CircuitState.State.CLOSED.label


def reasons_text(reasons: Any) -> list[str]:
    """A decision's reasons as lines (``code: message``), whatever JSON shape they were stored in."""
    items = reasons if isinstance(reasons, list) else [reasons] if reasons else []
    lines = []
    for item in items:
        if isinstance(item, Mapping):
            code, message = item.get("code"), item.get("message")
            lines.append(f"{code}: {message}" if code and message else str(message or code or dict(item)))
        else:
            lines.append(str(item))
    return lines


def _add_errors(form: forms.BaseForm, exc: BiddingError, aliases: Mapping[str, str] | None = None) -> None:
    for field, problems in exc.details.items():
        name = (aliases or {}).get(field, field.removeprefix("credentials."))
        form.add_error(name if name in form.fields else None, problems)
    if not exc.details:
        form.add_error(None, exc.message)


class ReadOnlyAdmin(ReadOnlyTenantAdmin):
    """Records written by services and tasks, every field shown as text."""

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return self.fields or []


class CampaignFilter(admin.SimpleListFilter):
    """By campaign, labelled with its platform and id (one query, not one per campaign)."""

    title = "campaign"
    parameter_name = "campaign"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        rows = Campaign.objects.order_by("name", "pk").values_list(
            "pk", "name", "account__platform", "external_id"
        )
        return [(str(pk), f"{name} ({platform}:{ext})") for pk, name, platform, ext in rows]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        value = self.value()
        if value is None:
            return queryset
        return queryset.filter(campaign_id=int(value)) if value.isdigit() else queryset.none()


# --- ad accounts ---------------------------------------------------------------------------------
def _secret(label: str, help_text: str, *, required: bool = False) -> forms.CharField:
    # Write-only: a value is never rendered back, not even after a form error.
    return forms.CharField(
        label=label,
        required=required,
        strip=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
        help_text=help_text,
    )


CREDENTIAL_FIELDS = ("access_token", "developer_token", "login_customer_id")


class CredentialsForm(forms.ModelForm):
    """Write-only credential fields; ``credentials()`` is what was filled in."""

    access_token = _secret("Access token", "Every platform.")
    developer_token = _secret("Developer token", "Google Ads only.")
    login_customer_id = forms.CharField(
        label="Login customer id",
        required=False,
        max_length=12,
        help_text="Google Ads, when reached through a manager account: 123-456-7890.",
    )

    def credentials(self) -> dict[str, str]:
        data = getattr(self, "cleaned_data", {})
        return {k: data[k] for k in CREDENTIAL_FIELDS if data.get(k)}


class AdAccountAddForm(CredentialsForm):
    class Meta:
        model = AdPlatformAccount
        fields = ["platform", "external_id", "name", "currency"]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if self.errors:
            return data
        try:
            services.ad_account_connect_check(
                platform=data["platform"],
                external_id=data["external_id"],
                name=data["name"],
                currency=data["currency"],
                credentials=self.credentials(),
            )
        except BiddingError as exc:
            _add_errors(self, exc)
        return data

    def validate_unique(self) -> None:
        pass  # the check above answers a duplicate with the API's message


class AdAccountRotateForm(CredentialsForm):
    """The change page: nothing of the account is edited here; filling the credentials rotates them
    (all at once: they replace the old ones)."""

    class Meta:
        model = AdPlatformAccount
        fields: list[str] = []

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if not self.errors and self.credentials():
            try:
                services.ad_account_set_credentials_check(
                    account=self.instance, credentials=self.credentials()
                )
            except BiddingError as exc:
                _add_errors(self, exc)
        return data


@admin.register(AdPlatformAccount)
class AdPlatformAccountAdmin(TenantOnlyAdmin):
    list_display = ["name", "platform", "external_id", "currency", "status", "breaker", "updated_at"]
    list_filter = ["platform", "status"]
    search_fields = ["name", "external_id"]
    list_select_related = ["circuit"]
    shown = [
        "platform",
        "external_id",
        "name",
        "currency",
        "status",
        "last_error",
        "credentials_held",
        "credentials_expire_at",
        "breaker",
        "created_at",
        "updated_at",
    ]

    @admin.display(description="breaker")
    def breaker(self, obj: AdPlatformAccount) -> str:
        return breaker_state(obj)

    @admin.display(description="credentials")
    def credentials_held(self, obj: AdPlatformAccount) -> str:
        keys = services.credential_keys(obj)
        return f"set: {', '.join(keys)} (values are never shown)" if keys else "none"

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any) -> Any:
        kwargs["form"] = AdAccountRotateForm if obj is not None else AdAccountAddForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        secrets = list(CREDENTIAL_FIELDS)
        if obj is None:
            return ["platform", "external_id", "name", "currency", *secrets]
        if self.has_change_permission(request, obj):
            return [*self.shown, *secrets]
        return self.shown

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return self.shown if obj is not None else []

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> Any:
        fields = list(self.get_fields(request, obj))
        if obj is None:
            return [(None, {"fields": fields[:4]}), ("Credentials (write-only)", {"fields": fields[4:]})]
        rotate = [f for f in fields if f not in self.shown]
        sets: list[Any] = [(None, {"fields": self.shown})]
        if rotate:
            sets.append(
                (
                    "Rotate credentials (write-only: fill them to replace the stored ones)",
                    {"fields": rotate},
                )
            )
        return sets

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # campaigns and the spend ledger PROTECT their account

    def save_model(self, request: HttpRequest, obj: AdPlatformAccount, form: Any, change: bool) -> None:
        actor = Actor.for_user(request.user)
        if not change:
            data = form.cleaned_data
            created = services.ad_account_connect(
                platform=data["platform"],
                external_id=data["external_id"],
                name=data["name"],
                currency=data["currency"],
                credentials=form.credentials(),
                actor=actor,
            )
            obj.pk = created.pk
            return
        if form.credentials():
            services.ad_account_set_credentials(account=obj, credentials=form.credentials(), actor=actor)
            self.message_user(request, "Credentials rotated.", messages.SUCCESS)

    def construct_change_message(
        self, request: HttpRequest, form: Any, formsets: Any, add: bool = False
    ) -> Any:
        # The admin's history names changed fields; say "credentials rotated", nothing more.
        if add:
            return [{"added": {}}]
        return [{"changed": {"fields": ["credentials"]}}] if form.credentials() else []


# --- campaigns -----------------------------------------------------------------------------------
def _amount_field(label: str, *, required: bool, help_text: str = "") -> forms.DecimalField:
    return forms.DecimalField(
        label=label,
        required=required,
        min_value=MICRO,
        max_value=MAX_AMOUNT,
        decimal_places=6,
        help_text=help_text or "In the account's currency.",
    )


class CampaignAddForm(forms.ModelForm):
    daily_budget = _amount_field("Daily budget", required=True)
    bid = _amount_field("Max bid", required=False, help_text="Required for manual bids.")

    class Meta:
        model = Campaign
        fields = ["account", "external_id", "name", "bid_strategy", "target_roas"]
        help_texts = {"external_id": "The campaign's id on the platform (it exists there already)."}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if "account" in self.fields:
            account = self.fields["account"]
            assert isinstance(account, forms.ModelChoiceField)  # noqa: S101 - the model's foreign key
            account.queryset = AdPlatformAccount.objects.order_by("platform", "name")
        if "target_roas" in self.fields:
            self.fields[
                "target_roas"
            ].help_text = f"Required for target ROAS, e.g. 3.5 (350 %); at most {MAX_ROAS}."

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if self.errors:
            return data
        try:
            services.campaign_register_check(**self.register_kwargs())
        except BiddingError as exc:
            _add_errors(self, exc, {"daily_budget_micros": "daily_budget", "bid_micros": "bid"})
        return data

    def register_kwargs(self) -> dict[str, Any]:
        data = self.cleaned_data
        return {
            "account": data["account"],
            "external_id": data["external_id"],
            "name": data["name"],
            "daily_budget_micros": to_micros(data["daily_budget"]),
            "bid_strategy": data["bid_strategy"],
            "bid_micros": to_micros(data["bid"]) if data.get("bid") is not None else None,
            "target_roas": data.get("target_roas"),
        }

    def validate_unique(self) -> None:
        pass  # the check above answers a duplicate with the API's message


class CampaignProductFormSet(BaseInlineFormSet):
    """The promoted products as a set, checked like the API (every store exists) before saving."""

    def products(self) -> list[tuple[int, str]]:
        out = []
        for form in self.forms:
            data = getattr(form, "cleaned_data", None) or {}
            if data and not data.get("DELETE") and data.get("store_id") and data.get("product_platform_id"):
                out.append((int(data["store_id"]), str(data["product_platform_id"]).strip()))
        return out

    def clean(self) -> None:
        super().clean()
        if any(self.errors):
            return
        try:
            services.campaign_products_check(promoted_products=self.products())
        except BiddingError as exc:
            problems = [m for ms in exc.details.values() for m in ms] or [exc.message]
            raise forms.ValidationError(problems) from exc

    def validate_unique(self) -> None:
        pass  # the check above refuses a product listed twice


class CampaignProductInline(admin.TabularInline):
    model = CampaignProduct
    formset = CampaignProductFormSet
    fields = ["store_id", "product_platform_id"]
    extra = 1
    verbose_name = "promoted product"
    verbose_name_plural = "promoted products (the inventory breaker pauses the campaign when one runs out)"

    def get_extra(self, request: HttpRequest, obj: Any = None, **kwargs: Any) -> int:
        return 1 if self.has_change_permission(request, obj) else 0


class CampaignActionForm(forms.Form):
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), max_length=MAX_REASON)


class CampaignBidForm(CampaignActionForm):
    amount = _amount_field("New max bid", required=True, help_text="In each campaign's currency.")


class CampaignBudgetForm(CampaignActionForm):
    amount = _amount_field("New daily budget", required=True, help_text="In each campaign's currency.")


_ACTIONS: dict[str, tuple[str, type[CampaignActionForm]]] = {
    "pause_campaigns": ("pause", CampaignActionForm),
    "resume_campaigns": ("resume", CampaignActionForm),
    "set_bid": ("set the max bid of", CampaignBidForm),
    "set_budget": ("set the daily budget of", CampaignBudgetForm),
}


@admin.register(Campaign)
class CampaignAdmin(TenantOnlyAdmin):
    list_display = [
        "name",
        "platform",
        "external_id",
        "status",
        "paused_by",
        "daily_budget",
        "bid",
        "target_roas",
        "bid_strategy",
        "breaker",
    ]
    list_filter = ["status", "paused_by", "account__platform", "bid_strategy"]
    search_fields = ["name", "external_id"]
    list_select_related = ["account", "account__circuit"]
    inlines = [CampaignProductInline]
    actions = ["pause_campaigns", "resume_campaigns", "set_bid", "set_budget"]
    shown = [
        "account",
        "platform",
        "external_id",
        "name",
        "status",
        "paused_by",
        "paused_by_actor",
        "paused_reason",
        "paused_at",
        "daily_budget",
        "bid_strategy",
        "bid",
        "target_roas",
        "breaker",
        "created_at",
        "updated_at",
    ]

    @admin.display(description="platform", ordering="account__platform")
    def platform(self, obj: Campaign) -> str:
        return obj.account.get_platform_display()

    daily_budget = money_column(
        "daily_budget_micros", "daily budget", currency="account.currency", sortable=True
    )
    bid = money_column("bid_micros", "max bid", currency="account.currency", sortable=True)

    @admin.display(description="breaker")
    def breaker(self, obj: Campaign) -> str:
        return breaker_state(obj.account)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Campaign]:
        return super().get_queryset(request).select_related("account", "account__circuit")

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any) -> Any:
        if obj is None:
            kwargs["form"] = CampaignAddForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is None:
            return ["account", "external_id", "name", "daily_budget", "bid_strategy", "bid", "target_roas"]
        return self.shown

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        # Status and who paused it change only through the platform (the actions), never by hand.
        return self.shown if obj is not None else []

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # decisions, changes and spend refer to it; the platform removes campaigns

    def save_model(self, request: HttpRequest, obj: Campaign, form: Any, change: bool) -> None:
        if not change:
            created = services.campaign_register(**form.register_kwargs(), actor=Actor.for_user(request.user))
            obj.pk = created.pk
            obj._state.adding = False

    def save_formset(self, request: HttpRequest, form: Any, formset: Any, change: bool) -> None:
        if isinstance(formset, CampaignProductFormSet):
            campaign = Campaign.objects.get(pk=form.instance.pk)
            services.campaign_set_products(
                campaign=campaign, promoted_products=formset.products(), actor=Actor.for_user(request.user)
            )
            formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []
            return
        super().save_formset(request, form, formset, change)

    def construct_change_message(
        self, request: HttpRequest, form: Any, formsets: Any, add: bool = False
    ) -> Any:
        if add:
            return [{"added": {}}]
        changed = any(formset.has_changed() for formset in formsets)
        return [{"changed": {"fields": ["promoted products"]}}] if changed else []

    # --- actions: a reason (and an amount) on an intermediate page, then the services ------------------
    def _act(self, request: HttpRequest, queryset: QuerySet[Campaign], name: str) -> TemplateResponse | None:
        verb, form_class = _ACTIONS[name]
        campaigns = list(queryset.select_related("account"))
        return action_with_reason(
            self,
            request,
            action=name,
            verb=verb,
            form_class=form_class,
            selected=campaigns,
            apply=lambda data: self._apply(request, campaigns, name, data),
            template="admin/bidding/campaign/action.html",
            title=f"{verb.capitalize()} campaigns",
            campaigns=[
                (c, money(c.daily_budget_micros, c.account.currency), money(c.bid_micros, c.account.currency))
                for c in campaigns
            ],  # fmt: skip
        )

    def _apply(
        self, request: HttpRequest, campaigns: Iterable[Campaign], name: str, data: dict[str, Any]
    ) -> None:
        actor = Actor.for_user(request.user)
        reason = data["reason"]
        amount = to_micros(data["amount"]) if "amount" in data else None
        for campaign in campaigns:
            try:
                if name == "pause_campaigns":
                    result = services.campaign_pause(campaign=campaign, reason=reason, actor=actor)
                elif name == "resume_campaigns":
                    result = services.campaign_resume(campaign=campaign, reason=reason, actor=actor)
                elif name == "set_bid":
                    assert amount is not None  # noqa: S101 - the form requires it
                    result = services.campaign_set_bid(
                        campaign=campaign, bid_micros=amount, reason=reason, actor=actor
                    )
                else:
                    assert amount is not None  # noqa: S101 - the form requires it
                    result = services.campaign_set_budget(
                        campaign=campaign, daily_budget_micros=amount, reason=reason, actor=actor
                    )
            except BiddingError as exc:
                lines = reasons_text(exc.details.get("reasons")) if exc.details.get("reasons") else []
                text = "; ".join(lines) if lines else exc.message
                self.message_user(request, f"{campaign.name}: refused: {text}", messages.ERROR)
                continue
            if result.change is not None:
                note = " (dry run: recorded, not sent)" if result.dry_run else ""
                self.message_user(
                    request,
                    f"{campaign.name}: change #{result.change.pk} queued for the platform{note}.",
                    messages.SUCCESS,
                )
            else:
                self.message_user(
                    request,
                    f"{campaign.name}: above the approval threshold; approval request "
                    f"#{result.approval_id} waits for an Admin (Governance › Approval requests).",
                    messages.WARNING,
                )

    @admin.action(description="Pause selected campaigns (asks for a reason)", permissions=["change"])
    def pause_campaigns(self, request: HttpRequest, queryset: QuerySet[Campaign]) -> Any:
        return self._act(request, queryset, "pause_campaigns")

    @admin.action(description="Resume selected campaigns (asks for a reason)", permissions=["change"])
    def resume_campaigns(self, request: HttpRequest, queryset: QuerySet[Campaign]) -> Any:
        return self._act(request, queryset, "resume_campaigns")

    @admin.action(description="Set the max bid of selected campaigns", permissions=["change"])
    def set_bid(self, request: HttpRequest, queryset: QuerySet[Campaign]) -> Any:
        return self._act(request, queryset, "set_bid")

    @admin.action(description="Set the daily budget of selected campaigns", permissions=["change"])
    def set_budget(self, request: HttpRequest, queryset: QuerySet[Campaign]) -> Any:
        return self._act(request, queryset, "set_budget")


# --- read-only records ---------------------------------------------------------------------------
@admin.register(BidDecision)
class BidDecisionAdmin(ReadOnlyAdmin):
    list_display = [
        "created_at",
        "campaign",
        "decision",
        "bid",
        "predicted_ltv",
        "ltv_source",
        "pacing_multiplier",
        "dry_run",
        "reasons_short",
    ]
    list_filter = [
        "decision",
        CampaignFilter,
        "dry_run",
        "ltv_source",
        ("created_at", admin.DateFieldListFilter),
    ]
    list_select_related = ["campaign__account"]
    search_fields = ["request_id", "audience"]
    fields = [
        "campaign",
        "created_at",
        "decision",
        "reasons_list",
        "bid",
        "predicted_ltv",
        "ltv_source",
        "ltv_model_version",
        "pacing_multiplier",
        "customer_id",
        "audience",
        "policy_version",
        "dry_run",
        "reservation_id",
        "request_id",
    ]

    bid = money_column("bid_micros", "bid", sortable=True)
    predicted_ltv = money_column("predicted_ltv_micros", "predicted LTV")

    @admin.display(description="reasons")
    def reasons_short(self, obj: BidDecision) -> str:
        text = "; ".join(reasons_text(obj.reasons))
        return text if len(text) <= 120 else text[:119] + "…"

    @admin.display(description="reasons")
    def reasons_list(self, obj: BidDecision) -> str:
        lines = reasons_text(obj.reasons)
        if not lines:
            return "–"
        return format_html("<ul>{}</ul>", format_html_join("", "<li>{}</li>", ((line,) for line in lines)))


@admin.register(PlatformChange)
class PlatformChangeAdmin(ReadOnlyAdmin):
    list_display = [
        "created_at",
        "campaign",
        "kind",
        "value",
        "status",
        "requested_by",
        "attempts",
        "sent_at",
        "error_short",
    ]
    list_filter = ["status", "kind", CampaignFilter]
    list_select_related = ["campaign__account"]
    search_fields = ["key", "requested_by", "reason"]
    fields = [
        "campaign",
        "kind",
        "value",
        "status",
        "reason",
        "requested_by",
        "key",
        "attempts",
        "last_error",
        "created_at",
        "sent_at",
        "next_attempt_at",
    ]

    value = money_column("value_micros", "value", sortable=True)

    @admin.display(description="last error")
    def error_short(self, obj: PlatformChange) -> str:
        return obj.last_error if len(obj.last_error) <= 80 else obj.last_error[:79] + "…"


@admin.register(SpendLedger)
class SpendLedgerAdmin(ReadOnlyAdmin):
    list_display = [
        "day",
        "campaign",
        "account",
        "spend",
        "impressions",
        "clicks",
        "conversions",
        "conversion_value",
        "fetched_at",
    ]
    list_filter = [CampaignFilter, "account__platform", ("day", admin.DateFieldListFilter)]
    list_select_related = ["campaign__account", "account"]
    search_fields = ["report_row_key"]
    fields = [
        "account",
        "campaign",
        "day",
        "spend",
        "impressions",
        "clicks",
        "conversions",
        "conversion_value",
        "currency",
        "report_row_key",
        "fetched_at",
    ]

    spend = money_column("spend_micros", "spend", currency="currency", sortable=True)
    conversion_value = money_column(
        "conversion_value_micros", "conversion value", currency="currency", sortable=True
    )


@admin.register(InventoryHold)
class InventoryHoldAdmin(ReadOnlyAdmin):
    list_display = [
        "campaign",
        "store_id",
        "product_platform_id",
        "state",
        "previous_bid",
        "previous_budget",
        "held_at",
        "released_at",
        "note",
    ]
    list_filter = ["state", CampaignFilter]
    list_select_related = ["campaign__account"]
    search_fields = ["product_platform_id", "note"]
    fields = [
        "campaign",
        "store_id",
        "product_platform_id",
        "state",
        "previous_bid",
        "previous_budget",
        "inventory_event_id",
        "held_at",
        "released_at",
        "note",
    ]

    previous_bid = money_column("previous_bid_micros", "bid before the hold")
    previous_budget = money_column("previous_daily_budget_micros", "daily budget before the hold")
