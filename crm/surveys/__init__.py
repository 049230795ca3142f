"""Satisfaction surveys (CSAT, NPS, CES): rules, dispatch, answers and analytics."""
