"""A store's baseline: its 12 months before KIKI, the reference incremental revenue is measured against.

The rule (golden tests in ``tests/test_baseline.py`` hold it to the cent):

- **Period**: the 12 calendar months before the connection, ``[connected_at − 12 months,
  connected_at)`` in UTC (a store without a connection time uses the moment of computing). An order
  belongs to it by ``placed_at``.
- **Cancelled orders** count for nothing (not in revenue, orders, AOV or customers); their number is
  reported apart.
- **Refunds** lower revenue when they were issued before the period's end: an order's refunds are
  its refund records dated before ``period_end``, or, for an order without refund records (sent
  through our API with a ``total_refunded`` only), that total. A refund issued after the connection
  belongs to the KIKI period, not to the baseline.
- **Revenue** = gross (order totals, taxes and shipping included, as the store charged them) −
  refunds. **AOV** = revenue ÷ orders, rounded half-up to the cent (0 without orders).
- **Customers**: distinct customers with a counted order (guest orders count in revenue, not here);
  **repeat customers** have 2 or more; the rate is repeat ÷ unique, 4 places.
- **Monthly series**: the same figures per calendar month (UTC) of the period; the first and last
  months are partial when the connection is not on the 1st.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from apps.core.actor import Actor
from apps.core.money import to_cents
from apps.core.tenant_context import require_tenant
from apps.stores.models import ZERO, Baseline, Order, Refund, StoreConnection

_SQL = """
WITH counted AS (
    SELECT o.id, o.customer_id, o.total, o.cancelled_at,
           to_char(o.placed_at AT TIME ZONE 'UTC', 'YYYY-MM') AS month,
           CASE WHEN EXISTS (SELECT 1 FROM {refund} r WHERE r.order_id = o.id)
                THEN coalesce((SELECT sum(r.amount) FROM {refund} r
                               WHERE r.order_id = o.id AND r.refunded_at < %(end)s), 0)
                ELSE o.total_refunded END AS refunded
    FROM {order} o
    WHERE o.store_id = %(store)s AND o.placed_at >= %(start)s AND o.placed_at < %(end)s
)
SELECT month,
       count(*) FILTER (WHERE cancelled_at IS NULL) AS orders,
       count(*) FILTER (WHERE cancelled_at IS NOT NULL) AS cancelled,
       coalesce(sum(total) FILTER (WHERE cancelled_at IS NULL), 0) AS gross,
       coalesce(sum(least(refunded, total)) FILTER (WHERE cancelled_at IS NULL), 0) AS refunds,
       coalesce(array_remove(array_agg(customer_id) FILTER (WHERE cancelled_at IS NULL), NULL), '{{}}') AS customers
FROM counted GROUP BY month ORDER BY month
"""


def period_of(store: StoreConnection, *, now: datetime | None = None) -> tuple[datetime, datetime]:
    end = (store.connected_at or now or timezone.now()).astimezone(UTC)
    year, month = (end.year - 1, end.month)
    day = min(end.day, 28) if month == 2 and end.day > 28 else end.day
    return end.replace(year=year, month=month, day=day), end


def _figures(orders: int, gross: Decimal, refunds: Decimal, customers: list[int]) -> dict[str, Any]:
    revenue = gross - refunds
    counts: dict[int, int] = {}
    for c in customers:
        counts[c] = counts.get(c, 0) + 1
    unique = len(counts)
    repeat = sum(1 for n in counts.values() if n >= 2)
    return {
        "orders": orders,
        "gross_revenue": to_cents(gross),
        "refunds": to_cents(refunds),
        "revenue": to_cents(revenue),
        "average_order_value": to_cents(revenue / orders) if orders else ZERO,
        "unique_customers": unique,
        "repeat_customers": repeat,
        "repeat_customer_rate": (Decimal(repeat) / Decimal(unique)).quantize(
            Decimal("0.0001"), rounding=ROUND_HALF_UP
        )
        if unique
        else Decimal("0.0000"),
    }


@transaction.atomic
def baseline_compute(*, store: StoreConnection, actor: Actor, now: datetime | None = None) -> Baseline:
    """Compute and store the store's current baseline (the previous one is kept, not current)."""
    require_tenant("computing a baseline")
    start, end = period_of(store, now=now)
    quote = connection.ops.quote_name
    sql = _SQL.format(order=quote(Order._meta.db_table), refund=quote(Refund._meta.db_table))
    with connection.cursor() as cursor:
        cursor.execute(sql, {"store": store.pk, "start": start, "end": end})
        rows = cursor.fetchall()
    monthly = []
    all_customers: list[int] = []
    total_orders = total_cancelled = 0
    total_gross = total_refunds = ZERO
    for month, orders, cancelled, gross, refunds, customers in rows:
        figures = _figures(orders, gross, refunds, list(customers))
        monthly.append(
            {
                "month": month,
                **{k: str(v) if isinstance(v, Decimal) else v for k, v in figures.items()},
                "cancelled_orders": cancelled,
            }
        )
        all_customers.extend(customers)
        total_orders += orders
        total_cancelled += cancelled
        total_gross += gross
        total_refunds += refunds
    overall = _figures(total_orders, total_gross, total_refunds, all_customers)
    Baseline.objects.filter(store=store, is_current=True).update(is_current=False)
    return Baseline.objects.create(
        store=store,
        period_start=start,
        period_end=end,
        currency=store.currency,
        revenue=overall["revenue"],
        gross_revenue=overall["gross_revenue"],
        refunds=overall["refunds"],
        orders=overall["orders"],
        cancelled_orders=total_cancelled,
        average_order_value=overall["average_order_value"],
        unique_customers=overall["unique_customers"],
        repeat_customers=overall["repeat_customers"],
        repeat_customer_rate=overall["repeat_customer_rate"],
        monthly=monthly,
        computed_at=timezone.now(),
    )


def baseline_monthly_average(*, store: StoreConnection) -> Decimal | None:
    """The current baseline's revenue ÷ 12 (what the success fee compares a month against)."""
    current = Baseline.objects.filter(store=store, is_current=True).first()
    return to_cents(current.revenue / 12) if current else None
