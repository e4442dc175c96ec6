"""Models of the bidding app (tenant schema). Filled in by the bidding capability issue."""
