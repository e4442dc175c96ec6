"""Products, variants and inventory. Every in-stock ↔ out-of-stock transition of a variant becomes an
``InventoryEvent`` and, after commit, a call of every function registered with
``on_inventory_transition`` (bidding pauses and resumes the campaigns promoting the product).

In stock: a variant whose inventory is not tracked (quantity ``None``) or is above 0.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.utils import timezone

from apps.core.actor import Actor
from apps.core.tenant_context import require_tenant
from apps.stores.errors import ErrorCode, StoresError
from apps.stores.models import ZERO, InventoryEvent, Product, StoreConnection, Variant
from apps.stores.services._sql import upsert

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class VariantInput:
    platform_id: str
    sku: str = ""
    title: str = ""
    price: Decimal = ZERO
    inventory_quantity: int | None = None  # None: not tracked
    inventory_item_id: str = ""


@dataclass(frozen=True)
class ProductInput:
    platform_id: str
    title: str
    url: str = ""
    deleted: bool = False
    platform_updated_at: datetime | None = None
    variants: tuple[VariantInput, ...] = ()


@dataclass(frozen=True)
class InventoryInput:
    """A variant's new quantity, named by its platform id or by its inventory item (Shopify)."""

    quantity: int | None
    variant_platform_id: str = ""
    inventory_item_id: str = ""


@dataclass(frozen=True)
class InventoryTransition:
    """What a subscriber gets: one variant went out of stock (``in_stock`` False) or came back."""

    schema: str
    store_id: int
    product_id: int
    product_platform_id: str
    variant_id: int
    variant_platform_id: str
    sku: str
    in_stock: bool
    previous_quantity: int | None
    new_quantity: int | None
    occurred_at: datetime
    event_id: int


InventoryHook = Callable[[InventoryTransition], None]
_hooks: dict[str, InventoryHook] = {}


def on_inventory_transition(hook: InventoryHook, *, key: str) -> None:
    """Register ``hook`` (once per ``key``); it is called after commit, once per transition, in the
    tenant's schema. A hook that raises is logged; the others still run."""
    _hooks[key] = hook


def in_stock(quantity: int | None) -> bool:
    return quantity is None or quantity > 0


def _notify(transitions: list[InventoryTransition]) -> None:
    for transition in transitions:
        for key, hook in list(_hooks.items()):
            try:
                hook(transition)
            except Exception:
                logger.exception(
                    "inventory hook failed", extra={"hook": key, "variant_id": transition.variant_id}
                )


@dataclass(frozen=True)
class CatalogResult:
    products_written: int
    variants_written: int
    transitions: int


def _record_transitions(
    schema: str,
    store: StoreConnection,
    changes: Sequence[tuple[Variant, int | None, int | None]],
    source: str,
    now: datetime,
) -> int:
    """InventoryEvents for the variants whose stock state flips; subscribers are called after commit."""
    events = []
    for variant, previous, new in changes:
        if in_stock(previous) == in_stock(new):
            continue
        events.append(
            (
                variant,
                InventoryEvent(
                    variant=variant,
                    previous_quantity=previous,
                    new_quantity=new,
                    in_stock=in_stock(new),
                    source=source,
                    occurred_at=now,
                ),
            )
        )
    if not events:
        return 0
    InventoryEvent.objects.bulk_create([e for _, e in events])
    products = dict(
        Product.objects.filter(pk__in={v.product_id for v, _ in events}).values_list("pk", "platform_id")
    )
    transitions = [
        InventoryTransition(
            schema=schema,
            store_id=store.pk,
            product_id=v.product_id,
            product_platform_id=products[v.product_id],
            variant_id=v.pk,
            variant_platform_id=v.platform_id,
            sku=v.sku,
            in_stock=e.in_stock,
            previous_quantity=e.previous_quantity,
            new_quantity=e.new_quantity,
            occurred_at=e.occurred_at,
            event_id=e.pk,
        )
        for v, e in events
    ]
    transaction.on_commit(lambda: _notify(transitions))
    return len(transitions)


@transaction.atomic
def products_upsert(
    *, store: StoreConnection, products: Sequence[ProductInput], actor: Actor, source: str = "sync"
) -> CatalogResult:
    """Insert or update products and their variants (identical ones are not written); a product's
    variants not listed any more are marked deleted. Stock transitions are recorded (module doc)."""
    schema = require_tenant("writing products")
    if not products:
        return CatalogResult(0, 0, 0)
    if len({p.platform_id for p in products}) != len(products):
        raise StoresError(ErrorCode.VALIDATION, "A product appears twice in one batch.")
    for p in products:
        for v in p.variants:
            if v.price < 0:
                raise StoresError(
                    ErrorCode.VALIDATION, f"Variant {v.platform_id}: a price cannot be negative."
                )
    now = timezone.now()
    written = upsert(
        Product,
        sorted(
            (
                {
                    "store": store.pk,
                    "platform_id": p.platform_id,
                    "title": p.title[:500],
                    "url": p.url[:2000],
                    "deleted": p.deleted,
                    "platform_updated_at": p.platform_updated_at,
                    "created_at": now,
                    "updated_at": now,
                }
                for p in products
            ),
            key=lambda r: str(r["platform_id"]),
        ),
        conflict=("store", "platform_id"),
        compare=("title", "url", "deleted", "platform_updated_at"),
        also_set=("updated_at",),
    )
    product_ids = dict(
        Product.objects.filter(store=store, platform_id__in=[p.platform_id for p in products]).values_list(
            "platform_id", "pk"
        )
    )
    given = [(p, v) for p in products for v in p.variants]
    before = {
        v.platform_id: v
        for v in Variant.objects.filter(store=store, platform_id__in=[v.platform_id for _, v in given])
    }
    variant_rows = sorted(
        (
            {
                "store": store.pk,
                "product": product_ids[p.platform_id],
                "platform_id": v.platform_id,
                "inventory_item_id": v.inventory_item_id,
                "sku": v.sku[:255],
                "title": v.title[:500],
                "price": v.price,
                "inventory_quantity": v.inventory_quantity,
                "in_stock": in_stock(v.inventory_quantity) and not p.deleted,
                "deleted": p.deleted,
                "created_at": now,
                "updated_at": now,
            }
            for p, v in given
        ),
        key=lambda r: str(r["platform_id"]),
    )
    variants_written = upsert(
        Variant,
        variant_rows,
        conflict=("store", "platform_id"),
        compare=(
            "product",
            "inventory_item_id",
            "sku",
            "title",
            "price",
            "inventory_quantity",
            "in_stock",
            "deleted",
        ),
        also_set=("updated_at",),
    )
    # Variants a product no longer lists are gone from the platform.
    for p in products:
        listed = [v.platform_id for v in p.variants]
        Variant.objects.filter(product_id=product_ids[p.platform_id], deleted=False).exclude(
            platform_id__in=listed
        ).update(deleted=True, in_stock=False, updated_at=now)
    transitions = _record_transitions(schema, store, _flip_changes(before, variant_rows), source, now)
    return CatalogResult(len(written), len(variants_written), transitions)


def _flip_changes(
    before: dict[str, Variant], rows: list[dict[str, Any]]
) -> list[tuple[Variant, int | None, int | None]]:
    """(variant, previous quantity, new quantity) for stored variants whose stock state flips."""
    flips = []
    for row in rows:
        old = before.get(row["platform_id"])
        if old is not None and old.in_stock != row["in_stock"]:
            flips.append((old, old.inventory_quantity, row["inventory_quantity"]))
    return flips


@transaction.atomic
def inventory_set(
    *, store: StoreConnection, levels: Sequence[InventoryInput], actor: Actor, source: str = "webhook"
) -> int:
    """Set variants' quantities (by variant or inventory item id; unknown ones are ignored: the next
    product sync brings them). Returns the number of stock transitions recorded."""
    schema = require_tenant("setting inventory")
    if not levels:
        return 0
    by_variant = {lv.variant_platform_id: lv for lv in levels if lv.variant_platform_id}
    by_item = {
        lv.inventory_item_id: lv for lv in levels if lv.inventory_item_id and not lv.variant_platform_id
    }
    variants = (
        Variant.objects.select_for_update()
        .filter(store=store, deleted=False)
        .filter(platform_id__in=list(by_variant))
        | Variant.objects.select_for_update().filter(
            store=store, deleted=False, inventory_item_id__in=list(by_item)
        )
    ).order_by("pk")
    now = timezone.now()
    changes = []
    dirty = []
    for variant in variants:
        level = by_variant.get(variant.platform_id) or by_item.get(variant.inventory_item_id)
        if level is None or variant.inventory_quantity == level.quantity:
            continue
        changes.append((variant, variant.inventory_quantity, level.quantity))
        variant.inventory_quantity = level.quantity
        variant.in_stock = in_stock(level.quantity)
        variant.updated_at = now
        dirty.append(variant)
    if dirty:
        Variant.objects.bulk_update(dirty, ["inventory_quantity", "in_stock", "updated_at"])
    flips = [(v, old, new) for v, old, new in changes if in_stock(old) != in_stock(new)]
    return _record_transitions(schema, store, flips, source, now)
