"""Models of the stores app (tenant schema). Filled in by the stores capability issue."""
