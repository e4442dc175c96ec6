"""Generated order payloads for LTV tests (ml.ltv.synth through the LTV gateway, apps.bidding.ltv), sent over the API."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from apps.bidding.ltv import ltv_simulate


def yesterday() -> date:
    return datetime.now(UTC).date() - timedelta(days=1)


def simulated_orders(
    customers: int, *, seed: int, end: date | None = None, days: int = 730, channels: bool = False
) -> list[dict[str, Any]]:
    """One order payload per generated purchase, customers ``c<n>`` with an email each (and, with
    ``channels``, the acquisition source that the generator made them behave by)."""
    sim = ltv_simulate(customers, end=end or yesterday(), days=days, seed=seed, channels=channels)
    return [
        {
            "platform_id": f"o{n}",
            "number": f"#{1000 + n}",
            "placed_at": f"{d.isoformat()}T12:00:00Z",
            "total": str(amount),
            "subtotal": str(amount),
            "customer": {
                "platform_id": f"c{c}",
                "email": f"c{c}@example.test",
                "first_name": f"Cust{c}",
                **({"acquisition_source": sim.channels[c]} if channels else {}),
            },
        }
        for n, (c, d, amount) in enumerate(zip(sim.customer, sim.dates, sim.amounts, strict=True))
    ]


def post_orders(client: Any, store_id: int, orders: list[dict[str, Any]], *, chunk: int = 1000) -> list[Any]:
    responses = []
    for start in range(0, len(orders), chunk):
        response = client.post(
            "/api/v1/orders", {"store": store_id, "orders": orders[start : start + chunk]}, format="json"
        )
        assert response.status_code == 200, response.content
        responses.append(response)
    return responses
