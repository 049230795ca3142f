"""Retention campaigns: audiences, messages, runs, delivery guards and reports."""
