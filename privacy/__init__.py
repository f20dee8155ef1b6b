"""Retention, erasure and export of a tenant's or an author's data."""
