"""A generated store (products with variants and stock, customers, orders over two years with line
items, refunds, cancellations, landing pages with UTM parameters and click ids) that every platform
fake serves in its own shape. Deterministic for a seed; big enough for benchmarks (100,000 orders in
a couple of seconds); changeable while served (new orders, refunds, stock changes), as a live shop is.
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

CENT = Decimal("0.01")
SOURCES = [
    ("google", "cpc", "gclid"),
    ("facebook", "paid_social", "fbclid"),
    ("tiktok", "paid_social", "ttclid"),
    ("newsletter", "email", ""),
    ("", "", ""),  # direct
    ("", "", ""),
]
WORDS = ["Alpine", "Harbor", "Linen", "Cedar", "Nova", "Trail", "Urban", "Coast", "Ember", "Sierra"]
KINDS = ["Jacket", "Tee", "Boots", "Cap", "Backpack", "Scarf", "Sneakers", "Hoodie"]


@dataclass
class FakeVariant:
    id: int
    product_id: int
    sku: str
    title: str
    price: Decimal
    inventory: int
    inventory_item_id: int


@dataclass
class FakeProduct:
    id: int
    title: str
    handle: str
    created_at: datetime
    updated_at: datetime
    variants: list[FakeVariant]
    deleted: bool = False


@dataclass
class FakeCustomer:
    id: int
    email: str
    first_name: str
    last_name: str
    created_at: datetime
    updated_at: datetime
    accepts_marketing: bool


@dataclass
class FakeLine:
    id: int
    product_id: int
    variant_id: int
    sku: str
    title: str
    quantity: int
    price: Decimal
    discount: Decimal = Decimal("0.00")


@dataclass
class FakeRefund:
    id: int
    amount: Decimal
    created_at: datetime


@dataclass
class FakeOrder:
    id: int
    number: int
    customer_id: int | None
    created_at: datetime
    updated_at: datetime
    lines: list[FakeLine]
    subtotal: Decimal
    tax: Decimal
    shipping: Decimal
    discount: Decimal
    total: Decimal
    landing_site: str
    referrer: str
    cancelled_at: datetime | None = None
    refunds: list[FakeRefund] = field(default_factory=list)
    fulfilled: bool = True

    @property
    def refunded(self) -> Decimal:
        return sum((r.amount for r in self.refunds), Decimal("0.00"))

    @property
    def financial_status(self) -> str:
        if self.cancelled_at is not None and not self.refunds:
            return "voided"
        if self.refunds and self.refunded >= self.total:
            return "refunded"
        if self.refunds:
            return "partially_refunded"
        return "paid"


def _cents(value: float | Decimal) -> Decimal:
    return Decimal(str(value)).quantize(CENT, rounding=ROUND_HALF_UP)


class FakeStore:
    """The data behind a fake. Ids grow from 1001 (orders), 5001 (customers), 9001 (products); the
    lock makes changes safe while the fake's threads serve pages."""

    def __init__(
        self, *, name: str = "Sandbox Outfitters", currency: str = "USD", domain: str = "sandbox"
    ) -> None:
        self.name = name
        self.currency = currency
        self.domain = domain
        self.products: list[FakeProduct] = []
        self.customers: list[FakeCustomer] = []
        self.orders: list[FakeOrder] = []
        self.customers_by_id: dict[int, FakeCustomer] = {}
        self.orders_by_id: dict[int, FakeOrder] = {}
        self.lock = threading.RLock()
        self._sorted: dict[str, tuple[int, list[Any], list[tuple[datetime, int]]]] = {}
        self.version = 0  # bumped by every change: sorted views are rebuilt when it moves
        self._ids = {
            "order": 1000,
            "customer": 5000,
            "product": 9000,
            "variant": 40000,
            "line": 70000,
            "refund": 90000,
        }

    def next_id(self, kind: str) -> int:
        with self.lock:
            self._ids[kind] += 1
            return self._ids[kind]

    # --- generation ----------------------------------------------------------------------------------
    @classmethod
    def generate(
        cls,
        *,
        orders: int = 2000,
        customers: int = 400,
        products: int = 30,
        days: int = 730,
        seed: int = 7,
        end: datetime | None = None,
        **kwargs: str,
    ) -> FakeStore:
        store = cls(**kwargs)
        rng = random.Random(seed)  # noqa: S311 - generated shop data, not secrets
        end = (end or datetime.now(UTC)).replace(microsecond=0)
        start = end - timedelta(days=days)
        for _ in range(products):
            pid = store.next_id("product")
            title = f"{rng.choice(WORDS)} {rng.choice(KINDS)}"
            created = start - timedelta(days=rng.randint(1, 60))
            variants = []
            for size in rng.sample(["S", "M", "L", "XL"], rng.randint(1, 3)):
                vid = store.next_id("variant")
                variants.append(
                    FakeVariant(
                        id=vid,
                        product_id=pid,
                        sku=f"SKU-{pid}-{size}",
                        title=size,
                        price=_cents(rng.choice([19, 29, 39, 49, 79, 129]) - 0.01),
                        inventory=rng.randint(0, 40),
                        inventory_item_id=vid + 500000,
                    )
                )
            store.products.append(
                FakeProduct(pid, title, title.lower().replace(" ", "-"), created, created, variants)
            )
        for _ in range(customers):
            cid = store.next_id("customer")
            created = start + timedelta(seconds=rng.randint(0, days * 86400))
            customer = FakeCustomer(
                cid,
                f"shopper{cid}@example.com",
                rng.choice(WORDS),
                f"Buyer{cid}",
                created,
                created,
                rng.random() < 0.6,
            )
            store.customers.append(customer)
            store.customers_by_id[cid] = customer
        all_variants = [v for p in store.products for v in p.variants]
        stamps = sorted(start + timedelta(seconds=rng.randint(0, days * 86400)) for _ in range(orders))
        for placed in stamps:
            store._add_generated(rng, placed, all_variants, end)
        return store

    def _add_generated(
        self, rng: random.Random, placed: datetime, variants: list[FakeVariant], end: datetime
    ) -> FakeOrder:
        customer = rng.choice(self.customers) if self.customers and rng.random() < 0.92 else None
        lines = []
        for _ in range(rng.choice([1, 1, 1, 2, 2, 3])):
            v = rng.choice(variants)
            lines.append(
                FakeLine(
                    self.next_id("line"),
                    v.product_id,
                    v.id,
                    v.sku,
                    f"{v.sku}",
                    rng.choice([1, 1, 2]),
                    v.price,
                )
            )
        subtotal = sum((ln.price * ln.quantity for ln in lines), Decimal("0.00"))
        discount = _cents(subtotal * Decimal("0.1")) if rng.random() < 0.15 else Decimal("0.00")
        tax = _cents((subtotal - discount) * Decimal("0.08"))
        shipping = Decimal("0.00") if subtotal > 75 else Decimal("6.95")
        total = subtotal - discount + tax + shipping
        source, medium, click = rng.choice(SOURCES)
        landing = f"/products/{rng.choice(self.products).handle}"
        if source:
            landing += f"?utm_source={source}&utm_medium={medium}&utm_campaign=spring-{placed.year}"
            if click:
                landing += f"&{click}=Cj0{rng.getrandbits(48):x}"
        oid = self.next_id("order")
        order = FakeOrder(
            id=oid,
            number=oid,
            customer_id=customer.id if customer else None,
            created_at=placed,
            updated_at=placed,
            lines=lines,
            subtotal=subtotal,
            tax=tax,
            shipping=shipping,
            discount=discount,
            total=total,
            landing_site=landing,
            referrer="https://www.google.com/" if source == "google" else "",
        )
        roll = rng.random()
        if roll < 0.03:
            order.cancelled_at = min(placed + timedelta(hours=rng.randint(1, 48)), end)
            order.updated_at = order.cancelled_at
        elif roll < 0.11:
            when = min(placed + timedelta(days=rng.randint(1, 20)), end)
            amount = total if rng.random() < 0.4 else _cents(total * Decimal("0.3"))
            order.refunds.append(FakeRefund(self.next_id("refund"), amount, when))
            order.updated_at = when
        self.orders.append(order)
        self.orders_by_id[oid] = order
        return order

    @classmethod
    def from_purchases(
        cls,
        purchases: list[tuple[int, datetime, Decimal]],
        *,
        channels: list[str] | None = None,
        products: int = 24,
        seed: int = 7,
        **kwargs: str,
    ) -> FakeStore:
        """A store whose customers buy as given: (customer index, time, amount) per purchase, each
        one order of one line at that amount; a customer's channel (if given) is the ``utm_source`` of
        its landing pages. For a sandbox whose purchase patterns mean something to the LTV model."""
        store = cls.generate(orders=0, customers=0, products=products, seed=seed)
        store.name, store.domain = kwargs.get("name", store.name), kwargs.get("domain", store.domain)
        store.currency = kwargs.get("currency", store.currency)
        rng = random.Random(seed)  # noqa: S311 - generated shop data, not secrets
        ids: dict[int, int] = {}
        variants = [v for p in store.products for v in p.variants]
        for index, when, amount in sorted(purchases, key=lambda p: p[1]):
            if index not in ids:
                cid = store.next_id("customer")
                customer = FakeCustomer(
                    cid, f"shopper{cid}@example.com", rng.choice(WORDS), f"Buyer{cid}", when, when, True
                )
                store.customers.append(customer)
                store.customers_by_id[cid] = customer
                ids[index] = cid
            v = rng.choice(variants)
            source = channels[index] if channels else ""
            landing = f"/products/{rng.choice(store.products).handle}"
            if source:
                landing += f"?utm_source={source}&utm_medium=paid&utm_campaign=always-on"
            oid = store.next_id("order")
            line = FakeLine(store.next_id("line"), v.product_id, v.id, v.sku, v.sku, 1, amount)
            order = FakeOrder(
                oid,
                oid,
                ids[index],
                when,
                when,
                [line],
                amount,
                Decimal("0.00"),
                Decimal("0.00"),
                Decimal("0.00"),
                amount,
                landing,
                "",
            )
            store.orders.append(order)
            store.orders_by_id[oid] = order
        return store

    # --- live changes (what the shop does while we are connected) ------------------------------------
    def add_order(self, *, rng: random.Random | None = None, when: datetime | None = None) -> FakeOrder:
        with self.lock:
            self.version += 1
            rng = rng or random.Random()  # noqa: S311 - fake data
            when = (when or datetime.now(UTC)).replace(microsecond=0)
            variants = [v for p in self.products for v in p.variants]
            return self._add_generated(rng, when, variants, when)

    def refund(self, order_id: int, amount: Decimal, *, when: datetime | None = None) -> FakeOrder:
        with self.lock:
            self.version += 1
            order = self.order(order_id)
            when = (when or datetime.now(UTC)).replace(microsecond=0)
            order.refunds.append(FakeRefund(self.next_id("refund"), _cents(amount), when))
            order.updated_at = when
            return order

    def cancel(self, order_id: int, *, when: datetime | None = None) -> FakeOrder:
        with self.lock:
            self.version += 1
            order = self.order(order_id)
            order.cancelled_at = order.updated_at = (when or datetime.now(UTC)).replace(microsecond=0)
            return order

    def set_inventory(self, variant_id: int, quantity: int, *, when: datetime | None = None) -> FakeVariant:
        with self.lock:
            self.version += 1
            for p in self.products:
                for v in p.variants:
                    if v.id == variant_id:
                        v.inventory = quantity
                        p.updated_at = (when or datetime.now(UTC)).replace(microsecond=0)
                        return v
        raise KeyError(variant_id)

    def by_update(self, kind: str) -> list[Any]:
        """Orders, products or customers sorted by (updated_at, id), rebuilt only after a change."""
        return self._view(kind)[1]

    def update_keys(self, kind: str) -> list[tuple[datetime, int]]:
        return self._view(kind)[2]

    def _view(self, kind: str) -> tuple[int, list[Any], list[tuple[datetime, int]]]:
        with self.lock:
            cached = self._sorted.get(kind)
            if cached is None or cached[0] != self.version:
                lists: dict[str, list[Any]] = {
                    "orders": self.orders,
                    "products": self.products,
                    "customers": self.customers,
                }
                items = sorted(lists[kind], key=lambda i: (i.updated_at, i.id))
                cached = (self.version, items, [(i.updated_at, i.id) for i in items])
                self._sorted[kind] = cached
            return cached

    def order(self, order_id: int) -> FakeOrder:
        return self.orders_by_id[order_id]

    def customer(self, customer_id: int | None) -> FakeCustomer | None:
        return None if customer_id is None else self.customers_by_id.get(customer_id)

    def variant(self, variant_id: int) -> FakeVariant:
        for p in self.products:
            for v in p.variants:
                if v.id == variant_id:
                    return v
        raise KeyError(variant_id)
