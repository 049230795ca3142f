"""Bulk data in: CSV import of customers and orders."""
