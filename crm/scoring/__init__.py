"""Customer scores: RFM segments (lifetime value and churn risk build on them)."""
