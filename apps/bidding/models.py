"""Models of the bidding app (tenant schema). Campaigns, bids and the spend ledger come with the bidding issue."""

from django.db import models


class BiddingCapability(models.Model):
    """No table: carries bidding permissions that are not about one model."""

    class Meta:
        managed = False
        default_permissions = ()
        permissions = [("score_ltv", "Score customer lifetime value")]
