from __future__ import annotations

import factory

from apps.stores.models import StoreConnection


class StoreFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = StoreConnection

    platform = StoreConnection.Platform.MANUAL
    name = factory.Sequence(lambda n: f"Store {n}")
    currency = "USD"
