"""Models of the billing app (tenant schema). Filled in by the billing capability issue."""
