"""Models of the recon app (tenant schema). Filled in by the reconciliation issue."""

from django.db import models


class ReconCapability(models.Model):
    """No table: carries the reconciliation permissions roles are built from."""

    class Meta:
        managed = False
        default_permissions = ()
        permissions = [("run_reconciliation", "Run revenue-leak reconciliation")]
