from prometheus_client import Counter, Histogram

# Contract name (ARCHITECTURE.md): exported as syncvalue_predicted_ltv_total, in micros.
PREDICTED_LTV = Counter(
    "syncvalue_predicted_ltv", "Sum of predicted LTV of scored customers (micros)", ["tenant"]
)
LTV_SCORE_SECONDS = Histogram(
    "kiki_bidding_ltv_score_seconds",
    "LTV scoring round trip through the ml worker",
    ["fallback"],
    buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0),
)
LTV_MODELS_TRAINED = Counter(
    "kiki_bidding_ltv_models_trained",
    "LTV training runs by outcome (promoted, rejected, unchanged, too_little_data, error)",
    ["outcome"],
)
LTV_SCORED_CUSTOMERS = Counter(
    "kiki_bidding_ltv_customers_scored",
    "Customers scored by the batch scoring task (fallback: BG/NBD+GG, no active model)",
    ["fallback"],
)
