"""Append-only record of who did what, and when, in a tenant."""
